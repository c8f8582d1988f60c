/**
 * Runtime backends are stored with the document they were imported from, so
 * every replica serves exactly that revision: gateways on port 0 sharing a
 * real PostgreSQL admin store (this run's own table), a spec server whose
 * document changes or goes down in between, and a stub backend that records
 * the calls. A re-fetch happens only on an explicit re-import; a backend that
 * cannot be served makes /readyz say so. Inline specs are named as such and
 * nothing is written under dataDir.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { silentLogger } from '../../src/log/logger.js';
import type { Gateway } from '../../src/server/gateway.js';
import { FIXTURES, rawToolsList, startGatewayFrom, testConfig } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { callTool } from '../helpers/tool-call.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const RUN = randomUUID().slice(0, 8);
const TABLE = `stored_specs_${RUN}`;
const KEY = `stored-specs-key-${RUN}`;
const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as { paths: Record<string, unknown> };
/** The stub spec with one more operation: what the URL serves "later". */
const GROWN = structuredClone(STUB_SPEC);
GROWN.paths['/health'] = { get: { operationId: 'health', responses: { '200': { description: 'ok' } } } };

let stub: StubBackend;
let db: pg.Client;
let dir: string;
let specServer: Server;
let specUrl: string;
/** What the spec URL serves: a document, or a status when it is "down". */
let served: { doc: unknown } | { status: number } = { doc: STUB_SPEC };
let specFetches = 0;

beforeAll(async () => {
  db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-stored-specs-'));
  specServer = createServer((_req, res) => {
    specFetches++;
    if ('status' in served) {
      res.writeHead(served.status).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(served.doc));
  });
  await new Promise<void>((resolve) => specServer.listen(0, '127.0.0.1', resolve));
  specUrl = `http://127.0.0.1:${(specServer.address() as AddressInfo).port}/spec.json`;
});

const open: Gateway[] = [];
afterEach(async () => {
  for (const g of open.splice(0)) await g.close(0);
  await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
});

