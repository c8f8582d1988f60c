import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Gateway } from '../../src/server/gateway.js';
import { FIXTURES, rawToolsList, startTestGateway } from '../helpers/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { sendRaw, type RawAnswer } from '../helpers/raw-http.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * A web page against a gateway on the quick-start configuration (loopback bind,
 * `admin: {}`, no `auth`). A page whose DNS name was rebound to 127.0.0.1 sends
 * `Host: evil.example`; a page on another site sends its own `Origin`; a form
 * posts text/plain. Each is sent here as the raw HTTP a browser would send, and
 * checked on what the gateway answered and on what it did: nothing registered,
 * nothing forwarded to the LLM.
 */

const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;

let gateway: Gateway;
let llm: FakeLLM;
let stub: StubBackend;
let own: string; // the gateway's own Host, 127.0.0.1:PORT

beforeAll(async () => {
  llm = await startFakeOpenAI();
  stub = await startStubBackend();
  gateway = await startTestGateway(
    `server: { host: 127.0.0.1, port: 0 }\nadmin: {}\nai:\n  targets:\n    fake: { provider: openai-compatible, baseUrl: "${llm.url}/v1" }\n  routes:\n    - { model: small, targets: [fake] }\n`,
  );
  own = new URL(gateway.url).host;
});

afterAll(async () => {
  await gateway?.close();
  await llm?.close();
  await stub?.close();
});

type Answer = RawAnswer;

/** One request with exactly these headers (Host: the gateway's own unless given), as a browser would send it. */
const send = (method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> =>
  sendRaw(gateway.url, method, path, { host: own, ...headers }, body);

const json = { 'content-type': 'application/json' };
const mcpHeaders = { ...json, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
const toolsList = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
const chat = JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'hi' }] });
const register = (name: string) => JSON.stringify({ name, spec: STUB_SPEC, baseUrl: `${stub.url}/api` });

/** Every route family but the probes: [method, path, headers, body, status when the Host is the gateway's own]. */
const ROUTES: Array<[string, string, Record<string, string>, string | undefined, number]> = [
  ['GET', '/admin/backends', {}, undefined, 200],
  ['GET', '/admin/backends/nope', {}, undefined, 404],
  ['GET', '/admin/audit', {}, undefined, 200],
  ['GET', '/admin/tools', {}, undefined, 200],
  ['DELETE', '/admin/backends/nope', {}, undefined, 404],
  ['GET', '/metrics', {}, undefined, 200],
  ['POST', '/mcp', mcpHeaders, toolsList, 200],
  ['GET', '/v1/models', {}, undefined, 200],
  ['POST', '/v1/chat/completions', json, chat, 200],
  ['GET', '/no/such/path', {}, undefined, 404],
  ['GET', '/.well-known/oauth-protected-resource', {}, undefined, 404],
];

const registered = async (): Promise<string[]> => ((await send('GET', '/admin/backends', {})).body as { backends: Array<{ name: string }> }).backends.map((b) => b.name);

