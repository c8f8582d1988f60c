import { describe, expect, it } from 'vitest';
import {
  createAnthropicStreamTranslator,
  fromAnthropicError,
  fromAnthropicResponse,
  mapStopReason,
  toAnthropicRequest,
  type StreamStep,
} from './anthropic.js';
import { ProviderError, type ChatCompletionChunk, type ChatCompletionRequest } from '../openai-types.js';

const OPTS = { model: 'claude-sonnet-4-5', defaultMaxTokens: 4096 };

function req(extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'smart', messages: [{ role: 'user', content: 'Hi' }], ...extra };
}

function rejected(r: ChatCompletionRequest): ProviderError {
  try {
    toAnthropicRequest(r, OPTS);
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

describe('toAnthropicRequest', () => {
  it('sends the upstream model and a plain user turn as a text block', () => {
    expect(toAnthropicRequest(req(), OPTS)).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
  });

  it('max_tokens: max_completion_tokens, then max_tokens, then the default', () => {
    expect(toAnthropicRequest(req({ max_completion_tokens: 10, max_tokens: 20 }), OPTS).max_tokens).toBe(10);
    expect(toAnthropicRequest(req({ max_tokens: 20 }), OPTS).max_tokens).toBe(20);
    expect(toAnthropicRequest(req({ max_tokens: null }), OPTS).max_tokens).toBe(4096);
  });

  it('one system message becomes a string system prompt', () => {
    const out = toAnthropicRequest(req({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] }), OPTS);
    expect(out.system).toBe('Be brief.');
    expect(out.messages).toHaveLength(1);
  });

  it('system and developer messages are hoisted, in order, as text blocks', () => {
    const out = toAnthropicRequest(
      req({
        messages: [
          { role: 'system', content: 'A' },
          { role: 'developer', content: [{ type: 'text', text: 'B' }, { type: 'text', text: 'C' }] },
          { role: 'user', content: 'Hi' },
          { role: 'system', content: 'D' },
        ],
      }),
      OPTS,
    );
    expect(out.system).toEqual([
      { type: 'text', text: 'A' },
      { type: 'text', text: 'B' },
      { type: 'text', text: 'C' },
      { type: 'text', text: 'D' },
    ]);
    expect(out.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  it('tools: name, description, input_schema; missing or empty parameters become an empty object schema; strict kept', () => {
    const params = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const out = toAnthropicRequest(
      req({
        tools: [
          { type: 'function', function: { name: 'weather', description: 'Get weather', parameters: params, strict: true } },
          { type: 'function', function: { name: 'now' } },
          { type: 'function', function: { name: 'noop', parameters: {} } },
        ],
      }),
      OPTS,
    );
    expect(out.tools).toEqual([
      { name: 'weather', description: 'Get weather', input_schema: params, strict: true },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
      { name: 'noop', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(out.tool_choice).toBeUndefined();
  });

  const tools: ChatCompletionRequest['tools'] = [{ type: 'function', function: { name: 'weather' } }];

  it.each([
    ['auto', { type: 'auto' }],
    ['required', { type: 'any' }],
    ['none', { type: 'none' }],
    [{ type: 'function', function: { name: 'weather' } }, { type: 'tool', name: 'weather' }],
  ] as const)('tool_choice %j → %j', (choice, expected) => {
    expect(toAnthropicRequest(req({ tools, tool_choice: choice }), OPTS).tool_choice).toEqual(expected);
  });

  it('parallel_tool_calls: false → disable_parallel_tool_use on the tool choice (auto when none given)', () => {
    expect(toAnthropicRequest(req({ tools, parallel_tool_calls: false }), OPTS).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(toAnthropicRequest(req({ tools, tool_choice: 'required', parallel_tool_calls: false }), OPTS).tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(toAnthropicRequest(req({ tools, tool_choice: { type: 'function', function: { name: 'weather' } }, parallel_tool_calls: false }), OPTS).tool_choice).toEqual({
      type: 'tool',
      name: 'weather',
      disable_parallel_tool_use: true,
    });
    expect(toAnthropicRequest(req({ tools, parallel_tool_calls: true }), OPTS).tool_choice).toBeUndefined();
  });

  it('a conversation with tool calls: tool_use blocks, consecutive tool results merged with the next user text in one turn', () => {
    const out = toAnthropicRequest(
      req({
        messages: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rainy' }] },
          { role: 'user', content: 'Thanks, and Oslo?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
        ],
      }),
      OPTS,
    );
    expect(out.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'rainy' }] },
          { type: 'text', text: 'Thanks, and Oslo?' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_3', name: 'weather', input: { city: 'Oslo' } }] },
    ]);
  });

  it('invalid tool call arguments → 400 naming the message index', () => {
    const err = rejected(
      req({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":' } }] },
        ],
      }),
    );
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.body.error.message).toContain('messages[1]');
    expect(err.body.error.message).toContain('call_9');
    expect(err.body.error.param).toBe('messages[1].tool_calls');
  });

  it('images: data URL → base64 source with its media type; https URL → url source', () => {
    const out = toAnthropicRequest(
      req({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
            ],
          },
        ],
      }),
      OPTS,
    );
    expect(out.messages[0]?.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('an image that is neither base64 data nor http(s) is refused', () => {
    const err = rejected(req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }));
    expect(err.body.error.param).toBe('messages[0].content[0].image_url.url');
    expect(rejected(req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,rawbytes' } }] }] })).status).toBe(400);
  });

  it('stop → stop_sequences (string or array)', () => {
    expect(toAnthropicRequest(req({ stop: 'END' }), OPTS).stop_sequences).toEqual(['END']);
    expect(toAnthropicRequest(req({ stop: ['a', 'b'] }), OPTS).stop_sequences).toEqual(['a', 'b']);
    expect(toAnthropicRequest(req({ stop: null }), OPTS).stop_sequences).toBeUndefined();
  });

  it('temperature is clamped to 0..1, not scaled; top_p passes through', () => {
    expect(toAnthropicRequest(req({ temperature: 0.7 }), OPTS).temperature).toBe(0.7);
    expect(toAnthropicRequest(req({ temperature: 1.8 }), OPTS).temperature).toBe(1);
    expect(toAnthropicRequest(req({ temperature: 0 }), OPTS).temperature).toBe(0);
    expect(toAnthropicRequest(req({ top_p: 0.9 }), OPTS).top_p).toBe(0.9);
  });

  it('user → metadata.user_id', () => {
    expect(toAnthropicRequest(req({ user: 'u-42' }), OPTS).metadata).toEqual({ user_id: 'u-42' });
  });

  it('response_format json_schema → output_config.format; text is a no-op', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const out = toAnthropicRequest(req({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } }), OPTS);
    expect(out.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(toAnthropicRequest(req({ response_format: { type: 'text' } }), OPTS).output_config).toBeUndefined();
  });

  it('stream: true is copied; stream_options is not sent upstream', () => {
    const out = toAnthropicRequest(req({ stream: true, stream_options: { include_usage: true } }), OPTS);
    expect(out.stream).toBe(true);
    expect(out).not.toHaveProperty('stream_options');
  });

  it.each([
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ top_logprobs: 3 }, 'top_logprobs'],
    [{ logit_bias: { '50256': -100 } }, 'logit_bias'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ frequency_penalty: 0.5 }, 'frequency_penalty'],
    [{ response_format: { type: 'json_object' } }, 'response_format'],
    [{ functions: [{ name: 'f' }] }, 'functions'],
    [{ modalities: ['text', 'audio'] }, 'modalities'],
  ] as Array<[Record<string, unknown>, string]>)('refuses %j with a 400 naming %s', (extra, param) => {
    const err = rejected(req(extra as Partial<ChatCompletionRequest>));
    expect(err.status).toBe(400);
    expect(err.body.error.type).toBe('invalid_request_error');
    expect(err.body.error.param).toBe(param);
    expect(err.body.error.message).toContain(param);
  });

  it('accepts harmless defaults (n: 1, zero penalties, logprobs: false) and drops pure hints (seed, store)', () => {
    const out = toAnthropicRequest(req({ n: 1, presence_penalty: 0, frequency_penalty: 0, logprobs: false, seed: 7, store: false }), OPTS);
    expect(Object.keys(out).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });
});

describe('fromAnthropicResponse', () => {
  const body = {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [
      { type: 'thinking', thinking: 'hmm', signature: 's' },
      { type: 'text', text: 'Let me check ' },
      { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'text', text: 'both.' },
      { type: 'tool_use', id: 'toolu_2', name: 'weather', input: {} },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 },
  };

  it('maps content, tool calls, finish reason, usage and echoes the requested model', () => {
    expect(fromAnthropicResponse(body, { model: 'smart', created: 1_700_000_000 })).toEqual({
      id: 'msg_01',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'smart',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check both.',
            refusal: null,
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 1150, completion_tokens: 30, total_tokens: 1180, prompt_tokens_details: { cached_tokens: 1000 } },
    });
  });

  it('uses the given id; content is null when there is no text; no tool_calls key without tool calls', () => {
    const out = fromAnthropicResponse({ ...body, content: [], stop_reason: 'end_turn' }, { model: 'smart', id: 'chatcmpl-x', created: 1 });
    expect(out.id).toBe('chatcmpl-x');
    expect(out.choices[0]?.message).toEqual({ role: 'assistant', content: null, refusal: null });
  });

  it('usage without cache fields', () => {
    expect(fromAnthropicResponse({ ...body, usage: { input_tokens: 7, output_tokens: 3 } }, { model: 'm', created: 1 }).usage).toEqual({
      prompt_tokens: 7,
      completion_tokens: 3,
      total_tokens: 10,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['pause_turn', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['something_new', null],
    [null, null],
  ])('stop_reason %s → finish_reason %s', (reason, finish) => {
    expect(mapStopReason(reason)).toBe(finish);
    expect(fromAnthropicResponse({ ...body, stop_reason: reason }, { model: 'm', created: 1 }).choices[0]?.finish_reason).toBe(finish);
  });

  it('a body that is not a Message is a retryable 502', () => {
    for (const bad of [null, 'oops', { type: 'message' }]) {
      let err: unknown;
      try {
        fromAnthropicResponse(bad, { model: 'm' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).status).toBe(502);
      expect((err as ProviderError).retryable).toBe(true);
    }
  });
});

describe('fromAnthropicError', () => {
  const body = (type: string, message = 'boom', extra: Record<string, unknown> = {}) => ({ type: 'error', error: { type, message, ...extra }, request_id: 'req_1' });

  it.each([
    [400, 'invalid_request_error', 400, 'invalid_request_error', false],
    [401, 'authentication_error', 401, 'authentication_error', false],
    [402, 'billing_error', 402, 'insufficient_quota', false],
    [403, 'permission_error', 403, 'permission_error', false],
    [404, 'not_found_error', 404, 'invalid_request_error', false],
    [413, 'request_too_large', 413, 'invalid_request_error', false],
    [429, 'rate_limit_error', 429, 'rate_limit_error', true],
    [500, 'api_error', 500, 'server_error', true],
    [504, 'timeout_error', 504, 'server_error', true],
    [529, 'overloaded_error', 503, 'server_error', true],
  ])('%i %s → %i %s retryable=%s', (status, type, outStatus, outType, retryable) => {
    const err = fromAnthropicError(status, body(type));
    expect(err.status).toBe(outStatus);
    expect(err.retryable).toBe(retryable);
    expect(err.body).toEqual({ error: { message: 'boom', type: outType, code: type, param: null } });
  });

  it('a spend-limit 429 is not retryable', () => {
    const err = fromAnthropicError(429, body('rate_limit_error', 'spend limit', { details: { error_code: 'enforced_spend_limit_reached' } }));
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(false);
    expect(err.body.error.type).toBe('insufficient_quota');
  });

  it('falls back to the HTTP status when the body is not Anthropic-shaped', () => {
    expect(fromAnthropicError(529, 'Overloaded')).toMatchObject({ status: 503, retryable: true });
    expect(fromAnthropicError(502, '<html>')).toMatchObject({ status: 502, retryable: true });
    expect(fromAnthropicError(418, null)).toMatchObject({ status: 418, retryable: false });
    expect(fromAnthropicError(418, null).body.error.message).toBe('Anthropic answered HTTP 418.');
  });

  it('a mid-stream error event (status 200) maps by its type', () => {
    expect(fromAnthropicError(200, body('overloaded_error'))).toMatchObject({ status: 503, retryable: true });
    expect(fromAnthropicError(200, body('brand_new_error'))).toMatchObject({ status: 502, retryable: true });
  });
});

// ---------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------

function ev(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A realistic stream: text, tool_use, text, tool_use (block indices 0..3, tool indices 0..1), with a ping and CRLF-free UTF-8. */
const STREAM = [
  ev('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-sonnet-4-5',
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 200, output_tokens: 1 },
    },
  }),
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ev('ping', { type: 'ping' }),
  ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Café ☕, ' } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'checking.' } }),
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
  ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_A', name: 'weather', input: {} } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Par' } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'is"}' } }),
  ev('content_block_stop', { type: 'content_block_stop', index: 1 }),
  ev('content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: ' and ' } }),
  ev('content_block_stop', { type: 'content_block_stop', index: 2 }),
  ev('content_block_start', { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_B', name: 'weather', input: {} } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' } }),
  ev('content_block_stop', { type: 'content_block_stop', index: 3 }),
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 57 } }),
  ev('message_stop', { type: 'message_stop' }),
].join('');

