import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/server/gateway.js';
import { connectClient, startTestGateway } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * No spec and no request can freeze the process: hostile tool calls are
 * served by a real gateway in this process while `monitorEventLoopDelay`
 * watches its event loop, and each comes back as a tool error naming the
 * problem, with nothing sent to the backend. The bound is generous (a busy
 * 2-core machine, GC of a 4 MiB body); before the fixes these calls blocked
 * the loop for seconds (450,000 argument names in audit redaction) or hours
 * (`^(a+)+$` on a backtracking engine).
 */

// Generous: these requests take 20–90 ms of the loop here, and 0.86–3.3 s each (hours
// for `^(a+)+$`) without the bounds; each is measured as the best of up to three runs.
const MAX_DELAY_MS = 250;

let stub: StubBackend;
let fast: Gateway;
let sdkOnly: Gateway;
let client: Client;

// The body limit is raised so that ~450,000 names fit: the argument limits, not the body limit, must stop them.
const config = `
server: { host: 127.0.0.1, port: 0, maxRequestBytes: 8388608 }
rules:
  - allow: { tools: ["hostile_*"] }
  - deny: { tools: ["hostile_denied"] }
backends:
  - { name: hostile, spec: ./hostile-api.yaml, baseUrl: "\${STUB_URL}/api" }
`;

beforeAll(async () => {
  stub = await startStubBackend();
  fast = await startTestGateway(config, { STUB_URL: stub.url });
  sdkOnly = await startTestGateway(config, { STUB_URL: stub.url }, { disableFastPath: true });
  client = await connectClient(fast.url, 'modern');
});

afterAll(async () => {
  await client?.close();
  await fast?.close();
  await sdkOnly?.close();
  await stub?.close();
});

/** `{"0":0,"1":0,…}` with `n` names, serialised once, before the loop is watched. */
function manyNames(n: number): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) args[i.toString(36)] = 0;
  return args;
}

/** `{"tree":{"d":{"d":…}}}`, written as text: JSON.stringify itself overflows the stack at this depth. */
function nested(depth: number): string {
  return `{"tree":${'{"d":'.repeat(depth)}{}${'}'.repeat(depth)}}`;
}

