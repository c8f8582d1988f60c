import { describe, expect, it } from 'vitest';
import {
  createOllamaStreamTranslator,
  fromOllamaChatResponse,
  fromOllamaEmbedResponse,
  fromOllamaError,
  newToolCallId,
  toOllamaChatRequest,
  toOllamaEmbedRequest,
  type OllamaChatResponse,
} from './ollama.js';
import { isProviderError, type ChatCompletionChunk, type ChatCompletionRequest } from '../openai-types.js';

const meta = { model: 'llama3.2', id: 'chatcmpl-1', created: 1_700_000_000 };

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('toOllamaChatRequest', () => {
  it('maps messages, images, tools, options and format field by field', () => {
    const req: ChatCompletionRequest = {
      model: 'local',
      stream: true,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'developer', content: [{ type: 'text', text: 'dev' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'text', text: 'this?' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } }] },
        { role: 'tool', tool_call_id: 'call_a', content: '21C' },
      ],
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'noop' } },
      ],
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      seed: 7,
      max_tokens: 100,
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      response_format: { type: 'json_object' },
    };
    expect(toOllamaChatRequest(req, { model: 'llama3.2:3b', keepAlive: '10m' })).toEqual({
      model: 'llama3.2:3b',
      stream: true,
      keep_alive: '10m',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'system', content: 'dev' },
        { role: 'user', content: 'what is\nthis?', images: ['iVBORw0KGgo='] },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_a', function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] },
        { role: 'tool', content: '21C', tool_call_id: 'call_a', tool_name: 'get_weather' },
      ],
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
      ],
      format: 'json',
      options: { temperature: 0.2, top_p: 0.9, stop: ['END'], seed: 7, num_predict: 100, presence_penalty: 0.5, frequency_penalty: 0.25 },
    });
  });

  it('prefers max_completion_tokens, sends json_schema as format, stream false by default, no empty options', () => {
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] };
    const out = toOllamaChatRequest(
      { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, max_completion_tokens: 9, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } },
      { model: 'm' },
    );
    expect(out.stream).toBe(false);
    expect(out.format).toEqual(schema);
    expect(out.options).toEqual({ num_predict: 9 });
    const plain = toOllamaChatRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'text' } }, { model: 'm' });
    expect(plain).toEqual({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false });
  });

  it('honours tool_choice none and a named function', () => {
    const tools = [
      { type: 'function' as const, function: { name: 'a' } },
      { type: 'function' as const, function: { name: 'b' } },
    ];
    const base = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], tools };
    expect(toOllamaChatRequest({ ...base, tool_choice: 'none' }, { model: 'm' }).tools).toBeUndefined();
    expect(toOllamaChatRequest({ ...base, tool_choice: { type: 'function', function: { name: 'b' } } }, { model: 'm' }).tools?.map((t) => t.function.name)).toEqual(['b']);
  });

  it('refuses what Ollama cannot do, naming the field', () => {
    const link = catchError(() =>
      toOllamaChatRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] }, { model: 'm' }),
    );
    expect(isProviderError(link) && link.status).toBe(400);
    expect(isProviderError(link) && link.body.error.param).toBe('messages[0].content[0].image_url.url');
    const n = catchError(() => toOllamaChatRequest({ model: 'm', messages: [], n: 2 }, { model: 'm' }));
    expect(isProviderError(n) && n.body.error.param).toBe('n');
    const args = catchError(() =>
      toOllamaChatRequest({ model: 'm', messages: [{ role: 'assistant', tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] }, { model: 'm' }),
    );
    expect(isProviderError(args) && args.body.error.param).toBe('messages[0].tool_calls[0].function.arguments');
  });
});

