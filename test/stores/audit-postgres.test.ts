import { userInfo } from 'node:os';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuditWriter, type AuditRecord, type AuditStore } from '../../src/audit/index.js';
import { createPostgresStore } from '../../src/audit/postgres-store.js';
import { silentLogger } from '../../src/log/logger.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { FULL, T0, expectFiltersWork, expectPagination, expectPrune } from '../helpers/audit-fixtures.js';

const rec = (i: number, tag: string): AuditRecord => ({ time: T0 + i, requestId: `${tag}-${i}`, kind: 'tool', outcome: 'ok', latencyMs: 1, principalId: 'load' });

const PG_PORT = 5432;
/** Trust auth as the OS user, as psql does (pg alone reads only $USER, unset in some CI shells). */
const PG_USER = encodeURIComponent(process.env.PGUSER ?? userInfo().username);
const url = (port = PG_PORT) => `postgres://${PG_USER}@127.0.0.1:${port}/test`;


let admin: pg.Client;
let seq = 0;
const tables: string[] = [];
const opened: AuditStore[] = [];
const proxies: TcpProxy[] = [];

/** A fresh table per test, dropped afterwards. */
function newTable(): string {
  const t = `audit_test_${process.pid}_${Date.now().toString(36)}_${seq++}`;
  tables.push(t);
  return t;
}

function open(table: string, port = PG_PORT): AuditStore {
  const store = createPostgresStore({ url: url(port), table, connectTimeoutMs: 500, log: silentLogger() });
  opened.push(store);
  return store;
}

/** Rows as PostgreSQL has them — not through the store under test. */
async function rows(table: string): Promise<Array<{ request_id: string; n: number }>> {
  const { rows: r } = await admin.query<{ request_id: string; n: number }>(`SELECT request_id, count(*)::int AS n FROM ${table} GROUP BY request_id`);
  return r;
}

