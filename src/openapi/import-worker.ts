/**
 * The worker side of off-thread imports (see import-worker-client.ts): runs
 * importBackend in its own thread and answers one message per import, so the
 * parsing, dereferencing, validation and schema work never hold the gateway's
 * event loop.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { importBackend, type ImportBackendOptions, type ImportedBackend } from './import-backend.js';

/** An import to run: the options without `cache` (the cache stays on the calling thread). */
export interface ImportRequest {
  id: number;
  options: Omit<ImportBackendOptions, 'cache'>;
}

/** What a failed import threw, with what the caller matches on and reports. */
export type ThrownError =
  | { kind: 'gatehouse'; code: string; message: string; details?: Record<string, unknown> }
  | { kind: 'error'; name: string; message: string; code?: string }
  | { kind: 'value'; text: string };

/**
 * `value`: the ImportedBackend itself, as a structured clone: plain data crosses
 * unchanged (unlike JSON, which would turn a YAML `.inf` into null), and the
 * receiving thread's deserialisation of 1,000 tools takes about as long as
 * JSON.parse of the same (5–15 ms). `unsent`: the result could not be cloned.
 */
export type ImportReply =
  | { id: number; ok: true; value: ImportedBackend }
  | { id: number; ok: false; error: ThrownError }
  | { id: number; ok: false; unsent: string };

const port = parentPort!;

// Imports yield the CPU to the event loop that serves calls: on a busy machine a
// reload may take longer, but calls in flight are slowed less. Linux gives each
// thread its own nice value; elsewhere (or if refused) the thread keeps the default.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch {
  // Not Linux, or not allowed: imports run at normal priority.
}

port.on('message', (req: ImportRequest) => {
  importBackend(req.options).then(
    (value) => {
      try {
        port.postMessage({ id: req.id, ok: true, value } satisfies ImportReply);
      } catch (err) {
        // ImportedBackend is plain data by design (tool-definition.ts); if that ever breaks, the caller imports in-process.
        port.postMessage({ id: req.id, ok: false, unsent: String(err) } satisfies ImportReply);
      }
    },
    (err: unknown) => port.postMessage({ id: req.id, ok: false, error: describe(err) } satisfies ImportReply),
  );
});

function describe(err: unknown): ThrownError {
  if (!(err instanceof Error)) return { kind: 'value', text: String(err) };
  const e = err as Error & { code?: unknown; details?: unknown };
  if (e.name === 'GatehouseError' && typeof e.code === 'string') {
    // Details are plain data by contract (they go to callers as JSON); the round trip drops anything that is not.
    const details = e.details === undefined ? undefined : (JSON.parse(JSON.stringify(e.details)) as Record<string, unknown>);
    return { kind: 'gatehouse', code: e.code, message: e.message, ...(details !== undefined ? { details } : {}) };
  }
  return { kind: 'error', name: e.name, message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) };
}
