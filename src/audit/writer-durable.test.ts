import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import type { AuditPage, AuditRecord, AuditStore } from './record.js';
import { createAuditWriter } from './writer.js';

/**
 * `recordDurable` (audit.durability: sync): a promise per record that settles
 * when the store has committed it, with concurrent records grouped into one
 * write. The store here holds each write until the test releases it, so what
 * is committed when is decided by the test, not by a clock.
 */
function heldStore() {
  const writes: AuditRecord[][] = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const store: AuditStore & { writes: AuditRecord[][]; release(err?: Error): void; readonly waiting: number } = {
    kind: 'postgres',
    writes,
    get waiting() {
      return pending.length;
    },
    release(err) {
      const p = pending.shift();
      if (p === undefined) throw new Error('no write is waiting');
      if (err === undefined) p.resolve();
      else p.reject(err);
    },
    init: async () => undefined,
    write(records) {
      writes.push([...records]);
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
    query: async (): Promise<AuditPage> => ({ records: [] }),
    prune: async () => 0,
    close: async () => undefined,
  };
  return store;
}

const rec = (i: number): AuditRecord => ({ time: 1_000 + i, requestId: `r${i}`, kind: 'tool', outcome: 'ok', latencyMs: 1 });
/** Lets promise callbacks and setImmediate turns run. */
const turn = () => new Promise((r) => setImmediate(r));

/** The settled state of a promise, without waiting for it. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: Error } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: Error } = { state: 'pending' };
  p.then(
    () => (t.state = 'resolved'),
    (e: Error) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

describe('AuditWriter.recordDurable', () => {
  it('settles only when the write holding the record commits, without waiting for the flush timer', async () => {
    const store = heldStore();
    // An hour's flush interval: only the group commit can write these.
    const w = createAuditWriter({ store, log: silentLogger(), flushIntervalMs: 3_600_000 });
    const first = track(w.recordDurable(rec(1)));
    await turn();
    expect(store.writes.map((b) => b.map((r) => r.requestId))).toEqual([['r1']]);
    // Records that come while a write is in flight wait for the next one, together.
    const more = [2, 3, 4].map((i) => track(w.recordDurable(rec(i))));
    await turn();
    expect(first.state).toBe('pending');
    store.release();
    await turn();
    await turn();
    expect(first.state).toBe('resolved');
    expect(more.map((m) => m.state)).toEqual(['pending', 'pending', 'pending']);
    expect(store.writes.map((b) => b.map((r) => r.requestId))).toEqual([['r1'], ['r2', 'r3', 'r4']]);
    store.release();
    await turn();
    expect(more.map((m) => m.state)).toEqual(['resolved', 'resolved', 'resolved']);
    expect(w.stats()).toMatchObject({ written: 4, queued: 0 });
  });

  it('rejects when the store fails, keeps the record queued, and rejects at once while the store is in back-off', async () => {
    const store = heldStore();
    const w = createAuditWriter({ store, log: silentLogger(), flushIntervalMs: 3_600_000, retryBaseMs: 3_600_000 });
    const one = track(w.recordDurable(rec(1)));
    await turn();
    store.release(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await turn();
    expect(one.state).toBe('rejected');
    expect(one.error?.message).toBe('the audit record could not be committed: the postgres store is unavailable');
    const two = track(w.recordDurable(rec(2)));
    await turn();
    expect(two.state).toBe('rejected');
    expect(store.writes).toHaveLength(1);
    // Nothing is lost: both are written when the store is back.
    const flushed = w.flush();
    await turn();
    store.release();
    await flushed;
    expect(store.writes.at(-1)?.map((r) => r.requestId)).toEqual(['r1', 'r2']);
    expect(w.stats()).toMatchObject({ written: 2, queued: 0, dropped: 0, storeHealthy: true });
  });

  it('rejects a record the full queue cannot take, and one sent after close', async () => {
    const store = heldStore();
    const w = createAuditWriter({ store, log: silentLogger(), maxQueue: 1, flushIntervalMs: 3_600_000 });
    const kept = track(w.recordDurable(rec(1)));
    const refused = track(w.recordDurable(rec(2)));
    await turn();
    expect(refused.state).toBe('rejected');
    expect(refused.error?.message).toContain('audit.queue.max');
    store.release();
    await turn();
    expect(kept.state).toBe('resolved');
    await w.close(0);
    await expect(w.recordDurable(rec(3))).rejects.toThrow('shutting down');
    expect(w.stats().dropped).toBe(2);
  });
});
