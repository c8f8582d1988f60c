/**
 * Ollama adapter: OpenAI Chat Completions / Embeddings ⇄ Ollama's native API
 * (`POST /api/chat`, `POST /api/embed`). Pure functions; the HTTP call lives elsewhere.
 *
 * Why the native API and not Ollama's OpenAI-compatible `/v1`:
 * - Options map 1:1 and visibly: `max_tokens` → `options.num_predict`, plus `keep_alive`
 *   (how long the model stays loaded), which `/v1` cannot carry at all.
 * - `response_format: json_schema` becomes `format: <schema>`, which Ollama enforces with
 *   constrained decoding; third-party conformance probes report `/v1` falling back to plain
 *   JSON mode for it.
 * - Tool-call arguments arrive as JSON objects we serialise ourselves, so the client always
 *   gets a JSON *string*; probes report `/v1` sometimes leaking the parsed object.
 * - Usage comes straight from `prompt_eval_count`/`eval_count` on the final (`done: true`)
 *   line, on every stream, whether or not the client asked for `include_usage` — the
 *   budgets and the audit trail need it even when the client does not.
 * - Ollama's own docs call `/v1` a compatibility layer over parts of the OpenAI API and
 *   point to the native API for full access.
 * The cost is this module: one translation we own and test, instead of trusting a shim.
 *
 * Formats checked against ollama/ollama docs/api.md ("Generate a chat completion",
 * "Generate Embeddings"), docs/api/streaming.mdx, docs/api/errors.mdx, docs/api/usage.mdx
 * and api/types.go at commit fb30760 (2026-08-21), read 2026-11-24.
 */
import { randomBytes } from 'node:crypto';
import {
  providerError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatMessage,
  type ContentPart,
  type EmbeddingRequest,
  type EmbeddingResponse,
  type FinishReason,
  type ProviderError,
  type TextContentPart,
  type ToolCall,
  type Usage,
} from '../openai-types.js';

// ---------------------------------------------------------------------------
// Ollama wire types (the fields we send or read; Ollama ignores unknown ones)
// ---------------------------------------------------------------------------

/** A tool call as Ollama writes it: `arguments` is a JSON object, not a string. */
export interface OllamaToolCall {
  /** Set by recent Ollama versions (`call_…`); absent on older ones. */
  id?: string;
  function: { index?: number; name: string; arguments: Record<string, unknown> | string };
}

export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Base64 images without a `data:` prefix (multimodal models). */
  images?: string[];
  tool_calls?: OllamaToolCall[];
  /** On `tool` messages: the name of the tool that produced this result. */
  tool_name?: string;
  tool_call_id?: string;
  /** Reasoning text of thinking models; not forwarded (OpenAI's chat format has no field for it). */
  thinking?: string;
}

export interface OllamaTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** Modelfile parameters we map from OpenAI request fields. */
export interface OllamaOptions {
  temperature?: number;
  top_p?: number;
  stop?: string[];
  seed?: number;
  num_predict?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
}

export interface OllamaChatRequest {
  model: string;
  messages: OllamaMessage[];
  tools?: OllamaTool[];
  /** `"json"` or a JSON Schema object. */
  format?: 'json' | Record<string, unknown>;
  options?: OllamaOptions;
  /** Ollama streams by default; we always say which. */
  stream: boolean;
  keep_alive?: string | number;
}

/** One `/api/chat` answer, or one NDJSON line of a stream. Counts are only on the `done: true` line. */
export interface OllamaChatResponse {
  model?: string;
  created_at?: string;
  message?: Partial<OllamaMessage>;
  done?: boolean;
  /** `stop`, `length`; `load`/`unload` for empty-messages calls. Absent on older versions. */
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  /** Mid-stream failure (docs/api/errors.mdx): the status line already said 200. */
  error?: string;
}

export interface OllamaEmbedRequest {
  model: string;
  input: string | string[];
  dimensions?: number;
  truncate?: boolean;
  keep_alive?: string | number;
}

export interface OllamaEmbedResponse {
  model?: string;
  embeddings: number[][];
  prompt_eval_count?: number;
}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

export interface OllamaRequestOptions {
  /** The Ollama model name (the route decides it; the client's `model` may be an alias). */
  model: string;
  /** Forwarded as `keep_alive` when set (e.g. "10m", 0 to unload after the call). */
  keepAlive?: string | number;
}

/**
 * OpenAI request → `/api/chat` body. Throws a 400 ProviderError naming the field for what
 * Ollama cannot do: `n > 1`, remote image URLs (we do not fetch URLs on a caller's behalf:
 * that would be an SSRF channel — clients send `data:` URLs), tool-call arguments that
 * are not a JSON object.
 */
