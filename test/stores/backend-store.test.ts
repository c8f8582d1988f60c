/**
 * The stores of runtime backends: one contract, checked against SQLite (a temp
 * file) and the real PostgreSQL (a table of this run's own, dropped after).
 * PostgreSQL also: change notifications across two stores, notifications
 * resumed after an outage (a TCP proxy cut in front of the server), and a
 * gateway whose store is down refusing changes with 503 while it keeps serving.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteBackendStore, type BackendStore } from '../../src/admin/backend-store.js';
import { createPostgresBackendStore } from '../../src/admin/postgres-backend-store.js';
import { silentLogger } from '../../src/log/logger.js';
import { rawToolsList, startGatewayFrom, testConfig } from '../helpers/gateway.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';
const RUN = randomUUID().slice(0, 8);
const tables: string[] = [];
const table = () => {
  const t = `store_backends_${RUN}_${tables.length}`;
  tables.push(t);
  return t;
};
afterAll(async () => {
  const db = new pg.Client({ connectionString: PG });
  await db.connect();
  for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${t}`);
  await db.end();
});

const until = async (check: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.each([
  ['sqlite', () => createSqliteBackendStore(join(mkdtempSync(join(tmpdir(), 'gatehouse-store-')), 'registry.db'))],
  ['postgres', () => createPostgresBackendStore({ url: PG, table: table() })],
] as const)('%s backend store', (_kind, open) => {
  let store: BackendStore;
  beforeAll(() => {
    store = open();
    return () => store.close();
  });

  it('create, replace, touch, remove: revisions count changes, rows come back as stored', async () => {
    expect(await store.list()).toEqual([]);
    const created = await store.put({ name: 'b', entry: { spec: 'https://x/spec.json', baseUrl: 'http://b' }, updatedBy: 'ops' }, 'create');
    expect(created).toMatchObject({ name: 'b', entry: { spec: 'https://x/spec.json', baseUrl: 'http://b' }, revision: 1, updatedBy: 'ops' });
    expect(Date.parse(created.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    await expect(store.put({ name: 'b', entry: {} }, 'create')).rejects.toMatchObject({ code: 'GH_ADMIN_CONFLICT' });
    const replaced = await store.put({ name: 'b', entry: { baseUrl: 'http://b2' }, document: '{"openapi":"3.0.3"}' }, 'replace');
    expect(replaced).toMatchObject({ revision: 2, entry: { baseUrl: 'http://b2' }, document: '{"openapi":"3.0.3"}' });
    expect(replaced.updatedBy).toBeUndefined();
    await store.put({ name: 'a', entry: { spec: 'https://x/a.json' } }, 'replace');
    expect((await store.list()).map((r) => [r.name, r.revision])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(await store.touch('b', 'ops2')).toMatchObject({ revision: 3, updatedBy: 'ops2', document: '{"openapi":"3.0.3"}' });
    expect(await store.touch('nope')).toBeUndefined();
    expect(await store.remove('a')).toBe(true);
    expect(await store.remove('a')).toBe(false);
    expect((await store.list()).map((r) => r.name)).toEqual(['b']);
    await store.remove('b');
  });
});

describe('postgres change notifications', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy(5432);
    return () => proxy.close();
  });

  it('another store hears every committed change, and again after its connection comes back', async () => {
    const t = table();
    const writer = createPostgresBackendStore({ url: PG, table: t });
    // The listener goes through the proxy, so its connection can be cut.
    const listener = createPostgresBackendStore({ url: `postgres://postgres@${proxy.address}/test`, table: t, reconnectMs: 50 });
    let heard = 0;
    listener.watch(() => heard++);
    try {
      await until(() => heard === 1); // the re-read on connect
      await writer.put({ name: 'x', entry: { spec: 'https://x' } }, 'create');
      await until(() => heard === 2);
      await writer.touch('x');
      await until(() => heard === 3);
      // A refused change notifies nobody.
      await expect(writer.put({ name: 'x', entry: {} }, 'create')).rejects.toMatchObject({ code: 'GH_ADMIN_CONFLICT' });
      await writer.remove('x');
      await until(() => heard === 4);
      expect(heard).toBe(4);

      await proxy.cut();
      await writer.put({ name: 'during', entry: { spec: 'https://x' } }, 'create'); // missed by the listener
      await new Promise((r) => setTimeout(r, 200));
      await proxy.restore();
      // Reconnected: the re-read on connect stands in for what was missed, and NOTIFY works again.
      await until(() => heard >= 5);
      const after = heard;
      await writer.remove('during');
      await until(() => heard === after + 1);
    } finally {
      await listener.close();
      await writer.close();
    }
  });

  it('a gateway whose store is down refuses changes with 503, keeps serving, and follows the store once it is back', async () => {
    const t = table();
    const key = 'store-outage-key-0123456789';
    const g = await startGatewayFrom(
      testConfig(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: { apiKey: ${key}, store: postgres, postgres: { url: "postgres://postgres@${proxy.address}/test", table: ${t} }, resyncSeconds: 1 }\n`),
      silentLogger(),
    );
    const spec = { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/ping': { get: { operationId: 'ping', responses: { '200': { description: 'ok' } } } } } };
    const put = (name: string) =>
      fetch(`${g.url}/admin/backends/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ spec, baseUrl: 'http://127.0.0.1:9' }),
      });
    try {
      expect((await put('one')).status).toBe(201);
      await proxy.cut();
      const refused = await put('two');
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('GH_ADMIN_STORE_UNAVAILABLE');
      // Still serving what it had, and the admin API still lists it.
      expect((await rawToolsList(g.url, 'legacy')).result.tools.map((x) => x.name)).toEqual(['one_ping']);
      expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
      // Written behind its back while it could not listen: the resync picks it up once the store is back.
      const direct = createPostgresBackendStore({ url: PG, table: t });
      await direct.put({ name: 'three', entry: { baseUrl: 'http://127.0.0.1:9' }, document: JSON.stringify(spec) }, 'create');
      await direct.close();
      await proxy.restore();
      const deadline = Date.now() + 5_000;
      let names: string[] = [];
      while (Date.now() < deadline) {
        names = (await rawToolsList(g.url, 'legacy')).result.tools.map((x) => x.name).sort();
        if (names.length === 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(names).toEqual(['one_ping', 'three_ping']);
    } finally {
      await proxy.restore();
      await g.close(0);
    }
  });
});
