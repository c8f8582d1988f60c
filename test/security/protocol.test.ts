import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MODERN_ENVELOPE, startTestGateway, testConfig, type Era } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * The protocol edges, exactly: what a revision allows (JSON-RPC batches), the
 * limits on a request body (size, nesting) in each protocol's error shape, and
 * what policy shows and tells a caller (search mode, denied calls, metrics).
 * Each case is checked on what crossed the wire, on a gateway with the fast
 * path and on one that answers through the MCP SDK alone.
 */

const KEY = 'gh-reader-key-0123456789';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const MAX_BYTES = 262_144;

const config = `
server: { host: 127.0.0.1, port: 0, maxRequestBytes: ${MAX_BYTES} }
auth:
  apiKeys:
    - { id: reader, sha256: "${sha(KEY)}", scopes: [read] }
rules:
  - allow: { principals: { scopes: [read] }, readOnly: true }
  - allow: { principals: { scopes: [read] }, models: [gpt-4o, "claude-*"] }
backends:
  - { name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }
  - { name: found, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api", tools: search }
ai:
  targets:
    oa: { provider: openai-compatible, baseUrl: "\${OA}/v1", apiKey: upstream-key }
  routes:
    - { model: gpt-4o, targets: [oa] }
    - { model: "claude-*", targets: [oa] }
  retry: { attempts: 1, backoffMs: 1, deadlineMs: 10000 }
`;

let stub: StubBackend;
let oa: FakeLLM;
let fast: Gateway;
let sdkOnly: Gateway;

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1","name":"same"}');
  });
  oa = await startFakeOpenAI();
  const env = { STUB_URL: stub.url, OA: oa.url };
  fast = await startTestGateway(config, env);
  sdkOnly = await startTestGateway(config, env, { disableFastPath: true });
});

afterAll(async () => {
  await fast?.close();
  await sdkOnly?.close();
  await stub?.close();
  await oa?.close();
});

const paths: Array<[string, () => Gateway]> = [
  ['fast path', () => fast],
  ['SDK path', () => sdkOnly],
];

interface Exchange {
  status: number;
  headers: Headers;
  /** The JSON-RPC message(s): one JSON body, or the data of each SSE event. */
  messages: unknown[];
}

async function postMcp(gateway: Gateway, headers: Record<string, string>, body: string | unknown): Promise<Exchange> {
  const res = await fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const messages = (res.headers.get('content-type') ?? '').startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data: ') && l.length > 6)
        .map((l) => JSON.parse(l.slice(6)) as unknown)
    : text
      ? [JSON.parse(text) as unknown]
      : [];
  return { status: res.status, headers: res.headers, messages };
}

const getItem = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: String(id) } } });

describe.each(paths)('JSON-RPC batches (%s)', (_name, gateway) => {
  it.each(['2025-06-18', '2025-11-25', '2026-07-28'])('refuses a batch under %s with -32600, running none of it', async (revision) => {
    const before = stub.received.length;
    const res = await postMcp(gateway(), { 'mcp-protocol-version': revision }, [getItem(1), getItem(2)]);
    expect(res.status).toBe(400);
    expect(res.messages).toEqual([
      {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32600,
          message: `Invalid Request: MCP ${revision} has no JSON-RPC batches (removed in 2025-06-18); send one message per request`,
          data: { code: 'GH_MCP_BATCH_REFUSED', protocolVersion: revision },
        },
      },
    ]);
    expect(stub.received.length).toBe(before);
  });

  it.each([
    ['under 2025-03-26', { 'mcp-protocol-version': '2025-03-26' }],
    ['with no MCP-Protocol-Version (2025-03-26 assumed)', {}],
  ])('serves a batch %s, each element once', async (_case, headers) => {
    const before = stub.received.length;
    const res = await postMcp(gateway(), headers, [getItem(3), getItem(4)]);
    expect(res.status).toBe(200);
    const ids = res.messages.map((m) => (m as { id: number }).id).sort();
    expect(ids).toEqual([3, 4]);
    expect(stub.received.slice(before).map((r) => r.url).sort()).toEqual(['/api/items/3', '/api/items/4']);
  });

  it('refuses a batch that carries initialize, even under 2025-03-26', async () => {
    const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-03-26' }, [init]);
    expect(res.status).toBe(400);
    expect(res.messages[0]).toMatchObject({ id: null, error: { code: -32600, data: { code: 'GH_MCP_BATCH_REFUSED' } } });
  });

  it('still serves a single message under 2025-11-25', async () => {
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, getItem(5));
    expect(res.status).toBe(200);
    expect(res.messages[0]).toMatchObject({ id: 5, result: { content: [{ type: 'text' }] } });
  });
});

