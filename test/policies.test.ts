import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import type { Gateway } from '../src/server/gateway.js';
import { defaultOpenAIScript, openai as openaiFake, startFakeOpenAI, type FakeLLM, type FakeReceived } from './helpers/fake-llm.js';
import { FIXTURES, startGatewayFrom, startTestGateway, type Era } from './helpers/gateway.js';
import { connectWith, sha256Hex, storedAudit, text } from './helpers/pipeline.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * `policies[]` end to end: one chain serves tool calls (the real MCP client)
 * and model calls (the official openai SDK), and each instance listed there
 * does its work on both. Every assertion is on what crossed a wire — what the
 * stub backend and the fake provider received, what the clients got back —
 * or on what the audit trail stored.
 *
 * Conditions are CEL (policy/cel.ts); the ones here read API keys' `groups`.
 */

const keyOf = (id: string) => `policies-test-key-${id}`;
/** API keys: `groups` are what `when:` conditions read. */
const KEYS: Array<{ id: string; groups?: string[] }> = [
  { id: 'premium', groups: ['premium'] },
  { id: 'free', groups: ['free'] },
  { id: 'tokens-a' },
  { id: 'tokens-b' },
  { id: 'budget' },
  { id: 'plain' },
];

/** Answers of the fake provider for `spend N`: usage of N tokens (N-1 in, 1 out), so a test decides what a call costs. */
function spendScript(req: FakeReceived) {
  const body = req.body as { messages?: Array<{ content?: unknown }>; stream?: boolean };
  const last = body.messages?.at(-1)?.content;
  const m = typeof last === 'string' ? /^spend (\d+)$/.exec(last) : null;
  if (req.path !== '/v1/chat/completions' || m === null || body.stream === true) return defaultOpenAIScript(req);
  const n = Number(m[1]);
  return openaiFake.completion({ text: ['ok'], usage: { prompt_tokens: n - 1, completion_tokens: 1 } });
}

const SECRET = 'sk-abcd1234';
const PRIVATE_KEY = '-----BEGIN RSA PRIVATE KEY-----';

const gatewayConfig = `
server: { host: 127.0.0.1, port: 0 }
auth:
  apiKeys:
${KEYS.map((k) => `    - { id: ${k.id}, sha256: "${sha256Hex(keyOf(k.id))}"${k.groups ? `, groups: [${k.groups.join(', ')}]` : ''} }`).join('\n')}
rules:
  - allow: { tools: [stub_getItem, stub_listItems] }
  - allow: { tools: [stub_createItem] }
    when: "'premium' in principal.groups"
  - allow: { models: ["*"] }
policies:
  # Stacked token windows: a call must fit both.
  - rateLimit: { name: tokens-per-minute, key: [principal], limit: 20, window: 1m, cost: tokens, match: { models: [windowed] } }
  - rateLimit: { name: tokens-per-hour, key: [principal], limit: 100, window: 1h, cost: tokens, match: { models: [windowed] } }
  # Only the free tier is limited on tools.
  - rateLimit: { name: free-tier, key: [principal], limit: 2, window: 1m, match: { tools: ["stub_*"] }, when: "'free' in principal.groups" }
  - budget: { name: tiny, per: day, limitUsd: 0.000001, match: { models: [budgeted] } }
  - guard: { blockedPatterns: ["-----BEGIN [A-Z ]*PRIVATE KEY-----"] }
  - redact: { patterns: ["sk-[a-z0-9]{8}"] }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
ai:
  targets:
    fake: { provider: openai-compatible, baseUrl: "\${LLM_URL}/v1", apiKey: upstream-key }
  routes:
    - { model: windowed, targets: [fake] }
    - { model: budgeted, targets: [fake] }
    - { model: plain, targets: [fake] }
  retry: { attempts: 1, backoffMs: 1, deadlineMs: 10000 }
  prices:
    budgeted: { input: 1, output: 1, cache_read: 1, cache_write: 1 }
`;

