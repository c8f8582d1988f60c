import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { connectClient, MODERN_ENVELOPE, startTestGateway } from '../helpers/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { sendRaw, type RawAnswer } from '../helpers/raw-http.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * A page on another site, or on another port of localhost, against a gateway on
 * the quick-start configuration (loopback bind, no `auth`). A browser sends a
 * "simple" cross-site POST without asking first (no CORS preflight) when its
 * Content-Type is text/plain, application/x-www-form-urlencoded or
 * multipart/form-data (Fetch standard §2.2.2). Sent here as the raw HTTP a
 * browser would send: refused with 415 in each protocol's error shape, and
 * nothing reaches the backend or the LLM.
 */

let gateway: Gateway;
let llm: FakeLLM;
let stub: StubBackend;
let own: string; // the gateway's own Host, 127.0.0.1:PORT

beforeAll(async () => {
  llm = await startFakeOpenAI();
  stub = await startStubBackend();
  gateway = await startTestGateway(
    `server: { host: 127.0.0.1, port: 0 }\nbackends:\n  - { name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }\n` +
      `ai:\n  targets:\n    fake: { provider: openai-compatible, baseUrl: "${llm.url}/v1" }\n  routes:\n    - { model: small, targets: [fake] }\n`,
    { STUB_URL: stub.url },
  );
  own = new URL(gateway.url).host;
});

afterAll(async () => {
  await gateway?.close();
  await llm?.close();
  await stub?.close();
});

/** One POST with exactly these headers (Host: the gateway's own unless given), as a browser would send it. */
const post = (path: string, headers: Record<string, string>, body: string): Promise<RawAnswer> => sendRaw(gateway.url, 'POST', path, { host: own, ...headers }, body);

const mcp = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'stub_getItem' };
const toolCall = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: '7' }, _meta: MODERN_ENVELOPE } });
const chat = JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'hi' }] });

const SIMPLE_TYPES = ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined];
const ORIGINS: Array<[string, Record<string, string>]> = [
  ['a foreign Origin', { origin: 'http://evil.example' }],
  ['another port of localhost', { origin: 'http://localhost:3000' }],
  ['no Origin', {}],
];
const CASES = SIMPLE_TYPES.flatMap((type) => ORIGINS.map(([what, origin]) => [type ?? '(none)', what, { ...(type === undefined ? {} : { 'content-type': type }), ...origin }] as const));

describe('a POST to /mcp or /v1 must be JSON: no simple cross-site request is acted on', () => {
  it.each(CASES)('/mcp refuses Content-Type %s with %s; the backend receives nothing', async (type, _origin, headers) => {
    const before = stub.received.length;
    const r = await post('/mcp', { ...mcp, ...headers }, toolCall);
    // A foreign Origin is refused first (403), whatever the type; without one, the type (415).
    if ('origin' in headers) {
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, data: { code: 'GH_HOST_NOT_ALLOWED' } } });
    } else {
      expect(r.status).toBe(415);
      expect(r.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, data: { code: 'GH_REQUEST_CONTENT_TYPE' } } });
      expect(r.body.error.message).toContain('application/json');
      if (type !== '(none)') expect(r.body.error.message).toContain(type.split(';')[0]!.toLowerCase());
    }
    expect(stub.received.length).toBe(before);
  });

  it.each(CASES)('/v1/chat/completions refuses Content-Type %s with %s; the LLM receives nothing', async (_type, _origin, headers) => {
    const before = llm.received.length;
    const r = await post('/v1/chat/completions', headers, chat);
    if ('origin' in headers) {
      expect(r).toMatchObject({ status: 403, body: { error: { code: 'GH_HOST_NOT_ALLOWED', type: 'permission_error' } } });
    } else {
      expect(r).toMatchObject({ status: 415, body: { error: { code: 'GH_REQUEST_CONTENT_TYPE', type: 'invalid_request_error', param: null } } });
    }
    expect(llm.received.length).toBe(before);
  });

  it.each(SIMPLE_TYPES)('/v1/embeddings refuses Content-Type %s without an Origin', async (type) => {
    const before = llm.received.length;
    const r = await post('/v1/embeddings', type === undefined ? {} : { 'content-type': type }, JSON.stringify({ model: 'small', input: 'hi' }));
    expect(r).toMatchObject({ status: 415, body: { error: { code: 'GH_REQUEST_CONTENT_TYPE' } } });
    expect(llm.received.length).toBe(before);
  });

  it('compares the whole Origin: JSON from another port of localhost is refused too', async () => {
    const stubBefore = stub.received.length;
    const llmBefore = llm.received.length;
    for (const origin of ['http://localhost:3000', `https://${own}`.replace(/:\d+$/, ':1'), 'http://127.0.0.1']) {
      const json = { 'content-type': 'application/json', origin };
      expect((await post('/mcp', { ...mcp, ...json }, toolCall)).status).toBe(403);
      expect((await post('/v1/chat/completions', json, chat)).status).toBe(403);
    }
    expect(stub.received.length).toBe(stubBefore);
    expect(llm.received.length).toBe(llmBefore);
  });

  it("serves JSON, with or without parameters, from programs and from the gateway's own origin", async () => {
    const stubBefore = stub.received.length;
    const llmBefore = llm.received.length;
    const ways: Array<Record<string, string>> = [{ 'content-type': 'application/json' }, { 'content-type': 'Application/JSON; charset=utf-8', origin: `http://${own}` }];
    for (const headers of ways) {
      const tool = await post('/mcp', { ...mcp, ...headers }, toolCall);
      expect(tool.status).toBe(200);
      expect(JSON.stringify(tool.body)).not.toContain('isError":true');
      expect((await post('/v1/chat/completions', headers, chat)).status).toBe(200);
    }
    expect(stub.received.length).toBe(stubBefore + 2);
    expect(llm.received.length).toBe(llmBefore + 2);
  });

  it('still serves the real clients: the MCP client and the openai SDK', async () => {
    const client = await connectClient(gateway.url, 'modern');
    try {
      const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '9' } });
      expect(result.isError).not.toBe(true);
      expect(stub.received.at(-1)?.url).toBe('/api/items/9');
    } finally {
      await client.close();
    }
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]?.message.content).toBeTypeOf('string');
    expect(llm.received.at(-1)?.path).toBe('/v1/chat/completions');
  });
});
