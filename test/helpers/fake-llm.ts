/**
 * Fake LLM upstreams on 127.0.0.1:0 that speak the real wire formats: OpenAI Chat
 * Completions (JSON, SSE with `data: [DONE]`, `{error: {...}}` bodies) and Anthropic
 * Messages (JSON, named SSE events, `{type: 'error', error: {...}}` bodies). Each test sets
 * `fake.script` to choose the answer; every request is recorded as it crossed the wire.
 * Streams are written frame by frame, each frame in two writes with a pause between, so
 * clients really see events split across TCP reads.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the fake received. `body` is parsed JSON when it parses, else the raw text. */
export interface FakeReceived {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type FakeResponse =
  /** A JSON answer (also how HTTP errors are sent: status + the provider's error body). */
  | { type: 'json'; status?: number; body: unknown; headers?: Record<string, string> }
  /**
   * An SSE answer: `frames` are complete SSE events ("event: …\ndata: …\n\n"). `cut` destroys
   * the socket after the frames (a truncated stream: the frames should then omit the
   * terminal event). `delayMs` is the pause between writes (default 3).
   */
  | { type: 'sse'; frames: string[]; delayMs?: number; cut?: boolean; status?: number }
  /** Accept the request and never answer (until the client gives up or the fake closes). */
  | { type: 'hang' }
  /** Wait, then answer. */
  | { type: 'delay'; ms: number; then: FakeResponse };

export type FakeScript = (req: FakeReceived) => FakeResponse | Promise<FakeResponse>;

export interface FakeLLM {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:1234 (paths include /v1). */
  url: string;
  received: FakeReceived[];
  /** Set per test; reset to defaultOpenAIScript / defaultAnthropicScript (a short text answer, like the real provider). */
  script: FakeScript;
  /** Requests whose client went away before the answer was complete. */
  aborted: number;
  close(): Promise<void>;
}

async function startFake(defaultScript: FakeScript): Promise<FakeLLM> {
  const fake: FakeLLM = {
    url: '',
    received: [],
    script: defaultScript,
    aborted: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // keep the raw text: the test asserts on what crossed the wire
      }
      const received: FakeReceived = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      fake.received.push(received);
      res.on('close', () => {
        if (!res.writableFinished) fake.aborted++;
      });
      void Promise.resolve()
        .then(() => fake.script(received))
        .then((answer) => send(res, answer))
        .catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`fake script failed: ${String(err)}`);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

async function send(res: ServerResponse, answer: FakeResponse): Promise<void> {
  switch (answer.type) {
    case 'json':
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body));
      return;
    case 'hang':
      return;
    case 'delay':
      await sleep(answer.ms);
      if (res.destroyed) return;
      return send(res, answer.then);
    case 'sse': {
      res.writeHead(answer.status ?? 200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.flushHeaders();
      res.socket?.setNoDelay(true);
      const pause = answer.delayMs ?? 3;
      for (const frame of answer.frames) {
        // Two writes per frame, split mid-line, so readers get partial events.
        const cut = Math.max(1, Math.floor(frame.length / 2));
        for (const piece of [frame.slice(0, cut), frame.slice(cut)]) {
          if (res.destroyed) return;
          res.write(piece);
          await sleep(pause);
        }
      }
      if (answer.cut === true) res.socket?.destroy();
      else res.end();
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// OpenAI
// ---------------------------------------------------------------------------

export interface OpenAIToolCallScript {
  id: string;
  name: string;
  /** The arguments JSON, in the pieces the stream should send. */
  args: string[];
}

export interface OpenAIScript {
  model?: string;
  id?: string;
  created?: number;
  /** Text pieces (streamed one per chunk; joined for JSON). */
  text?: string[];
  toolCalls?: OpenAIToolCallScript[];
  finishReason?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
}

export interface OpenAIStreamScript extends OpenAIScript {
  /** Add `usage: null` to every chunk and a final usage chunk with `choices: []`. */
  includeUsage?: boolean;
  /** Keep this many frames, then send an error payload (`error`, default a server_error) and stop. */
  errorAfter?: number;
  error?: unknown;
  /** Leave out `data: [DONE]` (a stream that ends without its terminator). */
  omitDone?: boolean;
}

/** How a stream is delivered: pause between writes, and whether to cut the socket at the end. */
export interface StreamDelivery {
  delayMs?: number;
  cut?: boolean;
}

function openaiUsage(u: NonNullable<OpenAIScript['usage']>) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
  };
}

/** Builders for OpenAI-format answers. */
export const openai = {
  /** A `chat.completion` JSON answer. */
  completion(s: OpenAIScript = {}): FakeResponse {
    const toolCalls = s.toolCalls?.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.args.join('') } }));
    return {
      type: 'json',
      body: {
        id: s.id ?? 'chatcmpl-fake',
        object: 'chat.completion',
        created: s.created ?? 1_700_000_000,
        model: s.model ?? 'gpt-fake',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: s.text === undefined ? null : s.text.join(''), refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
            finish_reason: s.finishReason ?? (toolCalls ? 'tool_calls' : 'stop'),
            logprobs: null,
          },
        ],
        usage: openaiUsage(s.usage ?? { prompt_tokens: 5, completion_tokens: 2 }),
        system_fingerprint: null,
      },
    };
  },

  /**
   * The SSE frames of a streamed answer: role preamble, text chunks, tool call chunks
   * (first with id/name, then argument pieces), the finish chunk, the usage chunk when
   * `includeUsage`, then `[DONE]`. Options cut it short or inject an error payload.
   */
  streamFrames(s: OpenAIStreamScript = {}): string[] {
    const base = { id: s.id ?? 'chatcmpl-fake', object: 'chat.completion.chunk', created: s.created ?? 1_700_000_000, model: s.model ?? 'gpt-fake', system_fingerprint: null };
    const usageNull = s.includeUsage === true ? { usage: null } : {};
    const chunk = (delta: unknown, finish: string | null = null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...usageNull });
    const payloads: unknown[] = [chunk({ role: 'assistant', content: '', refusal: null })];
    for (const piece of s.text ?? []) payloads.push(chunk({ content: piece }));
    (s.toolCalls ?? []).forEach((t, index) => {
      payloads.push(chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }));
      for (const a of t.args) payloads.push(chunk({ tool_calls: [{ index, function: { arguments: a } }] }));
    });
    payloads.push(chunk({}, s.finishReason ?? (s.toolCalls?.length ? 'tool_calls' : 'stop')));
    if (s.includeUsage === true) payloads.push({ ...base, choices: [], usage: openaiUsage(s.usage ?? { prompt_tokens: 5, completion_tokens: 2 }) });
    let frames = payloads.map((p) => `data: ${JSON.stringify(p)}\n\n`);
    if (s.errorAfter !== undefined) {
      const error = s.error ?? { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } };
      frames = [...frames.slice(0, s.errorAfter), `data: ${JSON.stringify(error)}\n\n`];
      return frames;
    }
    return s.omitDone === true ? frames : [...frames, 'data: [DONE]\n\n'];
  },

  stream(s: OpenAIStreamScript & StreamDelivery = {}): FakeResponse {
    return { type: 'sse', frames: this.streamFrames(s), delayMs: s.delayMs, cut: s.cut };
  },

  /** An HTTP error with OpenAI's error body. */
  error(status: number, message: string, type = 'invalid_request_error', code: string | null = null, param: string | null = null): FakeResponse {
    return { type: 'json', status, body: { error: { message, type, param, code } } };
  },
};

