/**
 * A gateway whose PostgreSQL audit store goes away and comes back, through
 * real calls: the gateway reaches PostgreSQL (127.0.0.1:5432/test) through a
 * TCP proxy the test cuts and restores. Calls never wait for the store; the
 * records wait in the writer's queue and are written, each once, afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { callTool, metric, scrape } from '../helpers/tool-call.js';

/** Trust auth as the OS user, as psql does (pg alone reads only $USER, unset in some CI shells). */
const PG_USER = encodeURIComponent(process.env.PGUSER ?? userInfo().username);
const pgUrl = (port: number) => `postgres://${PG_USER}@127.0.0.1:${port}/test`;

let stub: StubBackend;
let admin: pg.Client;
let dir: string;
let seq = 0;
const tables: string[] = [];
const gateways: Gateway[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: pgUrl(5432) });
  await admin.connect();
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-outage-'));
});

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const t of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${t}`);
});

afterAll(async () => {
  await admin?.end();
  await stub?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function gatewayBehindProxy(queueMax = 10_000): Promise<{ gateway: Gateway; proxy: TcpProxy; table: string }> {
  const proxy = await startTcpProxy(5432);
  proxies.push(proxy);
  const table = `audit_outage_${process.pid}_${Date.now().toString(36)}_${seq++}`;
  tables.push(table);
  const gateway = await startTestGateway(`dataDir: ${dir}
audit:
  store: postgres
  postgres: { url: "${pgUrl(proxy.port)}", table: ${table} }
  queue: { flushIntervalMs: 20, max: ${queueMax} }
backends:
  - name: stub
    spec: stub-api.yaml
    baseUrl: ${stub.url}/api
`);
  gateways.push(gateway);
  return { gateway, proxy, table };
}

/**
 * Sequential calls (so records queue in call order), each answered without error. That
 * they do not wait for the store shows in the queue: it holds their records after they answered.
 */
async function calls(gateway: Gateway, tag: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}`;
    const r = await callTool(gateway.url, 'stub_getItem', { itemId: id }, id);
    expect(r.status).toBe(200);
    expect(r.result?.isError, JSON.stringify(r.result)).toBeUndefined();
    ids.push(id);
  }
  return ids;
}

/** request_id → row count, as PostgreSQL has it. */
async function rowsById(table: string): Promise<Map<string, number>> {
  const { rows } = await admin.query<{ request_id: string; n: number }>(`SELECT request_id, count(*)::int AS n FROM ${table} GROUP BY request_id`);
  return new Map(rows.map((r) => [r.request_id, r.n]));
}

async function expectExactlyOnce(table: string, expected: readonly string[]): Promise<void> {
  const got = await rowsById(table);
  expect([...got].filter(([, n]) => n !== 1), 'duplicated rows').toEqual([]);
  expect([...got.keys()].sort()).toEqual([...expected].sort());
}

describe('PostgreSQL audit store outage through a gateway', () => {
  it('calls keep working while PostgreSQL is away, metrics show it, and every record is written exactly once when it is back', async () => {
    const { gateway, proxy, table } = await gatewayBehindProxy();
    const writer = gateway.runtime.audit.writer!;
    const before = await calls(gateway, 'pg-before', 20);
    await expect.poll(() => writer.stats().written, { timeout: 5_000 }).toBe(20);

    await proxy.cut();
    const during = await calls(gateway, 'pg-during', 50);
    // The writer's next attempts fail (connection refused) while the calls above went through.
    await expect.poll(async () => metric(await scrape(gateway.url), 'gatehouse_audit_write_failures_total'), { timeout: 5_000 }).toBeGreaterThan(0);
    const down = await scrape(gateway.url);
    expect(metric(down, 'gatehouse_audit_store_up')).toBe(0);
    expect(metric(down, 'gatehouse_audit_queue_depth')).toBe(50);
    expect(metric(down, 'gatehouse_store_errors_total{store="audit"}')).toBeGreaterThan(0);
    expect(metric(down, 'gatehouse_calls_total{kind="tool",backend="stub",target="stub_getItem",outcome="ok"}')).toBe(70);
    await expectExactlyOnce(table, before);

    await proxy.restore();
    const after = await calls(gateway, 'pg-after', 10);
    // No flush forced: the writer's own retry finds the store again.
    await expect.poll(() => writer.stats().queued, { timeout: 15_000, interval: 50 }).toBe(0);
    const up = await scrape(gateway.url);
    expect(metric(up, 'gatehouse_audit_store_up')).toBe(1);
    expect(metric(up, 'gatehouse_audit_queue_depth')).toBe(0);
    expect(metric(up, 'gatehouse_audit_records_dropped_total')).toBe(0);
    expect(metric(up, 'gatehouse_audit_records_written_total')).toBe(80);
    await expectExactlyOnce(table, [...before, ...during, ...after]);
  });

  it('beyond audit.queue.max the newest records are dropped and counted; the ones kept are written once', async () => {
    const { gateway, proxy, table } = await gatewayBehindProxy(30);
    const writer = gateway.runtime.audit.writer!;
    const before = await calls(gateway, 'pgq-before', 5);
    await expect.poll(() => writer.stats().written, { timeout: 5_000 }).toBe(5);

    await proxy.cut();
    const during = await calls(gateway, 'pgq-during', 45);
    expect(metric(await scrape(gateway.url), 'gatehouse_audit_records_dropped_total')).toBe(15);

    await proxy.restore();
    await writer.flush();
    await expect.poll(() => writer.stats().queued, { timeout: 15_000, interval: 50 }).toBe(0);
    await expectExactlyOnce(table, [...before, ...during.slice(0, 30)]);
    expect(writer.stats()).toMatchObject({ written: 35, dropped: 15 });
  });
});