describe('fromOllamaChatResponse', () => {
  it('maps text, finish reason and usage', () => {
    const body: OllamaChatResponse = {
      model: 'llama3.2',
      created_at: '2024-12-06T00:46:58.265747Z',
      message: { role: 'assistant', content: 'Hello!' },
      done_reason: 'stop',
      done: true,
      prompt_eval_count: 26,
      eval_count: 298,
    };
    expect(fromOllamaChatResponse(body, meta)).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'llama3.2',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 26, completion_tokens: 298, total_tokens: 324 },
    });
  });

  it('turns tool-call argument objects into JSON strings with unique ids, finish_reason tool_calls', () => {
    const body: OllamaChatResponse = {
      message: {
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'get_weather', arguments: { city: 'Tokyo' } } },
          { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { id: 'call_fromollama', function: { name: 'noop', arguments: {} } },
        ],
      },
      done_reason: 'stop',
      done: true,
      prompt_eval_count: 169,
      eval_count: 18,
    };
    const out = fromOllamaChatResponse(body, meta);
    const choice = out.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const calls = choice.message.tool_calls!;
    expect(calls.map((c) => c.function)).toEqual([
      { name: 'get_weather', arguments: '{"city":"Tokyo"}' },
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'noop', arguments: '{}' },
    ]);
    expect(calls[0]!.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(calls[0]!.id).not.toBe(calls[1]!.id);
    expect(calls[2]!.id).toBe('call_fromollama');
    expect(out.usage).toEqual({ prompt_tokens: 169, completion_tokens: 18, total_tokens: 187 });
  });

  it('maps done_reason: length, missing (older Ollama) → stop, unknown → null; missing counts → 0', () => {
    const at = (r: string | undefined): unknown => fromOllamaChatResponse({ message: { content: 'x' }, done: true, ...(r === undefined ? {} : { done_reason: r }) }, meta).choices[0]!.finish_reason;
    expect(at('length')).toBe('length');
    expect(at(undefined)).toBe('stop');
    expect(at('unload')).toBeNull();
    expect(fromOllamaChatResponse({ message: { content: 'x' }, done: true }, meta).usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  it('generates tool-call ids that do not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, newToolCallId));
    expect(ids.size).toBe(10_000);
  });
});

const ndjson = [
  { model: 'llama3.2', message: { role: 'assistant', content: 'The' }, done: false },
  { model: 'llama3.2', message: { role: 'assistant', content: ' sky ☀️' }, done: false },
  { model: 'llama3.2', message: { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] }, done: false },
  { model: 'llama3.2', message: { role: 'assistant', content: '' }, done_reason: 'stop', done: true, prompt_eval_count: 169, eval_count: 15 },
]
  .map((o) => `${JSON.stringify(o)}\n`)
  .join('');

function run(pieces: Array<string | Uint8Array>, includeUsage = true): ChatCompletionChunk[] {
  const t = createOllamaStreamTranslator({ ...meta, includeUsage });
  const out: ChatCompletionChunk[] = [];
  for (const p of pieces) out.push(...t.push(p));
  out.push(...t.end());
  return out;
}

describe('createOllamaStreamTranslator', () => {
  it('emits role, content, tool call with index, finish and usage chunks', () => {
    const chunks = run([ndjson]);
    expect(chunks.map((c) => [c.choices[0]?.delta ?? null, c.choices[0]?.finish_reason ?? null, c.usage])).toEqual([
      [{ role: 'assistant', content: '' }, null, null],
      [{ content: 'The' }, null, null],
      [{ content: ' sky ☀️' }, null, null],
      [{ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } }] }, null, null],
      [{}, 'tool_calls', null],
      [null, null, { prompt_tokens: 169, completion_tokens: 15, total_tokens: 184 }],
    ]);
    expect(chunks.every((c) => c.id === 'chatcmpl-1' && c.object === 'chat.completion.chunk' && c.created === meta.created && c.model === 'llama3.2')).toBe(true);
    expect(chunks.at(-1)!.choices).toEqual([]);
  });

  it('without include_usage: no usage chunk and no usage fields, but usage() still reports', () => {
    const t = createOllamaStreamTranslator({ ...meta, includeUsage: false });
    const chunks = [...t.push(ndjson), ...t.end()];
    expect(chunks).toHaveLength(5);
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(t.usage()).toEqual({ prompt_tokens: 169, completion_tokens: 15, total_tokens: 184 });
    expect(t.done()).toBe(true);
  });

  it('gives identical chunks however the text is split (every character position, two pieces)', () => {
    const whole = JSON.stringify(run([ndjson]));
    for (let i = 0; i <= ndjson.length; i++) {
      expect(JSON.stringify(run([ndjson.slice(0, i), ndjson.slice(i)]))).toBe(whole);
    }
    expect(JSON.stringify(run([...ndjson]))).toBe(whole); // one character per push
  });

  it('gives identical chunks when bytes are split inside a multi-byte character', () => {
    const whole = JSON.stringify(run([ndjson]));
    const bytes = new TextEncoder().encode(ndjson);
    for (let i = 0; i <= bytes.length; i++) {
      expect(JSON.stringify(run([bytes.subarray(0, i), bytes.subarray(i)]))).toBe(whole);
    }
  });

  it('accepts a last line without newline', () => {
    expect(JSON.stringify(run([ndjson.slice(0, -1)]))).toBe(JSON.stringify(run([ndjson])));
  });

  it('started() is false after the role preamble, true once content went out', () => {
    const t = createOllamaStreamTranslator({ ...meta, includeUsage: false });
    const first = t.push(`${JSON.stringify({ message: { role: 'assistant', content: '' }, done: false })}\n`);
    expect(first).toHaveLength(1);
    expect(t.started()).toBe(false);
    t.push(`${JSON.stringify({ message: { role: 'assistant', content: 'x' }, done: false })}\n`);
    expect(t.started()).toBe(true);
    expect(t.usage()).toBeUndefined();
  });

  it('a stream cut before done is a retryable error', () => {
    const cut = ndjson.split('\n').slice(0, 2).join('\n') + '\n';
    const t = createOllamaStreamTranslator({ ...meta, includeUsage: true });
    t.push(cut);
    const err = catchError(() => t.end());
    expect(isProviderError(err) && [err.status, err.retryable, err.body.error.type]).toEqual([502, true, 'server_error']);
    // A half line at the cut is not JSON: also an error, not a silent drop.
    const half = createOllamaStreamTranslator({ ...meta, includeUsage: true });
    half.push(ndjson.slice(0, 30));
    expect(isProviderError(catchError(() => half.end()))).toBe(true);
  });

  it('an {"error"} line is an error carrying the message', () => {
    const t = createOllamaStreamTranslator({ ...meta, includeUsage: false });
    t.push(`${JSON.stringify({ message: { content: 'I' }, done: false })}\n`);
    const err = catchError(() => t.push('{"error":"an error was encountered while running the model"}\n'));
    expect(isProviderError(err) && err.message).toBe('an error was encountered while running the model');
    expect(t.started()).toBe(true);
  });

  it('passes length and unknown done reasons through the final chunk', () => {
    const final = (r: string): unknown => run([`${JSON.stringify({ message: { content: 'x' }, done: true, done_reason: r })}\n`], false).at(-1)!.choices[0]!.finish_reason;
    expect(final('length')).toBe('length');
    expect(final('stop')).toBe('stop');
    expect(final('weird')).toBeNull();
  });
});