/** A tools/call body, already serialised, so building it costs this loop nothing while it is watched. */
function callBody(name: string, args: unknown): string {
  const text = typeof args === 'string' ? args : JSON.stringify(args);
  return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${text}}}`;
}

/** POSTs a serialised tools/call (2025-11-25, which both paths serve) and returns its tool result. */
async function rawCall(gateway: Gateway, body: string): Promise<{ isError?: boolean; content: Array<{ text: string }> }> {
  const res = await fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body,
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  const json = text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: '))!.slice(6);
  return (JSON.parse(json) as { result: { isError?: boolean; content: Array<{ text: string }> } }).result;
}

/**
 * Runs `fn` while the loop is watched and returns the longest delay seen, in ms:
 * the best of up to three runs. A request whose handling blocks the loop blocks
 * it every time (the fixes' absence shows as 0.9–3 s, or hours, each run); a busy
 * 2-core machine can also stall the process once (another test's collection, the
 * scheduler), which a second run does not repeat.
 */
async function longestDelay(fn: () => Promise<void>): Promise<number> {
  let best = Infinity;
  for (let run = 0; run < 3 && best >= MAX_DELAY_MS; run++) {
    const h: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    try {
      await fn();
    } finally {
      h.disable();
    }
    best = Math.min(best, h.max / 1e6);
  }
  return best;
}

const hostile: Array<[string, string, RegExp]> = [
  ['a catastrophic pattern against a 40-character argument', callBody('hostile_named', { name: `${'a'.repeat(39)}!` }), /^GH_TOOL_ARGS_INVALID[^]*name: must match pattern/],
  ['a catastrophic pattern against a 1 MiB argument', callBody('hostile_named', { name: `${'a'.repeat(1_048_000)}!` }), /^GH_TOOL_ARGS_INVALID[^]*name: must match pattern/],
  ['~450,000 argument names on a denied call', callBody('hostile_denied', manyNames(450_000)), /^GH_TOOL_ARGS_TOO_LARGE[^]*mcp\.arguments\.maxKeys/],
  ['~450,000 argument names on an allowed call', callBody('hostile_named', manyNames(450_000)), /^GH_TOOL_ARGS_TOO_LARGE[^]*mcp\.arguments\.maxKeys/],
  // Deeper than mcp.arguments.maxDepth, within the body's own nesting limit (128; deeper is refused whole, below).
  ['arguments nested 120 deep', callBody('hostile_named', nested(120)), /^GH_TOOL_ARGS_TOO_LARGE[^]*tree(\.d)+: [^]*mcp\.arguments\.maxDepth/],
  ['an array of 1,000,000 elements', callBody('hostile_named', { tags: new Array(1_000_000).fill(0) }), /^GH_TOOL_ARGS_TOO_LARGE[^]*tags: [^]*mcp\.arguments\.maxArrayLength/],
  ['10,000 wrong array elements (within the limits)', callBody('hostile_named', { tags: new Array(10_000).fill(0) }), /^GH_TOOL_ARGS_INVALID[^]*tags\[0\]: must be string[^]*and \d+ more/],
];

describe.each([
  ['the fast path', () => fast],
  ['the SDK path', () => sdkOnly],
])('hostile tool calls on %s', (_path, gateway) => {
  // Each request once, unwatched: what is measured is what a request costs, not
  // what the first one costs (lazy modules, a first validator compile, cold code).
  beforeAll(async () => {
    for (const [, body] of hostile) await rawCall(gateway(), body);
  });

  it.each(hostile)('%s: a tool error naming the problem, nothing sent, the loop never blocked', async (_name, body, expected) => {
    const before = stub.received.length;
    let result: Awaited<ReturnType<typeof rawCall>> | undefined;
    const delay = await longestDelay(async () => {
      result = await rawCall(gateway(), body);
    });
    expect(result!.isError).toBe(true);
    expect(result!.content[0]!.text).toMatch(expected);
    expect(stub.received.length).toBe(before);
    expect(delay).toBeLessThan(MAX_DELAY_MS);
  });
});

describe.each([
  ['the fast path', () => fast],
  ['the SDK path', () => sdkOnly],
])('a hostile request envelope on %s', (_path, gateway) => {
  const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":${JSON.stringify(manyNames(450_000))}}}`;

  it('~450,000 names in _meta: refused whole (413, -32600) without parsing, the loop never blocked', async () => {
    let status = 0;
    let answer: { error?: { code: number; message: string } } = {};
    const delay = await longestDelay(async () => {
      const res = await fetch(`${gateway().url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
        body,
      });
      status = res.status;
      answer = (await res.json()) as typeof answer;
    });
    expect(status).toBe(413);
    expect(answer.error).toEqual({
      code: -32600,
      message: 'Request too large: params._meta: more than 10000 object members in all (mcp.arguments.maxKeys)',
      data: { code: 'GH_REQUEST_TOO_LARGE', limit: 'params._meta: more than 10000 object members in all (mcp.arguments.maxKeys)' },
    });
    expect(delay).toBeLessThan(MAX_DELAY_MS);
  });

  it('a body nested 200,000 deep: refused whole (400 GH_REQUEST_TOO_DEEP) before parsing, the loop never blocked', async () => {
    const deep = callBody('hostile_named', nested(200_000));
    const before = stub.received.length;
    let status = 0;
    let answer: { error?: { code: number; data?: { code?: string } } } = {};
    const delay = await longestDelay(async () => {
      const res = await fetch(`${gateway().url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
        body: deep,
      });
      status = res.status;
      answer = (await res.json()) as typeof answer;
    });
    expect(status).toBe(400);
    expect(answer.error).toMatchObject({ code: -32600, data: { code: 'GH_REQUEST_TOO_DEEP' } });
    expect(stub.received.length).toBe(before);
    expect(delay).toBeLessThan(MAX_DELAY_MS);
  });
});

describe('hostile tool calls from the MCP client', () => {
  it('answers a catastrophic pattern at once, naming the field', async () => {
    let text = '';
    const delay = await longestDelay(async () => {
      const result = await client.callTool({ name: 'hostile_named', arguments: { name: `${'a'.repeat(39)}!` } });
      expect(result.isError).toBe(true);
      text = (result.content as Array<{ text: string }>)[0]!.text;
    });
    expect(text).toMatch(/^GH_TOOL_ARGS_INVALID[^]*name: must match pattern "\^\(a\+\)\+\$"/);
    expect(delay).toBeLessThan(MAX_DELAY_MS);
  });

  it('still serves an argument that matches', async () => {
    stub.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    const result = await client.callTool({ name: 'hostile_named', arguments: { name: 'a'.repeat(40) } });
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(stub.received.at(-1)!.body.toString())).toEqual({ name: 'a'.repeat(40) });
  });
});
