import type { Logger } from '../log/logger.js';
import type { AuditRecord, AuditStore } from './record.js';

/** A secondary destination (JSON lines): gets every record once, never retried. */
export interface AuditSink {
  write(records: readonly AuditRecord[]): void | Promise<void>;
  close(): Promise<void>;
}

/** For metrics. `failure` is every failed attempt; logs are once per outage. */
export type AuditWriterEvent =
  | { type: 'written'; count: number }
  | { type: 'dropped'; count: number; reason: 'queue-full' | 'closed' | 'shutdown-timeout' | 'rejected' }
  | { type: 'failure'; error: unknown }
  | { type: 'recovered'; downMs: number };

export interface AuditWriterOptions {
  store?: AuditStore;
  sinks?: readonly AuditSink[];
  /** Records held while the store is slow or down; beyond it new records are dropped and counted. Default 10 000. */
  maxQueue?: number;
  /** Records per store write (one transaction). Default 500. */
  batchSize?: number;
  /** How long a record waits for a batch to fill before it is written anyway. Default 200 ms. */
  flushIntervalMs?: number;
  /** First retry delay after a failed write; doubles up to `retryMaxMs`. Defaults 500 and 10 000 ms. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  log: Logger;
  onEvent?: (e: AuditWriterEvent) => void;
  /** False when the store already failed (it could not be opened at start): the outage shows from the first moment. Default true. */
  storeHealthy?: boolean;
}

export interface AuditWriterStats {
  queued: number;
  dropped: number;
  written: number;
  failures: number;
  storeHealthy: boolean;
}

export interface AuditWriter {
  /** Queues one record. O(1); never throws, never waits. */
  record(r: AuditRecord): void;
  /**
   * Queues one record and resolves once the store has committed it (`audit.durability:
   * sync`). Records queued meanwhile are committed together (one transaction per batch),
   * and a write starts at once rather than at the flush timer. Rejects when the store
   * cannot commit it now (down, in back-off, queue full, refused, shut down); the record
   * itself stays queued and is retried, unless it was dropped (and counted).
   */
  recordDurable(r: AuditRecord): Promise<void>;
  /** Writes what is queued now (one attempt, ignoring the retry delay). Never rejects. */
  flush(): Promise<void>;
  /** Stops accepting, writes everything (retrying until `timeoutMs`, default 5000), then closes store and sinks. */
  close(timeoutMs?: number): Promise<void>;
  stats(): AuditWriterStats;
}

