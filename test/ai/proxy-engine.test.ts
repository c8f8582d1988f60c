/**
 * The ai-proxy engine against real fake upstreams on port 0 (no mocks): what crossed the
 * wire to each provider, what comes back to the caller, and how retries, fallback,
 * cooldown, deadlines and aborts behave.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AiConfig, AiTargetConfig } from '../../src/config/schema.js';
import { ProviderError, type ChatCompletionChunk, type ChatCompletionRequest } from '../../src/ai/openai-types.js';
import type { Principal } from '../../src/call/context.js';
import { createAiProxy, retryAfter, type AiProxy, type ChatOutcome, type StreamEnd } from '../../src/ai/engine/proxy.js';
import { anthropic, defaultAnthropicScript, defaultOpenAIScript, openai, startFakeAnthropic, startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { startFakeOllama, type FakeOllama } from '../helpers/fake-ollama.js';

let oa: FakeLLM;
let ob: FakeLLM;
let an: FakeLLM;
let ol: FakeOllama;
const proxies: AiProxy[] = [];

beforeAll(async () => {
  [oa, ob, an, ol] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeAnthropic(), startFakeOllama()]);
});
afterAll(async () => {
  await Promise.all([oa.close(), ob.close(), an.close(), ol.close()]);
});
beforeEach(() => {
  for (const f of [oa, ob]) {
    f.received.length = 0;
    f.script = defaultOpenAIScript;
    f.aborted = 0;
  }
  an.received.length = 0;
  an.script = defaultAnthropicScript;
  an.aborted = 0;
  ol.received.length = 0;
  ol.script({});
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

type TargetSpec = Partial<AiTargetConfig> & Pick<AiTargetConfig, 'provider'>;

function proxyFor(
  targets: Record<string, TargetSpec>,
  routes: Array<{ model: string; aliases?: string[]; targets: string[]; when?: string }>,
  over: { retry?: Partial<AiConfig['retry']>; cooldown?: Partial<AiConfig['cooldown']> } = {},
): AiProxy {
  const config: AiConfig = {
    targets: Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, { timeoutMs: 10_000, maxTokens: 1024, ...t }])),
    routes: routes.map((r) => ({ aliases: [], ...r })),
    retry: { attempts: 1, backoffMs: 5, deadlineMs: 10_000, ...over.retry },
    cooldown: { failures: 100, ms: 60_000, ...over.cooldown },
    budgetStore: 'memory',
    budgets: [],
    guards: {},
  };
  const p = createAiProxy(config);
  proxies.push(p);
  return p;
}

const ctx = (signal: AbortSignal = new AbortController().signal) => ({ signal });
const ask = (model: string, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({ model, messages: [{ role: 'user', content: 'Hi' }], ...extra });

type Item = ChatCompletionChunk | StreamEnd;
function asStream(o: ChatOutcome): Extract<ChatOutcome, { kind: 'stream' }> {
  if (o.kind !== 'stream') throw new Error(`expected a stream, got ${o.kind}`);
  return o;
}
async function collect(o: ChatOutcome): Promise<{ head: ChatCompletionChunk[]; rest: Item[]; all: Item[] }> {
  const s = asStream(o);
  const rest: Item[] = [];
  for await (const item of s.rest) rest.push(item);
  return { head: s.head, rest, all: [...s.head, ...rest] };
}
const isChunk = (i: Item): i is ChatCompletionChunk => 'object' in i;
const textOf = (items: Item[]): string =>
  items
    .filter(isChunk)
    .flatMap((c) => c.choices.map((ch) => ch.delta.content ?? ''))
    .join('');
async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a rejection');
}
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('routing', () => {
  it('resolves exact names and aliases before globs, lists names then glob patterns, 404s unknown models', async () => {
    const p = proxyFor(
      { o: { provider: 'openai', baseUrl: 'http://127.0.0.1:1/v1', model: 'gpt-4o-2024' }, l: { provider: 'ollama' } },
      [
        { model: 'llama*', targets: ['l'] },
        { model: 'gpt-4o', aliases: ['fast', 'llama-special'], targets: ['o'] },
      ],
    );
    expect(p.resolve('llama3.1')).toEqual({ route: 'llama*', targets: [{ name: 'l', provider: 'ollama', model: 'llama3.1', baseUrl: 'http://127.0.0.1:11434' }] });
    expect(p.resolve('llama-special')?.route).toBe('gpt-4o');
    expect(p.resolve('fast')?.targets[0]?.model).toBe('gpt-4o-2024');
    expect(p.resolve('claude')).toBeUndefined();
    expect(p.models()).toEqual(['gpt-4o', 'fast', 'llama-special', 'llama*']);
    const err = await rejection(p.chat(ask('claude'), ctx()));
    expect(err.status).toBe(404);
    expect(err.body.error.code).toBe('model_not_found');
  });

  it('refuses a route naming an unknown target and an openai-compatible target without baseUrl', () => {
    expect(() => proxyFor({ o: { provider: 'openai' } }, [{ model: 'm', targets: ['nope'] }])).toThrow(/ai\.routes\[0\]\.targets\[0\]/);
    expect(() => proxyFor({ c: { provider: 'openai-compatible' } }, [{ model: 'm', targets: ['c'] }])).toThrow(/ai\.targets\.c\.baseUrl/);
  });

  describe('by caller (ai.routes[].when)', () => {
    const premium: Principal = { id: 'alice', kind: 'api-key', scopes: [], groups: ['staff', 'premium'] };
    const standard: Principal = { id: 'bob', kind: 'api-key', groups: ['staff'] };
    const acme: Principal = { id: 'u1', kind: 'jwt', claims: { tenant: 'acme', tier: 2 } };
    const targets = {
      big: { provider: 'openai', baseUrl: 'http://127.0.0.1:1/v1', model: 'gpt-4o' },
      small: { provider: 'openai', baseUrl: 'http://127.0.0.1:2/v1', model: 'gpt-4o-mini' },
      acme: { provider: 'openai', baseUrl: 'http://127.0.0.1:3/v1' },
    } satisfies Record<string, TargetSpec>;
    const served = (p: AiProxy, model: string, caller?: Principal): string | undefined => p.resolve(model, caller)?.targets.map((t) => t.name).join(',');

    it('the first route for the model whose condition holds serves; a route without when always holds; no caller: only routes without when', () => {
      const p = proxyFor(targets, [
        { model: 'gpt-4o', aliases: ['best'], targets: ['big'], when: `'premium' in principal.groups` },
        { model: 'gpt-4o', aliases: ['best'], targets: ['small'] },
        { model: 'gpt-4o', targets: ['acme'], when: 'true' },
      ]);
      expect(served(p, 'gpt-4o', premium)).toBe('big');
      expect(served(p, 'best', premium)).toBe('big');
      expect(served(p, 'gpt-4o', standard)).toBe('small');
      expect(served(p, 'best', standard)).toBe('small');
      expect(served(p, 'gpt-4o')).toBe('small');
      // Both routes are labelled by their model, as written.
      expect(p.resolve('gpt-4o', premium)?.route).toBe('gpt-4o');
    });

    it('config order decides among conditional routes; a caller no route holds for gets no route (404 model_not_found)', async () => {
      const p = proxyFor(targets, [
        { model: 'gpt-4o', targets: ['acme'], when: `has(principal.claims.tenant) && principal.claims.tenant == 'acme'` },
        { model: 'gpt-4o', targets: ['big'], when: `'premium' in principal.groups || principal.kind == 'jwt'` },
      ]);
      expect(served(p, 'gpt-4o', acme)).toBe('acme');
      expect(served(p, 'gpt-4o', { ...acme, claims: { tenant: 'globex' } })).toBe('big');
      expect(served(p, 'gpt-4o', premium)).toBe('big');
      expect(served(p, 'gpt-4o', standard)).toBeUndefined();
      expect(served(p, 'gpt-4o')).toBeUndefined();
      const err = await rejection(p.chat(ask('gpt-4o'), { ...ctx(), caller: standard }));
      expect(err.status).toBe(404);
      expect(err.body.error.code).toBe('model_not_found');
    });

    it('a claim the token lacks does not hold (no-match), so the next route serves', () => {
      const p = proxyFor(targets, [
        { model: 'gpt-*', targets: ['acme'], when: `principal.claims.tier >= 2` },
        { model: 'gpt-*', targets: ['small'] },
      ]);
      expect(served(p, 'gpt-4o', acme)).toBe('acme');
      expect(served(p, 'gpt-4o', { ...acme, claims: { tier: 1 } })).toBe('small');
      expect(served(p, 'gpt-4o', premium)).toBe('small');
    });

    it('routes naming the model come before glob routes; the condition sees the requested model and the route', () => {
      const p = proxyFor(targets, [
        { model: 'gpt-*', targets: ['big'], when: `call.model.endsWith('-turbo') && call.backend == 'gpt-*' && call.kind == 'model'` },
        { model: 'gpt-4o', targets: ['acme'], when: `'premium' in principal.groups` },
        { model: 'gpt-*', targets: ['small'] },
      ]);
      expect(served(p, 'gpt-4o', premium)).toBe('acme');
      expect(served(p, 'gpt-4o', standard)).toBe('small');
      expect(served(p, 'gpt-4-turbo', standard)).toBe('big');
      expect(p.resolve('gpt-4o', standard)?.route).toBe('gpt-*');
    });

    it('models(caller) lists what that caller may request; models() lists every routed name', () => {
      const p = proxyFor(targets, [
        { model: 'gpt-4o', aliases: ['best'], targets: ['big'], when: `'premium' in principal.groups` },
        { model: 'gpt-4o-mini', targets: ['small'] },
        { model: 'acme-*', targets: ['acme'], when: `principal.claims.tenant == 'acme'` },
      ]);
      expect(p.models(premium)).toEqual(['gpt-4o', 'best', 'gpt-4o-mini']);
      expect(p.models(standard)).toEqual(['gpt-4o-mini']);
      expect(p.models(acme)).toEqual(['gpt-4o-mini', 'acme-*']);
      expect(p.models()).toEqual(['gpt-4o', 'best', 'gpt-4o-mini', 'acme-*']);
    });

    it('a name its own routes do not serve to the caller is still listed when a glob route serves it', () => {
      const p = proxyFor(targets, [
        { model: 'gpt-4o', targets: ['big'], when: `'premium' in principal.groups` },
        { model: 'gpt-*', targets: ['small'] },
      ]);
      expect(p.models(standard)).toEqual(['gpt-4o', 'gpt-*']);
      expect(served(p, 'gpt-4o', standard)).toBe('small');
    });

    it('chat() reaches the target the caller\'s route names', async () => {
      const p = proxyFor({ premium: { provider: 'openai', baseUrl: `${oa.url}/v1`, model: 'gpt-4o' }, standard: { provider: 'openai', baseUrl: `${ob.url}/v1`, model: 'gpt-4o-mini' } }, [
        { model: 'gpt-4o', targets: ['premium'], when: `'premium' in principal.groups` },
        { model: 'gpt-4o', targets: ['standard'] },
      ]);
      const a = await p.chat(ask('gpt-4o'), { ...ctx(), caller: premium });
      const b = await p.chat(ask('gpt-4o'), { ...ctx(), caller: standard });
      expect([a.target.name, b.target.name]).toEqual(['premium', 'standard']);
      expect(oa.received.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o']);
      expect(ob.received.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o-mini']);
    });

    it('a bad condition is a config error naming ai.routes[i].when, with the column', () => {
      const bad = (when: string) => () => proxyFor(targets, [{ model: 'gpt-4o', targets: ['big'] }, { model: 'gpt-4o', targets: ['small'], when }]);
      expect(bad(`'premium' in principal.group`)).toThrow(/^ai\.routes\[1\]\.when: No such key: group at column 24\n/);
      expect(bad(`'premium' in principal.groups &&`)).toThrow(/^ai\.routes\[1\]\.when: .* at column 33\n/);
      expect(bad('principal.id')).toThrow(/^ai\.routes\[1\]\.when: a condition must be a boolean/);
    });
  });

  it('reads retry-after as milliseconds, seconds or an HTTP date', () => {
    expect(retryAfter({ 'retry-after-ms': '250' })).toBe(250);
    expect(retryAfter({ 'retry-after': '2' })).toBe(2000);
    expect(retryAfter({ 'retry-after': new Date(10_000).toUTCString() }, () => 7_000)).toBe(3000);
    expect(retryAfter({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfter({})).toBeUndefined();
  });
});

describe('providers', () => {
  it('openai JSON: upstream model, bearer key, client model echoed', async () => {
    const p = proxyFor({ o: { provider: 'openai', baseUrl: `${oa.url}/v1`, apiKey: 'sk-a', model: 'gpt-4o-2024' } }, [{ model: 'gpt-4o', aliases: ['fast'], targets: ['o'] }]);
    const out = await p.chat(ask('fast', { temperature: 0.3 }), ctx());
    if (out.kind !== 'json') throw new Error('expected json');
    expect(out.completion.model).toBe('fast');
    expect(out.completion.choices[0]?.message.content).toBe('Hello');
    expect(out.route).toBe('gpt-4o');
    expect(out.target).toEqual({ name: 'o', provider: 'openai', model: 'gpt-4o-2024', baseUrl: `${oa.url}/v1` });
    expect(out.attempts).toEqual([{ target: 'o', provider: 'openai', model: 'gpt-4o-2024', status: 200, ms: expect.any(Number) }]);
    expect(oa.received[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { model: 'gpt-4o-2024', temperature: 0.3 } });
    expect(oa.received[0]?.headers['authorization']).toBe('Bearer sk-a');
  });

  it('openai stream: usage requested upstream but not shown to a client that did not ask; model rewritten; ttft and usage reported', async () => {
    oa.script = (req) => openai.stream({ model: (req.body as { model: string }).model, text: ['Hel', 'lo'], includeUsage: true, usage: { prompt_tokens: 11, completion_tokens: 3 } });
    const p = proxyFor({ o: { provider: 'openai', baseUrl: `${oa.url}/v1`, model: 'gpt-4o-2024' } }, [{ model: 'gpt-4o', targets: ['o'] }]);
    const t0 = Date.now();
    const out = asStream(await p.chat(ask('gpt-4o', { stream: true }), ctx()));
    expect((oa.received[0]?.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
    expect(out.head.map((c) => c.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '', refusal: null }, { content: 'Hel' }]);
    // Measured from the start of the call to the first content: within the call (a fast machine may make it 0 ms).
    const ttft = out.ttftMs();
    expect(ttft).toBeGreaterThanOrEqual(0);
    expect(ttft).toBeLessThanOrEqual(Date.now() - t0);
    const { all, rest } = await collect(out);
    expect(textOf(all)).toBe('Hello');
    expect(rest.at(-1)).toEqual({ done: true });
    const chunks = all.filter(isChunk);
    expect(chunks.every((c) => c.model === 'gpt-4o' && !('usage' in c) && c.choices.length > 0)).toBe(true);
    expect(out.usage()).toMatchObject({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
  });

  it('openai stream: a client asking for include_usage gets the usage chunk', async () => {
    const p = proxyFor({ o: { provider: 'openai', baseUrl: `${oa.url}/v1` } }, [{ model: 'gpt-*', targets: ['o'] }]);
    const out = await p.chat(ask('gpt-x', { stream: true, stream_options: { include_usage: true } }), ctx());
    const { rest } = await collect(out);
    const last = rest.filter(isChunk).at(-1);
    expect(last).toMatchObject({ model: 'gpt-x', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } });
    expect(oa.received[0]?.body).toMatchObject({ model: 'gpt-x' });
  });

  it('a stream asked of a server that answers one JSON completion is served as a stream, with no retry', async () => {
    ob.script = () => openai.completion({ text: ['Hello there'], toolCalls: [{ id: 'call_1', name: 'lookup', args: ['{"q":', '"x"}'] }], usage: { prompt_tokens: 7, completion_tokens: 4 } });
    const p = proxyFor({ c: { provider: 'openai-compatible', baseUrl: `${ob.url}/v1` } }, [{ model: 'local', targets: ['c'] }], { retry: { attempts: 3 } });
    const out = await p.chat(ask('local', { stream: true, stream_options: { include_usage: true } }), ctx());
    const { all } = await collect(out);
    const chunks = all.filter(isChunk);
    expect(chunks.map((c) => c.choices.map((ch) => [ch.delta, ch.finish_reason]))).toEqual([
      [[{ role: 'assistant', content: 'Hello there', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] }, null]],
      [[{}, 'tool_calls']],
      [],
    ]);
    expect(chunks.at(-1)).toMatchObject({ model: 'local', object: 'chat.completion.chunk', usage: { prompt_tokens: 7, completion_tokens: 4 } });
    expect(all.at(-1)).toEqual({ done: true });
    expect(asStream(out).usage()).toMatchObject({ prompt_tokens: 7, completion_tokens: 4 });
    expect(ob.received).toHaveLength(1);
    expect(out.attempts).toHaveLength(1);
  });

  it('an answer past 64 MiB fails the attempt with upstream_too_large, for a JSON call and for a stream answered in JSON', async () => {
    // A server that answers every request with 64 MiB + 1 byte of JSON, as it streams it.
    const huge = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      const piece = Buffer.alloc(1024 * 1024, 0x20);
      let written = 0;
      const more = () => {
        while (written < 64) {
          written++;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end('1');
      };
      more();
    });
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
    try {
      const p = proxyFor({ h: { provider: 'openai-compatible', baseUrl: `http://127.0.0.1:${(huge.address() as AddressInfo).port}/v1` } }, [{ model: 'big', targets: ['h'] }], { retry: { attempts: 1 } });
      for (const extra of [{}, { stream: true }]) {
        const err = await p.chat(ask('big', extra), ctx()).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(ProviderError);
        expect(err).toMatchObject({ status: 502, body: { error: { code: 'upstream_too_large' } } });
      }
    } finally {
      huge.closeAllConnections();
      await new Promise<void>((resolve) => huge.close(() => resolve()));
    }
  });

  it('openai-compatible: base URL and custom headers, JSON and stream', async () => {
    const p = proxyFor(
      { c: { provider: 'openai-compatible', baseUrl: `${ob.url}/v1/`, apiKey: 'k-c', headers: { 'x-tenant': 'acme' }, model: 'qwen' } },
      [{ model: 'local', targets: ['c'] }],
    );
    const json = await p.chat(ask('local'), ctx());
    expect(json.kind === 'json' && json.completion.model).toBe('local');
    const stream = await collect(await p.chat(ask('local', { stream: true }), ctx()));
    expect(textOf(stream.all)).toBe('Hello');
    expect(stream.all.filter(isChunk).every((c) => c.model === 'local')).toBe(true);
    for (const r of ob.received) {
      expect(r.path).toBe('/v1/chat/completions');
      expect(r.headers['x-tenant']).toBe('acme');
      expect(r.headers['authorization']).toBe('Bearer k-c');
      expect((r.body as { model: string }).model).toBe('qwen');
    }
    expect(ob.received).toHaveLength(2);
  });

  it('anthropic JSON and stream: /v1/messages, x-api-key, anthropic-version, max_tokens default, client model echoed', async () => {
    const p = proxyFor({ a: { provider: 'anthropic', baseUrl: an.url, apiKey: 'ak', model: 'claude-sonnet-4-5', maxTokens: 777 } }, [{ model: 'claude', targets: ['a'] }]);
    const json = await p.chat(ask('claude'), ctx());
    if (json.kind !== 'json') throw new Error('expected json');
    expect(json.completion).toMatchObject({ model: 'claude', choices: [{ message: { content: 'Hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const out = asStream(await p.chat(ask('claude', { stream: true }), ctx()));
    expect(out.head.map((c) => c.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hel' }]);
    const { all, rest } = await collect(out);
    expect(textOf(all)).toBe('Hello');
    expect(rest.at(-1)).toEqual({ done: true });
    expect(all.filter(isChunk).every((c) => c.model === 'claude' && !('usage' in c))).toBe(true);
    expect(out.usage()).toMatchObject({ prompt_tokens: 10, completion_tokens: 5 });
    expect(out.ttftMs()).toBeGreaterThan(0);
    for (const r of an.received) {
      expect(r.path).toBe('/v1/messages');
      expect(r.headers['x-api-key']).toBe('ak');
      expect(r.headers['anthropic-version']).toBe('2023-06-01');
      expect(r.body).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 777 });
    }
    expect((an.received[1]?.body as { stream?: boolean }).stream).toBe(true);
  });

  it('ollama JSON and stream: /api/chat, upstream model, usage from the done line', async () => {
    const p = proxyFor({ l: { provider: 'ollama', baseUrl: ol.url, model: 'llama3.2:1b' } }, [{ model: 'llama', targets: ['l'] }]);
    const json = await p.chat(ask('llama'), ctx());
    if (json.kind !== 'json') throw new Error('expected json');
    expect(json.completion).toMatchObject({ model: 'llama', choices: [{ message: { content: 'Hello!' } }], usage: { prompt_tokens: 26, completion_tokens: 282 } });
    const out = asStream(await p.chat(ask('llama', { stream: true }), ctx()));
    const { all, rest } = await collect(out);
    expect(textOf(all)).toBe('Hello!');
    expect(rest.at(-1)).toEqual({ done: true });
    expect(all.filter(isChunk).every((c) => c.model === 'llama')).toBe(true);
    expect(out.usage()).toEqual({ prompt_tokens: 26, completion_tokens: 282, total_tokens: 308 });
    expect(ol.received.map((r) => [r.url, (r.body as { model: string; stream: boolean }).model, (r.body as { stream: boolean }).stream])).toEqual([
      ['/api/chat', 'llama3.2:1b', false],
      ['/api/chat', 'llama3.2:1b', true],
    ]);
  });

  it('embeddings: openai pass-through, ollama translated, anthropic refused with 400', async () => {
    const p = proxyFor(
      { o: { provider: 'openai', baseUrl: `${oa.url}/v1`, model: 'text-embedding-3-small' }, l: { provider: 'ollama', baseUrl: ol.url, model: 'nomic' }, a: { provider: 'anthropic', baseUrl: an.url } },
      [
        { model: 'emb-o', targets: ['o'] },
        { model: 'emb-l', targets: ['l'] },
        { model: 'emb-a', targets: ['a'] },
      ],
    );
    const o = await p.embeddings({ model: 'emb-o', input: ['a', 'b'] }, ctx());
    expect(o.response).toMatchObject({ model: 'emb-o', data: [{ index: 0 }, { index: 1 }] });
    expect(oa.received[0]).toMatchObject({ path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: ['a', 'b'] } });
    const l = await p.embeddings({ model: 'emb-l', input: 'x' }, ctx());
    expect(l.response).toMatchObject({ model: 'emb-l', data: [{ index: 0, embedding: [0.1, 0.2, -0.3] }], usage: { prompt_tokens: 7 } });
    expect(ol.received[0]).toMatchObject({ url: '/api/embed', body: { model: 'nomic', input: 'x' } });
    const err = await rejection(p.embeddings({ model: 'emb-a', input: 'x' }, ctx()));
    expect(err.status).toBe(400);
    expect(an.received).toHaveLength(0);
  });
});

describe('retries and fallback', () => {
  const two = (over: Parameters<typeof proxyFor>[2] = {}) =>
    proxyFor(
      { a: { provider: 'openai', baseUrl: `${oa.url}/v1`, model: 'ma' }, b: { provider: 'openai-compatible', baseUrl: `${ob.url}/v1`, model: 'mb' } },
      [{ model: 'm', targets: ['a', 'b'] }],
      over,
    );

  it('503 from the first target (retried) → the second answers; every attempt recorded', async () => {
    oa.script = () => openai.error(503, 'overloaded', 'server_error');
    const out = await two({ retry: { attempts: 2 } }).chat(ask('m'), ctx());
    expect(out.target.name).toBe('b');
    expect(out.attempts.map((a) => [a.target, a.status])).toEqual([
      ['a', 503],
      ['a', 503],
      ['b', 200],
    ]);
    expect(out.attempts[0]?.error).toMatch(/overloaded/);
    expect(oa.received).toHaveLength(2);
  });

  it('429 with retry-after is honoured, then the same target succeeds', async () => {
    // When each request reached the upstream: the retry may not come before the second it was told to wait
    // (a wait, so a busy machine only makes the gap longer; 10 ms for timers that round the clock).
    const arrived: number[] = [];
    oa.script = () => {
      arrived.push(performance.now());
      return arrived.length === 1 ? { ...openai.error(429, 'slow down', 'rate_limit_error'), headers: { 'retry-after': '1' } } : openai.completion({ text: ['ok'] });
    };
    const out = await two({ retry: { attempts: 2, backoffMs: 0 } }).chat(ask('m'), ctx());
    expect(arrived).toHaveLength(2);
    expect(arrived[1]! - arrived[0]!).toBeGreaterThanOrEqual(990);
    expect(out.target.name).toBe('a');
    expect(out.attempts.map((a) => a.status)).toEqual([429, 200]);
    expect(ob.received).toHaveLength(0);
  });

  it('a retry-after beyond the deadline is not waited for: the next target is tried at once', async () => {
    // Had it waited, the deadline would pass in the wait and the call end in a 504: b answering shows it did not.
    oa.script = () => ({ ...openai.error(429, 'slow down', 'rate_limit_error'), headers: { 'retry-after': '30' } });
    const out = await two({ retry: { attempts: 3, deadlineMs: 5_000 } }).chat(ask('m'), ctx());
    expect(out.target.name).toBe('b');
    expect(out.attempts.map((a) => [a.target, a.status])).toEqual([
      ['a', 429],
      ['b', 200],
    ]);
  });

  it('400 from the upstream is the client’s error: returned as is, no fallback', async () => {
    oa.script = () => openai.error(400, 'messages: bad role', 'invalid_request_error', null, 'messages');
    const err = await rejection(two({ retry: { attempts: 3 } }).chat(ask('m'), ctx()));
    expect(err.status).toBe(400);
    expect(err.body.error).toMatchObject({ message: 'messages: bad role', param: 'messages' });
    expect(oa.received).toHaveLength(1);
    expect(ob.received).toHaveLength(0);
  });

  it('401 upstream is the gateway’s misconfiguration: fall back; 502 without the upstream message if all fail', async () => {
    oa.script = () => openai.error(401, 'Incorrect API key provided: sk-abc***xyz', 'invalid_request_error', 'invalid_api_key');
    const ok = await two({ retry: { attempts: 3 } }).chat(ask('m'), ctx());
    expect(ok.target.name).toBe('b');
    expect(ok.attempts.map((a) => [a.target, a.status])).toEqual([
      ['a', 401],
      ['b', 200],
    ]);

    an.script = () => anthropic.error(403, 'permission_error', 'key sk-ant-123 lacks access');
    ob.script = () => openai.error(401, 'Incorrect API key provided: sk-abc***xyz', 'invalid_request_error', 'invalid_api_key');
    const p = proxyFor(
      { b: { provider: 'openai', baseUrl: `${ob.url}/v1` }, a: { provider: 'anthropic', baseUrl: an.url } },
      [{ model: 'm', targets: ['b', 'a'] }],
      { retry: { attempts: 2 } },
    );
    const err = await rejection(p.chat(ask('m'), ctx()));
    expect(err.status).toBe(502);
    expect(err.body.error.code).toBe('upstream_auth');
    expect(err.message).not.toMatch(/sk-/);
    expect(an.received).toHaveLength(1);
  });

  it('cooldown: a target that failed is skipped on the next request; when all are benched they are tried anyway', async () => {
    oa.script = () => openai.error(503, 'down', 'server_error');
    const p = two({ cooldown: { failures: 1, ms: 60_000 } });
    const first = await p.chat(ask('m'), ctx());
    expect(first.attempts.map((a) => a.target)).toEqual(['a', 'b']);
    const second = await p.chat(ask('m'), ctx());
    expect(second.attempts.map((a) => a.target)).toEqual(['b']);
    expect(oa.received).toHaveLength(1);

    ob.script = () => openai.error(500, 'down too', 'server_error');
    await rejection(p.chat(ask('m'), ctx()));
    oa.script = defaultOpenAIScript;
    const fourth = await p.chat(ask('m'), ctx());
    expect(fourth.attempts.map((a) => [a.target, a.status])).toEqual([['a', 200]]);
  });

  it('the deadline caps the total time, whatever the per-target timeouts and retries', async () => {
    oa.script = () => ({ type: 'hang' });
    ob.script = () => ({ type: 'hang' });
    // The targets' own timeouts (10 s here) never fire: the deadline ends the call, as a
    // 504 deadline_exceeded, and closes the socket it was waiting on.
    const p = two({ retry: { attempts: 3, deadlineMs: 300 } });
    const err = await rejection(p.chat(ask('m'), ctx()));
    expect(err.status).toBe(504);
    expect(err.body.error.code).toBe('deadline_exceeded');
    await until(() => oa.aborted + ob.aborted === oa.received.length + ob.received.length);
    // ctx.deadline overrides retry.deadlineMs: under a 10-minute retry deadline the call still ends, at ctx's.
    const patient = two({ retry: { attempts: 3, deadlineMs: 600_000 } });
    const late = await rejection(patient.chat(ask('m'), { ...ctx(), deadline: Date.now() + 100 }));
    expect(late.body.error.code).toBe('deadline_exceeded');
  });

  it('a target timeout is retryable: the next target answers', async () => {
    oa.script = () => ({ type: 'hang' });
    const p = proxyFor(
      { a: { provider: 'openai', baseUrl: `${oa.url}/v1`, timeoutMs: 150 }, b: { provider: 'openai', baseUrl: `${ob.url}/v1` } },
      [{ model: 'm', targets: ['a', 'b'] }],
      { retry: { attempts: 2, backoffMs: 1 } },
    );
    const out = await p.chat(ask('m'), ctx());
    expect(out.attempts.map((a) => [a.target, a.status, a.error?.split(':')[0]])).toEqual([
      ['a', undefined, 'server_error/upstream_timeout'],
      ['a', undefined, 'server_error/upstream_timeout'],
      ['b', 200, undefined],
    ]);
  });

  it('a connection refused is retryable and falls back', async () => {
    const p = proxyFor({ dead: { provider: 'ollama', baseUrl: 'http://127.0.0.1:1' }, b: { provider: 'openai', baseUrl: `${ob.url}/v1` } }, [{ model: 'm', targets: ['dead', 'b'] }]);
    const out = await p.chat(ask('m'), ctx());
    expect(out.attempts[0]).toMatchObject({ target: 'dead', error: expect.stringMatching(/upstream_unreachable/) });
    expect(out.target.name).toBe('b');
  });
});

describe('streams', () => {
  it('fails after the preamble but before content → falls back; the head starts with the second target’s role chunk, once', async () => {
    oa.script = () => openai.stream({ id: 'chatcmpl-A', errorAfter: 1 });
    ob.script = () => openai.stream({ id: 'chatcmpl-B', text: ['Hi', '!'] });
    an.script = () => anthropic.stream({ errorAfter: 3 }); // message_start, ping, content_block_start (empty text), error
    const p = proxyFor(
      { a: { provider: 'openai', baseUrl: `${oa.url}/v1` }, c: { provider: 'anthropic', baseUrl: an.url }, b: { provider: 'openai', baseUrl: `${ob.url}/v1` } },
      [{ model: 'm', targets: ['a', 'c', 'b'] }],
    );
    const out = asStream(await p.chat(ask('m', { stream: true }), ctx()));
    expect(out.target.name).toBe('b');
    expect(out.attempts.map((a) => [a.target, a.status])).toEqual([
      ['a', 200],
      ['c', 200],
      ['b', 200],
    ]);
    expect(out.attempts[1]?.error).toMatch(/overloaded/);
    expect(out.head[0]).toMatchObject({ id: 'chatcmpl-B', choices: [{ delta: { role: 'assistant' } }] });
    const { all } = await collect(out);
    expect(all.filter(isChunk).filter((c) => c.choices[0]?.delta.role === 'assistant')).toHaveLength(1);
    expect(all.filter(isChunk).every((c) => c.id === 'chatcmpl-B')).toBe(true);
    expect(textOf(all)).toBe('Hi!');
  });

  it('fails after content → an { error } item in rest, no fallback', async () => {
    oa.script = () => openai.stream({ text: ['Hel', 'lo', ' world'], errorAfter: 3 });
    const p = proxyFor({ a: { provider: 'openai', baseUrl: `${oa.url}/v1` }, b: { provider: 'openai', baseUrl: `${ob.url}/v1` } }, [{ model: 'm', targets: ['a', 'b'] }], { retry: { attempts: 3 } });
    const out = await p.chat(ask('m', { stream: true }), ctx());
    const { all, rest } = await collect(out);
    expect(textOf(all)).toBe('Hello');
    const end = rest.at(-1);
    expect(end !== undefined && 'error' in end && end.error).toBeInstanceOf(ProviderError);
    expect(end !== undefined && 'error' in end && end.error.status).toBe(500);
    expect(rest.some((i) => 'done' in i)).toBe(false);
    expect(oa.received).toHaveLength(1);
    expect(ob.received).toHaveLength(0);
  });

  it('a stream cut (socket destroyed) after content → an error item', async () => {
    oa.script = () => openai.stream({ text: ['Hel', 'lo'], omitDone: true, cut: true });
    const p = proxyFor({ a: { provider: 'openai', baseUrl: `${oa.url}/v1` } }, [{ model: 'm', targets: ['a'] }]);
    const { rest } = await collect(await p.chat(ask('m', { stream: true }), ctx()));
    const end = rest.at(-1);
    expect(end !== undefined && 'error' in end && end.error.body.error.code).toMatch(/upstream_stream_(truncated|broken)/);
  });

  it('an Anthropic stream that ends without message_stop after content → an error item', async () => {
    an.script = () => anthropic.stream({ omitStop: true });
    const p = proxyFor({ a: { provider: 'anthropic', baseUrl: an.url } }, [{ model: 'm', targets: ['a'] }]);
    const { rest } = await collect(await p.chat(ask('m', { stream: true }), ctx()));
    const end = rest.at(-1);
    expect(end !== undefined && 'error' in end && end.error.body.error.code).toBe('upstream_stream_truncated');
  });

  it('an Ollama mid-stream error after content → an error item', async () => {
    ol.script({ content: ['Hel', 'lo'], midStreamError: 'model crashed' });
    const p = proxyFor({ l: { provider: 'ollama', baseUrl: ol.url } }, [{ model: 'm', targets: ['l'] }]);
    const { all, rest } = await collect(await p.chat(ask('m', { stream: true }), ctx()));
    expect(textOf(all)).toBe('Hello');
    const end = rest.at(-1);
    expect(end !== undefined && 'error' in end && end.error.message).toMatch(/model crashed/);
  });

  it('a stream that ends cleanly without content resolves with everything in head', async () => {
    oa.script = () => openai.stream({ text: [] });
    const p = proxyFor({ a: { provider: 'openai', baseUrl: `${oa.url}/v1` } }, [{ model: 'm', targets: ['a'] }]);
    const out = asStream(await p.chat(ask('m', { stream: true }), ctx()));
    expect(out.head.map((c) => c.choices[0]?.finish_reason)).toEqual([null, 'stop']);
    expect(out.ttftMs()).toBeUndefined();
    const { rest } = await collect(out);
    expect(rest).toEqual([{ done: true }]);
  });
});

describe('client abort', () => {
  it('aborts a hanging upstream at once; the fake sees the socket closed', async () => {
    oa.script = () => ({ type: 'hang' });
    const p = proxyFor({ a: { provider: 'openai', baseUrl: `${oa.url}/v1` } }, [{ model: 'm', targets: ['a'] }], { retry: { attempts: 3 } });
    const ac = new AbortController();
    const pending = p.chat(ask('m', { stream: true }), ctx(ac.signal));
    await until(() => oa.received.length === 1);
    // The upstream hangs and three attempts are allowed: only the abort can end the call, as a 499.
    ac.abort();
    const err = await rejection(pending);
    expect(err.status).toBe(499);
    await until(() => oa.aborted === 1);
    expect(oa.received).toHaveLength(1);
  });

  it('aborting while iterating rest ends the iterator and closes the upstream socket', async () => {
    an.script = () => anthropic.stream({ blocks: [{ type: 'text', text: Array.from({ length: 50 }, (_, i) => `w${i} `) }], delayMs: 40 });
    const p = proxyFor({ a: { provider: 'anthropic', baseUrl: an.url } }, [{ model: 'm', targets: ['a'] }]);
    const ac = new AbortController();
    const out = asStream(await p.chat(ask('m', { stream: true }), ctx(ac.signal)));
    const seen: Item[] = [];
    // Abort once the first chunk of fifty is in: the iterator ends, well before the stream would.
    for await (const item of out.rest) {
      seen.push(item);
      if (seen.length === 1) ac.abort();
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(textOf(seen)).not.toContain('w49');
    expect(seen.some((i) => !isChunk(i))).toBe(false);
    await until(() => an.aborted === 1);
  });

  it('breaking out of rest early aborts the upstream too', async () => {
    oa.script = () => openai.stream({ text: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 40 });
    const p = proxyFor({ a: { provider: 'openai', baseUrl: `${oa.url}/v1` } }, [{ model: 'm', targets: ['a'] }]);
    const out = asStream(await p.chat(ask('m', { stream: true }), ctx()));
    for await (const item of out.rest) {
      expect(isChunk(item)).toBe(true);
      break;
    }
    await until(() => oa.aborted === 1);
  });
});
