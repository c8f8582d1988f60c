import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/server/gateway.js';
import { MODERN_ENVELOPE, startTestGateway } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * The fast path must answer exactly what the SDK answers. Two gateways share
 * one backend: one serves every request through the SDK alone. Each request
 * goes to both; the JSON-RPC messages must be equal.
 */

const CONFIG = `
server: { host: 127.0.0.1, port: 0 }
mcp: { pageSize: 4 }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`;

let stub: StubBackend;
let fast: Gateway;
let sdkOnly: Gateway;

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((req, res) => {
    if (req.url.startsWith('/api/status/')) {
      res.writeHead(Number(req.url.split('/')[3]), { 'content-type': 'text/plain' });
      res.end('backend says no');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: '1', name: 'same' }));
  });
  fast = await startTestGateway(CONFIG, { STUB_URL: stub.url });
  sdkOnly = await startTestGateway(CONFIG, { STUB_URL: stub.url }, { disableFastPath: true });
});

afterAll(async () => {
  await fast?.close();
  await sdkOnly?.close();
  await stub?.close();
});

const META = MODERN_ENVELOPE;

interface Exchange {
  status: number;
  contentType: string;
  message: unknown;
}

async function post(gateway: Gateway, headers: Record<string, string>, body: unknown): Promise<Exchange> {
  const res = await fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  // The SDK's stateless 2025 leg answers with one SSE event; the fast path with JSON. Both are allowed
  // (MCP 2025-11-25 basic/transports: "either text/event-stream … or application/json").
  const json = contentType.startsWith('text/event-stream') ? text.split('\n').find((l) => l.startsWith('data: '))!.slice(6) : text;
  return { status: res.status, contentType, message: json ? JSON.parse(json) : undefined };
}

const modern = (method: string, name?: string) => ({
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': method,
  ...(name ? { 'mcp-name': name } : {}),
});
const legacy = { 'mcp-protocol-version': '2025-11-25' };

