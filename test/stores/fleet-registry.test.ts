/**
 * A fleet on loopback: two `gatehouse serve` processes sharing the real
 * PostgreSQL (runtime backends and the audit trail) and Redis (rate limits).
 * A backend registered on one is served by the other (by notification: the
 * resync is an hour away), a removal too; one rate limit counts calls on both; one audit table holds both
 * processes' records. Every table, rule and key is this run's own and is
 * dropped afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { closeRedis, createRedisClient } from '../../src/limits/redis.js';
import { silentLogger } from '../../src/log/logger.js';
import { FIXTURES, rawToolsList } from '../helpers/gateway.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { callTool } from '../helpers/tool-call.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const RUN = randomUUID().slice(0, 8);
const REGISTRY_TABLE = `fleet_backends_${RUN}`;
const AUDIT_TABLE = `fleet_audit_${RUN}`;
const RULE = `fleet-reg-${RUN}`;
const LIMIT = 4;
const KEY = `fleet-admin-key-${RUN}`;
const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;

let stub: StubBackend;
let dir: string;
let db: pg.Client;
let redis: Redis;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  redis = createRedisClient('redis://127.0.0.1:6379', silentLogger());
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-fleet-registry-'));
  const config = (n: number) => `server: { port: 0 }
log: { level: info }
dataDir: ${join(dir, `data-${n}`)}
redis: { url: "redis://127.0.0.1:6379" }
rateLimits:
  store: redis
  rules:
    - { name: ${RULE}, key: [principal], limit: ${LIMIT}, window: 1m, match: { tools: [inv_listItems] } }
audit:
  store: postgres
  postgres: { url: "${PG_URL}", table: ${AUDIT_TABLE} }
  queue: { flushIntervalMs: 50 }
admin:
  apiKey: ${KEY}
  store: postgres
  postgres: { url: "${PG_URL}", table: ${REGISTRY_TABLE} }
  # An hour: within a test only LISTEN/NOTIFY can carry a change to the other replica.
  resyncSeconds: 3600
`;
  [a, b] = await Promise.all([1, 2].map((n) => spawnGateway(writeConfigFile(dir, `gatehouse-${n}.yaml`, config(n))))) as [GatewayProcess, GatewayProcess];
}, 30_000);

afterAll(async () => {
  await Promise.all([a?.stop('SIGTERM'), b?.stop('SIGTERM')]);
  await db?.query(`DROP TABLE IF EXISTS ${REGISTRY_TABLE}, ${AUDIT_TABLE}`);
  await db?.end();
  const keys = (await redis?.keys(`gatehouse:rl:${RULE}:*`)) ?? [];
  if (keys.length > 0) await redis.del(...keys);
  if (redis !== undefined) await closeRedis(redis);
  await stub?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

// The answers are JSON of several shapes; tests read them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function adminCall(g: GatewayProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/**
 * Polls until `g` lists tools matching `done`; fails after 20 s. How soon a change arrives
 * is measured by `npm run bench:fleet`, not asserted here: the resync is an hour away, so
 * a change that arrives at all came by notification.
 */
async function until(g: GatewayProcess, done: (names: string[]) => boolean): Promise<void> {
  const started = performance.now();
  for (;;) {
    const names = (await rawToolsList(g.url, 'legacy')).result.tools.map((t) => t.name);
    if (done(names)) return;
    if (performance.now() - started > 20_000) throw new Error(`${g.url} still lists ${names.join(', ') || 'nothing'} after 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a fleet of two gateways sharing PostgreSQL and Redis', () => {
  it('a backend registered on one is served by the other, and a replacement the other way', async () => {
    await until(b, (n) => n.length === 0);
    const created = await adminCall(a, 'POST', '/admin/backends', { name: 'inv', spec: STUB_SPEC, baseUrl: `${stub.url}/api` });
    expect(created.status).toBe(201);
    await until(b, (n) => n.includes('inv_getItem'));

    const before = stub.received.length;
    const call = await callTool(b.url, 'inv_getItem', { itemId: 'from-b' }, `fleet-${RUN}-b-1`);
    expect(call.result?.isError).toBeFalsy();
    expect(stub.received.slice(before).map((r) => r.url)).toEqual(['/api/items/from-b']);
    // B shows the backend as registered, by whom, at the same revision.
    expect((await adminCall(b, 'GET', '/admin/backends/inv')).body).toMatchObject({ source: 'admin', state: 'ready', revision: 1, updatedBy: 'admin-key' });

    // A replacement made on B reaches A.
    expect((await adminCall(b, 'PUT', '/admin/backends/inv', { spec: STUB_SPEC, baseUrl: `${stub.url}/api`, exclude: { operations: ['deleteItem'] } })).status).toBe(200);
    await until(a, (n) => n.includes('inv_getItem') && !n.includes('inv_deleteItem'));
  });

  it('one rate limit counts the calls on both', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 2 * LIMIT; i++) {
      const r = await callTool((i % 2 === 0 ? a : b).url, 'inv_listItems', {}, `fleet-${RUN}-rl-${i}`);
      outcomes.push(r.errorCode ?? 'ok');
    }
    expect(outcomes).toEqual([...Array<string>(LIMIT).fill('ok'), ...Array<string>(LIMIT).fill('GH_RATE_LIMITED')]);
  });

  it('one audit table holds both processes\' records', async () => {
    const ids = [`fleet-${RUN}-audit-a`, `fleet-${RUN}-audit-b`];
    await callTool(a.url, 'inv_getItem', { itemId: '1' }, ids[0]!);
    await callTool(b.url, 'inv_getItem', { itemId: '2' }, ids[1]!);
    const deadline = Date.now() + 5_000;
    let rows: Array<{ request_id: string; tool: string }> = [];
    while (Date.now() < deadline) {
      rows = (await db.query(`SELECT request_id, tool FROM ${AUDIT_TABLE} WHERE request_id = ANY($1) ORDER BY request_id`, [ids])).rows;
      if (rows.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(rows).toEqual([
      { request_id: ids[0], tool: 'inv_getItem' },
      { request_id: ids[1], tool: 'inv_getItem' },
    ]);
  });

  it('a removal on one is followed by the other', async () => {
    expect((await adminCall(a, 'DELETE', '/admin/backends/inv')).status).toBe(204);
    await until(b, (n) => n.length === 0);
    expect((await adminCall(b, 'GET', '/admin/backends/inv')).status).toBe(404);
  });
});
