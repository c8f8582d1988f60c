import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * Outbound credentials through the whole gateway: the recording backend sees
 * exactly the configured credential and never the caller's token, unless the
 * backend opts into passthrough. OAuth2 client credentials against a local
 * token endpoint: one token for many calls.
 */

const CALLER = 'Bearer caller-token-123';
let stub: StubBackend;
let tokenEndpoint: Server;
let tokenRequests = 0;
let gateway: Gateway;

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
  tokenEndpoint = createServer((req, res) => {
    tokenRequests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `minted-${tokenRequests}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => tokenEndpoint.listen(0, '127.0.0.1', r));
  const tokenUrl = `http://127.0.0.1:${(tokenEndpoint.address() as AddressInfo).port}/token`;
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - { name: plain, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/plain" }
  - name: keyed
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/keyed
    credentials: { type: apiKey, in: header, name: X-Api-Key, value: "\${BACKEND_KEY}" }
  - name: oauth
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/oauth
    credentials: { type: oauth2, tokenUrl: "${tokenUrl}", clientId: gatehouse, clientSecret: "\${CLIENT_SECRET}" }
  - { name: through, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/through", passthrough: true }
  - name: declared
    spec: ./keyed-api.yaml
    baseUrl: \${STUB_URL}/declared
    credentials: { type: apiKey, value: "\${BACKEND_KEY}" }
`,
    { STUB_URL: stub.url, BACKEND_KEY: 'backend-secret', CLIENT_SECRET: 's3cret' },
  );
});

afterAll(async () => {
  await gateway?.close();
  await stub?.close();
  await new Promise<void>((r) => tokenEndpoint?.close(() => r()));
});

async function call(tool: string): Promise<Record<string, string | string[] | undefined>> {
  const before = stub.received.length;
  const res = await fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: CALLER },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: { itemId: '1' } } }),
  });
  expect(res.status).toBe(200);
  await res.text();
  expect(stub.received.length).toBe(before + 1);
  return stub.received.at(-1)!.headers;
}

describe('backend credentials', () => {
  it("places an API key where the spec's securitySchemes declare it, over any argument of the same name", async () => {
    const before = stub.received.length;
    const res = await fetch(`${gateway.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'declared_getItem', arguments: { itemId: '7', api_key: 'agent-chosen' } } }),
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(stub.received.length).toBe(before + 1);
    const sent = new URL(stub.received.at(-1)!.url, 'http://x');
    expect(sent.pathname).toBe('/declared/items/7');
    expect(sent.searchParams.getAll('api_key')).toEqual(['backend-secret']);
  });

  it("never sends the caller's token to a backend by default", async () => {
    const headers = await call('plain_getItem');
    expect(headers.authorization).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain('caller-token');
  });

  it('sends exactly the configured API key', async () => {
    const headers = await call('keyed_getItem');
    expect(headers['x-api-key']).toBe('backend-secret');
    expect(headers.authorization).toBeUndefined();
  });

  it('gets an OAuth2 client-credentials token once and reuses it', async () => {
    const first = await call('oauth_getItem');
    const second = await call('oauth_getItem');
    expect(first.authorization).toBe('Bearer minted-1');
    expect(second.authorization).toBe('Bearer minted-1');
    expect(tokenRequests).toBe(1);
  });

  it("forwards the caller's Authorization only to a passthrough backend", async () => {
    expect((await call('through_getItem')).authorization).toBe(CALLER);
  });
});