/** Default OpenAI behaviour: /v1/chat/completions (JSON or stream per the request), /v1/models, /v1/embeddings. */
export const defaultOpenAIScript: FakeScript = (req) => {
  const body = isRecord(req.body) ? req.body : {};
  const model = typeof body['model'] === 'string' ? body['model'] : 'gpt-fake';
  if (req.method === 'GET' && req.path === '/v1/models') {
    return { type: 'json', body: { object: 'list', data: [{ id: 'gpt-fake', object: 'model', created: 1_700_000_000, owned_by: 'fake' }] } };
  }
  if (req.method === 'POST' && req.path === '/v1/embeddings') {
    const inputs = Array.isArray(body['input']) ? body['input'] : [body['input']];
    return {
      type: 'json',
      body: { object: 'list', model, data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })), usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } },
    };
  }
  if (req.method === 'POST' && req.path === '/v1/chat/completions') {
    const opts = isRecord(body['stream_options']) ? body['stream_options'] : {};
    if (body['stream'] === true) return openai.stream({ model, text: ['Hel', 'lo'], includeUsage: opts['include_usage'] === true });
    return openai.completion({ model, text: ['Hello'] });
  }
  return openai.error(404, `Unknown path ${req.method} ${req.path}`, 'invalid_request_error', 'unknown_url');
};

export function startFakeOpenAI(): Promise<FakeLLM> {
  return startFake(defaultOpenAIScript);
}

