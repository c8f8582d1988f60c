/**
 * The SQLite store on a worker thread. better-sqlite3 is synchronous: an
 * insert costs about 9 µs a record on the thread that runs it, which at
 * thousands of calls a second is a measurable share of the event loop that
 * serves calls. Here the loop only posts a batch (a structured clone) and
 * the worker writes it; queries and pruning run there too.
 *
 * A worker that dies is replaced on the next operation; the operations in
 * flight reject, and the audit writer retries them like any store outage.
 */
import { Worker } from 'node:worker_threads';
import { GatehouseError } from '../errors/catalogue.js';
import { AuditQueryError, type AuditPage, type AuditStore } from './record.js';
import type { SqliteStoreOptions } from './sqlite-store.js';
import type { WorkerReply, WorkerRequest } from './sqlite-worker.js';

type Op = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The worker script, compiled: `dist/audit/sqlite-worker.js`. Resolved through
 * the package root so that the TypeScript sources (tests) use the build too.
 */
const WORKER_URL = new URL('../../dist/audit/sqlite-worker.js', import.meta.url);

export function createThreadedSqliteStore(options: SqliteStoreOptions): AuditStore {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  const spawn = (): Worker => {
    // A small heap: the thread only turns batches into rows, and every MB of young
    // generation it may grow is resident memory the gateway pays for under load.
    const w = new Worker(WORKER_URL, { workerData: options, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 } });
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(revive(reply.error));
    });
    w.on('error', (err) => {
      if (worker === w) worker = undefined;
      failAll(err);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      failAll(new Error(`the audit SQLite worker exited (code ${code})`));
    });
    // The thread keeps the process alive only while an operation waits on it.
    w.unref();
    return w;
  };

  const call = <T>(op: Op): Promise<T> => {
    const w = (worker ??= spawn());
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (pending.size === 0) w.ref();
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...op, id });
    });
  };

  return {
    kind: 'sqlite',
    init: () => call<void>({ op: 'init' }),
    write: (records) => (records.length === 0 ? Promise.resolve() : call<void>({ op: 'write', json: JSON.stringify(records) })),
    query: (query) => call<AuditPage>({ op: 'query', query }),
    prune: (olderThan) => call<number>({ op: 'prune', olderThan }),
    async close() {
      const w = worker;
      if (w === undefined) return;
      try {
        await call<void>({ op: 'close' });
      } finally {
        worker = undefined;
        await w.terminate();
      }
    },
  };
}

/** The error a worker reported, with what callers match on (SQLite code, query field, config code). */
function revive(e: { message: string; name: string; code?: string; field?: string }): Error {
  if (e.name === 'AuditQueryError' && e.field !== undefined) return new AuditQueryError(e.field, e.message);
  if (e.name === 'GatehouseError' && e.code === 'GH_CONFIG_INVALID') return new GatehouseError('GH_CONFIG_INVALID', e.message);
  return Object.assign(new Error(e.message), { name: e.name, ...(e.code !== undefined ? { code: e.code } : {}) });
}
