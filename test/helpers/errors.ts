import { GatehouseError } from '../../src/errors/catalogue.js';

/** Runs `fn` and returns the GatehouseError it throws; fails if it throws nothing or something else. */
export function errorOf(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatehouseError) return err;
    throw err;
  }
  throw new Error('expected a GatehouseError');
}