/** Drops are logged at most this often, with the count since the last log. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Decouples calls from audit storage. `record()` appends to an in-memory
 * queue; a timer armed by the first queued record (or a full batch) writes it
 * in batches, one write in flight, with a turn of the event loop between
 * batches; no timer runs while nothing is queued.
 * A failed write leaves its batch at the head of the queue, so order is kept
 * and nothing is lost while the store is down and the queue has room;
 * retries back off exponentially. The queue bound is the only place records
 * are lost, and each loss is counted.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { store, log, onEvent } = options;
  const sinks = options.sinks ?? [];
  const maxQueue = positive('maxQueue', options.maxQueue ?? 10_000);
  const batchSize = positive('batchSize', options.batchSize ?? 500);
  const flushIntervalMs = positive('flushIntervalMs', options.flushIntervalMs ?? 200);
  const retryBaseMs = positive('retryBaseMs', options.retryBaseMs ?? 500);
  const retryMaxMs = Math.max(retryBaseMs, options.retryMaxMs ?? 10_000);

  const storeQueue = new Queue<AuditRecord>();
  const sinkQueue = new Queue<AuditRecord>();
  let dropped = 0;
  let written = 0;
  let failures = 0;
  let healthy = options.storeHealthy ?? true;
  let downSince = healthy ? 0 : Date.now();
  let streak = 0; // consecutive failures
  let retryAt = 0;
  /** After a batch is refused for its content, retry its records one by one to find the bad one. */
  let isolate = 0;
  let closed = false;
  let inFlight: Promise<void> | undefined;
  let unloggedDrops = 0;
  let lastDropLog = 0;
  /** Callers of recordDurable waiting for their record's commit. */
  const waiters = new Map<AuditRecord, { resolve: () => void; reject: (err: Error) => void }>();
  const settle = (records: readonly AuditRecord[], err?: Error) => {
    if (waiters.size === 0) return;
    for (const r of records) {
      const w = waiters.get(r);
      if (w === undefined) continue;
      waiters.delete(r);
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  };
  const notDurable = (why: string, cause?: unknown) => new Error(`the audit record could not be committed: ${why}`, cause === undefined ? undefined : { cause });

  const emit = (e: AuditWriterEvent) => {
    try {
      onEvent?.(e);
    } catch (err) {
      log.warn({ err }, 'audit: onEvent handler threw');
    }
  };

  const drop = (count: number, reason: Extract<AuditWriterEvent, { type: 'dropped' }>['reason']) => {
    dropped += count;
    unloggedDrops += count;
    emit({ type: 'dropped', count, reason });
    const now = Date.now();
    if (reason === 'shutdown-timeout' || reason === 'rejected' || now - lastDropLog >= DROP_LOG_INTERVAL_MS) {
      log.error({ dropped: unloggedDrops, totalDropped: dropped, reason, maxQueue }, 'audit: records dropped');
      unloggedDrops = 0;
      lastDropLog = now;
    }
  };

  /** Delivers to sinks: best effort, once. A sink failure is logged and does not hold the store. */
  const writeSinks = async () => {
    if (sinkQueue.length === 0) return;
    const batch = sinkQueue.take(sinkQueue.length);
    for (const sink of sinks) {
      try {
        await sink.write(batch);
      } catch (err) {
        log.warn({ err, records: batch.length }, 'audit: sink write failed');
      }
    }
  };

  const writeStore = async (force: boolean) => {
    if (!store) return;
    while (storeQueue.length > 0) {
      if (!force && Date.now() < retryAt) return;
      const size = isolate > 0 ? 1 : batchSize;
      const batch = storeQueue.peek(size);
      try {
        await store.write(batch);
      } catch (err) {
        failures++;
        emit({ type: 'failure', error: err });
        if (isContentError(err)) {
          if (batch.length === 1) {
            storeQueue.take(1);
            isolate = Math.max(0, isolate - 1);
            log.error({ err, requestId: batch[0]?.requestId }, 'audit: store refused a record; it is dropped');
            drop(1, 'rejected');
            settle(batch, notDurable('the store refused it', err));
          } else {
            isolate = batch.length;
          }
          continue;
        }
        streak++;
        retryAt = Date.now() + backoff(streak);
        // Still queued and retried; its caller is told now rather than held through the outage.
        settle(storeQueue.peek(storeQueue.length), notDurable(`the ${store.kind} store is unavailable`, err));
        if (healthy) {
          healthy = false;
          downSince = Date.now();
          log.warn({ err, store: store.kind, queued: storeQueue.length }, 'audit: store write failed; records are kept in memory and retried');
        }
        return;
      }
      // After a close() timeout the queue was emptied and counted as dropped: count only what is still ours.
      const done = storeQueue.take(batch.length).length;
      settle(batch);
      if (isolate > 0) isolate--;
      written += done;
      streak = 0;
      retryAt = 0;
      emit({ type: 'written', count: done });
      if (!healthy) {
        healthy = true;
        const downMs = Date.now() - downSince;
        log.info({ store: store.kind, downMs, failures, queued: storeQueue.length }, 'audit: store recovered');
        emit({ type: 'recovered', downMs });
      }
      // A backlog (after an outage) is written a batch per turn: calls are served in between.
      if (storeQueue.length > 0) await nextTurn();
    }
  };

  const backoff = (n: number) => {
    const base = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(n - 1, 30));
    return base * (0.8 + Math.random() * 0.2); // jitter: a fleet does not retry in lockstep
  };

  /** Runs one pass; a second caller waits for the pass in flight and then runs its own. */
  const pass = (force: boolean): Promise<void> => {
    const run = async () => {
      await writeSinks();
      await writeStore(force);
    };
    const next = (inFlight ?? Promise.resolve()).then(run).catch((err: unknown) => log.error({ err }, 'audit: writer pass failed'));
    inFlight = next;
    void next.then(() => {
      if (inFlight !== next) return;
      inFlight = undefined;
      // Callers waiting for a commit: the next group goes at once (group commit), unless the store is in back-off.
      if (waiters.size > 0 && Date.now() >= retryAt && !closed) void pass(false);
      // What is left (records that came meanwhile, or a store in back-off) gets the next timer.
      else if (storeQueue.length > 0 || sinkQueue.length > 0) schedule(Math.max(flushIntervalMs, retryAt - Date.now()));
    });
    return next;
  };

  /** One timer at most, and none while nothing is queued: an idle gateway does not wake up for its audit trail. */
  let timer: NodeJS.Timeout | undefined;
  const schedule = (delayMs: number) => {
    if (timer !== undefined || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      // A pass in flight schedules again when it ends.
      if (!inFlight) void pass(false);
    }, delayMs);
    timer.unref();
  };

  return {
    record(r) {
      if (closed) {
        drop(1, 'closed');
        return;
      }
      // The record is ours from here (callers build one per call): no copy.
      const rec = r;
      // The store is the system of record: when its queue is full the record is lost, and counted.
      if (store) {
        if (storeQueue.length >= maxQueue) return drop(1, 'queue-full');
        storeQueue.push(rec);
      }
      if (sinks.length > 0) {
        if (sinkQueue.length < maxQueue) sinkQueue.push(rec);
        else if (!store) return drop(1, 'queue-full');
      }
      // A full batch goes now rather than at the timer, unless the store is in back-off.
      if (storeQueue.length >= batchSize && !inFlight && Date.now() >= retryAt) void pass(false);
      else schedule(flushIntervalMs);
    },
    recordDurable(r) {
      if (!store) {
        this.record(r);
        return Promise.resolve();
      }
      if (closed) {
        drop(1, 'closed');
        return Promise.reject(notDurable('the gateway is shutting down'));
      }
      if (storeQueue.length >= maxQueue) {
        drop(1, 'queue-full');
        return Promise.reject(notDurable(`${maxQueue} records are queued already (audit.queue.max)`));
      }
      storeQueue.push(r);
      if (sinks.length > 0 && sinkQueue.length < maxQueue) sinkQueue.push(r);
      // In back-off after a failed write: the record waits for the retry, its caller does not.
      if (!healthy || Date.now() < retryAt) {
        schedule(Math.max(flushIntervalMs, retryAt - Date.now()));
        return Promise.reject(notDurable(`the ${store.kind} store is unavailable`));
      }
      const committed = new Promise<void>((resolve, reject) => waiters.set(r, { resolve, reject }));
      if (!inFlight) void pass(false);
      return committed;
    },
    flush: () => pass(true),
    async close(timeoutMs = 5_000) {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const remaining = deadline - Date.now();
        await withTimeout(pass(true), Math.max(0, remaining));
        if (storeQueue.length === 0 && sinkQueue.length === 0) break;
        if (Date.now() >= deadline) break;
        await sleep(Math.min(backoff(Math.max(streak, 1)), deadline - Date.now()));
      }
      const lost = storeQueue.length;
      if (lost > 0) {
        settle(storeQueue.take(lost), notDurable('the gateway shut down before the store recovered'));
        drop(lost, 'shutdown-timeout');
      }
      await Promise.allSettled([store?.close(), ...sinks.map((s) => s.close())]).then((results) => {
        for (const r of results) if (r.status === 'rejected') log.warn({ err: r.reason }, 'audit: closing the store or a sink failed');
      });
    },
    stats: () => ({ queued: storeQueue.length, dropped, written, failures, storeHealthy: healthy }),
  };
}

/**
 * A store error caused by a record's content rather than by the store being
 * unreachable: retrying the same batch would fail forever (PostgreSQL SQLSTATE
 * classes 22 data exception and 23 integrity violation; SQLite constraint and
 * type mismatch). Everything else is treated as an outage and retried.
 */
export function isContentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG';
}

/**
 * An array used as a FIFO with a moving head: O(1) push and amortised O(1) take. Taken
 * slots are cleared at once: a record the array still held after its write would outlive
 * young-generation collections and be promoted, to sit in the old generation as garbage.
 */
class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(n: number): T[] {
    return this.items.slice(this.head, this.head + n) as T[];
  }

  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n) as T[];
    const from = this.head;
    this.head += out.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      return out;
    }
    this.items.fill(undefined, from, this.head);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`audit writer option ${name} must be a positive number, got ${String(value)}`);
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
