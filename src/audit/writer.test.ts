import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { createJsonlSink } from './jsonl-sink.js';
import type { AuditPage, AuditRecord, AuditStore } from './record.js';
import { startRetention } from './retention.js';
import { createAuditWriter, type AuditWriterEvent } from './writer.js';

/** An in-memory store that can be taken down, to test the writer's logic without I/O. */
function memoryStore() {
  const rows: AuditRecord[] = [];
  let down = false;
  let closed = false;
  const store: AuditStore & { rows: AuditRecord[]; down(v: boolean): void; readonly closed: boolean } = {
    kind: 'sqlite',
    rows,
    down: (v) => (down = v),
    get closed() {
      return closed;
    },
    init: async () => undefined,
    async write(records) {
      await new Promise((r) => setTimeout(r, 1));
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      const bad = records.find((r) => r.requestId === 'poison');
      if (bad) throw Object.assign(new Error('invalid input'), { code: '22P02' });
      rows.push(...records);
    },
    query: async (): Promise<AuditPage> => ({ records: [] }),
    prune: async (olderThan) => {
      const before = rows.length;
      rows.splice(0, rows.length, ...rows.filter((r) => r.time >= olderThan));
      return before - rows.length;
    },
    close: async () => {
      closed = true;
    },
  };
  return store;
}

/** A pino logger that keeps its lines, to assert on what was logged (and how often). */
function captureLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines, count: (msg: RegExp) => lines.filter((l) => msg.test(l.msg)).length };
}

const rec = (i: number, extra: Partial<AuditRecord> = {}): AuditRecord => ({ time: 1_000 + i, requestId: `r${i}`, kind: 'tool', outcome: 'ok', latencyMs: 1, ...extra });