const cases: Array<[string, Record<string, string>, unknown]> = [
  ['modern tools/list', modern('tools/list'), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }],
  ['legacy tools/list', legacy, { jsonrpc: '2.0', id: 'a', method: 'tools/list' }],
  ['legacy tools/list (2025-03-26)', { 'mcp-protocol-version': '2025-03-26' }, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }],
  ['modern call', modern('tools/call', 'stub_getItem'), { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x' }, _meta: META } }],
  ['legacy call', legacy, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x', expand: ['owner'] } } }],
  ['legacy call with progress token', legacy, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'stub_listItems', _meta: { progressToken: 7 } } }],
  ['modern invalid arguments', modern('tools/call', 'stub_createItem'), { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'stub_createItem', arguments: { quantity: -1 }, _meta: META } }],
  ['legacy invalid arguments', legacy, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'stub_createItem', arguments: { name: 5 } } }],
  ['modern backend error', modern('tools/call', 'stub_getStatus'), { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'stub_getStatus', arguments: { code: 503 }, _meta: META } }],
  ['legacy backend error', legacy, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'stub_getStatus', arguments: { code: 404 } } }],
  ['modern unknown tool', modern('tools/call', 'stub_nope'), { jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'stub_nope', arguments: {}, _meta: META } }],
  ['legacy unknown tool', legacy, { jsonrpc: '2.0', id: 11, method: 'tools/call', params: { name: 'stub_nope' } }],
  ['modern bad cursor', modern('tools/list'), { jsonrpc: '2.0', id: 12, method: 'tools/list', params: { cursor: 'zzz', _meta: META } }],
  ['modern missing Mcp-Name header', modern('tools/call'), { jsonrpc: '2.0', id: 13, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x' }, _meta: META } }],
  ['modern mismatched Mcp-Method header', modern('tools/list'), { jsonrpc: '2.0', id: 14, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x' }, _meta: META } }],
  ['modern header without envelope', modern('tools/call', 'stub_getItem'), { jsonrpc: '2.0', id: 15, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x' } } }],
  ['modern bad envelope', modern('tools/list'), { jsonrpc: '2.0', id: 16, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/clientInfo': 'me' } } }],
  ['legacy arguments not an object', legacy, { jsonrpc: '2.0', id: 17, method: 'tools/call', params: { name: 'stub_getItem', arguments: [1] } }],
  ['not JSON', legacy, '{"jsonrpc": "2.0", "id": 18,'],
  ['not JSON-RPC', legacy, { hello: 'world' }],
  ['batch under 2025-11-25 (refused)', legacy, [{ jsonrpc: '2.0', id: 19, method: 'tools/list' }, { jsonrpc: '2.0', id: 20, method: 'tools/list' }]],
  ['batch under 2026-07-28 (refused)', modern('tools/list'), [{ jsonrpc: '2.0', id: 21, method: 'tools/list', params: { _meta: META } }]],
  ['batch under 2025-03-26', { 'mcp-protocol-version': '2025-03-26' }, [{ jsonrpc: '2.0', id: 22, method: 'tools/list' }]],
  ['body nested too deep', legacy, `{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"stub_getItem","arguments":{"itemId":${'['.repeat(1000)}${']'.repeat(1000)}}}}`],
];

describe('fast path answers exactly as the SDK does', () => {
  it.each(cases)('%s', async (_name, headers, body) => {
    const [a, b] = [await post(fast, headers, body), await post(sdkOnly, headers, body)];
    expect(a.status).toBe(b.status);
    expect(a.message).toEqual(b.message);
  });

  it('pages tools/list identically, cursor included', async () => {
    const page1 = await post(fast, legacy, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const cursor = (page1.message as { result: { nextCursor: string } }).result.nextCursor;
    expect(cursor).toBeTypeOf('string');
    const body = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { cursor, _meta: META } };
    const [a, b] = [await post(fast, modern('tools/list'), body), await post(sdkOnly, modern('tools/list'), body)];
    expect(a.message).toEqual(b.message);
    expect((a.message as { result: { tools: unknown[] } }).result.tools).toHaveLength(2);
  });

  it('takes the fast path for plain calls (JSON, not the SDK legacy SSE)', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: 'x' } } };
    expect((await post(fast, legacy, body)).contentType).toMatch(/^application\/json/);
    expect((await post(sdkOnly, legacy, body)).contentType).toMatch(/^text\/event-stream/);
  });
});

/** Two gateways from one config, started for the enclosing describe: one on the fast path, one answering through the SDK alone. */
function gatewayPair(config: string): { fast: () => Gateway; sdk: () => Gateway } {
  let fastOne: Gateway | undefined;
  let sdkOne: Gateway | undefined;
  beforeAll(async () => {
    fastOne = await startTestGateway(config, { STUB_URL: stub.url });
    sdkOne = await startTestGateway(config, { STUB_URL: stub.url }, { disableFastPath: true });
  });
  afterAll(async () => {
    await fastOne?.close();
    await sdkOne?.close();
  });
  return { fast: () => fastOne!, sdk: () => sdkOne! };
}

describe('fast path answers search-mode meta-tools exactly as the SDK does', () => {
  const SEARCH_CONFIG = `
server: { host: 127.0.0.1, port: 0 }
mcp: { pageSize: 2 }
backends:
  - name: found
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
    tools: search
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`;
  const search = gatewayPair(SEARCH_CONFIG);

  const call = (id: number, name: string, args: unknown): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
  const modernCall = (id: number, name: string, args: unknown): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: META } });
  const searchCases: Array<[string, Record<string, string>, unknown]> = [
    ['legacy tools/list', legacy, { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
    ['modern tools/list', modern('tools/list'), { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: META } }],
    ['legacy search', legacy, call(3, 'found_search_operations', { query: 'create item' })],
    ['modern search', modern('tools/call', 'found_search_operations'), modernCall(4, 'found_search_operations', { query: 'items', limit: 2 })],
    ['legacy search, invalid arguments', legacy, call(5, 'found_search_operations', { limit: 0 })],
    ['legacy describe', legacy, call(6, 'found_describe_operation', { name: 'found_getItem' })],
    ['modern describe', modern('tools/call', 'found_describe_operation'), modernCall(7, 'found_describe_operation', { name: 'getItem' })],
    ['modern describe, unknown operation', modern('tools/call', 'found_describe_operation'), modernCall(8, 'found_describe_operation', { name: 'found_nope' })],
    ['legacy call_operation', legacy, call(9, 'found_call_operation', { name: 'found_getItem', arguments: { itemId: 'x' } })],
    ['modern call_operation', modern('tools/call', 'found_call_operation'), modernCall(10, 'found_call_operation', { name: 'found_getItem', arguments: { itemId: 'x' } })],
    ['modern call_operation, invalid operation arguments', modern('tools/call', 'found_call_operation'), modernCall(11, 'found_call_operation', { name: 'found_createItem', arguments: { quantity: -1 } })],
    ['legacy call_operation, backend error', legacy, call(12, 'found_call_operation', { name: 'found_getStatus', arguments: { code: 503 } })],
    ['legacy call_operation, unknown operation', legacy, call(13, 'found_call_operation', { name: 'stub_getItem', arguments: {} })],
    ['modern call_operation, arguments not an object', modern('tools/call', 'found_call_operation'), modernCall(14, 'found_call_operation', { name: 'found_getItem', arguments: 'x' })],
    ['legacy hidden operation called directly', legacy, call(15, 'found_getItem', { itemId: 'x' })],
    ['modern hidden operation called directly', modern('tools/call', 'found_getItem'), modernCall(16, 'found_getItem', { itemId: 'x' })],
  ];

  it.each(searchCases)('%s', async (_name, headers, body) => {
    const [a, b] = [await post(search.fast(), headers, body), await post(search.sdk(), headers, body)];
    expect(a.status).toBe(b.status);
    expect(a.message).toEqual(b.message);
    expect((a.message as { result?: unknown }).result).toBeDefined();
  });

  it('takes the fast path for meta-tool calls (JSON, not the SDK legacy SSE)', async () => {
    const body = call(1, 'found_search_operations', { query: 'item' });
    expect((await post(search.fast(), legacy, body)).contentType).toMatch(/^application\/json/);
    expect((await post(search.sdk(), legacy, body)).contentType).toMatch(/^text\/event-stream/);
  });

  it('pages a listing that mixes meta-tools and tools identically', async () => {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { ...(cursor ? { cursor } : {}), _meta: META } };
      const [a, b] = [await post(search.fast(), modern('tools/list'), body), await post(search.sdk(), modern('tools/list'), body)];
      expect(a.message).toEqual(b.message);
      const result = (a.message as { result: { tools: Array<{ name: string }>; nextCursor?: string } }).result;
      names.push(...result.tools.map((t) => t.name));
      cursor = result.nextCursor;
    } while (cursor);
    expect(names.slice(0, 3)).toEqual(['found_search_operations', 'found_describe_operation', 'found_call_operation']);
    expect(names).toHaveLength(9);
  });
});