/** A tools/call whose arguments nest `depth` arrays. */
const deepCall = (depth: number) =>
  `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"stub_getItem","arguments":{"itemId":"x","X-Trace":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;

describe.each(paths)('request body limits on /mcp (%s)', (_name, gateway) => {
  it('answers a 100,000-deep body with 400 GH_REQUEST_TOO_DEEP as a JSON-RPC error; nothing is sent', async () => {
    const before = stub.received.length;
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, deepCall(100_000));
    expect(res.status).toBe(400);
    expect(res.messages).toEqual([
      {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: 'Invalid Request: the request body nests arrays and objects more than 128 levels deep', data: { code: 'GH_REQUEST_TOO_DEEP', maxDepth: 128 } },
      },
    ]);
    expect(stub.received.length).toBe(before);
  });

  it('reads a body nested 128 deep as any other: a tool error naming the argument', async () => {
    // 3 levels of message, params and arguments, 125 of array: exactly the limit. The body is
    // read; its arguments are past mcp.arguments.maxDepth (32), which the tool error names.
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, deepCall(125));
    expect(res.status).toBe(200);
    expect(res.messages[0]).toMatchObject({ id: 7, result: { isError: true, content: [{ text: expect.stringMatching(/^GH_TOOL_ARGS_TOO_LARGE[^]*mcp\.arguments\.maxDepth/) as unknown }] } });
    const over = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, deepCall(126));
    expect(over.status).toBe(400);
  });

  it('measures the nesting before it parses: an unterminated deep body is too deep, not a parse error', async () => {
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":${'['.repeat(200_000)}`);
    expect(res.status).toBe(400);
    expect(res.messages[0]).toMatchObject({ error: { code: -32600, data: { code: 'GH_REQUEST_TOO_DEEP' } } });
  });

  it('ignores brackets inside strings when it counts the nesting', async () => {
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, { ...getItem(8), params: { name: 'stub_getItem', arguments: { itemId: '[{'.repeat(1000) + '\\"' } } });
    expect(res.status).toBe(200);
    expect(res.messages[0]).toMatchObject({ id: 8, result: { content: [{ type: 'text' }] } });
  });

  it('answers a body over maxRequestBytes with 413 GH_REQUEST_TOO_LARGE, declared or chunked; nothing is sent', async () => {
    const before = stub.received.length;
    const big = JSON.stringify({ ...getItem(9), params: { name: 'stub_getItem', arguments: { itemId: 'x'.repeat(MAX_BYTES) } } });
    const expected = {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: `Payload Too Large: the request body exceeds ${MAX_BYTES} bytes`, data: { code: 'GH_REQUEST_TOO_LARGE', maxBytes: MAX_BYTES } },
    };
    const declared = await postMcp(gateway(), { 'mcp-protocol-version': '2025-11-25' }, big);
    expect(declared.status).toBe(413);
    expect(declared.messages).toEqual([expected]);
    const chunked = await rawPost(gateway(), '/mcp', { 'mcp-protocol-version': '2025-11-25', accept: 'application/json, text/event-stream', authorization: `Bearer ${KEY}` }, big, true);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toEqual(expected);
    expect(stub.received.length).toBe(before);
  });
});