describe('createAuditWriter', () => {
  it('writes every record once, in order, in batches', async () => {
    const store = memoryStore();
    const w = createAuditWriter({ store, log: captureLog().log, batchSize: 7, flushIntervalMs: 5 });
    for (let i = 0; i < 50; i++) w.record(rec(i));
    await w.flush();
    expect(store.rows.map((r) => r.requestId)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
    expect(w.stats()).toMatchObject({ queued: 0, written: 50, dropped: 0, storeHealthy: true });
    await w.close();
  });

  it('keeps records through an outage, logs once per outage and once on recovery', async () => {
    const store = memoryStore();
    const { log, count } = captureLog();
    const events: AuditWriterEvent[] = [];
    const w = createAuditWriter({ store, log, flushIntervalMs: 5, retryBaseMs: 5, retryMaxMs: 20, onEvent: (e) => events.push(e) });
    store.down(true);
    for (let i = 0; i < 20; i++) w.record(rec(i));
    // Retried while down (however slowly this machine runs the retries), and nothing lost meanwhile.
    await expect.poll(() => w.stats().failures, { timeout: 10_000 }).toBeGreaterThan(2);
    expect(w.stats()).toMatchObject({ queued: 20, written: 0, storeHealthy: false });
    expect(count(/store write failed/)).toBe(1);
    store.down(false);
    await w.flush();
    expect(store.rows).toHaveLength(20);
    expect(count(/store recovered/)).toBe(1);
    expect(events.some((e) => e.type === 'recovered')).toBe(true);
    expect(w.stats()).toMatchObject({ queued: 0, written: 20, storeHealthy: true });
    await w.close();
  });

  it('drops and counts records beyond maxQueue, logging at a limited rate', async () => {
    const store = memoryStore();
    const { log, count } = captureLog();
    store.down(true);
    const w = createAuditWriter({ store, log, maxQueue: 10, retryBaseMs: 10_000 });
    for (let i = 0; i < 25; i++) w.record(rec(i));
    expect(w.stats()).toMatchObject({ queued: 10, dropped: 15 });
    expect(count(/records dropped/)).toBe(1);
    store.down(false);
    await w.flush();
    expect(store.rows.map((r) => r.requestId)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    await w.close();
  });

  it('isolates a record the store refuses for its content instead of blocking the queue', async () => {
    const store = memoryStore();
    const w = createAuditWriter({ store, log: captureLog().log, batchSize: 100 });
    for (let i = 0; i < 10; i++) w.record(rec(i, i === 4 ? { requestId: 'poison' } : {}));
    await w.flush();
    expect(store.rows.map((r) => r.requestId)).toEqual(['r0', 'r1', 'r2', 'r3', 'r5', 'r6', 'r7', 'r8', 'r9']);
    expect(w.stats()).toMatchObject({ dropped: 1, written: 9, queued: 0 });
    await w.close();
  });

  it('close() writes what is queued, closes the store, and refuses later records', async () => {
    const store = memoryStore();
    const w = createAuditWriter({ store, log: captureLog().log, flushIntervalMs: 60_000 });
    for (let i = 0; i < 1234; i++) w.record(rec(i));
    await w.close();
    expect(store.rows).toHaveLength(1234);
    expect(store.closed).toBe(true);
    w.record(rec(9999));
    expect(w.stats().dropped).toBe(1);
  });

  it('close() gives up at its timeout and counts what is left as dropped', async () => {
    const store = memoryStore();
    const { log, count } = captureLog();
    store.down(true);
    const w = createAuditWriter({ store, log, retryBaseMs: 10 });
    for (let i = 0; i < 5; i++) w.record(rec(i));
    // The store stays down: close() returns only because it gives up.
    await w.close(200);
    expect(w.stats()).toMatchObject({ queued: 0, dropped: 5, written: 0 });
    expect(count(/records dropped/)).toBe(1);
    expect(store.closed).toBe(true);
  });

  it('holds no timer while nothing is queued, and writes a record within the flush interval', async () => {
    vi.useFakeTimers();
    try {
      const store = memoryStore();
      const w = createAuditWriter({ store, log: captureLog().log, flushIntervalMs: 10 });
      expect(vi.getTimerCount()).toBe(0);
      w.record(rec(1));
      w.record(rec(2));
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(9);
      expect(store.rows).toHaveLength(0);
      // 10 ms: the pass starts; the store's own write takes 1 ms.
      await vi.advanceTimersByTimeAsync(2);
      expect(store.rows.map((r) => r.requestId)).toEqual(['r1', 'r2']);
      expect(vi.getTimerCount()).toBe(0);
      await w.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes a backlog one batch per event-loop turn', async () => {
    const events: string[] = [];
    const store = { ...memoryStore(), write: async (records: readonly AuditRecord[]) => void events.push(`write ${records.length}`) };
    const w = createAuditWriter({ store, log: captureLog().log, batchSize: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 300; i++) w.record(rec(i));
    let ticking = true;
    const tick = () => {
      events.push('turn');
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    await w.flush();
    ticking = false;
    const writes = events.map((e, i) => [e, i] as const).filter(([e]) => e.startsWith('write'));
    expect(writes.map(([e]) => e)).toEqual(['write 100', 'write 100', 'write 100']);
    // Between two batches the loop ran other callbacks (here: the ticker).
    for (let k = 1; k < writes.length; k++) expect(events.slice(writes[k - 1]![1], writes[k]![1])).toContain('turn');
    await w.close();
  });

  it('does not throw from record() when an onEvent handler throws', async () => {
    const store = memoryStore();
    store.down(true);
    const w = createAuditWriter({ store, log: captureLog().log, maxQueue: 1, onEvent: () => { throw new Error('metrics broke'); } });
    expect(() => { w.record(rec(1)); w.record(rec(2)); }).not.toThrow();
    expect(w.stats().dropped).toBe(1);
    await w.close(50);
  });
});

describe('createJsonlSink', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('appends one JSON object per line to a file, creating its directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-audit-jsonl-'));
    const file = join(dir, 'logs', 'sub', 'audit.jsonl');
    const sink = createJsonlSink(file);
    const w = createAuditWriter({ sinks: [sink], log: captureLog().log });
    w.record(rec(1, { arguments: { q: 'a\nb' } }));
    w.record(rec(2));
    await w.close();
    const again = createJsonlSink(file);
    await again.write([rec(3)]);
    await again.close();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AuditRecord).requestId)).toEqual(['r1', 'r2', 'r3']);
    expect((JSON.parse(lines[0] as string) as AuditRecord).arguments).toEqual({ q: 'a\nb' });
  });

  it('gets each record once even while the store is retried', async () => {
    const store = memoryStore();
    const seen: string[] = [];
    store.down(true);
    const w = createAuditWriter({ store, sinks: [{ write: (rs) => void seen.push(...rs.map((r) => r.requestId)), close: async () => undefined }], log: captureLog().log, retryBaseMs: 1 });
    w.record(rec(1));
    await w.flush();
    await w.flush();
    store.down(false);
    await w.close();
    expect(seen).toEqual(['r1']);
    expect(store.rows).toHaveLength(1);
  });
});

describe('startRetention', () => {
  it('prunes at start and on demand, relative to the clock', async () => {
    const store = memoryStore();
    const day = 86_400_000;
    const now = 100 * day;
    store.rows.push(rec(0, { time: now - 10 * day }), rec(1, { time: now - 3 * day }), rec(2, { time: now - day }));
    const r = startRetention(store, { days: 2, log: captureLog().log, now: () => now });
    // The prune at start runs in the background: wait for its effect.
    await expect.poll(() => store.rows.map((x) => x.requestId), { timeout: 10_000 }).toEqual(['r2']);
    expect(await r.runOnce()).toBe(0);
    r.stop();
  });

  it('logs a failing prune and resolves 0', async () => {
    const store = memoryStore();
    store.prune = async () => {
      throw new Error('store down');
    };
    const { log, count } = captureLog();
    const r = startRetention(store, { days: 1, log });
    expect(await r.runOnce()).toBe(0);
    expect(count(/pruning old records failed/)).toBeGreaterThanOrEqual(1);
    r.stop();
  });

  it('rejects a non-positive retention', () => {
    expect(() => startRetention(memoryStore(), { days: 0, log: captureLog().log })).toThrow(/retentionDays/);
  });
});
