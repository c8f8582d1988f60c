/**
 * A per-backend concurrency limit (bulkhead): at most `maxConcurrent` calls
 * to one backend are in flight, so one slow backend cannot take every socket
 * and every pending request of the gateway with it.
 *
 * Calls over the limit may wait in a short FIFO queue (`maxQueued`, default
 * 0 = refuse at once) for at most `queueTimeoutMs`. Waiting long is worse
 * than failing fast: the caller (an agent) can retry or pick another tool,
 * and a long queue only adds latency to a backend that is already saturated.
 */
import { GatehouseError } from '../errors/catalogue.js';
import type { CancelSignal } from '../call/context.js';

export interface BulkheadOptions {
  /** Calls allowed in flight at once (positive integer). */
  maxConcurrent: number;
  /** Calls allowed to wait for a slot (default 0: refuse at once). */
  maxQueued?: number;
  /** Longest a queued call waits for a slot before it is refused (default 1000 ms). */
  queueTimeoutMs?: number;
  /** Named in error messages, e.g. the backend name. */
  name?: string;
}

export interface Bulkhead {
  /**
   * Runs `fn` when a slot is free. Throws GatehouseError GH_BACKEND_BUSY when
   * the queue is full or the wait timed out, and GH_UPSTREAM_ABORTED when the
   * caller cancels before a slot is free (fn is then never called). The slot
   * is released however `fn` ends.
   */
  run<T>(fn: () => Promise<T>, signal?: CancelSignal): Promise<T>;
  readonly inFlight: number;
  readonly queued: number;
}

interface Waiter {
  grant(): void;
}

export function createBulkhead(options: BulkheadOptions): Bulkhead {
  const { maxConcurrent, maxQueued = 0, queueTimeoutMs = 1000 } = options;
  const label = options.name === undefined ? 'The backend' : `Backend "${options.name}"`;
  if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) throw configError(`maxConcurrent must be a positive integer; got ${String(maxConcurrent)}.`);
  if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) throw configError(`maxQueued must be a non-negative integer; got ${String(maxQueued)}.`);
  if (!Number.isFinite(queueTimeoutMs) || queueTimeoutMs < 0) throw configError(`queueTimeoutMs must be a non-negative number; got ${String(queueTimeoutMs)}.`);

  let inFlight = 0;
  // Insertion-ordered: FIFO, and O(1) removal of a waiter that gives up.
  const queue = new Set<Waiter>();

  function release(): void {
    const next = queue.values().next();
    if (next.done === true) {
      inFlight--;
      return;
    }
    // Hand the slot straight to the next waiter: inFlight stays the same.
    queue.delete(next.value);
    next.value.grant();
  }

  function acquire(signal: CancelSignal | undefined): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (inFlight < maxConcurrent) {
      inFlight++;
      return Promise.resolve();
    }
    if (queue.size >= maxQueued) {
      return Promise.reject(
        new GatehouseError('GH_BACKEND_BUSY', `${label} already has ${maxConcurrent} calls in flight (maxConcurrent ${maxConcurrent}) and ${maxQueued} waiting (maxQueued ${maxQueued}).`, {
          details: { maxConcurrent, maxQueued },
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        queue.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        leave();
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve();
        },
      };
      const timer = setTimeout(() => {
        leave();
        reject(
          new GatehouseError('GH_BACKEND_BUSY', `${label} had ${maxConcurrent} calls in flight (maxConcurrent ${maxConcurrent}) for longer than queueTimeoutMs ${queueTimeoutMs} ms.`, {
            details: { maxConcurrent, maxQueued, queueTimeoutMs },
          }),
        );
      }, queueTimeoutMs);
      queue.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async function run<T>(fn: () => Promise<T>, signal?: CancelSignal): Promise<T> {
    await acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  return {
    run,
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return queue.size;
    },
  };
}

/** The same error forward.ts gives a cancelled call, so callers handle one shape (and a breaker does not count it). */
function abortReason(signal: CancelSignal | undefined): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_ABORTED', 'The call was cancelled while it waited for a free backend slot.', { cause: signal?.reason });
}

function configError(message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `Bulkhead: ${message}`);
}