/** A POST over node:http, chunked (no Content-Length) when asked. */
function rawPost(gateway: Gateway, path: string, headers: Record<string, string>, body: string, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers, ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    // Written in pieces, so the gateway sees more than one chunk.
    for (let i = 0; i < body.length; i += 8192) req.write(body.slice(i, i + 8192));
    req.end();
  });
}

describe('request body limits on /v1', () => {
  it('answers a body over maxRequestBytes with 413 in the OpenAI error shape, declared or chunked', async () => {
    const before = oa.received.length;
    const big = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(MAX_BYTES) }] });
    const expected = { error: { message: `the request body exceeds ${MAX_BYTES} bytes`, type: 'invalid_request_error', code: 'GH_REQUEST_TOO_LARGE', param: null } };
    for (const chunked of [false, true]) {
      const res = await rawPost(fast, '/v1/chat/completions', { authorization: `Bearer ${KEY}` }, big, chunked);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toEqual(expected);
    }
    // The openai SDK reads it as its own 413 error.
    const client = new OpenAI({ baseURL: `${fast.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(MAX_BYTES) }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('GH_REQUEST_TOO_LARGE');
    expect(oa.received.length).toBe(before);
  });

  it('answers a 100,000-deep body with 400 GH_REQUEST_TOO_DEEP in the OpenAI error shape', async () => {
    const before = oa.received.length;
    const body = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const res = await rawPost(fast, '/v1/chat/completions', { authorization: `Bearer ${KEY}` }, body, false);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: { message: 'the request body nests arrays and objects more than 128 levels deep', type: 'invalid_request_error', code: 'GH_REQUEST_TOO_DEEP', param: null } });
    expect(oa.received.length).toBe(before);
  });
});

/** The real SDK client, authenticated as the reader (read-only tools, two models). */
async function connect(gateway: Gateway, era: Era): Promise<Client> {
  const client = new Client({ name: 'protocol-test', version: '1.0.0' }, { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEY}` } } }));
  return client;
}

type Result = { isError?: boolean; content?: unknown; structuredContent?: unknown; _meta?: Record<string, unknown> };
const text = (r: Result) => ((r.content ?? []) as Array<{ text: string }>).map((c) => c.text).join('\n');
/** The result without what the 2026-07-28 era adds to every result's `_meta` (the server's identity). */
const withoutServerInfo = (r: Result): Result => {
  const { _meta, ...rest } = r;
  const { 'io.modelcontextprotocol/serverInfo': _info, ...meta } = _meta ?? {};
  return Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest;
};

const eras: Era[] = ['legacy', 'modern'];
const combos = paths.flatMap(([name, gateway]) => eras.map((era) => [`${name}, ${era} era`, gateway, era] as const));