let stub: StubBackend;
let llm: FakeLLM;
beforeAll(async () => {
  stub = await startStubBackend();
  llm = await startFakeOpenAI();
});
afterAll(async () => {
  await stub?.close();
  await llm?.close();
});
beforeEach(() => {
  llm.script = spendScript;
  // The stub's default: 200 JSON, as the tools' output schemas allow.
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1","name":"hammer"}');
  });
});

/** The `_meta["io.gatehouse/error"]` of a tool result. */
const errorMeta = (r: { _meta?: unknown }) => (r._meta as Record<string, { code: string; details?: Record<string, unknown> }> | undefined)?.['io.gatehouse/error'];

/** Runs `call` and returns the APIError it must reject with (the openai SDK's, with status, code and headers). */
async function refusal(call: Promise<unknown>): Promise<APIError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof APIError) return err;
    throw err;
  }
  throw new Error('the call succeeded; a refusal was expected');
}

describe.each<[string, boolean, Era]>([
  ['fast path, 2026-07-28 client', false, 'modern'],
  ['SDK path, 2025-11-25 client', true, 'legacy'],
])('policies[] on one gateway, for tool calls and model calls (%s)', (_name, disableFastPath, era) => {
  let gateway: Gateway;
  const clients: Client[] = [];
  const ai = (id: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: keyOf(id), maxRetries: 0 });
  const mcp = async (id: string): Promise<Client> => {
    const client = await connectWith(gateway, era, { authorization: `Bearer ${keyOf(id)}` });
    clients.push(client);
    return client;
  };
  const chats = () => llm.received.filter((r) => r.path === '/v1/chat/completions');
  const user = (content: string) => [{ role: 'user' as const, content }];

  beforeAll(async () => {
    gateway = await startTestGateway(gatewayConfig, { STUB_URL: stub.url, LLM_URL: llm.url }, { disableFastPath });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await gateway?.close();
  });

  it('runs one chain, in its order, with the instances policies[] adds', () => {
    expect(gateway.runtime.chain.stages).toEqual(['authenticate', 'authorize', 'rateLimit', 'budget', 'validate', 'guard', 'redact', 'protect', 'forward']);
  });

  describe('stacked token windows (two rateLimit instances, cost: tokens)', () => {
    it('allows model calls until the per-minute window is spent, then 429 naming it, with RateLimit headers; the provider never sees the refused call', async () => {
      const client = ai('tokens-a');
      const before = chats().length;
      // 8 tokens a call: 8, 16, then 24 (a call may overshoot once; the next is refused).
      for (let i = 0; i < 3; i++) expect((await client.chat.completions.create({ model: 'windowed', messages: user('spend 8'), max_tokens: 1 })).choices[0]!.message.content).toBe('ok');
      expect(chats().length).toBe(before + 3);

      const err = await refusal(client.chat.completions.create({ model: 'windowed', messages: user('spend 8'), max_tokens: 1 }));
      expect(err.status).toBe(429);
      expect(err.code).toBe('GH_RATE_LIMITED');
      expect(err.type).toBe('rate_limit_error');
      expect(err.message).toContain('rate limit "tokens-per-minute" reached');
      const retryAfter = Number(err.headers?.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(err.headers?.get('ratelimit-policy')).toBe('"tokens-per-minute";q=20;w=60');
      expect(err.headers?.get('ratelimit')).toBe(`"tokens-per-minute";r=0;t=${retryAfter}`);
      expect(chats().length).toBe(before + 3);

      const outcomes = (await storedAudit(gateway, { principal: 'tokens-a' })).map((r) => [r.outcome, r.errorCode ?? null]);
      expect(outcomes).toEqual([['limited', 'GH_RATE_LIMITED'], ['ok', null], ['ok', null], ['ok', null]]);
    });

    it('a call that spends both windows is refused by the one that keeps the caller waiting longest: the per-hour window', async () => {
      const client = ai('tokens-b');
      const before = chats().length;
      await client.chat.completions.create({ model: 'windowed', messages: user('spend 150'), max_tokens: 1 });
      const err = await refusal(client.chat.completions.create({ model: 'windowed', messages: user('spend 1'), max_tokens: 1 }));
      expect(err.status).toBe(429);
      expect(err.code).toBe('GH_RATE_LIMITED');
      expect(err.message).toContain('rate limit "tokens-per-hour" reached');
      // The hour's window, not the minute's: waiting a minute would be refused again.
      expect(Number(err.headers?.get('retry-after'))).toBeGreaterThan(60);
      expect(err.headers?.get('ratelimit-policy')).toBe('"tokens-per-hour";q=100;w=3600');
      expect(chats().length).toBe(before + 1);
    });
  });

  describe('when: scopes an instance or a rule to some callers (tool calls through the MCP client)', () => {
    it('a rateLimit with when: limits the free tier and not the premium caller', async () => {
      const free = await mcp('free');
      const premium = await mcp('premium');
      const before = stub.received.length;
      const getItem = (c: Client) => c.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      for (let i = 0; i < 2; i++) expect((await getItem(free)).isError, `free call ${i + 1}`).toBeFalsy();
      const limited = await getItem(free);
      expect(limited.isError).toBe(true);
      expect(text(limited)).toMatch(/^GH_RATE_LIMITED: rate limit "free-tier" reached; retry after \d+ s$/);
      expect(errorMeta(limited)).toMatchObject({ code: 'GH_RATE_LIMITED', details: { rule: 'free-tier' } });
      // The premium caller's calls are not counted by the rule at all.
      for (let i = 0; i < 4; i++) expect((await getItem(premium)).isError, `premium call ${i + 1}`).toBeFalsy();
      expect(stub.received.length).toBe(before + 6);
    });

    it('a rules[] entry with when: lets premium callers see and call a tool that others neither see nor reach', async () => {
      const free = await mcp('free');
      const premium = await mcp('premium');
      const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);
      expect(await names(premium)).toContain('stub_createItem');
      expect(await names(free)).not.toContain('stub_createItem');
      expect(await names(free)).toContain('stub_getItem');

      const before = stub.received.length;
      const denied = await free.callTool({ name: 'stub_createItem', arguments: { name: 'saw' } });
      expect(denied.isError).toBe(true);
      expect(errorMeta(denied)?.code).toBe('GH_POLICY_DENIED');
      expect(stub.received.length).toBe(before);
      expect((await premium.callTool({ name: 'stub_createItem', arguments: { name: 'saw' } })).isError).toBeFalsy();
      expect(stub.received.slice(before).map((r) => `${r.method} ${r.url} ${r.body.toString()}`)).toEqual(['POST /api/items {"name":"saw"}']);
    });
  });

  describe('one guard instance guards tool arguments and prompts', () => {
    it('refuses a tool call whose string argument matches, naming the argument; the backend receives nothing', async () => {
      const client = await mcp('premium');
      const before = stub.received.length;
      const top = await client.callTool({ name: 'stub_createItem', arguments: { name: `key ${PRIVATE_KEY} here` } });
      expect(top.isError).toBe(true);
      expect(errorMeta(top)).toEqual({ code: 'GH_TOOL_GUARD_BLOCKED', details: { limit: 'blockedPatterns', patternIndex: 0, path: 'name' } });
      // Nested strings too, named by their path; the message never quotes what matched.
      const nested = await client.callTool({ name: 'stub_listItems', arguments: { tag: ['tools', PRIVATE_KEY.toLowerCase()] } });
      expect(nested.isError).toBe(true);
      expect(errorMeta(nested)).toMatchObject({ code: 'GH_TOOL_GUARD_BLOCKED', details: { path: 'tag[1]' } });
      expect(text(nested)).not.toMatch(/private key/i);
      expect(stub.received.length).toBe(before);
      // A clean call passes the same guard.
      expect((await client.callTool({ name: 'stub_listItems', arguments: { tag: ['tools'] } })).isError).toBeFalsy();
      expect(stub.received.length).toBe(before + 1);
      const records = await storedAudit(gateway, { principal: 'premium', tool: 'stub_createItem' });
      expect(records.find((r) => r.errorCode === 'GH_TOOL_GUARD_BLOCKED')).toBeDefined();
    });

    it('refuses a chat completion whose prompt matches: 400 GH_AI_GUARD_BLOCKED; the provider receives nothing', async () => {
      const before = chats().length;
      const err = await refusal(ai('plain').chat.completions.create({ model: 'plain', messages: user(`my key: ${PRIVATE_KEY}`) }));
      expect(err.status).toBe(400);
      expect(err.code).toBe('GH_AI_GUARD_BLOCKED');
      expect(err.message).not.toContain('PRIVATE KEY');
      expect(chats().length).toBe(before);
      expect((await ai('plain').chat.completions.create({ model: 'plain', messages: user('hello') })).choices[0]!.message.content).toBe('Hello');
      expect(chats().length).toBe(before + 1);
    });
  });

  describe('one redact instance rewrites tool results and model answers', () => {
    it('redacts a tool result: its text content and its structuredContent (the tool has an output schema)', async () => {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: '1', name: `token ${SECRET} inside` }));
      });
      const client = await mcp('premium');
      const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      expect(result.isError).toBeFalsy();
      expect(text(result)).toContain('token [REDACTED] inside');
      expect(text(result)).not.toContain(SECRET);
      expect(result.structuredContent).toEqual({ id: '1', name: 'token [REDACTED] inside' });
    });

    it('redacts a chat completion answer, JSON and streamed (a secret split across chunks too)', async () => {
      llm.script = (req) =>
        (req.body as { stream?: boolean }).stream === true
          ? openaiFake.stream({ text: ['your key: sk-ab', 'cd12', '34 ok'], includeUsage: true })
          : openaiFake.completion({ text: [`key ${SECRET} here`] });
      const client = ai('plain');
      const json = await client.chat.completions.create({ model: 'plain', messages: user('key?') });
      expect(json.choices[0]!.message.content).toBe('key [REDACTED] here');
      let streamed = '';
      for await (const chunk of await client.chat.completions.create({ model: 'plain', messages: user('key?'), stream: true })) streamed += chunk.choices[0]?.delta.content ?? '';
      expect(streamed).toBe('your key: [REDACTED] ok');
    });
  });

  describe('a budget instance', () => {
    it('refuses model calls once spent: 429 insufficient_quota, GH_AI_BUDGET_EXCEEDED naming it; the provider sees only the first call', async () => {
      const client = ai('budget');
      const before = chats().length;
      await client.chat.completions.create({ model: 'budgeted', messages: user('spend 10') });
      const err = await refusal(client.chat.completions.create({ model: 'budgeted', messages: user('spend 10') }));
      expect(err.status).toBe(429);
      expect(err.code).toBe('GH_AI_BUDGET_EXCEEDED');
      expect(err.type).toBe('insufficient_quota');
      expect(err.message).toContain('budget "tiny"');
      expect(chats().length).toBe(before + 1);
      // Another model is outside the budget's match: still served.
      expect((await client.chat.completions.create({ model: 'plain', messages: user('hi') })).choices[0]!.message.content).toBe('Hello');
    });
  });

  it('validates tool arguments by default: a call that fails the schema never reaches the backend', async () => {
    const client = await mcp('premium');
    const before = stub.received.length;
    const r = await client.callTool({ name: 'stub_createItem', arguments: { name: '', quantity: -1 } });
    expect(r.isError).toBe(true);
    expect(errorMeta(r)?.code).toBe('GH_TOOL_ARGS_INVALID');
    expect(stub.received.length).toBe(before);
  });
});

