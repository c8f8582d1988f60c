import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { silentLogger } from '../src/log/logger.js';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, rawToolsList, startGatewayFrom, testConfig } from './helpers/gateway.js';
import { watchListenStream } from './helpers/listen-stream.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';
import { callTool, metric, scrape } from './helpers/tool-call.js';

/**
 * The admin API for runtime backends, against a real gateway on port 0: each
 * change is made over HTTP and checked where clients see it (tools/list, a
 * call reaching the stub backend, /readyz, /metrics).
 */

const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;
const ADMIN_KEY = 'admin-key-0123456789abcdef';

let stub: StubBackend;
/** Serves whatever spec text is set, at /spec.json: a spec "by URL" that can change. */
let specServer: Server;
let specUrl: string;
let servedSpec = JSON.stringify(STUB_SPEC);
beforeAll(async () => {
  stub = await startStubBackend();
  specServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(servedSpec);
  });
  await new Promise<void>((resolve) => specServer.listen(0, '127.0.0.1', resolve));
  specUrl = `http://127.0.0.1:${(specServer.address() as AddressInfo).port}/spec.json`;
});
afterAll(async () => {
  await stub?.close();
  specServer?.closeAllConnections();
  await new Promise<void>((resolve) => specServer?.close(() => resolve()));
});

const open: Gateway[] = [];
afterEach(async () => {
  for (const g of open.splice(0)) await g.close(0);
});