export function toOllamaChatRequest(req: ChatCompletionRequest, { model, keepAlive }: OllamaRequestOptions): OllamaChatRequest {
  if (req.n != null && req.n !== 1) throw invalid('n', 'Ollama returns a single choice; n must be 1.');

  const out: OllamaChatRequest = { model, messages: toMessages(req.messages), stream: req.stream === true };

  // Ollama has no tool_choice: "none" is honoured by not offering tools; a named function
  // by offering only that one. "required" cannot be enforced and degrades to "auto".
  const choice = req.tool_choice;
  if (req.tools && req.tools.length > 0 && choice !== 'none') {
    const named = typeof choice === 'object' ? choice.function.name : undefined;
    const tools = named === undefined ? req.tools : req.tools.filter((t) => t.function.name === named);
    if (named !== undefined && tools.length === 0) throw invalid('tool_choice', `tool_choice names "${named}", which is not in tools.`);
    out.tools = tools.map((t) => ({
      type: 'function',
      function: {
        name: t.function.name,
        ...(t.function.description !== undefined ? { description: t.function.description } : {}),
        parameters: t.function.parameters ?? { type: 'object', properties: {} },
      },
    }));
  }

  const format = toFormat(req);
  if (format !== undefined) out.format = format;

  const options: OllamaOptions = {};
  if (req.temperature != null) options.temperature = req.temperature;
  if (req.top_p != null) options.top_p = req.top_p;
  if (req.stop != null) options.stop = typeof req.stop === 'string' ? [req.stop] : req.stop;
  if (req.seed != null) options.seed = req.seed;
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens != null) options.num_predict = maxTokens;
  if (req.presence_penalty != null) options.presence_penalty = req.presence_penalty;
  if (req.frequency_penalty != null) options.frequency_penalty = req.frequency_penalty;
  if (Object.keys(options).length > 0) out.options = options;

  if (keepAlive !== undefined) out.keep_alive = keepAlive;
  return out;
}

function toFormat(req: ChatCompletionRequest): OllamaChatRequest['format'] {
  const rf = req.response_format;
  if (rf === undefined || rf.type === 'text') return undefined;
  if (rf.type === 'json_object') return 'json';
  // A json_schema without a schema still asks for JSON.
  return rf.json_schema.schema ?? 'json';
}

function toMessages(messages: ChatMessage[]): OllamaMessage[] {
  // tool messages name the tool in Ollama (`tool_name`) but answer an id in OpenAI:
  // remember the names of the calls the assistant made.
  const toolNames = new Map<string, string>();
  return messages.map((m, i): OllamaMessage => {
    switch (m.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: textOf(m.content) };
      case 'user': {
        if (typeof m.content === 'string') return { role: 'user', content: m.content };
        const images = m.content.filter(isImage).map((p, j) => base64Image(p.image_url.url, `messages[${i}].content[${j}].image_url.url`));
        return { role: 'user', content: textOf(m.content), ...(images.length > 0 ? { images } : {}) };
      }
      case 'assistant': {
        const out: OllamaMessage = { role: 'assistant', content: m.content == null ? '' : textOf(m.content) };
        if (m.tool_calls && m.tool_calls.length > 0) {
          out.tool_calls = m.tool_calls.map((tc, j) => {
            toolNames.set(tc.id, tc.function.name);
            return {
              id: tc.id,
              function: { name: tc.function.name, arguments: parseArguments(tc.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) },
            };
          });
        }
        return out;
      }
      case 'tool': {
        const name = toolNames.get(m.tool_call_id);
        return { role: 'tool', content: textOf(m.content), tool_call_id: m.tool_call_id, ...(name !== undefined ? { tool_name: name } : {}) };
      }
    }
  });
}

function isImage(p: ContentPart): p is Extract<ContentPart, { type: 'image_url' }> {
  return p.type === 'image_url';
}

/** Text parts joined by newlines: OpenAI concatenates parts; a newline keeps words apart. */
function textOf(content: string | ContentPart[] | TextContentPart[]): string {
  if (typeof content === 'string') return content;
  return (content as ContentPart[])
    .filter((p): p is TextContentPart => p.type === 'text')
    .map((p) => p.text)
    .join('\n');
}

const DATA_URL = /^data:[^;,]*;base64,/i;

function base64Image(url: string, param: string): string {
  const prefix = DATA_URL.exec(url);
  if (prefix === null) throw invalid(param, 'Ollama needs images inline: send a data: URL with base64 content, not a link.');
  return url.slice(prefix[0].length);
}

function parseArguments(text: string, param: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw invalid(param, 'Tool-call arguments must be a JSON object.', err);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(param, 'Tool-call arguments must be a JSON object.');
  return parsed as Record<string, unknown>;
}