describe('a token window without match', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
policies:
  - rateLimit: { name: tokens-per-minute, key: [principal], limit: 20, window: 1m, cost: tokens }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
ai:
  targets:
    fake: { provider: openai-compatible, baseUrl: "\${LLM_URL}/v1" }
  routes:
    - { model: plain, targets: [fake] }
`,
      { STUB_URL: stub.url, LLM_URL: llm.url },
    );
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("once spent by model calls, refuses the next model call but not the caller's tool calls (they spend no tokens)", async () => {
    const ai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await ai.chat.completions.create({ model: 'plain', messages: [{ role: 'user', content: 'spend 30' }], max_tokens: 1 });
    expect((await refusal(ai.chat.completions.create({ model: 'plain', messages: [{ role: 'user', content: 'spend 1' }], max_tokens: 1 }))).code).toBe('GH_RATE_LIMITED');
    const client = await connectWith(gateway, 'modern');
    try {
      const before = stub.received.length;
      const r = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      expect(errorMeta(r)).toBeUndefined();
      expect(r.isError).toBeFalsy();
      expect(stub.received.length).toBe(before + 1);
    } finally {
      await client.close();
    }
  });
});

describe('validate: false', () => {
  let gateway: Gateway;
  let client: Client;
  beforeAll(async () => {
    gateway = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
policies:
  - validate: false
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
      { STUB_URL: stub.url },
    );
    client = await connectWith(gateway, 'modern');
  });
  afterAll(async () => {
    await client?.close();
    await gateway?.close();
  });

  it('sends a tool call whose arguments fail the schema to the backend, which answers for itself', async () => {
    stub.handle((_req, res) => {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end('{"error":"name must not be empty"}');
    });
    const before = stub.received.length;
    const r = await client.callTool({ name: 'stub_createItem', arguments: { name: '', quantity: -1 } });
    expect(stub.received.slice(before).map((s) => `${s.method} ${s.url} ${s.body.toString()}`)).toEqual(['POST /api/items {"name":"","quantity":-1}']);
    // The backend's own refusal is what the agent reads.
    expect(r.isError).toBe(true);
    expect(errorMeta(r)).toMatchObject({ code: 'GH_UPSTREAM_STATUS', details: { status: 422 } });
    expect(text(r)).toContain('name must not be empty');
  });
});

describe('policies[] out of the chain order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policies-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `server: { host: 127.0.0.1, port: 0 }
backends:
  - { name: stub, spec: ${join(FIXTURES, 'stub-api.yaml')} }
policies:
  - rateLimit: { name: per-caller, limit: 10, window: 1m }
  - guard: { blockedPatterns: ["secret"] }
  - rateLimit: { name: per-hour, limit: 100, window: 1h }
`,
  );

  // `gatehouse validate` reports it the same way (test/cli.test.ts).
  it('the gateway refuses to start, naming the file, the entry, what it runs before and the order', async () => {
    const config = loadConfig(file);
    await expect(startGatewayFrom(config)).rejects.toMatchObject({
      code: 'GH_CONFIG_INVALID',
      message: expect.stringMatching(/\.yaml: policies\[2\]: rateLimit is listed after guard, but runs before it; list instances in the chain's order: authenticate → authorize → rateLimit → .* → forward$/),
      details: { field: 'policies[2]' },
    });
  });
});

describe('a bad pattern in policies[] or ai.guards', () => {
  const start = (sections: string) => startTestGateway(`server: { host: 127.0.0.1, port: 0 }\nbackends: []\n${sections}`);
  const ai = 'ai:\n  targets: { fake: { provider: openai-compatible, baseUrl: "http://127.0.0.1:9/v1" } }\n  routes: [{ model: m, targets: [fake] }]\n';

  it.each([
    ['a guard pattern that does not compile', 'policies:\n  - guard: { blockedPatterns: ["ok", "(unclosed"] }\n', /\.yaml: policies\[0\]\.guard\.blockedPatterns\[1\] is not a valid regular expression: /],
    ['a redact pattern that does not compile', 'policies:\n  - guard: { maxChars: 100 }\n  - redact: { patterns: ["ok", "(unclosed"] }\n', /\.yaml: policies\[1\]\.redact\.patterns\[1\] is not a valid regular expression: /],
    ['a redact pattern that matches the empty string', 'policies:\n  - redact: { patterns: ["x*"] }\n', /\.yaml: policies\[0\]\.redact\.patterns\[0\] matches the empty string$/],
    ['an ai.guards redact pattern that does not compile', `${ai}  guards: { redactPatterns: ["(unclosed"] }\n`, /\.yaml: ai\.guards\.redactPatterns\[0\] is not a valid regular expression: /],
  ])('%s stops the start, naming the file and the pattern', async (_name, sections, message) => {
    await expect(start(sections)).rejects.toMatchObject({ code: 'GH_CONFIG_INVALID', message: expect.stringMatching(message) });
  });
});
