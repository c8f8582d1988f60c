import { describe, expect, it } from 'vitest';
import { createOpenAIStreamObserver, fromOpenAIError } from './openai.js';
import { ProviderError } from '../openai-types.js';

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', system_fingerprint: 'fp' };
const data = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
const chunk = (delta: unknown, finish: string | null = null) => data({ ...base, choices: [{ index: 0, delta, finish_reason: finish }], usage: null });

const ROLE = chunk({ role: 'assistant', content: '', refusal: null });
const USAGE = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16, prompt_tokens_details: { cached_tokens: 8 } };
const STREAM = [
  ROLE,
  chunk({ content: 'Grüße ' }),
  chunk({ content: '👋' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }),
  chunk({}, 'tool_calls'),
  data({ ...base, choices: [], usage: USAGE }),
  'data: [DONE]\n\n',
].join('');

interface Seen {
  events: number;
  done: boolean;
  error: unknown;
  usage: unknown;
  started: boolean;
  end: unknown;
}

function observe(pieces: Array<string | Uint8Array>): Seen {
  const o = createOpenAIStreamObserver();
  let events = 0;
  let done = false;
  let error: unknown;
  for (const p of pieces) {
    const step = o.push(p);
    events += step.events;
    done ||= step.done === true;
    error ??= step.error?.body;
  }
  return { events, done, error, usage: o.usage(), started: o.started(), end: o.end().error?.body };
}

describe('createOpenAIStreamObserver', () => {
  it('captures usage, notices [DONE], counts events', () => {
    expect(observe([STREAM])).toEqual({ events: 8, done: true, error: undefined, usage: USAGE, started: true, end: undefined });
  });

  it('is invariant to where the stream is split (every position, and byte by byte)', () => {
    const reference = JSON.stringify(observe([STREAM]));
    const differing: number[] = [];
    for (let i = 0; i <= STREAM.length; i++) {
      if (JSON.stringify(observe([STREAM.slice(0, i), STREAM.slice(i)])) !== reference) differing.push(i);
    }
    expect(differing).toEqual([]);
    const bytes = new TextEncoder().encode(STREAM);
    expect(JSON.stringify(observe(Array.from(bytes, (b) => new Uint8Array([b]))))).toBe(reference);
  });

  it('started() is false after the role-only preamble and true after the first content', () => {
    const o = createOpenAIStreamObserver();
    o.push(ROLE);
    expect(o.started()).toBe(false);
    o.push(chunk({ content: '' }));
    expect(o.started()).toBe(false);
    o.push(chunk({ content: 'x' }));
    expect(o.started()).toBe(true);
  });

  it('a tool call or a refusal counts as started', () => {
    const a = createOpenAIStreamObserver();
    a.push(chunk({ tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: 'f', arguments: '' } }] }));
    expect(a.started()).toBe(true);
    const b = createOpenAIStreamObserver();
    b.push(chunk({ refusal: 'no' }));
    expect(b.started()).toBe(true);
  });

  it('a stream cut before [DONE] is an error at end()', () => {
    const cut = STREAM.slice(0, STREAM.indexOf('data: [DONE]'));
    const seen = observe([cut]);
    expect(seen.done).toBe(false);
    expect(seen.usage).toEqual(USAGE);
    expect(seen.end).toMatchObject({ error: { code: 'upstream_stream_truncated' } });
    // An unterminated "[DONE]" line is not a complete event.
    expect(observe([cut + 'data: [DONE]']).end).toMatchObject({ error: { code: 'upstream_stream_truncated' } });
  });

  it('an error payload mid-stream is reported and sticks', () => {
    const o = createOpenAIStreamObserver();
    o.push(ROLE + chunk({ content: 'a' }));
    const step = o.push(data({ error: { message: 'The server had an error', type: 'server_error', param: null, code: null } }));
    expect(step.error).toBeInstanceOf(ProviderError);
    expect(step.error?.status).toBe(500);
    expect(step.error?.retryable).toBe(true);
    expect(o.end().error?.body.error.message).toBe('The server had an error');
  });

  it('an `event: error` frame and a non-JSON data line are errors', () => {
    expect(observe(['event: error\ndata: {"message":"boom"}\n\n']).error).toMatchObject({ error: { type: 'server_error' } });
    expect(observe(['data: <html>\n\n']).error).toMatchObject({ error: { code: 'upstream_malformed' } });
  });

  it('ignores SSE comments (keep-alives) and events after [DONE]', () => {
    const seen = observe([': keep-alive\n\n' + STREAM + data({ error: { message: 'late' } })]);
    expect(seen.error).toBeUndefined();
    expect(seen.done).toBe(true);
  });
});

describe('fromOpenAIError', () => {
  const body = (type: string, code: string | null = null) => ({ error: { message: 'msg', type, param: 'messages', code } });

  it('keeps an OpenAI error body and status', () => {
    const err = fromOpenAIError(400, body('invalid_request_error', 'bad'));
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.body).toEqual({ error: { message: 'msg', type: 'invalid_request_error', code: 'bad', param: 'messages' } });
  });

  it.each([
    [408, true],
    [409, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
  ])('status %i retryable=%s', (status, retryable) => {
    expect(fromOpenAIError(status, body('x')).retryable).toBe(retryable);
  });

  it('a 429 for exhausted quota is not retryable', () => {
    expect(fromOpenAIError(429, body('insufficient_quota', 'insufficient_quota')).retryable).toBe(false);
  });

  it('a body that is not OpenAI-shaped gets a generic message', () => {
    const err = fromOpenAIError(502, '<html>bad gateway</html>');
    expect(err.body).toEqual({ error: { message: 'Upstream answered HTTP 502.', type: 'server_error', code: null, param: null } });
    expect(err.retryable).toBe(true);
  });

  it('inside a stream (status 200) the status is inferred from the error', () => {
    expect(fromOpenAIError(200, body('server_error')).status).toBe(500);
    expect(fromOpenAIError(200, body('requests', 'rate_limit_exceeded')).status).toBe(429);
    expect(fromOpenAIError(200, body('invalid_request_error')).status).toBe(400);
    expect(fromOpenAIError(200, {}).status).toBe(502);
  });
});