describe.each(combos)('policy as the agent sees it (%s)', (_name, gateway, era) => {
  let client: Client;
  beforeAll(async () => {
    client = await connect(gateway(), era);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('lists only the tools the caller may call', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('stub_getItem');
    expect(names).not.toContain('stub_createItem');
    expect(names).not.toContain('stub_deleteItem');
    // The search-mode backend's meta-tools are described from the callable operations only.
    const search = tools.find((t) => t.name === 'found_search_operations')!;
    expect(search.description).toMatch(/^Search the 4 operations of /);
    expect(tools.find((t) => t.name === 'found_call_operation')!.annotations).toMatchObject({ destructiveHint: false });
  });

  it('search_operations finds only the operations the caller may call, and counts only those', async () => {
    const all = (await client.callTool({ name: 'found_search_operations', arguments: { query: '', limit: 50 } })) as Result;
    expect(all.structuredContent).toEqual({
      results: ['getItem', 'listItems', 'getStatus', 'slow'].map((n) => expect.objectContaining({ name: `found_${n}` }) as unknown),
      total: 4,
    });
    const create = (await client.callTool({ name: 'found_search_operations', arguments: { query: 'create item delete' } })) as Result;
    const hits = (create.structuredContent as { results: Array<{ name: string }> }).results.map((r) => r.name);
    expect(hits).not.toContain('found_createItem');
    expect(hits).not.toContain('found_deleteItem');
    expect(text(create)).not.toMatch(/createItem|deleteItem/);
  });

  it('describe_operation answers for a hidden operation exactly as for one that does not exist', async () => {
    const hidden = (await client.callTool({ name: 'found_describe_operation', arguments: { name: 'found_createItem' } })) as Result;
    expect(hidden.isError).toBe(true);
    expect(text(hidden)).toMatch(/^GH_TOOL_NOT_FOUND: No operation named "found_createItem" in backend "found"\./);
    expect(text(hidden)).not.toMatch(/Similar: .*(createItem|deleteItem)/);
    expect(hidden._meta?.['io.gatehouse/error']).toMatchObject({ code: 'GH_TOOL_NOT_FOUND', details: { name: 'found_createItem' } });
    const similar = (hidden._meta?.['io.gatehouse/error'] as { details: { similar: string[] } }).details.similar;
    expect(similar.filter((n) => /createItem|deleteItem/.test(n))).toEqual([]);
    const shown = (await client.callTool({ name: 'found_describe_operation', arguments: { name: 'found_getItem' } })) as Result;
    expect(shown.structuredContent).toMatchObject({ name: 'found_getItem', method: 'GET' });
  });

  it('a denied call carries its code and details as data in _meta; nothing is sent', async () => {
    const before = stub.received.length;
    const denied = (await client.callTool({ name: 'stub_createItem', arguments: { name: 'x' } })) as Result;
    expect(withoutServerInfo(denied)).toEqual({
      isError: true,
      content: [{ type: 'text', text: 'GH_POLICY_DENIED: tool "stub_createItem" is not allowed for this caller: no rule allows it (deny by default)' }],
      _meta: { 'io.gatehouse/error': { code: 'GH_POLICY_DENIED', details: { kind: 'tool', target: 'stub_createItem' } } },
    });
    const viaSearch = (await client.callTool({ name: 'found_call_operation', arguments: { name: 'found_createItem', arguments: { name: 'x' } } })) as Result;
    expect(viaSearch._meta?.['io.gatehouse/error']).toEqual({ code: 'GH_POLICY_DENIED', details: { kind: 'tool', target: 'found_createItem' } });
    expect(stub.received.length).toBe(before);
  });

  it('every other tool error carries its code in _meta too: invalid arguments, a backend error', async () => {
    const invalid = (await client.callTool({ name: 'stub_listItems', arguments: { limit: 0 } })) as Result;
    expect(invalid._meta?.['io.gatehouse/error']).toEqual({ code: 'GH_TOOL_ARGS_INVALID', details: { errors: [expect.stringContaining('limit') as unknown] } });
    stub.handle((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    });
    try {
      const failed = (await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } })) as Result;
      expect(withoutServerInfo(failed)).toEqual({
        isError: true,
        content: [{ type: 'text', text: 'GH_UPSTREAM_STATUS: HTTP 503 Service Unavailable: down' }],
        _meta: { 'io.gatehouse/error': { code: 'GH_UPSTREAM_STATUS', details: { status: 503 } } },
      });
    } finally {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"1","name":"same"}');
      });
    }
  });
});