function invalid(param: string, message: string, cause?: unknown): ProviderError {
  return providerError(400, 'invalid_request_error', message, { param, cause });
}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

export interface OllamaResponseOptions {
  /** The model name to report to the client (the one it asked for). */
  model: string;
  id: string;
  /** Unix seconds. */
  created: number;
}

/** `call_` + 24 base62 characters, the shape OpenAI's ids have; ~143 bits of randomness. */
export function newToolCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(24);
  let id = 'call_';
  // 256 % 62 ≠ 0 biases a few letters slightly; irrelevant for an identifier.
  for (const b of bytes) id += alphabet[b % 62];
  return id;
}

function toToolCall(tc: OllamaToolCall): ToolCall {
  const args = tc.function.arguments;
  return {
    // Recent Ollama sends ids; older ones don't, and clients need one to answer with.
    id: typeof tc.id === 'string' && tc.id !== '' ? tc.id : newToolCallId(),
    type: 'function',
    function: { name: tc.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) },
  };
}

/**
 * `done_reason` → `finish_reason`. `stop` with tool calls is `tool_calls` (what an OpenAI
 * client loops on). A missing reason on a finished answer is `stop`, as Ollama's own `/v1`
 * layer does: older versions omit it on `/api/chat`. Anything else (`load`, `unload`,
 * future values) is not guessed: null.
 */
export function finishReasonOf(doneReason: string | undefined, sawToolCalls: boolean): FinishReason | null {
  const reason = doneReason === undefined || doneReason === '' ? 'stop' : doneReason;
  if (reason === 'stop') return sawToolCalls ? 'tool_calls' : 'stop';
  if (reason === 'length') return 'length';
  return null;
}

/** Counts come from the final object; Ollama omits a zero count (Go `omitempty`). */
export function usageOf(body: Pick<OllamaChatResponse, 'prompt_eval_count' | 'eval_count'>): Usage {
  const prompt = body.prompt_eval_count ?? 0;
  const completion = body.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A non-streaming `/api/chat` answer → `chat.completion`. */
export function fromOllamaChatResponse(body: OllamaChatResponse, { model, id, created }: OllamaResponseOptions): ChatCompletion {
  if (typeof body.error === 'string') throw fromOllamaError(502, body);
  const toolCalls = (body.message?.tool_calls ?? []).map(toToolCall);
  const text = body.message?.content ?? '';
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          // OpenAI sends null content on a tool-calls-only turn.
          content: text === '' && toolCalls.length > 0 ? null : text,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReasonOf(body.done_reason, toolCalls.length > 0),
        logprobs: null,
      },
    ],
    usage: usageOf(body),
  };
}

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

export interface OllamaStreamOptions extends OllamaResponseOptions {
  /** The client's `stream_options.include_usage`: add the final `choices: []` usage chunk. */
  includeUsage: boolean;
}

export interface OllamaStreamTranslator {
  /** Feed response bytes or text in any split; returns the chunks now complete. Throws ProviderError on an `{error}` line or a bad line. */
  push(data: string | Uint8Array): ChatCompletionChunk[];
  /** The upstream body ended: handles a last line without newline; throws ProviderError if `done: true` never came. */
  end(): ChatCompletionChunk[];
  /** True once content or a tool call has gone out (the role preamble does not count): past this point a retry would duplicate output. */
  started(): boolean;
  /** Usage from the `done: true` line; undefined before it. */
  usage(): Usage | undefined;
  /** True once the `done: true` line was seen. */
  done(): boolean;
}

/**
 * Ollama NDJSON (one JSON object per line, docs/api/streaming.mdx) → OpenAI chunks.
 * Each Ollama tool call arrives whole on one line, so each becomes one tool_calls delta
 * with its own index (counted across the stream) carrying id, name and all arguments.
 */
