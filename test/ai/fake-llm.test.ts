/**
 * The fakes speak the real wire formats: the official openai SDK consumes the fake OpenAI
 * (JSON, streams with tool calls and usage, errors), and the fake Anthropic's streams, read
 * over real TCP, go through our translator exactly like recorded fixtures do.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicStreamTranslator, fromAnthropicError, fromAnthropicResponse, toAnthropicRequest } from '../../src/ai/providers/anthropic.js';
import { createOpenAIStreamObserver } from '../../src/ai/providers/openai.js';
import type { ChatCompletionChunk } from '../../src/ai/openai-types.js';
import { anthropic, defaultAnthropicScript, defaultOpenAIScript, openai, startFakeAnthropic, startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';

describe('fake OpenAI, read by the official openai SDK', () => {
  let fake: FakeLLM;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    client = new OpenAI({ baseURL: fake.url + '/v1', apiKey: 'sk-test', maxRetries: 0 });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.received.length = 0;
    fake.script = defaultOpenAIScript;
  });

  it('answers JSON and records the request as sent', async () => {
    fake.script = () => openai.completion({ model: 'gpt-4o', text: ['Hello ', 'there'], usage: { prompt_tokens: 9, completion_tokens: 2, cached_tokens: 4 } });
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], temperature: 0.2 });
    expect(res.choices[0]?.message.content).toBe('Hello there');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 4 } });
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { model: 'gpt-4o', temperature: 0.2 } });
    expect(fake.received[0]?.headers['authorization']).toBe('Bearer sk-test');
  });

  it('answers tool calls in JSON', async () => {
    fake.script = () => openai.completion({ toolCalls: [{ id: 'call_1', name: 'weather', args: ['{"city":', '"Paris"}'] }] });
    const res = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    expect(res.choices[0]?.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }]);
  });

  it('streams text and tool calls with a usage chunk; the SDK accumulates them', async () => {
    fake.script = () =>
      openai.stream({
        text: ['Let ', 'me ', 'check.'],
        toolCalls: [
          { id: 'call_1', name: 'weather', args: ['{"city"', ':"Paris"}'] },
          { id: 'call_2', name: 'time', args: ['{}'] },
        ],
        includeUsage: true,
        usage: { prompt_tokens: 20, completion_tokens: 7 },
      });
    const stream = client.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe('Let me check.');
    expect(final.choices[0]?.message.tool_calls?.map((t) => [t.id, t.type === 'function' ? t.function.arguments : ''])).toEqual([
      ['call_1', '{"city":"Paris"}'],
      ['call_2', '{}'],
    ]);
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 });
    expect(fake.received[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('a mid-stream error payload makes the SDK throw', async () => {
    fake.script = () => openai.stream({ text: ['a', 'b'], errorAfter: 2 });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toThrow(/server had an error/);
    expect(seen).toEqual(['', 'a']);
  });

  it('an HTTP error carries the OpenAI error body to the SDK', async () => {
    fake.script = () => openai.error(429, 'Rate limit reached', 'requests', 'rate_limit_exceeded');
    const err = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('rate_limit_exceeded');
  });

  it('lists models and answers embeddings by default', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['gpt-fake']);
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'float' });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0]?.embedding).toEqual([0.1, 0.2, 0.3]);
  });

  it('a delayed answer can be abandoned by the client', async () => {
    fake.script = () => ({ type: 'delay', ms: 2_000, then: openai.completion() });
    const err = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { timeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
  });

  it('really delivers a stream in many TCP reads, and the observer sees a cut stream', async () => {
    fake.script = () => openai.stream({ text: ['x', 'y'], includeUsage: true, omitDone: true, cut: true });
    const res = await fetch(fake.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'm', stream: true, messages: [] }) });
    const observer = createOpenAIStreamObserver();
    const frames = openai.streamFrames({ text: ['x', 'y'], includeUsage: true, omitDone: true }).length;
    let reads = 0;
    await expect(
      (async () => {
        for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
          reads++;
          observer.push(bytes);
        }
      })(),
    ).rejects.toThrow();
    expect(reads).toBeGreaterThan(frames);
    expect(observer.usage()).toMatchObject({ prompt_tokens: 5, completion_tokens: 2 });
    expect(observer.started()).toBe(true);
    expect(observer.end().error?.body.error.code).toBe('upstream_stream_truncated');
  });
});

describe('fake Anthropic, read through the translation layer', () => {
  let fake: FakeLLM;
  beforeAll(async () => {
    fake = await startFakeAnthropic();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.received.length = 0;
    fake.script = defaultAnthropicScript;
  });

  async function post(body: unknown): Promise<Response> {
    return fetch(fake.url + '/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
    });
  }

  /** Read a real streamed answer, TCP read by TCP read, through the translator. */
  async function translate(res: Response) {
    const t = createAnthropicStreamTranslator({ model: 'smart', id: 'chatcmpl-1', created: 1, includeUsage: true });
    const chunks: ChatCompletionChunk[] = [];
    let reads = 0;
    let done = false;
    let error: unknown;
    try {
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        reads++;
        const step = t.push(bytes);
        chunks.push(...step.chunks);
        done ||= step.done === true;
        error ??= step.error;
      }
    } catch {
      // a cut socket: end() decides what that means
    }
    const last = t.end();
    chunks.push(...last.chunks);
    error ??= last.error;
    return { chunks, reads, done, error, started: t.started(), usage: t.usage() };
  }

  it('receives the translated request and answers a Message that translates back', async () => {
    const body = toAnthropicRequest({ model: 'smart', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] }, { model: 'claude-x', defaultMaxTokens: 100 });
    const res = await post(body);
    expect(res.status).toBe(200);
    const completion = fromAnthropicResponse(await res.json(), { model: 'smart', created: 1 });
    expect(completion.choices[0]).toMatchObject({ message: { content: 'Hello' }, finish_reason: 'stop' });
    expect(fake.received[0]).toMatchObject({ method: 'POST', path: '/v1/messages', body: { model: 'claude-x', system: 'Be brief.', max_tokens: 100 } });
    expect(fake.received[0]?.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('streams text and two tool calls over many TCP reads; translated chunks are complete', async () => {
    fake.script = () =>
      anthropic.stream({
        blocks: [
          { type: 'text', text: ['Checking ', 'both.'] },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', json: ['{"city":', '"Paris"}'] },
          { type: 'text', text: [' Also:'] },
          { type: 'tool_use', id: 'toolu_2', name: 'time', json: ['{}'] },
        ],
        usage: { input_tokens: 10, output_tokens: 40, cache_read_input_tokens: 5 },
      });
    const r = await translate(await post({ stream: true }));
    expect(r.reads).toBeGreaterThan(10);
    expect(r.done).toBe(true);
    expect(r.error).toBeUndefined();
    const text = r.chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Checking both. Also:');
    const args = new Map<number, string>();
    for (const c of r.chunks) for (const tc of c.choices[0]?.delta.tool_calls ?? []) args.set(tc.index, (args.get(tc.index) ?? '') + (tc.function?.arguments ?? ''));
    expect([...args.entries()]).toEqual([
      [0, '{"city":"Paris"}'],
      [1, '{}'],
    ]);
    expect(r.chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(r.chunks.at(-1)?.usage).toEqual({ prompt_tokens: 15, completion_tokens: 40, total_tokens: 55, prompt_tokens_details: { cached_tokens: 5 } });
  });

  it('a mid-stream error event → error, no finish_reason', async () => {
    fake.script = () => anthropic.stream({ blocks: [{ type: 'text', text: ['a', 'b'] }], errorAfter: 4 });
    const r = await translate(await post({ stream: true }));
    expect(r.done).toBe(false);
    expect(r.error).toMatchObject({ status: 503, retryable: true });
    expect(r.chunks.some((c) => c.choices[0]?.finish_reason != null)).toBe(false);
  });

  it('a stream cut before message_stop → error at end()', async () => {
    fake.script = () => anthropic.stream({ omitStop: true, cut: true });
    const r = await translate(await post({ stream: true }));
    expect(r.done).toBe(false);
    expect(r.started).toBe(true);
    expect(r.error).toMatchObject({ status: 502, body: { error: { code: 'upstream_stream_truncated' } } });
  });

  it('an HTTP error carries Anthropic’s error body', async () => {
    fake.script = () => anthropic.error(529, 'overloaded_error', 'Overloaded');
    const res = await post({});
    expect(res.status).toBe(529);
    const err = fromAnthropicError(res.status, await res.json());
    expect(err).toMatchObject({ status: 503, retryable: true, body: { error: { message: 'Overloaded', code: 'overloaded_error' } } });
  });

  it('a hanging upstream is abandoned by the client and counted as aborted', async () => {
    fake.script = () => ({ type: 'hang' });
    await expect(fetch(fake.url + '/v1/messages', { method: 'POST', body: '{}', signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await expect.poll(() => fake.aborted).toBe(1);
  });
});