describe('callers cannot create metric series', () => {
  it('labels model calls with names from the config only; any other model is one bounded value', async () => {
    const unrouted = async () => {
      const m = /^gatehouse_calls_total\{kind="model",backend="",target="\(unrouted\)",outcome="error"\} (\d+)$/m.exec(await (await fetch(`${fast.url}/metrics`)).text());
      return Number(m?.[1] ?? 0);
    };
    const unroutedBefore = await unrouted();
    const client = new OpenAI({ baseURL: `${fast.url}/v1`, apiKey: KEY, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await client.chat.completions.create({ model: 'claude-made-up-1', messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 20; i++) {
      const err = await client.chat.completions.create({ model: `attacker-${i}-${'x'.repeat(i)}`, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
    }
    const scrape = await (await fetch(`${fast.url}/metrics`)).text();
    const models = new Set([...scrape.matchAll(/^gatehouse_(?:calls_total\{kind="model"[^}]*target|llm_tokens_total\{[^}]*model)="([^"]*)"/gm)].map((m) => m[1]));
    expect([...models].sort()).toEqual(['(unrouted)', 'claude-*', 'gpt-4o']);
    expect(scrape).not.toContain('attacker-');
    expect(scrape).not.toContain('claude-made-up-1');
    expect((await unrouted()) - unroutedBefore).toBe(20);
  });
});

describe.each(paths)('a denied call on the wire, 2026-07-28 (%s)', (_name, gateway) => {
  it('is the same result with resultType and the server identity beside the error in _meta', async () => {
    const body = { jsonrpc: '2.0', id: 30, method: 'tools/call', params: { name: 'stub_createItem', arguments: { name: 'x' }, _meta: MODERN_ENVELOPE } };
    const res = await postMcp(gateway(), { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'stub_createItem' }, body);
    expect(res.status).toBe(200);
    expect(res.messages).toEqual([
      {
        jsonrpc: '2.0',
        id: 30,
        result: {
          resultType: 'complete',
          isError: true,
          content: [{ type: 'text', text: 'GH_POLICY_DENIED: tool "stub_createItem" is not allowed for this caller: no rule allows it (deny by default)' }],
          _meta: {
            'io.gatehouse/error': { code: 'GH_POLICY_DENIED', details: { kind: 'tool', target: 'stub_createItem' } },
            'io.modelcontextprotocol/serverInfo': { name: 'gatehouse', title: 'Gatehouse', version: expect.any(String) as unknown },
          },
        },
      },
    ]);
  });
});

describe.each(paths)('header values from tool arguments (%s)', (_name, gateway) => {
  let client: Client;
  beforeAll(async () => {
    client = await connect(gateway(), 'modern');
  });
  afterAll(async () => {
    await client?.close();
  });

  it.each([
    ['U+0085 (NEL)', 'a\u0085X-Injected: 1'],
    ['U+009B (CSI)', '\u009b31mred'],
  ])('refuses the C1 control %s as it refuses C0 ones; nothing is sent', async (_ch, value) => {
    const before = stub.received.length;
    const result = (await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', 'X-Trace': value } })) as Result;
    expect(result.isError).toBe(true);
    expect(text(result)).toBe(
      'GH_REQUEST_BUILD_FAILED: The value of argument "X-Trace" (header X-Trace) contains control characters (C0 or C1, U+0080–U+009F) or characters outside Latin-1, which cannot be sent in an HTTP header.',
    );
    expect(stub.received.length).toBe(before);
  });

  it('sends Latin-1 text above the C1 range as its bytes', async () => {
    await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', 'X-Trace': 'caf\u00e9' } });
    expect(Buffer.from(stub.received.at(-1)!.headers['x-trace'] as string, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  });

  it('forwards a header value of 8 KiB and refuses a longer one, naming the argument; nothing is sent', async () => {
    await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', 'X-Trace': 'y'.repeat(8192) } });
    expect(stub.received.at(-1)!.headers['x-trace']).toHaveLength(8192);
    const before = stub.received.length;
    const result = (await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1', 'X-Trace': 'y'.repeat(200_000) } })) as Result;
    expect(text(result)).toBe('GH_REQUEST_BUILD_FAILED: The value of argument "X-Trace" (header X-Trace) is 200000 characters long; a header value may be at most 8192 bytes (upstream.maxHeaderValueBytes).');
    expect(result._meta?.['io.gatehouse/error']).toEqual({ code: 'GH_REQUEST_BUILD_FAILED', details: { argument: 'X-Trace', maxBytes: 8192 } });
    expect(stub.received.length).toBe(before);
  });
});

describe('upstream.maxHeaderValueBytes', () => {
  it('is checked when the config is read, naming the field', () => {
    expect(() => testConfig('upstream: { maxHeaderValueBytes: 10 }\nbackends: []\n')).toThrow(/upstream\.maxHeaderValueBytes/);
    expect(testConfig('backends: []\n').upstream.maxHeaderValueBytes).toBe(8192);
  });
});
