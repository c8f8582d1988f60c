import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { silentLogger } from '../../src/log/logger.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startGatewayFrom, startTestGateway, testConfig, type Era } from '../helpers/gateway.js';
import { AUDIENCE, ISSUER, startIdp, type TestIdp } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * Inbound authentication and per-tool policy, end to end: a test identity
 * provider (a JWKS on port 0, tokens minted with jose), the recording stub
 * backend, and the real SDK client in both eras, on the fast path and on the
 * SDK-only path.
 */

const API_KEY = 'gh-test-key-0123456789';

let idp: TestIdp;
let jwksUrl: string;
let stub: StubBackend;
const token = (claims: Record<string, unknown>, options?: { audience?: string; expiresIn?: string }) => idp.token(claims, options);

const config = (fastPath: boolean) => `
server: { host: 127.0.0.1, port: 0 }
auth:
  jwt: { jwksUrl: "${jwksUrl}", issuer: "${ISSUER}", audience: "${AUDIENCE}" }
  apiKeys:
    - { id: ci-bot, sha256: "${createHash('sha256').update(API_KEY).digest('hex')}", scopes: [tools:write] }
  scopesSupported: [tools:read, tools:write]
rules:
  - allow: { principals: { scopes: [tools:read] }, readOnly: true }
  - allow: { principals: { scopes: [tools:write] } }
  - deny: { tools: ["*_deleteItem"] }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
# fast path ${fastPath ? 'on' : 'off'}
`;

beforeAll(async () => {
  idp = await startIdp();
  jwksUrl = idp.jwksUrl;
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: '1', name: 'ok' }));
  });
});

afterAll(async () => {
  await stub?.close();
  await idp?.close();
});

async function connect(gateway: Gateway, era: Era, authorization: string): Promise<Client> {
  const client = new Client({ name: 'auth-test', version: '1' }, { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { authorization } } }));
  return client;
}

const text = (r: { content?: unknown }) => ((r.content ?? []) as Array<{ text: string }>).map((c) => c.text).join('\n');

describe.each([
  ['fast path', false],
  ['SDK path', true],
] as const)('authentication and policy (%s)', (_name, disableFastPath) => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway(config(!disableFastPath), { STUB_URL: stub.url }, { disableFastPath });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const post = (headers: Record<string, string>) =>
    fetch(`${gateway.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: '1' } } }),
    });

  it('answers 401 with the RFC 9728 metadata pointer when no credentials are sent; nothing reaches the backend', async () => {
    const before = stub.received.length;
    const res = await post({});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/);
    expect((await res.json()).code).toBe('GH_AUTH_REQUIRED');
    expect(stub.received.length).toBe(before);
  });

  it.each([
    ['a token for another audience', () => token({ scope: 'tools:write' }, { audience: 'https://elsewhere.test' })],
    ['an expired token', () => token({ scope: 'tools:write' }, { expiresIn: '-10m' })],
    ['a tampered token', async () => `${(await token({ scope: 'tools:read' })).slice(0, -4)}AAAA`],
    ['an unknown API key', async () => 'not-the-key'],
  ])('rejects %s with 401 invalid_token; nothing reaches the backend', async (_what, make) => {
    const before = stub.received.length;
    const res = await post({ authorization: `Bearer ${await make()}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(stub.received.length).toBe(before);
  });

  it('serves RFC 9728 protected resource metadata', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const body = await (await fetch(`${gateway.url}${path}`)).json();
      expect(body).toMatchObject({ resource: `${gateway.url}/mcp`, authorization_servers: [ISSUER], scopes_supported: ['tools:read', 'tools:write'] });
    }
  });

  it.each<Era>(['legacy', 'modern'])('a reader sees and calls only read-only tools (%s)', async (era) => {
    const client = await connect(gateway, era, `Bearer ${await token({ sub: 'reader', scope: 'tools:read' })}`);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['stub_getItem', 'stub_getStatus', 'stub_listItems', 'stub_slow']);
      const before = stub.received.length;
      const denied = await client.callTool({ name: 'stub_createItem', arguments: { name: 'x' } });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toMatch(/^GH_POLICY_DENIED/);
      // The denial names the scope that would allow the call (RFC 6750 insufficient_scope).
      expect(text(denied)).toContain('tools:write');
      expect(stub.received.length).toBe(before);
      const allowed = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      expect(allowed.isError).toBeFalsy();
      expect(stub.received.length).toBe(before + 1);
      // The caller's token never reaches the backend.
      expect(stub.received.at(-1)!.headers.authorization).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it.each<Era>(['legacy', 'modern'])('a writer (API key) sees every tool but the denied one, and may write (%s)', async (era) => {
    const client = await connect(gateway, era, `Bearer ${API_KEY}`);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('stub_createItem');
      expect(tools.map((t) => t.name)).not.toContain('stub_deleteItem');
      const created = await client.callTool({ name: 'stub_createItem', arguments: { name: 'x' } });
      expect(created.isError).toBeFalsy();
      const deleted = await client.callTool({ name: 'stub_deleteItem', arguments: { itemId: '1' } });
      expect(text(deleted)).toMatch(/^GH_POLICY_DENIED/);
    } finally {
      await client.close();
    }
  });
});

describe('auth.requiredScopes', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway(config(true).replace('  scopesSupported:', '  requiredScopes: [mcp:use]\n  scopesSupported:'), { STUB_URL: stub.url });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const list = (authorization?: string) =>
    fetch(`${gateway.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });

  it('answers 403 insufficient_scope naming the scope to a valid token without it; nothing reaches the backend', async () => {
    const before = stub.received.length;
    const res = await list(`Bearer ${await token({ scope: 'tools:write' })}`);
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:use"');
    expect(await res.json()).toMatchObject({ error: 'insufficient_scope', code: 'GH_AUTH_FORBIDDEN' });
    expect(stub.received.length).toBe(before);
  });

  it('still answers 401 without credentials, and serves a token that has the scope', async () => {
    expect((await list()).status).toBe(401);
    const res = await list(`Bearer ${await token({ scope: 'mcp:use tools:read' })}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('stub_getItem');
  });
});

describe('anonymous exposure', () => {
  it('refuses to serve without credentials on a non-loopback bind unless overridden', async () => {
    const cfg = testConfig('server: { host: 0.0.0.0, port: 0 }\nbackends: []\n');
    await expect(startGatewayFrom(cfg, silentLogger())).rejects.toThrow(/not a loopback address and auth configures no credentials/);
  });
});
