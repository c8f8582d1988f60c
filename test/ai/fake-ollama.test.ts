import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOllamaStreamTranslator,
  fromOllamaChatResponse,
  fromOllamaEmbedResponse,
  fromOllamaError,
  toOllamaChatRequest,
  toOllamaEmbedRequest,
  type OllamaChatResponse,
  type OllamaEmbedResponse,
} from '../../src/ai/providers/ollama.js';
import { isProviderError, type ChatCompletionChunk, type ChatCompletionRequest } from '../../src/ai/openai-types.js';
import { startFakeOllama, type FakeOllama } from '../helpers/fake-ollama.js';

let fake: FakeOllama;
beforeAll(async () => {
  fake = await startFakeOllama();
});
afterAll(async () => {
  await fake.close();
});

const meta = { model: 'local-llama', id: 'chatcmpl-x', created: 1_700_000_000 };
const request: ChatCompletionRequest = {
  model: 'local-llama',
  messages: [{ role: 'user', content: 'What is the weather in Tokyo?' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  max_tokens: 50,
};

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${fake.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Reads the NDJSON body as it arrives and counts the reads, to prove it came in pieces. */
async function streamChat(includeUsage: boolean): Promise<{ chunks: ChatCompletionChunk[]; reads: number; error?: unknown; started: boolean }> {
  const res = await post('/api/chat', toOllamaChatRequest({ ...request, stream: true }, { model: 'llama3.2' }));
  expect(res.headers.get('content-type')).toBe('application/x-ndjson');
  const t = createOllamaStreamTranslator({ ...meta, includeUsage });
  const chunks: ChatCompletionChunk[] = [];
  let reads = 0;
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      reads++;
      chunks.push(...t.push(bytes));
    }
    chunks.push(...t.end());
  } catch (error) {
    return { chunks, reads, error, started: t.started() };
  }
  return { chunks, reads, started: t.started() };
}

describe('fake Ollama through the translator', () => {
  it('non-streaming chat: the request crossed the wire as /api/chat, the answer maps to a chat.completion', async () => {
    fake.script({ content: ['Hello', ' there'], promptEvalCount: 12, evalCount: 3 });
    const res = await post('/api/chat', toOllamaChatRequest(request, { model: 'llama3.2', keepAlive: '5m' }));
    const completion = fromOllamaChatResponse((await res.json()) as OllamaChatResponse, meta);
    const sent = fake.received.at(-1)!;
    expect([sent.method, sent.url]).toEqual(['POST', '/api/chat']);
    expect(sent.body).toMatchObject({ model: 'llama3.2', stream: false, keep_alive: '5m', options: { num_predict: 50 }, tools: [{ type: 'function', function: { name: 'get_weather' } }] });
    expect(completion.choices[0]).toMatchObject({ message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' });
    expect(completion.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
  });

  it('non-streaming tool calls get JSON-string arguments and ids', async () => {
    fake.script({ content: [''], toolCalls: [{ function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] });
    const res = await post('/api/chat', toOllamaChatRequest(request, { model: 'llama3.2' }));
    const choice = fromOllamaChatResponse((await res.json()) as OllamaChatResponse, meta).choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } }]);
  });

  it('streaming: lines split across several TCP writes become the OpenAI chunk sequence', async () => {
    fake.script({ content: ['The', ' sky', ' is', ' blue'], toolCalls: [{ id: 'call_abc', function: { index: 0, name: 'get_weather', arguments: { city: 'Tokyo' } } }], promptEvalCount: 169, evalCount: 15 });
    const { chunks, reads, error } = await streamChat(true);
    expect(error).toBeUndefined();
    expect(reads).toBeGreaterThan(3);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('The sky is blue');
    expect(chunks.find((c) => c.choices[0]?.delta.tool_calls)!.choices[0]!.delta.tool_calls).toEqual([
      { index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } },
    ]);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 169, completion_tokens: 15, total_tokens: 184 } });
    expect((fake.received.at(-1)!.body as { stream: boolean }).stream).toBe(true);
  });

  it('streaming: an older Ollama without done_reason still finishes with stop', async () => {
    fake.script({ content: ['ok'], doneReason: null });
    const { chunks } = await streamChat(false);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('streaming: a body that ends before the done line is a retryable error, after output started', async () => {
    fake.script({ content: ['partial', ' answer'], cut: 'end' });
    const { chunks, error, started } = await streamChat(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('partial answer');
    expect(isProviderError(error) && [error.status, error.retryable]).toEqual([502, true]);
    expect(started).toBe(true);
  });

  it('streaming: a killed connection surfaces as an error (from fetch), never a clean end', async () => {
    fake.script({ content: ['partial'], cut: 'destroy' });
    const { error } = await streamChat(true);
    expect(error).toBeDefined();
  });

  it('streaming: an {"error"} line mid-stream is a ProviderError with the message', async () => {
    fake.script({ content: [' Yes', '.'], midStreamError: 'an error was encountered while running the model' });
    const { error } = await streamChat(false);
    expect(isProviderError(error) && error.message).toBe('an error was encountered while running the model');
  });

  it('an HTTP error answer maps through fromOllamaError', async () => {
    fake.script({ error: { status: 404, message: 'model "nope" not found, try pulling it first' } });
    const res = await post('/api/chat', toOllamaChatRequest(request, { model: 'nope' }));
    const err = fromOllamaError(res.status, await res.text());
    expect([err.status, err.body.error.code, err.message]).toEqual([404, 'model_not_found', 'model "nope" not found, try pulling it first']);
  });

  it('/api/embed round trip', async () => {
    fake.script({ promptEvalCount: 9 });
    const res = await post('/api/embed', toOllamaEmbedRequest({ model: 'emb', input: ['one', 'two'] }, { model: 'nomic-embed-text' }));
    expect(fake.received.at(-1)!.body).toEqual({ model: 'nomic-embed-text', input: ['one', 'two'] });
    const out = fromOllamaEmbedResponse((await res.json()) as OllamaEmbedResponse, { model: 'emb' });
    expect(out.data.map((d) => d.index)).toEqual([0, 1]);
    expect(out.data[1]!.embedding).toEqual([0.2, 0.2, -0.3]);
    expect(out.usage).toEqual({ prompt_tokens: 9, total_tokens: 9 });
  });
});