const SOPTS = { model: 'smart', id: 'chatcmpl-1', created: 1_700_000_000, includeUsage: true };

interface Run {
  chunks: ChatCompletionChunk[];
  done: boolean;
  error: unknown;
}

function run(pieces: Array<string | Uint8Array>, opts = SOPTS, callEnd = true): Run {
  const t = createAnthropicStreamTranslator(opts);
  const steps: StreamStep[] = pieces.map((p) => t.push(p));
  if (callEnd) steps.push(t.end());
  return {
    chunks: steps.flatMap((s) => s.chunks),
    done: steps.some((s) => s.done === true),
    error: steps.find((s) => s.error !== undefined)?.error?.body,
  };
}

const chunkBase = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'smart', usage: null };
const c = (delta: unknown, finish: string | null = null) => ({ ...chunkBase, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });

const EXPECTED = [
  c({ role: 'assistant', content: '' }),
  c({ content: 'Café ☕, ' }),
  c({ content: 'checking.' }),
  c({ tool_calls: [{ index: 0, id: 'toolu_A', type: 'function', function: { name: 'weather', arguments: '' } }] }),
  c({ tool_calls: [{ index: 0, function: { arguments: '{"city": "Par' } }] }),
  c({ tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] }),
  c({ content: ' and ' }),
  c({ tool_calls: [{ index: 1, id: 'toolu_B', type: 'function', function: { name: 'weather', arguments: '' } }] }),
  c({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }),
  c({}, 'tool_calls'),
  {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'smart',
    choices: [],
    usage: { prompt_tokens: 235, completion_tokens: 57, total_tokens: 292, prompt_tokens_details: { cached_tokens: 200 } },
  },
];

