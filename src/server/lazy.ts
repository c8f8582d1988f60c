/**
 * Modules loaded on first use (the MCP SDK, express, the ai-proxy endpoint):
 * every module is resident memory, and a gateway loads only what its
 * configuration and traffic use (docs/design.md, decision 12).
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';

/** A module loaded on first use; `loaded` is set once it has, so later requests need no promise. */
export interface Lazy<T> {
  readonly loaded: T | undefined;
  /** The load in progress or done (undefined before the first `load`). */
  readonly loading: Promise<T> | undefined;
  load(): Promise<T>;
}

export function lazy<T>(make: () => Promise<T>): Lazy<T> {
  let loaded: T | undefined;
  let loading: Promise<T> | undefined;
  return {
    get loaded() {
      return loaded;
    },
    get loading() {
      return loading;
    },
    load: () =>
      (loading ??= make().then((value) => {
        loaded = value;
        return value;
      })),
  };
}

/** Serves with what `module` loads: at once when it has loaded, else once it has (a 500 if it cannot). */
export function withLoaded<T>(module: Lazy<T>, what: string, log: Logger, res: ServerResponse, serve: (loaded: T) => void): void {
  if (module.loaded !== undefined) {
    serve(module.loaded);
    return;
  }
  module.load().then(serve, (err: unknown) => {
    log.error({ err }, `${what} failed to load`);
    res.statusCode = 500;
    res.end();
  });
}