export function createOllamaStreamTranslator(options: OllamaStreamOptions): OllamaStreamTranslator {
  const { model, id, created, includeUsage } = options;
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let roleSent = false;
  let started = false;
  let finished = false;
  let toolIndex = 0;
  let usage: Usage | undefined;

  const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finishReason: FinishReason | null = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    // With include_usage, OpenAI sends `usage: null` on every chunk but the last.
    ...(includeUsage ? { usage: null } : {}),
  });

  const line = (text: string, out: ChatCompletionChunk[]): void => {
    if (finished || text.trim() === '') return;
    let obj: OllamaChatResponse;
    try {
      obj = JSON.parse(text) as OllamaChatResponse;
    } catch (err) {
      throw providerError(502, 'server_error', 'Ollama sent a stream line that is not JSON.', { retryable: true, cause: err });
    }
    if (obj === null || typeof obj !== 'object') throw providerError(502, 'server_error', 'Ollama sent a stream line that is not a JSON object.', { retryable: true });
    if (typeof obj.error === 'string') throw fromOllamaError(502, obj);

    if (!roleSent) {
      roleSent = true;
      out.push(chunk({ role: 'assistant', content: '' }));
    }
    const content = obj.message?.content;
    if (typeof content === 'string' && content !== '') {
      started = true;
      out.push(chunk({ content }));
    }
    for (const tc of obj.message?.tool_calls ?? []) {
      const call = toToolCall(tc);
      started = true;
      out.push(chunk({ tool_calls: [{ index: toolIndex++, id: call.id, type: 'function', function: call.function }] }));
    }
    if (obj.done === true) {
      finished = true;
      usage = usageOf(obj);
      out.push(chunk({}, finishReasonOf(obj.done_reason, toolIndex > 0)));
      if (includeUsage) out.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
    }
  };

  const drain = (out: ChatCompletionChunk[]): void => {
    let nl = buffer.indexOf('\n');
    while (nl !== -1) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      line(text, out);
      nl = buffer.indexOf('\n');
    }
  };

  return {
    push(data) {
      buffer += typeof data === 'string' ? data : decoder.decode(data, { stream: true });
      const out: ChatCompletionChunk[] = [];
      drain(out);
      return out;
    },
    end() {
      buffer += decoder.decode();
      const out: ChatCompletionChunk[] = [];
      drain(out);
      const rest = buffer;
      buffer = '';
      line(rest, out);
      if (!finished) throw providerError(502, 'server_error', 'The Ollama stream ended before its final (done) line.', { retryable: true });
      return out;
    },
    started: () => started,
    usage: () => usage,
    done: () => finished,
  };
}

// ---------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------

export interface OllamaEmbedOptions {
  model: string;
  keepAlive?: string | number;
}

/** OpenAI embeddings request → `/api/embed` body. Token-array input has no Ollama equivalent: 400. */
export function toOllamaEmbedRequest(req: EmbeddingRequest, { model, keepAlive }: OllamaEmbedOptions): OllamaEmbedRequest {
  const input = req.input;
  const isText = typeof input === 'string' || (Array.isArray(input) && input.every((x) => typeof x === 'string'));
  if (!isText) throw invalid('input', 'Ollama embeds text only: send a string or an array of strings, not token ids.');
  const out: OllamaEmbedRequest = { model, input: input as string | string[] };
  if (req.dimensions != null) out.dimensions = req.dimensions;
  if (keepAlive !== undefined) out.keep_alive = keepAlive;
  return out;
}

export interface OllamaEmbedResponseOptions {
  /** The model name to report to the client. */
  model: string;
  /** The client's `encoding_format`; base64 is little-endian float32, as OpenAI sends it. */
  encodingFormat?: 'float' | 'base64';
}

/** `/api/embed` answer → OpenAI `list` of embeddings, in input order. */
export function fromOllamaEmbedResponse(body: OllamaEmbedResponse, { model, encodingFormat }: OllamaEmbedResponseOptions): EmbeddingResponse {
  const tokens = body.prompt_eval_count ?? 0;
  return {
    object: 'list',
    data: (body.embeddings ?? []).map((embedding, index) => ({
      object: 'embedding',
      index,
      embedding: encodingFormat === 'base64' ? Buffer.from(new Float32Array(embedding).buffer).toString('base64') : embedding,
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * An Ollama error (`{"error": "..."}`, docs/api/errors.mdx) → ProviderError with the
 * status an OpenAI client should see. `body` may be the parsed object or the raw text.
 */
export function fromOllamaError(status: number, body: unknown): ProviderError {
  const message = errorMessage(body) ?? `Ollama answered with HTTP ${status}.`;
  if (status === 400) return providerError(400, 'invalid_request_error', message);
  if (status === 404) return providerError(404, 'invalid_request_error', message, { code: 'model_not_found', param: 'model' });
  if (status === 429) return providerError(429, 'rate_limit_error', message, { retryable: true });
  // Ollama cloud models need a key; a refusal is the gateway's configuration, not the caller's fault.
  if (status === 401 || status === 403) return providerError(502, 'server_error', `Ollama refused the gateway's credentials: ${message}`);
  if (status === 503) return providerError(503, 'server_error', message, { retryable: true });
  if (status >= 500 || status < 400) return providerError(502, 'server_error', message, { retryable: true });
  return providerError(status, 'invalid_request_error', message);
}

function errorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    const text = body.trim();
    if (text === '') return undefined;
    try {
      return errorMessage(JSON.parse(text)) ?? text;
    } catch {
      return text;
    }
  }
  if (body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') return (body as { error: string }).error;
  return undefined;
}