async function expectExactlyOnce(table: string, expected: readonly string[]): Promise<void> {
  const got = await rows(table);
  expect(got.filter((r) => r.n !== 1), 'duplicated rows').toEqual([]);
  expect(got.map((r) => r.request_id).sort()).toEqual([...expected].sort());
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: url() });
  await admin.connect();
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  for (const p of proxies.splice(0)) await p.close();
  for (const t of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${t}`);
});

afterAll(async () => {
  await admin?.end();
});

describe('PostgreSQL audit store', () => {
  it('creates the table with its indexes and round-trips every field', async () => {
    const table = newTable();
    const store = open(table);
    await store.init();
    await store.init(); // idempotent
    const minimal: AuditRecord = { time: FULL.time - 1, requestId: 'req-min', kind: 'tool', outcome: 'denied', latencyMs: 0 };
    await store.write([FULL, minimal]);
    const { records, nextCursor } = await store.query({});
    expect(nextCursor).toBeUndefined();
    expect(records).toEqual([
      { ...FULL, id: expect.any(Number) },
      { ...minimal, id: expect.any(Number) },
    ]);
    const { rows: idx } = await admin.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1', [table]);
    expect(idx.map((r) => r.indexname)).toEqual(expect.arrayContaining([`${table}_time`, `${table}_principal_time`, `${table}_backend_tool_time`, `${table}_outcome_time`]));
    const { rows: types } = await admin.query<{ column_name: string; data_type: string }>('SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1', [table]);
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.data_type]))).toMatchObject({ id: 'bigint', time: 'timestamp with time zone', arguments: 'jsonb' });
  });

  it('filters on each field, ANDed', () => expectFiltersWork(open(newTable())));

  it('paginates newest first and visits every row exactly once', () => expectPagination(open(newTable())));

  it('prunes records older than a time and returns the count', async () => {
    const table = newTable();
    await expectPrune(open(table));
    expect((await rows(table)).length).toBe(20);
  });

  it('ignores a second write of the same records (a batch retried after its acknowledgement was lost)', async () => {
    const table = newTable();
    const store = open(table);
    const batch = [{ ...rec(1, 'dup'), uid: 'u1' }, { ...rec(2, 'dup'), uid: 'u2' }];
    await store.write(batch);
    await store.write([...batch, { ...rec(3, 'dup'), uid: 'u3' }]);
    await expectExactlyOnce(table, ['dup-1', 'dup-2', 'dup-3']);
  });

  it('writes arguments PostgreSQL would refuse (NUL, lone surrogate) instead of failing the batch', async () => {
    const table = newTable();
    const store = open(table);
    await store.write([{ ...rec(1, 'nul'), arguments: { a: 'x\u0000y', b: 'bad\ud800', c: 'ok \\u0000 text' }, tool: 'nul\u0000tool' }]);
    const [r] = (await store.query({})).records;
    expect(r?.arguments).toEqual({ a: 'x\ufffdy', b: 'bad\ufffd', c: 'ok \\u0000 text' });
    expect(r?.tool).toBe('nul\ufffdtool');
  });
});

describe('audit writer on PostgreSQL', () => {
  it('N records from concurrent producers → exactly N rows', async () => {
    const table = newTable();
    const writer = createAuditWriter({ store: open(table), log: silentLogger(), batchSize: 128, flushIntervalMs: 20 });
    const N = 1000;
    await Promise.all(
      Array.from({ length: 20 }, async (_, p) => {
        for (let i = 0; i < N / 20; i++) {
          writer.record(rec(i, `p${p}`));
          await new Promise((r) => setImmediate(r));
        }
      }),
    );
    await writer.flush();
    await expectExactlyOnce(table, Array.from({ length: N }, (_, k) => `p${Math.floor(k / 50)}-${k % 50}`));
    expect(writer.stats()).toMatchObject({ written: N, dropped: 0, queued: 0, failures: 0 });
    await writer.close();
  });

  it('close() right after recording writes every record', async () => {
    const table = newTable();
    const writer = createAuditWriter({ store: open(table), log: silentLogger(), flushIntervalMs: 60_000 });
    const N = 2500;
    for (let i = 0; i < N; i++) writer.record(rec(i, 'c'));
    await writer.close();
    await expectExactlyOnce(table, Array.from({ length: N }, (_, i) => `c-${i}`));
  });

  it('keeps records through an outage and writes each exactly once when the store returns', async () => {
    const table = newTable();
    const proxy = await startTcpProxy(PG_PORT);
    proxies.push(proxy);
    const writer = createAuditWriter({ store: open(table, proxy.port), log: silentLogger(), flushIntervalMs: 20, retryBaseMs: 50, retryMaxMs: 200 });
    const expected: string[] = [];
    const record = (i: number, tag: string) => {
      writer.record(rec(i, tag));
      expected.push(`${tag}-${i}`);
    };
    for (let i = 0; i < 50; i++) record(i, 'before');
    await writer.flush();
    expect(writer.stats().written).toBe(50);

    await proxy.cut();
    // record() does no I/O: it returns at once, the records wait in the queue.
    expect(() => {
      for (let i = 0; i < 500; i++) record(i, 'during');
    }).not.toThrow();
    expect(writer.stats()).toMatchObject({ queued: 500, dropped: 0 });
    await expect.poll(() => writer.stats().failures, { timeout: 5_000 }).toBeGreaterThan(1);
    expect(writer.stats()).toMatchObject({ storeHealthy: false, queued: 500, dropped: 0 });

    await proxy.restore();
    for (let i = 0; i < 20; i++) record(i, 'after');
    await writer.flush();
    await expect.poll(() => writer.stats().queued, { timeout: 5_000 }).toBe(0);
    expect(writer.stats()).toMatchObject({ storeHealthy: true, dropped: 0, written: 570 });
    await expectExactlyOnce(table, expected);
    await writer.close();
  });

  it('counts records beyond maxQueue as dropped while the store is down, and writes the rest', async () => {
    const table = newTable();
    const proxy = await startTcpProxy(PG_PORT);
    proxies.push(proxy);
    const store = open(table, proxy.port);
    await store.init();
    await proxy.cut();
    const writer = createAuditWriter({ store, log: silentLogger(), maxQueue: 100, flushIntervalMs: 20, retryBaseMs: 50, retryMaxMs: 200 });
    for (let i = 0; i < 130; i++) writer.record(rec(i, 'q'));
    expect(writer.stats()).toMatchObject({ queued: 100, dropped: 30 });
    await proxy.restore();
    await writer.close();
    await expectExactlyOnce(table, Array.from({ length: 100 }, (_, i) => `q-${i}`));
    expect(writer.stats()).toMatchObject({ dropped: 30, written: 100 });
  });

  it('a store down at startup: records are kept and written, table created, once it comes back', async () => {
    const table = newTable();
    const proxy = await startTcpProxy(PG_PORT);
    proxies.push(proxy);
    await proxy.cut();
    const store = open(table, proxy.port);
    await expect(store.init()).rejects.toThrow();
    const writer = createAuditWriter({ store, log: silentLogger(), flushIntervalMs: 20, retryBaseMs: 50, retryMaxMs: 200 });
    for (let i = 0; i < 40; i++) writer.record(rec(i, 'boot'));
    await expect.poll(() => writer.stats().failures, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(writer.stats()).toMatchObject({ storeHealthy: false, queued: 40 });
    await proxy.restore();
    await expect.poll(() => writer.stats().queued, { timeout: 5_000 }).toBe(0);
    await expectExactlyOnce(table, Array.from({ length: 40 }, (_, i) => `boot-${i}`));
    await writer.close();
  });
});
