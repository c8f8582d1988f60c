import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/server/gateway.js';
import { connectClient, startTestGateway } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * Arguments cannot steer the request (DESIGN.md decision 5): each attack is
 * checked on what the recording backend received — usually nothing.
 */

let stub: StubBackend;
let gateway: Gateway;
let client: Client;

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
  gateway = await startTestGateway(
    `server: { host: 127.0.0.1, port: 0, maxRequestBytes: 4096 }\nbackends:\n  - { name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }\n`,
    { STUB_URL: stub.url },
  );
  client = await connectClient(gateway.url, 'modern');
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await stub?.close();
});

const text = (r: { content?: unknown }) => ((r.content ?? []) as Array<{ text: string }>).map((c) => c.text).join('\n');

describe('hardened forwarding', () => {
  it.each(['..', '.'])('refuses a path argument that is the segment %j; nothing is sent', async (itemId) => {
    const before = stub.received.length;
    const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId } });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^GH_REQUEST_BUILD_FAILED/);
    expect(stub.received.length).toBe(before);
  });

  it.each([
    ['../admin', '/api/items/..%2Fadmin'],
    ['%2e%2e', '/api/items/%252e%252e'],
    ['a\\b', '/api/items/a%5Cb'],
    ['x?admin=1#f', '/api/items/x%3Fadmin%3D1%23f'],
  ])('keeps the path argument %j inside its segment', async (itemId, path) => {
    await client.callTool({ name: 'stub_getItem', arguments: { itemId } });
    expect(stub.received.at(-1)!.url).toBe(path);
  });

  it('refuses CR/LF in a header argument; nothing is sent', async () => {
    const before = stub.received.length;
    const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', 'X-Trace': 'a\r\nX-Injected: 1' } });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^GH_REQUEST_BUILD_FAILED/);
    expect(stub.received.length).toBe(before);
  });

  it('ignores arguments that are not declared parameters: they cannot change the host or add headers', async () => {
    await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', host: 'evil.example', baseUrl: 'http://evil.example', authorization: 'Bearer x' } });
    const got = stub.received.at(-1)!;
    expect(got.url).toBe('/api/items/1');
    expect(got.headers.host).toBe(new URL(stub.url).host);
    expect(got.headers.authorization).toBeUndefined();
  });

  it('refuses an oversized MCP request body with 413; nothing is sent', async () => {
    const before = stub.received.length;
    const res = await fetch(`${gateway.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x'.repeat(8192) } } }),
    });
    expect(res.status).toBe(413);
    expect(stub.received.length).toBe(before);
  });
});