describe('createAnthropicStreamTranslator', () => {
  it('translates a realistic stream: tool indices are tool ordinals, not block indices; usage chunk last; done', () => {
    const r = run([STREAM]);
    expect(r.chunks).toEqual(EXPECTED);
    expect(r.done).toBe(true);
    expect(r.error).toBeUndefined();
  });

  it('gives identical chunks when the text is split at every position', () => {
    const whole = run([STREAM]);
    expect(whole.chunks).toEqual(EXPECTED);
    const reference = JSON.stringify(whole);
    const differing: number[] = [];
    for (let i = 0; i <= STREAM.length; i++) {
      if (JSON.stringify(run([STREAM.slice(0, i), STREAM.slice(i)])) !== reference) differing.push(i);
    }
    expect(differing).toEqual([]);
  });

  it('gives identical chunks fed byte by byte (multi-byte UTF-8 split across pushes) and character by character', () => {
    const bytes = new TextEncoder().encode(STREAM);
    expect(run(Array.from(bytes, (b) => new Uint8Array([b])))).toEqual({ chunks: EXPECTED, done: true, error: undefined });
    expect(run(Array.from(STREAM))).toEqual({ chunks: EXPECTED, done: true, error: undefined });
  });

  it('handles CRLF line endings', () => {
    expect(run([STREAM.replace(/\n/g, '\r\n')]).chunks).toEqual(EXPECTED);
  });

  it('without includeUsage: no usage fields and no usage chunk', () => {
    const r = run([STREAM], { ...SOPTS, includeUsage: false });
    expect(r.chunks).toHaveLength(EXPECTED.length - 1);
    expect(r.chunks.every((ch) => !('usage' in ch))).toBe(true);
    expect(r.chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('usage() and started() track the stream', () => {
    const t = createAnthropicStreamTranslator(SOPTS);
    const [start, blockStart, , firstText] = STREAM.split(/(?<=\n\n)/);
    expect(t.usage()).toBeUndefined();
    t.push(start ?? '');
    t.push(blockStart ?? '');
    expect(t.started()).toBe(false);
    expect(t.usage()).toEqual({ prompt_tokens: 235, completion_tokens: 1, total_tokens: 236, prompt_tokens_details: { cached_tokens: 200 } });
    t.push(firstText ?? '');
    expect(t.started()).toBe(true);
  });

  it('a tool call alone counts as started', () => {
    const t = createAnthropicStreamTranslator(SOPTS);
    t.push(ev('message_start', { type: 'message_start', message: { usage: { input_tokens: 1, output_tokens: 1 } } }));
    expect(t.started()).toBe(false);
    t.push(ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'f', input: {} } }));
    expect(t.started()).toBe(true);
  });

  it('a mid-stream error event → error result, no finish_reason, nothing after it', () => {
    const cut = STREAM.indexOf('event: content_block_start\ndata: {"type":"content_block_start","index":1');
    const error = ev('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const t = createAnthropicStreamTranslator(SOPTS);
    const step = t.push(STREAM.slice(0, cut) + error + STREAM.slice(cut));
    expect(step.error).toBeInstanceOf(ProviderError);
    expect(step.error?.status).toBe(503);
    expect(step.error?.retryable).toBe(true);
    expect(step.error?.body.error).toMatchObject({ message: 'Overloaded', code: 'overloaded_error' });
    expect(step.done).toBeUndefined();
    expect(step.chunks.map((ch) => ch.choices[0]?.delta.content)).toEqual(['', 'Café ☕, ', 'checking.']);
    expect(step.chunks.every((ch) => ch.choices[0]?.finish_reason === null)).toBe(true);
    expect(t.push(STREAM).chunks).toEqual([]);
    expect(t.end().error).toBe(step.error);
  });

  it('a stream that ends without message_stop is an error at end(), never a clean done', () => {
    const withoutStop = STREAM.slice(0, STREAM.indexOf('event: message_stop'));
    const t = createAnthropicStreamTranslator(SOPTS);
    const step = t.push(withoutStop);
    expect(step.done).toBeUndefined();
    expect(step.error).toBeUndefined();
    const end = t.end();
    expect(end.done).toBeUndefined();
    expect(end.error).toMatchObject({ status: 502, retryable: true });
    expect(end.error?.body.error.code).toBe('upstream_stream_truncated');
  });

  it('a final event without its terminating blank line is incomplete, so still an error', () => {
    const r = run([STREAM.slice(0, -1)]);
    expect(r.done).toBe(false);
    expect(r.error).toMatchObject({ error: { code: 'upstream_stream_truncated' } });
  });

  it('an unknown stop_reason yields no finish chunk (never a made-up "stop")', () => {
    const stream = STREAM.replace('"stop_reason":"tool_use"', '"stop_reason":"brand_new"');
    const r = run([stream]);
    expect(r.chunks.some((ch) => ch.choices[0]?.finish_reason != null)).toBe(false);
    expect(r.done).toBe(true);
  });

  it('skips unknown events and delta types (thinking, new event kinds)', () => {
    const extra =
      ev('content_block_start', { type: 'content_block_start', index: 9, content_block: { type: 'thinking', thinking: '' } }) +
      ev('content_block_delta', { type: 'content_block_delta', index: 9, delta: { type: 'thinking_delta', thinking: 'hmm' } }) +
      ev('brand_new_event', { type: 'brand_new_event' });
    const i = STREAM.indexOf('event: content_block_start');
    expect(run([STREAM.slice(0, i) + extra + STREAM.slice(i)]).chunks).toEqual(EXPECTED);
  });

  it('non-JSON data is a malformed-upstream error', () => {
    const r = run(['event: message_start\ndata: {not json\n\n']);
    expect(r.error).toMatchObject({ error: { code: 'upstream_malformed' } });
  });
});