afterAll(async () => {
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db?.end();
  await stub?.close();
  specServer?.closeAllConnections();
  await new Promise<void>((resolve) => specServer?.close(() => resolve()));
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A replica: PostgreSQL-only (no audit store), with a dataDir of its own that must stay unused. */
async function replica(n: string): Promise<{ g: Gateway; dataDir: string }> {
  const dataDir = join(dir, `data-${n}-${randomUUID().slice(0, 4)}`);
  const g = await startGatewayFrom(
    testConfig(`server: { host: 127.0.0.1, port: 0 }
dataDir: ${dataDir}
audit: { store: none }
admin:
  apiKey: ${KEY}
  specUrls: [127.0.0.1]  # the spec server of these tests is on loopback
  store: postgres
  postgres: { url: "${PG_URL}", table: ${TABLE} }
`),
    silentLogger(),
  );
  open.push(g);
  return { g, dataDir };
}

// The answers are JSON of several shapes; tests read them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function admin(g: Gateway, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    // Admin writes are JSON, bodiless ones included (a form could not send them).
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined || method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const tools = async (g: Gateway) => (await rawToolsList(g.url, 'legacy')).result.tools.map((t) => t.name).sort();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const readyz = async (g: Gateway): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${g.url}/readyz`);
  return { status: res.status, body: await res.json() };
};

/** Waits until `g` lists exactly `want`; fails after 5 s with what it lists. */
async function until(g: Gateway, want: string[]): Promise<void> {
  const started = performance.now();
  for (;;) {
    const names = await tools(g);
    if (JSON.stringify(names) === JSON.stringify(want)) return;
    if (performance.now() - started > 5_000) throw new Error(`lists ${names.join(', ')}, not ${want.join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const V1 = ['pets_createItem', 'pets_deleteItem', 'pets_getItem', 'pets_getStatus', 'pets_listItems', 'pets_slow'];
const V2 = [...V1, 'pets_health'].sort();

describe('runtime backends registered by spec URL', () => {
  it('every replica serves the stored document: a changed or unreachable URL changes nothing until an explicit re-import', async () => {
    served = { doc: STUB_SPEC };
    const a = await replica('a');
    const created = await admin(a.g, 'PUT', '/admin/backends/pets', { spec: specUrl, baseUrl: `${stub.url}/api` });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ spec: specUrl, revision: 1 });
    expect(await tools(a.g)).toEqual(V1);

    // The URL now serves another document: a replica started now serves what was imported, and does not fetch.
    served = { doc: GROWN };
    const fetches = specFetches;
    const b = await replica('b');
    expect(await tools(b.g)).toEqual(V1);
    // The URL is down: a replica started now still serves the stored revision, and is ready.
    served = { status: 503 };
    const c = await replica('c');
    expect(await tools(c.g)).toEqual(V1);
    expect(await readyz(c.g)).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(specFetches).toBe(fetches);
    const before = stub.received.length;
    expect((await callTool(c.g.url, 'pets_getItem', { itemId: 'from-c' }, `stored-${RUN}-c`)).result?.isError).toBeFalsy();
    expect(stub.received.slice(before).map((r) => r.url)).toEqual(['/api/items/from-c']);

    // An explicit re-import while the URL is down is refused; nothing changes anywhere.
    const refused = await admin(a.g, 'POST', '/admin/backends/pets/reimport');
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'GH_ADMIN_IMPORT_FAILED', details: { kept: true, cause: { code: 'GH_SPEC_LOAD_FAILED' } } });
    expect((await admin(b.g, 'GET', '/admin/backends/pets')).body.revision).toBe(1);

    // The re-import fetches the URL again: a new revision, which every replica serves.
    served = { doc: GROWN };
    const re = await admin(a.g, 'POST', '/admin/backends/pets/reimport');
    expect(re.status).toBe(200);
    expect(re.body.revision).toBe(2);
    expect(await tools(a.g)).toEqual(V2);
    await until(b.g, V2);
    await until(c.g, V2);
    expect((await admin(c.g, 'GET', '/admin/backends/pets')).body).toMatchObject({ revision: 2, spec: specUrl });

    // A PostgreSQL-only fleet writes nothing under dataDir.
    for (const r of [a, b, c]) expect(existsSync(r.dataDir)).toBe(false);
  });

  it('a row stored as a URL only is fetched once, stored as a new revision, then never fetched again; if the URL is down the replica is not ready', async () => {
    // The table as an older release left it: the URL, no document.
    await db.query(`CREATE TABLE ${TABLE} (name TEXT PRIMARY KEY, entry TEXT NOT NULL, document TEXT, revision INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL, updated_by TEXT)`);
    await db.query(`INSERT INTO ${TABLE} (name, entry, document, revision, updated_at) VALUES ('pets', $1, NULL, 3, now())`, [JSON.stringify({ spec: specUrl, baseUrl: `${stub.url}/api` })]);

    // The URL is down: the backend cannot be served, and /readyz says so, naming it.
    served = { status: 503 };
    const down = await replica('down');
    expect(await tools(down.g)).toEqual([]);
    const notReady = await readyz(down.g);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({ status: 'not-ready', unavailable: ['pets'] });
    expect((await admin(down.g, 'GET', '/admin/backends/pets')).body).toMatchObject({ state: 'failed', error: { code: 'GH_SPEC_LOAD_FAILED' } });
    await down.g.close(0);
    open.splice(open.indexOf(down.g), 1);

    served = { doc: STUB_SPEC };
    const a = await replica('a');
    expect(await tools(a.g)).toEqual(V1);
    const { rows } = await db.query(`SELECT document, revision FROM ${TABLE} WHERE name = 'pets'`);
    expect(Number(rows[0].revision)).toBe(4);
    expect(JSON.parse(rows[0].document as string)).toEqual(STUB_SPEC);
    expect(await readyz(a.g)).toMatchObject({ status: 200 });

    served = { doc: GROWN };
    const fetches = specFetches;
    const b = await replica('b');
    expect(await tools(b.g)).toEqual(V1);
    expect(specFetches).toBe(fetches);
  });
});

