import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditWriter, createSqliteStore, openAuditStore, type AuditRecord, type AuditStore } from '../../src/audit/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { FULL, T0, expectFiltersWork, expectPagination, expectPrune } from '../helpers/audit-fixtures.js';


let dir: string;
let file: string;
let store: AuditStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gh-audit-sqlite-'));
  file = join(dir, 'data', 'nested', 'audit.db');
  store = createSqliteStore({ file });
  await store.init();
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SQLite audit store', () => {
  it('creates its directory, the indexes, and runs in WAL mode', () => {
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'").all() as Array<{ name: string }>).map((r) => r.name);
      // Only the indexes queries need: each one costs every insert a B-tree update.
      expect(indexes.sort()).toEqual(['audit_backend_tool_time', 'audit_principal_time', 'audit_time']);
    } finally {
      db.close();
    }
  });

  it('round-trips every field, and leaves absent fields absent', async () => {
    const minimal: AuditRecord = { time: FULL.time - 1, requestId: 'req-min', kind: 'tool', outcome: 'denied', latencyMs: 0 };
    await store.write([FULL, minimal]);
    const { records, nextCursor } = await store.query({});
    expect(nextCursor).toBeUndefined();
    expect(records).toEqual([
      { ...FULL, id: expect.any(Number) },
      { ...minimal, id: expect.any(Number) },
    ]);
  });

  it('filters on each field, ANDed', () => expectFiltersWork(store));

  it('paginates newest first and visits every row exactly once', () => expectPagination(store));

  it('prunes records older than a time and returns the count', () => expectPrune(store));

  it('writes a batch all or nothing, so a retried batch was never half written', async () => {
    const bad = { ...FULL, uid: 'bad', time: Number.NaN } as AuditRecord;
    await store.write([FULL]);
    // A batch whose insert throws part-way leaves nothing behind (one transaction).
    const db = new Database(file);
    db.exec('CREATE TRIGGER refuse_bad BEFORE INSERT ON audit WHEN NEW.uid = \'bad\' BEGIN SELECT RAISE(ABORT, \'refused\'); END');
    db.close();
    await expect(store.write([{ ...FULL, uid: 'first-of-batch' }, bad])).rejects.toThrow(/refused/);
    expect((await store.query({})).records.map((r) => r.uid)).toEqual(['uid-full']);
  });

  it('through the writer: N concurrent producers → exactly N rows, all written by close()', async () => {
    const writer = createAuditWriter({ store, log: silentLogger(), batchSize: 100 });
    const N = 1000;
    await Promise.all(
      Array.from({ length: 10 }, async (_, p) => {
        for (let i = 0; i < N / 10; i++) {
          writer.record({ time: T0 + i, requestId: `p${p}-${i}`, kind: 'tool', outcome: 'ok', latencyMs: 1 });
          if (i % 10 === 0) await Promise.resolve();
        }
      }),
    );
    await writer.close();
    expect(writer.stats()).toMatchObject({ written: N, dropped: 0, queued: 0 });
    const db = new Database(file, { readonly: true });
    try {
      const row = db.prepare('SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM audit').get() as { n: number; d: number };
      expect(row).toEqual({ n: N, d: N });
    } finally {
      db.close();
    }
    store = createSqliteStore({ file }); // afterEach closes it
  });

  it('openAuditStore opens SQLite by configuration', async () => {
    const other = await openAuditStore({ store: 'sqlite', sqlite: { file: join(dir, 'b', 'audit.db') } }, silentLogger());
    await other.write([FULL]);
    expect((await other.query({ principal: 'alice' })).records).toHaveLength(1);
    await other.close();
  });

  /**
   * Where the writes run: another connection holds the write lock for 500 ms. On the event
   * loop, SQLite's busy wait blocks the loop, so a 10 ms timer set before the write fires
   * only after the write is done; with `thread: true` the worker waits and the timer fires
   * first. Asserted as an order, not as milliseconds a busy machine could stretch.
   */
  it.each([
    [false, 'blocks'],
    [true, 'keeps serving'],
  ] as const)('openAuditStore with sqlite.thread %s: the event loop %s while SQLite waits for a lock', async (thread, _what) => {
    const lockedFile = join(dir, thread ? 'thread' : 'loop', 'audit.db');
    const s = await openAuditStore({ store: 'sqlite', sqlite: { file: lockedFile, thread } }, silentLogger());
    // The lock is held by another thread, which the event loop being blocked cannot stop.
    const holder = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const db = new (require('better-sqlite3'))(workerData);
       db.exec('BEGIN IMMEDIATE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
       db.exec('COMMIT');
       db.close();`,
      { eval: true, workerData: lockedFile },
    );
    const holderDone = once(holder, 'exit');
    await once(holder, 'message');
    const order: string[] = [];
    const timer = new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('timer')), 10));
    // Give the timer a head start over a synchronous busy wait.
    await new Promise((r) => setImmediate(r));
    const written = s.write([FULL]).then(() => void order.push('written'));
    await Promise.all([timer, written]);
    await holderDone;
    expect((await s.query({ principal: 'alice' })).records).toHaveLength(1);
    await s.close();
    expect(order).toEqual(thread ? ['timer', 'written'] : ['written', 'timer']);
  });
});

describe('SQLite store upgrades', () => {
  it('adds the columns a newer version records to a table an older one created', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gh-audit-upgrade-'));
    const file = join(dir, 'audit.db');
    const old = new Database(file);
    old.exec('CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, request_id TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, latency_ms REAL NOT NULL)');
    old.prepare('INSERT INTO audit (time, request_id, kind, outcome, latency_ms) VALUES (1, ?, ?, ?, 2)').run('old', 'tool', 'ok');
    old.close();
    const store = createSqliteStore({ file });
    await store.init();
    await store.write([{ time: 2, requestId: 'new', kind: 'model', outcome: 'ok', latencyMs: 3, route: 'gpt', ttftMs: 1.5, attempts: [{ target: 'a', ms: 1 }] }]);
    const { records } = await store.query({});
    expect(records.map((r) => [r.requestId, r.route, r.ttftMs, r.attempts])).toEqual([
      ['new', 'gpt', 1.5, [{ target: 'a', ms: 1 }]],
      ['old', undefined, undefined, undefined],
    ]);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});