describe('DNS rebinding: one Host check in front of every route but the probes', () => {
  it.each(ROUTES)('%s %s answers with its own Host', async (method, path, headers, body, status) => {
    expect((await send(method, path, headers, body)).status).toBe(status);
  });

  it.each(ROUTES)('%s %s refuses Host: evil.example', async (method, path, headers, body) => {
    const calls = llm.received.length;
    const r = await send(method, path, { ...headers, host: 'evil.example' }, body);
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toContain('Invalid Host: evil.example');
    expect(llm.received.length).toBe(calls);
  });

  it.each(ROUTES)('%s %s refuses a rebound name with the gateway\'s port (Host: evil.example:PORT)', async (method, path, headers, body) => {
    const r = await send(method, path, { ...headers, host: `evil.example:${new URL(gateway.url).port}` }, body);
    expect(r.status).toBe(403);
  });

  it.each(ROUTES)('%s %s refuses a foreign Origin', async (method, path, headers, body) => {
    const r = await send(method, path, { ...headers, origin: 'http://evil.example' }, body);
    expect(r.status).toBe(403);
  });

  it('answers each family in its own error shape, with the stable code', async () => {
    const evil = { host: 'evil.example' };
    expect((await send('GET', '/admin/backends', evil)).body).toMatchObject({ code: 'GH_HOST_NOT_ALLOWED' });
    expect((await send('GET', '/metrics', evil)).body).toMatchObject({ error: 'host_not_allowed', code: 'GH_HOST_NOT_ALLOWED' });
    expect((await send('POST', '/mcp', { ...mcpHeaders, ...evil }, toolsList)).body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    expect((await send('POST', '/v1/chat/completions', { ...json, ...evil }, chat)).body).toMatchObject({ error: { code: 'GH_HOST_NOT_ALLOWED', type: 'permission_error' } });
  });

  it.each(['/healthz', '/readyz'])('still answers the probe %s whatever the Host (orchestrators probe by IP)', async (path) => {
    expect((await send('GET', path, { host: 'evil.example' })).status).toBe(200);
    expect((await send('GET', path, { host: '10.0.3.7:8080' })).status).toBe(200);
  });

  it('registers nothing through a rebound name: no backend, no tool for local agents to see', async () => {
    const r = await send('POST', '/admin/backends', { ...json, host: 'evil.example', origin: 'http://evil.example' }, register('poison'));
    expect(r.status).toBe(403);
    expect(await registered()).not.toContain('poison');
    expect((await rawToolsList(gateway.url, 'legacy')).result.tools.map((t) => t.name).filter((n) => n.startsWith('poison'))).toEqual([]);
  });
});

describe('the admin API refuses browser-originated requests', () => {
  it.each([
    ['another port of localhost (same-site, Host allowed)', { origin: 'http://localhost:3000' }],
    ['the gateway address on another port', { origin: 'http://127.0.0.1:1' }],
    ['Origin: null (sandboxed frame, file: page)', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
  ])('POST /admin/backends from %s: refused, nothing registered', async (_what, headers) => {
    const r = await send('POST', '/admin/backends', { ...json, ...headers }, register('csrf'));
    expect(r.status).toBe(403);
    expect(r.body.code).toMatch(/^GH_(ADMIN_CROSS_SITE|HOST_NOT_ALLOWED)$/);
    expect(await registered()).not.toContain('csrf');
  });

  it('refuses a cross-site read of the audit trail that carries no Origin (a no-cors GET)', async () => {
    const r = await send('GET', '/admin/audit', { 'sec-fetch-site': 'cross-site' });
    expect(r).toMatchObject({ status: 403, body: { code: 'GH_ADMIN_CROSS_SITE' } });
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined])(
    'refuses an admin write sent as %s (what a form can send without a preflight)',
    async (type) => {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
      const r = await send('POST', '/admin/backends', headers, register('form'));
      expect(r).toMatchObject({ status: 415, body: { code: 'GH_ADMIN_CONTENT_TYPE' } });
      expect(await registered()).not.toContain('form');
      expect((await send('POST', '/admin/backends/form/reimport', headers)).status).toBe(415);
    },
  );

  it("answers a console on the gateway's own origin, and programs that send no Origin", async () => {
    const page = { ...json, origin: `http://${own}`, 'sec-fetch-site': 'same-origin' };
    expect((await send('POST', '/admin/backends', page, register('fromconsole'))).status).toBe(201);
    expect((await send('GET', '/admin/backends/fromconsole', { origin: `http://${own}` })).status).toBe(200);
    expect((await send('POST', '/admin/backends/fromconsole/reimport', page)).status).toBe(200);
    expect((await send('DELETE', '/admin/backends/fromconsole', { origin: `http://${own}` })).status).toBe(204);
    expect((await send('POST', '/admin/backends', json, register('fromcli'))).status).toBe(201);
    expect((await send('DELETE', '/admin/backends/fromcli', {})).status).toBe(204);
  });
});
