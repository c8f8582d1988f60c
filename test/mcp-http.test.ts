import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, rawToolsList, startTestGateway, type Era } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

type TextItem = { type: 'text'; text: string };
const text = (r: { content?: unknown }) => ((r.content ?? []) as TextItem[]).map((c) => c.text).join('\n');


let stub: StubBackend;
let gateway: Gateway;

beforeAll(async () => {
  stub = await startStubBackend();
  const deadPort = await closedPort();
  gateway = await startTestGateway(`
server: { host: 127.0.0.1, port: 0 }
mcp: { pageSize: 3 }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
    timeoutMs: 400
  - name: dead
    spec: ./stub-api.yaml
    baseUrl: http://127.0.0.1:${deadPort}
  - name: broken
    spec: ./does-not-exist.yaml
`, { STUB_URL: stub.url });
});

afterAll(async () => {
  await gateway?.close();
  await stub?.close();
});

describe.each<Era>(['legacy', 'modern'])('MCP over Streamable HTTP (%s era)', (era) => {
  let client: Client;
  beforeAll(async () => {
    client = await connectClient(gateway.url, era);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('negotiated the expected era', () => {
    expect(client.getProtocolEra()).toBe(era);
    expect(client.getNegotiatedProtocolVersion()).toBe(era === 'modern' ? '2026-07-28' : '2025-11-25');
  });

  it('lists every tool across pages, prefixed by backend, with schemas and annotations', async () => {
    // Without a cursor the SDK client walks every page itself.
    const { tools: all } = await client.listTools();
    expect(all.map((t) => t.name).sort()).toEqual(
      ['createItem', 'deleteItem', 'getItem', 'getStatus', 'listItems', 'slow'].flatMap((n) => [`dead_${n}`, `stub_${n}`]).sort(),
    );
    // Pages are mcp.pageSize (3) long and chained by an opaque cursor.
    const first = (await rawToolsList(gateway.url, era)).result;
    expect(first.tools).toHaveLength(3);
    const second = await client.listTools({ cursor: first.nextCursor! });
    expect(second.tools).toHaveLength(3);
    expect(second.tools[0]!.name).toBe(all[3]!.name);
    await expect(client.listTools({ cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(/Invalid cursor/);
    const getItem = all.find((t) => t.name === 'stub_getItem')!;
    expect(getItem.inputSchema.type).toBe('object');
    expect(Object.keys(getItem.inputSchema.properties ?? {}).sort()).toEqual(['X-Trace', 'expand', 'itemId']);
    expect(getItem.inputSchema.required).toEqual(['itemId']);
    expect(getItem.annotations?.readOnlyHint).toBe(true);
    expect(getItem.outputSchema?.type).toBe('object');
    expect(all.find((t) => t.name === 'stub_deleteItem')!.annotations?.destructiveHint).toBe(true);
  });

  it('forwards a call exactly as OpenAPI says and returns structured content', async () => {
    stub.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'a/b', name: 'widget' }));
    });
    const before = stub.received.length;
    const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: 'a/b', expand: ['owner', 'tags'], 'X-Trace': 't-1' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ id: 'a/b', name: 'widget' });
    expect(JSON.parse(text(result))).toEqual({ id: 'a/b', name: 'widget' });
    const got = stub.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.method).toBe('GET');
    expect(got[0]!.url).toBe('/api/items/a%2Fb?expand=owner,tags');
    expect(got[0]!.headers['x-trace']).toBe('t-1');
  });

  it('sends a JSON body and form-exploded array queries', async () => {
    stub.handle((req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '42' }));
    });
    const before = stub.received.length;
    const created = await client.callTool({ name: 'stub_createItem', arguments: { name: 'bolt', quantity: 3 } });
    expect(created.structuredContent).toEqual({ id: '42' });
    const post = stub.received[before]!;
    expect(post.method).toBe('POST');
    expect(post.url).toBe('/api/items');
    expect(post.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(post.body.toString())).toEqual({ name: 'bolt', quantity: 3 });

    stub.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[1,2]');
    });
    await client.callTool({ name: 'stub_listItems', arguments: { tag: ['a', 'b c'], limit: 5 } });
    expect(stub.received[before + 1]!.url).toBe('/api/items?tag=a&tag=b%20c&limit=5');
  });

  it('rejects invalid arguments naming every wrong field, and sends nothing', async () => {
    const before = stub.received.length;
    const result = await client.callTool({ name: 'stub_createItem', arguments: { name: '', quantity: 'many' } });
    expect(result.isError).toBe(true);
    const msg = text(result);
    expect(msg).toMatch(/^GH_TOOL_ARGS_INVALID/);
    expect(msg).toMatch(/name: must NOT have fewer than 1 characters/);
    expect(msg).toMatch(/quantity: must be integer/);
    const missing = await client.callTool({ name: 'stub_getItem', arguments: {} });
    expect(text(missing)).toMatch(/itemId: is required/);
    expect(stub.received.length).toBe(before);
  });

  it.each([404, 500])('returns backend %i as a tool error with status and body', async (code) => {
    stub.handle((req, res) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `nope ${code}` }));
    });
    const result = await client.callTool({ name: 'stub_getStatus', arguments: { code } });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain(`${code}`);
    expect(text(result)).toContain(`nope ${code}`);
  });

  it('times out a slow backend with a stable code', async () => {
    stub.handle(() => {
      /* never answers */
    });
    // The backend never answers: only the configured timeout (400 ms) can end the call, with its code.
    const result = await client.callTool({ name: 'stub_slow', arguments: {} });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^GH_UPSTREAM_TIMEOUT/);
  });

  it('reports a refused connection with a stable code', async () => {
    const result = await client.callTool({ name: 'dead_getItem', arguments: { itemId: '1' } });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^GH_UPSTREAM_CONNECT/);
  });

  it('answers an unknown tool with a protocol error', async () => {
    await expect(client.callTool({ name: 'nope_nothing', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });
});

describe('cancellation', () => {
  it.each<Era>(['legacy', 'modern'])('a cancelled call aborts the backend request (%s)', async (era) => {
    const client = await connectClient(gateway.url, era);
    try {
      let arrived!: () => void;
      const reached = new Promise<void>((r) => (arrived = r));
      stub.handle(() => arrived());
      const abortedBefore = stub.aborted;
      const controller = new AbortController();
      const call = client.callTool({ name: 'stub_slow', arguments: {} }, { signal: controller.signal });
      await reached;
      controller.abort();
      await expect(call).rejects.toThrow();
      await expect.poll(() => stub.aborted, { timeout: 2_000 }).toBeGreaterThan(abortedBefore);
    } finally {
      await client.close();
    }
  });
});

describe('HTTP edge', () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(path, gateway.url);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: path === '/mcp' ? 'POST' : 'GET', headers }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(path === '/mcp' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) : undefined);
    });

  it('serves /healthz and /readyz with per-backend status: not ready while a backend cannot be served', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    const body = JSON.parse(ready.body);
    expect(body).toMatchObject({ status: 'not-ready', unavailable: ['broken'] });
    expect(body.backends.find((b: { name: string }) => b.name === 'stub').state).toBe('ready');
    const broken = body.backends.find((b: { name: string }) => b.name === 'broken');
    expect(broken.state).toBe('failed');
    expect(broken.error.code).toBe('GH_SPEC_LOAD_FAILED');
  });

  it('rejects a foreign Host header (DNS rebinding)', async () => {
    const res = await get('/mcp', { host: 'evil.example:80', 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
    expect(res.status).toBe(403);
  });

  it('rejects a foreign Origin', async () => {
    const res = await get('/mcp', { origin: 'http://evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
    expect(res.status).toBe(403);
  });
});