describe('fast path answers what policy hides exactly as the SDK does', () => {
  // No auth: every caller is anonymous, and may call read-only operations only.
  const RULES_CONFIG = `
server: { host: 127.0.0.1, port: 0 }
rules:
  - allow: { readOnly: true }
backends:
  - name: found
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
    tools: search
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`;
  const rules = gatewayPair(RULES_CONFIG);

  const call = (id: number, name: string, args: unknown, era: 'legacy' | 'modern'): [Record<string, string>, unknown] =>
    era === 'legacy'
      ? [legacy, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }]
      : [modern('tools/call', name), { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: META } }];
  const rulesCases: Array<[string, Record<string, string>, unknown]> = (['legacy', 'modern'] as const).flatMap((era) => [
    [`${era} tools/list`, era === 'legacy' ? legacy : modern('tools/list'), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: era === 'modern' ? { _meta: META } : {} }],
    [`${era} denied call`, ...call(2, 'stub_createItem', { name: 'x' }, era)],
    [`${era} search, hidden operations left out`, ...call(3, 'found_search_operations', { query: '', limit: 50 }, era)],
    [`${era} describe a hidden operation`, ...call(4, 'found_describe_operation', { name: 'found_deleteItem' }, era)],
    [`${era} call_operation of a hidden operation`, ...call(5, 'found_call_operation', { name: 'found_createItem', arguments: { name: 'x' } }, era)],
    [`${era} invalid arguments`, ...call(6, 'stub_listItems', { limit: 0 }, era)],
  ]);

  it.each(rulesCases)('%s', async (_name, headers, body) => {
    const [a, b] = [await post(rules.fast(), headers, body), await post(rules.sdk(), headers, body)];
    expect(a.status).toBe(b.status);
    expect(a.message).toEqual(b.message);
    expect((a.message as { result?: unknown }).result).toBeDefined();
  });
});