describe('a URL-only row in the SQLite admin store', () => {
  it('is fetched once at start and stored as a new revision; a restart imports the stored bytes', async () => {
    const dataDir = join(dir, `sqlite-${randomUUID().slice(0, 4)}`);
    mkdirSync(dataDir, { recursive: true });
    // The table as an older release left it.
    const db = new Database(join(dataDir, 'registry.db'));
    db.exec('CREATE TABLE gatehouse_backends (name TEXT PRIMARY KEY, entry TEXT NOT NULL, document TEXT, revision INTEGER NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT)');
    db.prepare('INSERT INTO gatehouse_backends VALUES (?, ?, NULL, 2, ?, NULL)').run('pets', JSON.stringify({ spec: specUrl, baseUrl: `${stub.url}/api` }), new Date().toISOString());
    db.close();
    const yaml = `server: { host: 127.0.0.1, port: 0 }\ndataDir: ${dataDir}\naudit: { store: none }\nadmin: { apiKey: ${KEY}, specUrls: [127.0.0.1] }\n`;

    served = { doc: STUB_SPEC };
    const first = await startGatewayFrom(testConfig(yaml), silentLogger());
    open.push(first);
    expect(await tools(first)).toEqual(V1);
    expect((await admin(first, 'GET', '/admin/backends/pets')).body).toMatchObject({ revision: 3, spec: specUrl, state: 'ready' });
    await first.close(0);
    open.splice(open.indexOf(first), 1);

    served = { doc: GROWN };
    const fetches = specFetches;
    const second = await startGatewayFrom(testConfig(yaml), silentLogger());
    open.push(second);
    expect(await tools(second)).toEqual(V1);
    expect(specFetches).toBe(fetches);
    expect((await admin(second, 'GET', '/admin/backends/pets')).body.revision).toBe(3);
  });
});

describe('inline specs', () => {
  it('are named "inline spec of backend NAME" in errors, and neither a refused nor an accepted import leaves files', async () => {
    const r = await replica('inline');
    const bad = await admin(r.g, 'PUT', '/admin/backends/broken', { spec: { openapi: '9.9.9', info: { title: 'x', version: '1' }, paths: {} } });
    expect(bad.status).toBe(422);
    expect(bad.body.details.cause.message).toContain('(inline spec of backend broken)');
    expect(bad.body.details.cause.message).not.toContain(r.dataDir);
    const unresolved = { openapi: '3.0.3', info: { title: 'x', version: '1' }, paths: { '/x': { get: { responses: { '200': { $ref: '#/components/responses/Missing' } } } } } };
    const bad2 = await admin(r.g, 'PUT', '/admin/backends/broken', { spec: unresolved, baseUrl: `${stub.url}/api` });
    expect(bad2.status).toBe(422);
    expect(bad2.body.details.cause.message).toContain('inline spec of backend broken');
    expect(bad2.body.details.cause.message).not.toMatch(/\.json|backends\//);

    expect((await admin(r.g, 'PUT', '/admin/backends/pets', { spec: STUB_SPEC, baseUrl: `${stub.url}/api` })).status).toBe(201);
    expect(await tools(r.g)).toEqual(V1);
    expect(existsSync(r.dataDir)).toBe(false);
  });

  it('with the SQLite admin store, only the store itself is under dataDir', async () => {
    const config = testConfig(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: { apiKey: ${KEY}, specUrls: [127.0.0.1] }\n`);
    const g = await startGatewayFrom(config, silentLogger());
    open.push(g);
    expect((await admin(g, 'PUT', '/admin/backends/broken', { spec: { openapi: '3.0.3' } })).status).toBe(422);
    expect((await admin(g, 'PUT', '/admin/backends/pets', { spec: STUB_SPEC, baseUrl: `${stub.url}/api` })).status).toBe(201);
    expect(readdirSync(config.dataDir).filter((f) => !/^admin\.db(-wal|-shm)?$/.test(f) && !f.startsWith('registry.db'))).toEqual([]);
  });
});