async function start(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<Gateway> {
  const g = await startGatewayFrom(testConfig(yaml, env), silentLogger());
  open.push(g);
  return g;
}

const base = (extra = '') => `server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\n${extra}`;
const withAdmin = (extra = '') => base(`admin: { apiKey: ${ADMIN_KEY} }\n${extra}`);

// The answers are JSON of several shapes; tests read them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function admin(g: Gateway, method: string, path: string, body?: unknown, key: string | null = ADMIN_KEY): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    // Writes are JSON, bodiless ones too (the admin API refuses what an HTML form could send).
    headers: { ...(body !== undefined || method !== 'GET' ? { 'content-type': 'application/json' } : {}), ...(key !== null ? { authorization: `Bearer ${key}` } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

const toolNames = async (g: Gateway) => (await rawToolsList(g.url, 'legacy')).result.tools.map((t) => t.name).sort();
const inline = (name: string, extra: Record<string, unknown> = {}) => ({ name, spec: STUB_SPEC, baseUrl: `${stub.url}/api`, ...extra });

describe('admin API: runtime backends', () => {
  it('is off without an admin section', async () => {
    const g = await start(base());
    const r = await admin(g, 'GET', '/admin/backends', undefined, null);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('GH_ADMIN_NOT_FOUND');
  });

  it('adds a backend with an inline spec: its tools are served and calls reach the backend', async () => {
    const g = await start(withAdmin());
    expect(await toolNames(g)).toEqual([]);
    const r = await admin(g, 'POST', '/admin/backends', inline('inv'));
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe('/admin/backends/inv');
    expect(r.body).toMatchObject({ name: 'inv', source: 'admin', state: 'ready', spec: 'inline', revision: 1, updatedBy: 'admin-key' });
    expect(r.body.tools).toBeGreaterThan(0);

    const names = await toolNames(g);
    expect(names.length).toBe(r.body.tools);
    expect(names.every((n) => n.startsWith('inv_'))).toBe(true);
    const before = stub.received.length;
    const call = await callTool(g.url, 'inv_getItem', { itemId: '42' }, 'admin-1');
    expect(call.result?.isError).toBeFalsy();
    expect(stub.received.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/items/42']);

    const tools = await admin(g, 'GET', '/admin/tools?backend=inv');
    expect(tools.status).toBe(200);
    expect(tools.body.tools.find((t: { name: string }) => t.name === 'inv_getItem')).toMatchObject({ backend: 'inv', method: 'GET', path: '/items/{itemId}' });
    expect((await admin(g, 'GET', '/admin/tools?backend=nope')).status).toBe(404);
  });

  it('refuses bad input naming each field, and changes nothing', async () => {
    const g = await start(withAdmin(`backends:\n  - { name: a, spec: ./stub-api.yaml, baseUrl: "${stub.url}/api" }\n`));
    const before = await toolNames(g);
    const bad = await admin(g, 'POST', '/admin/backends', { name: 'x', spec: STUB_SPEC, baseUrl: 'ftp://nope', colour: 'blue' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('GH_ADMIN_INVALID');
    expect(bad.body.message).toContain('baseUrl: must match ^https?://');
    expect(bad.body.message).toContain('colour: unknown field');
    expect((await admin(g, 'POST', '/admin/backends', { name: 'x', spec: './stub-api.yaml' })).body.message).toContain('spec: must be an http(s) URL or the OpenAPI document');
    expect((await admin(g, 'POST', '/admin/backends', { name: '9x', spec: STUB_SPEC })).body.message).toContain('name: must match');
    expect((await admin(g, 'POST', '/admin/backends', '{"name": ')).body.code).toBe('GH_ADMIN_INVALID');
    const env = await admin(g, 'POST', '/admin/backends', inline('x', { credentials: { type: 'bearer', token: '${HOME}' } }));
    expect(env.status).toBe(400);
    expect(env.body.message).toContain('only environment variables named GATEHOUSE_BACKEND_*');
    // The file's backend belongs to the file.
    const owned = await admin(g, 'PUT', '/admin/backends/a', inline('a'));
    expect(owned.status).toBe(409);
    expect(owned.body.message).toContain('defined in the config file');
    expect((await admin(g, 'DELETE', '/admin/backends/a')).status).toBe(409);
    expect(await toolNames(g)).toEqual(before);
    expect((await admin(g, 'GET', '/admin/backends')).body.backends).toEqual([expect.objectContaining({ name: 'a', source: 'config', state: 'ready' })]);
  });

  it('a spec that does not import is refused, the previous version keeps serving, and /readyz and /metrics say why', async () => {
    const g = await start(withAdmin('metrics: { enabled: true }\n'));
    expect((await admin(g, 'POST', '/admin/backends', inline('inv'))).status).toBe(201);
    const served = await toolNames(g);
    const broken = { openapi: '3.0.3', info: { title: 'x', version: '1' }, paths: { '/x': { get: { responses: { '200': { $ref: '#/components/responses/Missing' } } } } } };
    const r = await admin(g, 'PUT', '/admin/backends/inv', { spec: broken, baseUrl: `${stub.url}/api` });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('GH_ADMIN_IMPORT_FAILED');
    expect(r.body.details).toMatchObject({ kept: true, cause: { code: expect.stringMatching(/^GH_SPEC_/) } });
    expect(r.body.details.cause.message).toContain('#/components/responses/Missing');
    expect(await toolNames(g)).toEqual(served);
    expect((await admin(g, 'GET', '/admin/backends/inv')).body.revision).toBe(1);
    const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { lastReload: { source: string; failed: Array<{ backend: string; kept: boolean }> } };
    expect(ready.lastReload).toMatchObject({ source: 'admin', failed: [{ backend: 'inv', kept: true }] });
    expect(metric(await scrape(g.url), 'gatehouse_backend_import_failures_total{backend="inv",source="admin"}')).toBe(1);
  });

  it('replaces, re-imports from a changed URL, and removes', async () => {
    // The spec server is on loopback, which admin-registered spec URLs may name only when listed.
    const g = await start(base(`admin: { apiKey: ${ADMIN_KEY}, specUrls: [127.0.0.1] }\n`));
    servedSpec = JSON.stringify(STUB_SPEC);
    const created = await admin(g, 'PUT', '/admin/backends/byurl', { spec: specUrl, baseUrl: `${stub.url}/api` });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ spec: specUrl, revision: 1 });
    const all = await toolNames(g);

    // Replace with a filter: fewer tools, same name.
    const replaced = await admin(g, 'PUT', '/admin/backends/byurl', { spec: specUrl, baseUrl: `${stub.url}/api`, include: { operations: ['getItem'] } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.revision).toBe(2);
    expect(await toolNames(g)).toEqual(['byurl_getItem']);

    // The spec behind the URL changes: nothing happens until a re-import.
    const grown = structuredClone(STUB_SPEC) as { paths: Record<string, unknown> };
    grown.paths['/health'] = { get: { operationId: 'getItemHealth', responses: { '200': { description: 'ok' } } } };
    servedSpec = JSON.stringify(grown);
    await admin(g, 'PUT', '/admin/backends/byurl', { spec: specUrl, baseUrl: `${stub.url}/api`, include: { operations: ['getItem*'] } });
    expect(await toolNames(g)).toEqual(['byurl_getItem', 'byurl_getItemHealth']);
    servedSpec = JSON.stringify(STUB_SPEC);
    expect(await toolNames(g)).toEqual(['byurl_getItem', 'byurl_getItemHealth']);
    const re = await admin(g, 'POST', '/admin/backends/byurl/reimport');
    expect(re.status).toBe(200);
    expect(re.body.revision).toBe(4);
    expect(await toolNames(g)).toEqual(['byurl_getItem']);

    // The URL now serves a spec that does not import: the re-import is refused, the previous version serves,
    // and the failure is counted once (the apply counted it; the refusal does not count it again).
    servedSpec = '{"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {"/x": {"get": {"operationId": "getItem", "responses": {"200": {"$ref": "#/components/responses/Missing"}}}}}}';
    const failed = await admin(g, 'POST', '/admin/backends/byurl/reimport');
    expect(failed.status).toBe(422);
    expect(failed.body).toMatchObject({ code: 'GH_ADMIN_IMPORT_FAILED', details: { kept: true, cause: { code: expect.stringMatching(/^GH_SPEC_/) } } });
    expect(await toolNames(g)).toEqual(['byurl_getItem']);
    expect(metric(await scrape(g.url), 'gatehouse_backend_import_failures_total{backend="byurl",source="admin"}')).toBe(1);
    // Refused before anything was stored (like a PUT whose spec does not import): /readyz says why.
    const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { lastReload: unknown };
    expect(ready.lastReload).toMatchObject({ source: 'admin', failed: [{ backend: 'byurl', kept: true, code: expect.stringMatching(/^GH_SPEC_/) }] });
    expect((await admin(g, 'GET', '/admin/backends/byurl')).body.revision).toBe(4);
    servedSpec = JSON.stringify(STUB_SPEC);

    expect((await admin(g, 'DELETE', '/admin/backends/byurl')).status).toBe(204);
    expect(await toolNames(g)).toEqual([]);
    expect((await admin(g, 'DELETE', '/admin/backends/byurl')).status).toBe(404);
    expect((await admin(g, 'POST', '/admin/backends/byurl/reimport')).status).toBe(404);
    expect(all.length).toBeGreaterThan(1);
  });

  it('writes no inline spec files: the store keeps the text and the importer reads it from there', async () => {
    const config = testConfig(withAdmin());
    const g = await startGatewayFrom(config, silentLogger());
    open.push(g);
    await admin(g, 'PUT', '/admin/backends/inv', inline('inv'));
    await admin(g, 'PUT', '/admin/backends/other', inline('other'));
    const changed = { ...STUB_SPEC, info: { title: 'Changed', version: '2' } };
    await admin(g, 'PUT', '/admin/backends/inv', { spec: changed, baseUrl: `${stub.url}/api` });
    expect(await toolNames(g)).toContain('inv_getItem');
    expect(readdirSync(config.dataDir)).not.toContain('backends');
  });

  it('POST of an existing name is a conflict; PUT replaces', async () => {
    const g = await start(withAdmin());
    expect((await admin(g, 'POST', '/admin/backends', inline('inv'))).status).toBe(201);
    const again = await admin(g, 'POST', '/admin/backends', inline('inv'));
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('PUT /admin/backends/inv');
    expect((await admin(g, 'PUT', '/admin/backends/inv', { name: 'other', spec: STUB_SPEC })).body.message).toContain('differs from the name in the URL');
  });

  it('registered backends survive a restart (SQLite in dataDir)', async () => {
    const config = testConfig(withAdmin());
    const first = await startGatewayFrom(config, silentLogger());
    open.push(first);
    expect((await admin(first, 'POST', '/admin/backends', inline('inv'))).status).toBe(201);
    const names = await toolNames(first);
    await first.close(0);
    open.splice(open.indexOf(first), 1);
    const second = await startGatewayFrom(config, silentLogger());
    open.push(second);
    expect(await toolNames(second)).toEqual(names);
    expect((await admin(second, 'GET', '/admin/backends/inv')).body).toMatchObject({ state: 'ready', revision: 1 });
  });

  it('resolves GATEHOUSE_BACKEND_* references on the gateway and never shows secrets', async () => {
    // The admin module reads the gateway's own environment.
    process.env['GATEHOUSE_BACKEND_TOKEN'] = 'tok-123';
    const g = await start(withAdmin());
    const r = await admin(g, 'POST', '/admin/backends', inline('inv', { credentials: { type: 'bearer', token: '${GATEHOUSE_BACKEND_TOKEN}' } }));
    expect(r.status).toBe(201);
    expect(r.body.settings.credentials).toEqual({ type: 'bearer', token: '${GATEHOUSE_BACKEND_TOKEN}' });
    const before = stub.received.length;
    await callTool(g.url, 'inv_getItem', { itemId: '1' }, 'admin-2');
    expect(stub.received[before]?.headers.authorization).toBe('Bearer tok-123');
    const literal = await admin(g, 'PUT', '/admin/backends/inv', inline('inv', { credentials: { type: 'bearer', token: 'literal-secret' } }));
    expect(literal.body.settings.credentials).toEqual({ type: 'bearer', token: '[redacted]' });
    expect(JSON.stringify((await admin(g, 'GET', '/admin/backends')).body)).not.toContain('literal-secret');
    delete process.env['GATEHOUSE_BACKEND_TOKEN'];
  });

  it('with an admin key and no auth section, the key is required even on loopback', async () => {
    const g = await start(withAdmin());
    expect((await admin(g, 'GET', '/admin/backends', undefined, null)).status).toBe(401);
    expect((await admin(g, 'GET', '/admin/audit', undefined, 'not-the-key')).status).toBe(401);
    expect((await admin(g, 'GET', '/admin/backends')).status).toBe(200);
  });

  it('needs the admin scope or the admin key', async () => {
    const sha = (k: string) => createHash('sha256').update(k).digest('hex');
    const g = await start(
      base(`auth:\n  apiKeys:\n    - { id: agent, sha256: ${sha('agent-key-000000')} }\n    - { id: ops, sha256: ${sha('ops-key-00000000')}, scopes: [gatehouse:admin] }\nadmin: { apiKey: ${ADMIN_KEY} }\n`),
    );
    const none = await admin(g, 'GET', '/admin/backends', undefined, null);
    expect(none.status, JSON.stringify(none.body)).toBe(401);
    const agent = await admin(g, 'GET', '/admin/backends', undefined, 'agent-key-000000');
    expect(agent.status).toBe(403);
    expect(agent.headers.get('www-authenticate')).toContain('scope="gatehouse:admin"');
    expect((await admin(g, 'GET', '/admin/backends', undefined, 'ops-key-00000000')).status).toBe(200);
    expect((await admin(g, 'GET', '/admin/backends', undefined, ADMIN_KEY)).status).toBe(200);
    expect((await admin(g, 'GET', '/admin/backends', undefined, `${ADMIN_KEY}x`)).status).toBe(401);
    const created = await admin(g, 'POST', '/admin/backends', inline('inv'), 'ops-key-00000000');
    expect(created.body.updatedBy).toBe('ops');
  });

  it('tells 2026-07-28 clients holding a subscription that the tools changed', async () => {
    const g = await start(withAdmin());
    const changes: string[][] = [];
    let notified: () => void = () => undefined;
    const client = new Client(
      { name: 'gatehouse-test', version: '1.0.0' },
      {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        listChanged: {
          tools: {
            onChanged: (_err, tools) => {
              changes.push((tools ?? []).map((t) => t.name));
              notified();
            },
          },
        },
      },
    );
    const listen = watchListenStream();
    await client.connect(new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`), { fetch: listen.fetch }));
    try {
      expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
      // The subscription opens in the background: wait until its answer has arrived.
      await listen.opened;
      const heard = new Promise<void>((resolve) => (notified = resolve));
      expect((await admin(g, 'POST', '/admin/backends', inline('inv', { include: { operations: ['getItem'] } }))).status).toBe(201);
      await heard;
      expect(changes.at(-1)).toEqual(['inv_getItem']);
    } finally {
      await client.close();
    }
  });

  it('the config file wins: a name it takes later shadows the runtime backend until the file lets it go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-shadow-'));
    copyFileSync(`${FIXTURES}stub-api.yaml`, join(dir, 'stub-api.yaml'));
    const file = join(dir, 'gatehouse.yaml');
    const write = (backends: string) => writeFileSync(file, `server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: { apiKey: ${ADMIN_KEY} }\nbackends:${backends}\n`);
    write(' []');
    const g = await startGatewayFrom(loadConfig(file), silentLogger());
    open.push(g);
    expect((await admin(g, 'POST', '/admin/backends', inline('inv', { include: { operations: ['getItem'] } }))).status).toBe(201);
    expect((await admin(g, 'POST', '/admin/backends', inline('INV'))).body.message).toContain('names must differ in more than case');

    write(`\n  - { name: inv, spec: ./stub-api.yaml, baseUrl: "${stub.url}/api", include: { operations: [listItems] } }`);
    expect((await g.runtime.reload()).result).toBe('ok');
    expect(await toolNames(g)).toEqual(['inv_listItems']);
    const list = (await admin(g, 'GET', '/admin/backends')).body.backends as Array<{ name: string; source: string; state: string }>;
    expect(list.map((b) => [b.name, b.source, b.state])).toEqual([
      ['inv', 'config', 'ready'],
      ['inv', 'admin', 'shadowed'],
    ]);
    expect((await admin(g, 'PUT', '/admin/backends/inv', inline('inv'))).status).toBe(409);

    write(' []');
    await g.runtime.reload();
    expect(await toolNames(g)).toEqual(['inv_getItem']);
    expect((await admin(g, 'GET', '/admin/backends/inv')).body).toMatchObject({ source: 'admin', state: 'ready' });
  });
});
