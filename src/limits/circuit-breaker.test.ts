import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { createCircuitBreaker, type CircuitState } from './circuit-breaker.js';

/** A 5xx-like outcome: the value says whether the backend was healthy. */
const isFailure = (o: { value?: { status: number }; error?: unknown }) => o.error !== undefined || (o.value?.status ?? 500) >= 500;
const ok = async () => ({ status: 200 });
const err500 = async () => ({ status: 500 });

function setup(options: { failureThreshold?: number; cooldownMs?: number } = {}) {
  let t = 1_000_000;
  const changes: CircuitState[] = [];
  let calls = 0;
  const breaker = createCircuitBreaker({ ...options, now: () => t, onStateChange: (s) => changes.push(s), name: 'petstore' });
  const run = (fn: () => Promise<{ status: number }>) =>
    breaker.run(() => {
      calls++;
      return fn();
    }, isFailure);
  return {
    breaker,
    run,
    changes,
    calls: () => calls,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<GatehouseError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GatehouseError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('createCircuitBreaker', () => {
  it('opens after failureThreshold consecutive failures and then refuses without calling fn', async () => {
    const b = setup({ failureThreshold: 3, cooldownMs: 10_000 });
    await b.run(err500);
    await b.run(err500);
    expect(b.breaker.state).toBe('closed');
    await b.run(err500);
    expect(b.breaker.state).toBe('open');
    expect(b.changes).toEqual(['open']);
    expect(b.calls()).toBe(3);

    const err = await refusal(b.run(ok));
    expect(err.code).toBe('GH_BACKEND_UNAVAILABLE');
    expect(err.message).toContain('petstore');
    expect(err.details).toEqual({ retryAfterSeconds: 10 });
    expect(b.calls()).toBe(3);

    b.advance(7_500);
    expect((await refusal(b.run(ok))).details).toEqual({ retryAfterSeconds: 3 });
    expect(b.calls()).toBe(3);
  });

  it('counts thrown errors the same way and rethrows them', async () => {
    const b = setup({ failureThreshold: 2 });
    const boom = async (): Promise<{ status: number }> => {
      throw new Error('ECONNREFUSED');
    };
    await expect(b.run(boom)).rejects.toThrow('ECONNREFUSED');
    await expect(b.run(boom)).rejects.toThrow('ECONNREFUSED');
    expect(b.breaker.state).toBe('open');
  });

  it('a success (or a non-failure such as a 4xx) resets the count while closed', async () => {
    const b = setup({ failureThreshold: 3 });
    await b.run(err500);
    await b.run(err500);
    await b.run(async () => ({ status: 404 }));
    await b.run(err500);
    await b.run(err500);
    expect(b.breaker.state).toBe('closed');
    await b.run(err500);
    expect(b.breaker.state).toBe('open');
  });

  it('after the cool-down lets exactly one trial through; success closes', async () => {
    const b = setup({ failureThreshold: 1, cooldownMs: 5_000 });
    await b.run(err500);
    b.advance(5_000);
    expect(b.breaker.state).toBe('half-open');

    let release!: () => void;
    const trial = b.run(() => new Promise((r) => (release = () => r({ status: 200 }))));
    // While the trial runs, others are refused as open, without calling fn.
    const during = await refusal(b.run(ok));
    expect(during.code).toBe('GH_BACKEND_UNAVAILABLE');
    expect(during.details).toEqual({ retryAfterSeconds: 1 });
    expect(b.calls()).toBe(2);

    release();
    expect(await trial).toEqual({ status: 200 });
    expect(b.breaker.state).toBe('closed');
    expect(b.changes).toEqual(['open', 'half-open', 'closed']);
    expect(await b.run(ok)).toEqual({ status: 200 });
    expect(b.calls()).toBe(3);
  });

  it('a failed trial reopens with a fresh cool-down', async () => {
    const b = setup({ failureThreshold: 2, cooldownMs: 5_000 });
    await b.run(err500);
    await b.run(err500);
    b.advance(6_000);
    await b.run(err500);
    expect(b.breaker.state).toBe('open');
    expect(b.changes).toEqual(['open', 'half-open', 'open']);
    expect((await refusal(b.run(ok))).details).toEqual({ retryAfterSeconds: 5 });
    b.advance(4_999);
    expect(b.breaker.state).toBe('open');
    b.advance(1);
    expect(await b.run(ok)).toEqual({ status: 200 });
    expect(b.breaker.state).toBe('closed');
    // Closed again from zero: one failure is not enough with threshold 2.
    await b.run(err500);
    expect(b.breaker.state).toBe('closed');
  });

  it('a success that started before the circuit opened does not close it', async () => {
    const b = setup({ failureThreshold: 1, cooldownMs: 5_000 });
    let release!: () => void;
    const slow = b.run(() => new Promise((r) => (release = () => r({ status: 200 }))));
    await b.run(err500);
    expect(b.breaker.state).toBe('open');
    release();
    await slow;
    expect(b.breaker.state).toBe('open');
  });

  it('rejects invalid options', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => createCircuitBreaker({ cooldownMs: -1 })).toThrow(/cooldownMs/);
  });
});