// ---------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------

export type AnthropicBlockScript =
  /** A text block; streamed one text_delta per piece. */
  | { type: 'text'; text: string[] }
  /** A tool_use block; `json` pieces are the input_json_delta partial_json values. */
  | { type: 'tool_use'; id: string; name: string; json: string[] };

export interface AnthropicScript {
  model?: string;
  id?: string;
  blocks?: AnthropicBlockScript[];
  stopReason?: string | null;
  usage?: { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number };
}

export interface AnthropicStreamScript extends AnthropicScript {
  /** Keep this many frames, then send an `error` event (`errorType`, default overloaded_error) and stop. */
  errorAfter?: number;
  errorType?: string;
  /** Leave out message_stop (a truncated stream). */
  omitStop?: boolean;
}

const DEFAULT_ANTHROPIC_USAGE = { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Builders for Anthropic-format answers. */
export const anthropic = {
  /** A Message JSON answer. */
  message(s: AnthropicScript = {}): FakeResponse {
    const blocks = s.blocks ?? [{ type: 'text', text: ['Hello'] }];
    return {
      type: 'json',
      body: {
        id: s.id ?? 'msg_fake',
        type: 'message',
        role: 'assistant',
        model: s.model ?? 'claude-fake',
        content: blocks.map((b) => (b.type === 'text' ? { type: 'text', text: b.text.join('') } : { type: 'tool_use', id: b.id, name: b.name, input: JSON.parse(b.json.join('') || '{}') as unknown })),
        stop_reason: s.stopReason === undefined ? (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn') : s.stopReason,
        stop_sequence: null,
        usage: { ...DEFAULT_ANTHROPIC_USAGE, ...s.usage },
      },
    };
  },

  /**
   * The SSE frames of a streamed Message, as the API sends them: message_start, a ping,
   * per block content_block_start / content_block_delta… / content_block_stop, message_delta
   * (stop_reason, cumulative usage), message_stop. `errorAfter` replaces everything from that
   * frame on with an `error` event; `omitStop` drops message_stop (a truncated stream).
   */
  streamFrames(s: AnthropicStreamScript = {}): string[] {
    const usage = { ...DEFAULT_ANTHROPIC_USAGE, ...s.usage };
    const blocks = s.blocks ?? [{ type: 'text', text: ['Hel', 'lo'] }];
    const frames = [
      sse('message_start', {
        type: 'message_start',
        message: { id: s.id ?? 'msg_fake', type: 'message', role: 'assistant', model: s.model ?? 'claude-fake', content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
      }),
      sse('ping', { type: 'ping' }),
    ];
    blocks.forEach((b, index) => {
      if (b.type === 'text') {
        frames.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
        for (const text of b.text) frames.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
      } else {
        frames.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }));
        for (const partial_json of ['', ...b.json]) frames.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } }));
      }
      frames.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    });
    const stopReason = s.stopReason === undefined ? (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn') : s.stopReason;
    frames.push(sse('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage }));
    if (s.errorAfter !== undefined) {
      return [...frames.slice(0, s.errorAfter), sse('error', { type: 'error', error: { type: s.errorType ?? 'overloaded_error', message: 'Overloaded' } })];
    }
    if (s.omitStop !== true) frames.push(sse('message_stop', { type: 'message_stop' }));
    return frames;
  },

  stream(s: AnthropicStreamScript & StreamDelivery = {}): FakeResponse {
    return { type: 'sse', frames: this.streamFrames(s), delayMs: s.delayMs, cut: s.cut };
  },

  /** An HTTP error with Anthropic's error body. */
  error(status: number, type: string, message: string): FakeResponse {
    return { type: 'json', status, body: { type: 'error', error: { type, message }, request_id: 'req_fake' } };
  },
};

/** Default Anthropic behaviour: POST /v1/messages, JSON or stream per the request. */
export const defaultAnthropicScript: FakeScript = (req) => {
  const body = isRecord(req.body) ? req.body : {};
  const model = typeof body['model'] === 'string' ? body['model'] : 'claude-fake';
  if (req.method === 'POST' && req.path === '/v1/messages') {
    return body['stream'] === true ? anthropic.stream({ model }) : anthropic.message({ model });
  }
  return anthropic.error(404, 'not_found_error', `Unknown path ${req.method} ${req.path}`);
};

export function startFakeAnthropic(): Promise<FakeLLM> {
  return startFake(defaultAnthropicScript);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
