/**
 * The worker side of the threaded SQLite store (see sqlite-thread.ts): runs
 * the plain store in its own thread and answers one message per call.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditRecord, AuditStore } from './record.js';
import { createSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';

export type WorkerRequest =
  | { id: number; op: 'init' | 'close' }
  /** The batch as JSON: one string copy instead of a structured clone of every record. */
  | { id: number; op: 'write'; json: string }
  | { id: number; op: 'query'; query: Parameters<AuditStore['query']>[0] }
  | { id: number; op: 'prune'; olderThan: number };

export type WorkerReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: { message: string; name: string; code?: string; field?: string } };

const store = createSqliteStore(workerData as SqliteStoreOptions);
const port = parentPort!;

port.on('message', (req: WorkerRequest) => {
  let work: Promise<unknown>;
  switch (req.op) {
    case 'init':
      work = store.init();
      break;
    case 'write':
      work = store.write(JSON.parse(req.json) as AuditRecord[]);
      break;
    case 'query':
      work = store.query(req.query);
      break;
    case 'prune':
      work = store.prune(req.olderThan);
      break;
    case 'close':
      work = store.close();
      break;
  }
  work.then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies WorkerReply),
    (err: unknown) => {
      const e = err as { message?: string; name?: string; code?: unknown; field?: unknown };
      port.postMessage({
        id: req.id,
        ok: false,
        error: {
          message: String(e?.message ?? err),
          name: String(e?.name ?? 'Error'),
          ...(typeof e?.code === 'string' ? { code: e.code } : {}),
          ...(typeof e?.field === 'string' ? { field: e.field } : {}),
        },
      } satisfies WorkerReply);
    },
  );
});