describe('embeddings', () => {
  it('maps the request and refuses token arrays', () => {
    expect(toOllamaEmbedRequest({ model: 'e', input: ['a', 'b'], dimensions: 256 }, { model: 'nomic-embed-text', keepAlive: 0 })).toEqual({
      model: 'nomic-embed-text',
      input: ['a', 'b'],
      dimensions: 256,
      keep_alive: 0,
    });
    expect(toOllamaEmbedRequest({ model: 'e', input: 'a' }, { model: 'x' })).toEqual({ model: 'x', input: 'a' });
    const err = catchError(() => toOllamaEmbedRequest({ model: 'e', input: [1, 2, 3] }, { model: 'x' }));
    expect(isProviderError(err) && err.body.error.param).toBe('input');
  });

  it('maps the response, floats or base64 float32', () => {
    const body = { model: 'all-minilm', embeddings: [[0.5, -1], [0.25, 2]], prompt_eval_count: 8 };
    expect(fromOllamaEmbedResponse(body, { model: 'emb' })).toEqual({
      object: 'list',
      model: 'emb',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, -1] },
        { object: 'embedding', index: 1, embedding: [0.25, 2] },
      ],
      usage: { prompt_tokens: 8, total_tokens: 8 },
    });
    const b64 = fromOllamaEmbedResponse(body, { model: 'emb', encodingFormat: 'base64' }).data[0]!.embedding as string;
    const buf = Buffer.from(b64, 'base64');
    expect([buf.readFloatLE(0), buf.readFloatLE(4)]).toEqual([0.5, -1]);
    expect(fromOllamaEmbedResponse({ embeddings: [[1]] }, { model: 'emb' }).usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
  });
});

describe('fromOllamaError', () => {
  it.each([
    [400, 400, 'invalid_request_error', false],
    [404, 404, 'invalid_request_error', false],
    [429, 429, 'rate_limit_error', true],
    [500, 502, 'server_error', true],
    [502, 502, 'server_error', true],
    [503, 503, 'server_error', true],
    [401, 502, 'server_error', false],
  ])('HTTP %i → %i %s (retryable %s)', (status, out, type, retryable) => {
    const err = fromOllamaError(status, { error: 'model "x" not found, try pulling it first' });
    expect([err.status, err.body.error.type, err.retryable]).toEqual([out, type, retryable]);
    expect(err.message).toContain('model "x" not found');
  });

  it('reads the message from raw text, JSON text or nothing', () => {
    expect(fromOllamaError(400, '{"error":"bad"}').message).toBe('bad');
    expect(fromOllamaError(500, 'plain failure').message).toBe('plain failure');
    expect(fromOllamaError(500, '').message).toBe('Ollama answered with HTTP 500.');
    expect(fromOllamaError(404, {}).body.error.code).toBe('model_not_found');
  });
});
