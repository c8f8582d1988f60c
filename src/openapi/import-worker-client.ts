/**
 * Imports on a worker thread. Importing a spec is synchronous CPU work (parse,
 * dereference, validate, build schemas): a 1,000-operation spec holds the thread
 * that runs it for 50–150 ms. Run on the event loop that serves calls, every
 * reload pauses the calls in flight for that long; here the loop only receives
 * the finished result (a structured clone: 5–15 ms for 1,000 tools).
 *
 * One thread per process, started on the first import and kept (it holds the
 * process open only while an import waits on it). A thread that cannot start or
 * dies mid-import never fails an import: the import runs in-process instead and
 * `onFallback` is told why; the next import starts a new thread. One exception:
 * a thread that ran out of memory fails its imports (GH_SPEC_LOAD_FAILED) rather
 * than retrying them on the gateway's own heap; and so does an import that
 * takes longer than `timeoutMs` (a pathological spec): its thread is stopped
 * rather than the same work being tried again on the event loop.
 */
import { Worker } from 'node:worker_threads';
import { GatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { ImportBackendOptions, ImportedBackend } from './import-backend.js';
import type { ImportReply, ImportRequest, ThrownError } from './import-worker.js';

/**
 * The worker script, compiled: `dist/openapi/import-worker.js`. Resolved through
 * the package root so that the TypeScript sources (tests) use the build too.
 */
const WORKER_URL = new URL('../../dist/openapi/import-worker.js', import.meta.url);

export interface ImportWorker {
  /**
   * importBackend's work for `options` (without its cache, which the caller
   * handles) on the thread. Rejects with what the import threw, revived: a
   * GatehouseError keeps its code, message and details.
   */
  run(options: ImportBackendOptions, onFallback: (reason: Error) => void): Promise<ImportedBackend>;
  /**
   * Starts the thread now, if none runs, so that its start and its module
   * loading overlap the gateway's own start-up instead of following it. Never
   * throws: a thread that cannot start is started (and reported) by `run`.
   */
  warm(): void;
  /** Stops the thread. Imports waiting on it finish in-process; a later `run` starts a new thread. */
  close(): Promise<void>;
}

export interface ImportWorkerOptions {
  /** The worker script (default: the compiled import-worker.js). Tests point it elsewhere. */
  url?: URL;
  /** An import still running after this long fails and its thread is stopped (default 120 s; GitHub's 10 MB spec takes ~1 s). */
  timeoutMs?: number;
}

/** The thread failed or was stopped, not the import: the import may be run in-process. */
class ThreadFailure extends Error {
  constructor(
    readonly reason: 'failed' | 'out-of-memory' | 'closed' | 'timeout',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function createImportWorker(options: ImportWorkerOptions = {}): ImportWorker {
  const url = options.url ?? WORKER_URL;
  const timeoutMs = options.timeoutMs ?? 120_000;
  let thread: Thread | undefined;
  let nextId = 1;

  const spawn = (): Thread => {
    const t: Thread = { worker: new Worker(url), pending: new Map() };
    // Failures settle only this thread's imports: a successor may be running by the time an old thread's exit is seen.
    const failAll = (failure: ThreadFailure) => {
      if (thread === t) thread = undefined;
      for (const p of t.pending.values()) p.reject(failure);
      t.pending.clear();
    };
    t.worker.on('message', (reply: ImportReply) => {
      const p = t.pending.get(reply.id);
      if (p === undefined) return;
      t.pending.delete(reply.id);
      if (t.pending.size === 0) t.worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else if ('unsent' in reply) p.reject(new ThreadFailure('failed', `the import thread could not send its result: ${reply.unsent}`));
      else p.reject(revive(reply.error));
    });
    t.worker.on('error', (err: Error & { code?: string }) => {
      const reason = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out-of-memory' : 'failed';
      failAll(new ThreadFailure(reason, `the import thread failed: ${err.message}`, { cause: err }));
    });
    t.worker.on('exit', (code) => failAll(new ThreadFailure(t.closed ? 'closed' : 'failed', `the import thread exited (code ${code})`)));
    // The thread keeps the process alive only while an import waits on it.
    t.worker.unref();
    return t;
  };

  const call = (request: Omit<ImportRequest, 'id'>): Promise<ImportedBackend> =>
    new Promise<ImportedBackend>((resolve, reject) => {
      let t: Thread;
      try {
        t = thread ??= spawn();
      } catch (err) {
        throw new ThreadFailure('failed', `the import thread could not start: ${(err as Error).message}`, { cause: err });
      }
      const id = nextId++;
      try {
        t.worker.postMessage({ ...request, id } satisfies ImportRequest);
      } catch (err) {
        throw new ThreadFailure('failed', `the import could not be sent to its thread: ${(err as Error).message}`, { cause: err });
      }
      if (t.pending.size === 0) t.worker.ref();
      const timer = setTimeout(() => {
        if (!t.pending.delete(id)) return;
        reject(new ThreadFailure('timeout', `the import did not finish within ${timeoutMs} ms`));
        // The thread is busy with it for who knows how long: stop it (its other imports
        // fall back) and let the next import start a new one.
        if (thread === t) thread = undefined;
        void t.worker.terminate();
      }, timeoutMs);
      timer.unref();
      t.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });

  return {
    async run(opts, onFallback) {
      const { cache: _cache, ...plain } = opts;
      try {
        return await call({ options: plain });
      } catch (err) {
        if (!(err instanceof ThreadFailure)) throw err; // the import's own failure
        if (err.reason === 'out-of-memory') {
          throw new GatehouseError('GH_SPEC_LOAD_FAILED', `Backend "${opts.name}": importing ${opts.specLabel ?? `"${opts.spec}"`} ran out of memory on the import thread`, { cause: err });
        }
        if (err.reason === 'timeout') {
          throw new GatehouseError('GH_SPEC_LOAD_FAILED', `Backend "${opts.name}": importing ${opts.specLabel ?? `"${opts.spec}"`} took longer than ${timeoutMs} ms; the import was stopped`, { cause: err });
        }
        if (err.reason === 'failed') onFallback(err); // a deliberate close is no fault
        // Loaded here only: the importer's module graph (the spec parser, ajv) is the thread's to load, not the gateway's.
        const { importBackend } = await import('./import-backend.js');
        return importBackend(plain);
      }
    },
    warm() {
      try {
        thread ??= spawn();
      } catch {
        // run() starts it again and falls back in-process, saying why.
      }
    },
    async close() {
      const t = thread;
      if (t === undefined) return;
      thread = undefined;
      t.closed = true;
      await t.worker.terminate();
    },
  };
}

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve: (value: ImportedBackend) => void; reject: (e: unknown) => void }>;
  /** Stopped by close(): its imports finish in-process without a warning. */
  closed?: boolean;
}

/** The import thread of this process (started on first use; runtime close stops it). */
export const importWorker: ImportWorker = createImportWorker();

/** What the import threw on the thread, as importOne sees it in-process (String(err), code, message, details). */
function revive(e: ThrownError): unknown {
  switch (e.kind) {
    case 'gatehouse':
      return new GatehouseError(e.code as ErrorCode, e.message, e.details !== undefined ? { details: e.details } : undefined);
    case 'error':
      return Object.assign(new Error(e.message), { name: e.name, ...(e.code !== undefined ? { code: e.code } : {}) });
    case 'value':
      return e.text;
  }
}
