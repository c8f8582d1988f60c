/**
 * OpenAI Chat Completions ⇄ Anthropic Messages, both ways, as pure functions of plain data
 * (no I/O; the stream translator only keeps parser state). Wire formats as documented at
 * platform.claude.com/docs/en/api/messages, …/build-with-claude/streaming, …/api/errors,
 * …/build-with-claude/handling-stop-reasons and …/build-with-claude/structured-outputs.
 *
 * Rule of thumb: a request field that Anthropic cannot honour and whose absence would change
 * what the client gets back is refused with a 400 naming the field; a field that is only a
 * hint (seed, store, metadata, service_tier, prediction, reasoning_effort, message `name`,
 * image `detail`) is dropped.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import {
  ProviderError,
  providerError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionChunkDelta,
  type ChatCompletionRequest,
  type ChatMessage,
  type ContentPart,
  type FinishReason,
  type TextContentPart,
  type ToolCall,
  type Usage,
} from '../openai-types.js';

// ---------------------------------------------------------------------------
// Anthropic wire types (the subset we write and read)
// ---------------------------------------------------------------------------

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}
export interface AnthropicImageBlock {
  type: 'image';
  source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
}
export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
}
export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string | AnthropicTextBlock[];
}
export type AnthropicContentBlock = AnthropicTextBlock | AnthropicImageBlock | AnthropicToolUseBlock | AnthropicToolResultBlock;

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  strict?: boolean;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

/** `POST /v1/messages` body. */
export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  system?: string | AnthropicTextBlock[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  metadata?: { user_id: string };
  output_config?: { format: { type: 'json_schema'; schema: Record<string, unknown> } };
  stream?: boolean;
}

/** Anthropic's `usage` object (message_start, message_delta and the final Message). */
export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

export interface ToAnthropicOptions {
  /** The upstream model id to send (the route has already resolved the client's alias). */
  model: string;
  /** `max_tokens` is required by Anthropic; used when the client sends neither limit. */
  defaultMaxTokens: number;
}

// ---------------------------------------------------------------------------
// Request: OpenAI → Anthropic
// ---------------------------------------------------------------------------

/**
 * Translate a Chat Completions request into a Messages request. Throws a 400 ProviderError
 * (param set) for what cannot be expressed. `stream` is copied; `stream_options` is not,
 * because the stream translator always sees Anthropic's usage and decides itself.
 */
export function toAnthropicRequest(req: ChatCompletionRequest, opts: ToAnthropicOptions): AnthropicRequest {
  rejectUnsupported(req);

  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessageParam[] = [];
  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlock[]): void => {
    if (blocks.length === 0) return;
    // Anthropic needs strictly alternating turns: consecutive same-role messages (several
    // `tool` results, tool results then the next user text) become ONE turn, in order, so
    // tool_result blocks come first as the API requires (platform.claude.com tool use:
    // "tool_result blocks must immediately follow … and come first in the content").
    const last = messages[messages.length - 1];
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };

  req.messages.forEach((msg: ChatMessage, i) => {
    switch (msg.role) {
      case 'system':
      case 'developer':
        // Anthropic has one top-level system prompt; system/developer messages anywhere in
        // the conversation are hoisted into it in order (as Anthropic's own OpenAI
        // compatibility layer does: platform.claude.com/docs/en/api/openai-sdk).
        system.push(...textBlocks(msg.content, i));
        return;
      case 'user':
        push('user', userBlocks(msg.content, i));
        return;
      case 'assistant': {
        const blocks: AnthropicContentBlock[] = msg.content == null ? [] : textBlocks(msg.content, i);
        for (const call of msg.tool_calls ?? []) blocks.push(toolUseBlock(call, i));
        push('assistant', blocks);
        return;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: msg.tool_call_id, content: toolResultContent(msg.content) }]);
        return;
      default:
        throw invalid(`messages[${i}].role "${(msg as { role: string }).role}" is not supported.`, `messages[${i}].role`);
    }
  });

  const out: AnthropicRequest = {
    model: opts.model,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? opts.defaultMaxTokens,
    messages,
  };
  if (system.length === 1 && system[0] !== undefined) out.system = system[0].text;
  else if (system.length > 1) out.system = system;

  if (req.tools !== undefined && req.tools.length > 0) {
    out.tools = req.tools.map((tool, i) => {
      if (tool.type !== 'function') throw invalid(`tools[${i}].type "${String(tool.type)}" is not supported; only "function".`, `tools[${i}].type`);
      const t: AnthropicTool = { name: tool.function.name, input_schema: inputSchema(tool.function.parameters) };
      if (tool.function.description !== undefined) t.description = tool.function.description;
      // Anthropic strict tool use is the same guarantee as OpenAI's (structured-outputs doc).
      if (tool.function.strict === true) t.strict = true;
      return t;
    });
    // Without tools there is nothing to choose; Anthropic would reject a lone tool_choice.
    const choice = toolChoice(req);
    if (choice !== undefined) out.tool_choice = choice;
  }

  if (req.stop != null) {
    const stops = typeof req.stop === 'string' ? [req.stop] : req.stop;
    if (stops.length > 0) out.stop_sequences = stops;
  }
  // OpenAI's 0..2 is clamped to Anthropic's 0..1, not scaled: clients tune values like 0.2
  // or 0.7 by feel and those mean roughly the same thing on both; halving them would make
  // every request colder. Anthropic's own OpenAI layer clamps too ("values greater than 1
  // are capped at 1", platform.claude.com/docs/en/api/openai-sdk).
  if (req.temperature != null) out.temperature = Math.min(Math.max(req.temperature, 0), 1);
  if (req.top_p != null) out.top_p = req.top_p;
  if (req.user !== undefined && req.user !== '') out.metadata = { user_id: req.user };

  const format = req.response_format;
  if (format?.type === 'json_schema') {
    if (format.json_schema.schema === undefined) throw invalid('response_format.json_schema.schema is required.', 'response_format.json_schema.schema');
    // Native structured outputs (GA; the beta `output_format` moved to `output_config.format`):
    // the answer stays a normal text block holding JSON, exactly what OpenAI clients expect
    // in message.content — unlike a forced tool, which would surface as a tool call.
    out.output_config = { format: { type: 'json_schema', schema: format.json_schema.schema } };
  }
  if (req.stream === true) out.stream = true;
  return out;
}

/** Fields whose loss would change the answer's shape or meaning. */
function rejectUnsupported(req: ChatCompletionRequest): void {
  const raw = req as unknown as Record<string, unknown>;
  if (req.n != null && req.n !== 1) throw invalid(`n=${req.n} is not supported by Anthropic models; only one choice (n=1) can be generated.`, 'n');
  if (req.logprobs === true) throw invalid('logprobs is not supported by Anthropic models.', 'logprobs');
  if (req.top_logprobs != null) throw invalid('top_logprobs is not supported by Anthropic models.', 'top_logprobs');
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0) throw invalid('logit_bias is not supported by Anthropic models.', 'logit_bias');
  if (req.presence_penalty != null && req.presence_penalty !== 0) throw invalid('presence_penalty is not supported by Anthropic models.', 'presence_penalty');
  if (req.frequency_penalty != null && req.frequency_penalty !== 0) throw invalid('frequency_penalty is not supported by Anthropic models.', 'frequency_penalty');
  // There is no "any JSON object" mode without a schema; faking it with a prompt would not
  // give the guarantee the client asked for.
  if (req.response_format?.type === 'json_object') {
    throw invalid('response_format {type: "json_object"} is not supported by Anthropic models; use {type: "json_schema"} with a schema.', 'response_format');
  }
  for (const field of ['functions', 'function_call', 'audio'] as const) {
    if (raw[field] != null) throw invalid(`${field} is not supported by Anthropic models${field === 'audio' ? '' : '; use tools/tool_choice'}.`, field);
  }
  const modalities = raw['modalities'];
  if (Array.isArray(modalities) && modalities.some((m) => m !== 'text')) throw invalid('modalities other than "text" are not supported by Anthropic models.', 'modalities');
}

function toolChoice(req: ChatCompletionRequest): AnthropicToolChoice | undefined {
  const noParallel = req.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {};
  const c = req.tool_choice;
  if (c === undefined) return req.parallel_tool_calls === false ? { type: 'auto', ...noParallel } : undefined;
  if (c === 'none') return { type: 'none' };
  if (c === 'auto') return { type: 'auto', ...noParallel };
  if (c === 'required') return { type: 'any', ...noParallel };
  if (typeof c === 'object' && c.type === 'function' && typeof c.function?.name === 'string') return { type: 'tool', name: c.function.name, ...noParallel };
  throw invalid('tool_choice must be "none", "auto", "required" or {type: "function", function: {name}}.', 'tool_choice');
}

/** Anthropic requires an object schema even for tools without arguments. */
function inputSchema(parameters: Record<string, unknown> | undefined): Record<string, unknown> {
  if (parameters === undefined || Object.keys(parameters).length === 0) return { type: 'object', properties: {} };
  return parameters;
}

function textBlocks(content: string | TextContentPart[] | ContentPart[], i: number): AnthropicTextBlock[] {
  // Anthropic rejects empty text blocks; an empty string carries nothing anyway.
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return content.map((part, j) => {
    if (part.type !== 'text') throw invalid(`messages[${i}].content[${j}]: only text parts are allowed in this role.`, `messages[${i}].content[${j}].type`);
    return { type: 'text' as const, text: part.text };
  }).filter((b) => b.text !== '');
}

function userBlocks(content: string | ContentPart[], i: number): AnthropicContentBlock[] {
  if (typeof content === 'string') return textBlocks(content, i);
  const blocks: AnthropicContentBlock[] = [];
  content.forEach((part, j) => {
    if (part.type === 'text') {
      if (part.text !== '') blocks.push({ type: 'text', text: part.text });
    } else if (part.type === 'image_url') {
      blocks.push(imageBlock(part.image_url.url, `messages[${i}].content[${j}].image_url.url`));
    } else {
      throw invalid(`messages[${i}].content[${j}].type "${(part as { type: string }).type}" is not supported.`, `messages[${i}].content[${j}].type`);
    }
  });
  return blocks;
}

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*?);base64,(.*)$/s;

/** `data:` URL → base64 source (media type from the URL); http(s) URL → url source (Anthropic fetches it). */
function imageBlock(url: string, param: string): AnthropicImageBlock {
  if (url.startsWith('data:')) {
    const m = DATA_URL.exec(url);
    if (m === null || m[1] === undefined || m[3] === undefined) throw invalid(`${param}: a data URL must be base64 ("data:image/png;base64,…").`, param);
    return { type: 'image', source: { type: 'base64', media_type: m[1].toLowerCase(), data: m[3] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalid(`${param}: expected an https URL or a base64 data URL.`, param);
}

function toolUseBlock(call: ToolCall, i: number): AnthropicToolUseBlock {
  let input: unknown;
  try {
    input = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
  } catch (cause) {
    throw invalid(`messages[${i}].tool_calls (id ${call.id}): function.arguments is not valid JSON.`, `messages[${i}].tool_calls`, cause);
  }
  // tool_use.input must be an object on the wire.
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalid(`messages[${i}].tool_calls (id ${call.id}): function.arguments must be a JSON object.`, `messages[${i}].tool_calls`);
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input };
}

function toolResultContent(content: string | TextContentPart[]): string | AnthropicTextBlock[] {
  if (typeof content === 'string') return content;
  return content.filter((p) => p.type === 'text' && p.text !== '').map((p) => ({ type: 'text' as const, text: p.text }));
}

function invalid(message: string, param: string, cause?: unknown): ProviderError {
  return providerError(400, 'invalid_request_error', message, { param, code: 'unsupported_parameter', retryable: false, cause });
}

// ---------------------------------------------------------------------------
// Response: Anthropic → OpenAI
// ---------------------------------------------------------------------------

export interface FromAnthropicOptions {
  /** The model name the client asked for (echoed back, not the upstream id). */
  model: string;
  /** Completion id; defaults to the Anthropic message id. */
  id?: string;
  /** Unix seconds; defaults to now (pass it for deterministic output). */
  created?: number;
}

/**
 * Anthropic stop_reason → OpenAI finish_reason (platform.claude.com handling-stop-reasons).
 * `pause_turn` (a server-tool loop paused; the turn is unfinished) and
 * `model_context_window_exceeded` are both "incomplete answer", which OpenAI only has
 * `length` for. Anything unknown is `null`: never pretend a turn ended normally.
 */
export function mapStopReason(reason: unknown): FinishReason | null {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
    case 'pause_turn':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return null;
  }
}

/**
 * Anthropic usage → OpenAI usage. Anthropic's `input_tokens` excludes cached tokens; OpenAI's
 * `prompt_tokens` includes them, with the cache hits repeated in `cached_tokens`.
 */
export function mapUsage(u: AnthropicUsage): Usage {
  const cacheRead = u.cache_read_input_tokens ?? 0;
  const prompt = (u.input_tokens ?? 0) + cacheRead + (u.cache_creation_input_tokens ?? 0);
  const completion = u.output_tokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cacheRead } };
}

/**
 * A Messages response → a chat.completion. Text blocks are concatenated into `content`;
 * tool_use blocks become `tool_calls` (ids kept); thinking and server-tool blocks have no
 * Chat Completions equivalent and are left out. A body that is not a Message is a 502.
 */
export function fromAnthropicResponse(body: unknown, opts: FromAnthropicOptions): ChatCompletion {
  if (!isRecord(body) || !Array.isArray(body['content'])) throw malformed('the Anthropic response is not a Message object');
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const block of body['content'] as unknown[]) {
    if (!isRecord(block)) continue;
    if (block['type'] === 'text' && typeof block['text'] === 'string') text = (text ?? '') + block['text'];
    else if (block['type'] === 'tool_use') {
      toolCalls.push({ id: String(block['id']), type: 'function', function: { name: String(block['name']), arguments: JSON.stringify(block['input'] ?? {}) } });
    }
  }
  const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: text, refusal: null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const completion: ChatCompletion = {
    id: opts.id ?? String(body['id'] ?? ''),
    object: 'chat.completion',
    created: opts.created ?? Math.floor(Date.now() / 1000),
    model: opts.model,
    choices: [{ index: 0, message, finish_reason: mapStopReason(body['stop_reason']), logprobs: null }],
  };
  if (isRecord(body['usage'])) completion.usage = mapUsage(body['usage'] as AnthropicUsage);
  return completion;
}

function malformed(what: string, cause?: unknown): ProviderError {
  return providerError(502, 'upstream_error', `Malformed upstream response: ${what}.`, { code: 'upstream_malformed', retryable: true, cause });
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

interface ErrorMapping {
  status: number;
  type: string;
  retryable: boolean;
}

/**
 * Anthropic error type → what an OpenAI client should see (platform.claude.com/docs/en/api/errors).
 * 529 overloaded becomes 503: OpenAI clients and HTTP middleboxes know 503 as "try again"
 * (OpenAI itself answers 503 when overloaded), while 529 is Anthropic-only.
 */
const ERROR_TYPES: Record<string, ErrorMapping> = {
  invalid_request_error: { status: 400, type: 'invalid_request_error', retryable: false },
  authentication_error: { status: 401, type: 'authentication_error', retryable: false },
  billing_error: { status: 402, type: 'insufficient_quota', retryable: false },
  permission_error: { status: 403, type: 'permission_error', retryable: false },
  not_found_error: { status: 404, type: 'invalid_request_error', retryable: false },
  request_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  rate_limit_error: { status: 429, type: 'rate_limit_error', retryable: true },
  api_error: { status: 500, type: 'server_error', retryable: true },
  timeout_error: { status: 504, type: 'server_error', retryable: true },
  overloaded_error: { status: 503, type: 'server_error', retryable: true },
};

/**
 * An Anthropic error (HTTP status + `{type: 'error', error: {type, message}}` body, or a
 * mid-stream `error` event with status 200) → ProviderError. The Anthropic error type is
 * kept as `code` so logs and clients can tell overload from rate limit.
 */
export function fromAnthropicError(status: number, body: unknown): ProviderError {
  const err = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const anthropicType = typeof err?.['type'] === 'string' ? err['type'] : undefined;
  const message = typeof err?.['message'] === 'string' && err['message'] !== '' ? err['message'] : `Anthropic answered HTTP ${status}.`;
  const known = anthropicType === undefined ? undefined : ERROR_TYPES[anthropicType];
  const mapping = known ?? byStatus(status);
  // A 429 for a spent monthly limit will not clear by retrying (platform.claude.com errors).
  const details = isRecord(err?.['details']) ? err['details'] : undefined;
  if (anthropicType === 'rate_limit_error' && details?.['error_code'] === 'enforced_spend_limit_reached') {
    return providerError(429, 'insufficient_quota', message, { code: 'enforced_spend_limit_reached', retryable: false, cause: body });
  }
  return providerError(mapping.status, mapping.type, message, { code: anthropicType ?? `http_${status}`, retryable: mapping.retryable, cause: body });
}

function byStatus(status: number): ErrorMapping {
  if (status === 529) return { status: 503, type: 'server_error', retryable: true };
  if (status === 429) return { status: 429, type: 'rate_limit_error', retryable: true };
  if (status === 408) return { status: 504, type: 'server_error', retryable: true };
  if (status >= 500) return { status, type: 'server_error', retryable: true };
  if (status >= 400) return { status, type: 'invalid_request_error', retryable: false };
  // An error inside a 200 stream with an unknown type: the upstream failed mid-answer.
  return { status: 502, type: 'upstream_error', retryable: true };
}

// ---------------------------------------------------------------------------
// Stream: Anthropic SSE → OpenAI chunks
// ---------------------------------------------------------------------------

export interface AnthropicStreamOptions {
  /** The model name the client asked for. */
  model: string;
  id: string;
  created: number;
  /** The client sent `stream_options.include_usage`: add the usage-only chunk and `usage: null` elsewhere. */
  includeUsage: boolean;
}

/**
 * What one `push` (or `end`) produced. Write `chunks` as `data:` events; on `done` write
 * `data: [DONE]`; on `error` write the error body (or fall back, if nothing `started()`)
 * and stop — there is no finish_reason for a failed answer.
 */
export interface StreamStep {
  chunks: ChatCompletionChunk[];
  done?: true;
  error?: ProviderError;
}

export interface AnthropicStreamTranslator {
  /** Feed raw upstream bytes or text, cut anywhere. */
  push(data: string | Uint8Array): StreamStep;
  /** The upstream closed: an error unless `message_stop` was seen. */
  end(): StreamStep;
  /** Usage seen so far (input from message_start, output from message_delta). */
  usage(): Usage | undefined;
  /** True once text or a tool call was emitted; the role-only preamble does not count. */
  started(): boolean;
}

/**
 * The Anthropic event sequence (message_start, content_block_start/delta/stop…,
 * message_delta, message_stop; ping anywhere; error anywhere) → chat.completion.chunk objects.
 * Tool call `index` is the ordinal of the tool call (0, 1, 2…), not Anthropic's block index,
 * because OpenAI clients accumulate `tool_calls[index]`. Unknown event and delta types are
 * skipped: Anthropic may add new ones (platform.claude.com streaming, "Other events").
 */
export function createAnthropicStreamTranslator(opts: AnthropicStreamOptions): AnthropicStreamTranslator {
  const decoder = new TextDecoder();
  const toolIndexByBlock = new Map<number, number>();
  let pending: EventSourceMessage[] = [];
  let anthropicUsage: AnthropicUsage | undefined;
  let sawStart = false;
  let contentStarted = false;
  let done = false;
  let failure: ProviderError | undefined;

  const parser = createParser({ onEvent: (event) => pending.push(event) });

  const chunk = (delta: ChatCompletionChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk => {
    const c: ChatCompletionChunk = {
      id: opts.id,
      object: 'chat.completion.chunk',
      created: opts.created,
      model: opts.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
    if (opts.includeUsage) c.usage = null;
    return c;
  };

  const mergeUsage = (u: unknown): void => {
    if (!isRecord(u)) return;
    const next: AnthropicUsage = { ...anthropicUsage };
    for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
      const v = u[key];
      if (typeof v === 'number') next[key] = v;
    }
    anthropicUsage = next;
  };

  const handle = (event: EventSourceMessage, out: ChatCompletionChunk[]): void => {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch (cause) {
      throw malformed(`an Anthropic stream event is not JSON (${JSON.stringify(event.data.slice(0, 80))})`, cause);
    }
    if (!isRecord(data)) throw malformed('an Anthropic stream event is not an object');
    const type = typeof data['type'] === 'string' ? data['type'] : event.event;
    switch (type) {
      case 'message_start': {
        if (sawStart) return;
        sawStart = true;
        if (isRecord(data['message'])) mergeUsage(data['message']['usage']);
        out.push(chunk({ role: 'assistant', content: '' }));
        return;
      }
      case 'content_block_start': {
        const block = data['content_block'];
        const index = data['index'];
        if (!isRecord(block) || typeof index !== 'number') throw malformed('content_block_start without index or content_block');
        if (block['type'] === 'text' && typeof block['text'] === 'string' && block['text'] !== '') {
          contentStarted = true;
          out.push(chunk({ content: block['text'] }));
        } else if (block['type'] === 'tool_use') {
          const toolIndex = toolIndexByBlock.size;
          toolIndexByBlock.set(index, toolIndex);
          contentStarted = true;
          out.push(chunk({ tool_calls: [{ index: toolIndex, id: String(block['id']), type: 'function', function: { name: String(block['name']), arguments: '' } }] }));
        }
        return;
      }
      case 'content_block_delta': {
        const delta = data['delta'];
        const index = data['index'];
        if (!isRecord(delta) || typeof index !== 'number') throw malformed('content_block_delta without index or delta');
        if (delta['type'] === 'text_delta' && typeof delta['text'] === 'string') {
          if (delta['text'] === '') return;
          contentStarted = true;
          out.push(chunk({ content: delta['text'] }));
        } else if (delta['type'] === 'input_json_delta' && typeof delta['partial_json'] === 'string') {
          const toolIndex = toolIndexByBlock.get(index);
          if (toolIndex === undefined) throw malformed(`input_json_delta for content block ${index}, which is not a tool_use block`);
          if (delta['partial_json'] === '') return;
          out.push(chunk({ tool_calls: [{ index: toolIndex, function: { arguments: delta['partial_json'] } }] }));
        }
        return;
      }
      case 'message_delta': {
        mergeUsage(data['usage']);
        const delta = isRecord(data['delta']) ? data['delta'] : {};
        const finish = mapStopReason(delta['stop_reason']);
        if (finish !== null) out.push(chunk({}, finish));
        if (opts.includeUsage && anthropicUsage !== undefined) {
          // stream_options.include_usage: one extra chunk, `choices: []`, before [DONE].
          out.push({ id: opts.id, object: 'chat.completion.chunk', created: opts.created, model: opts.model, choices: [], usage: mapUsage(anthropicUsage) });
        }
        return;
      }
      case 'message_stop':
        done = true;
        return;
      case 'error':
        failure = fromAnthropicError(200, data);
        return;
      default:
        // ping, content_block_stop, and event types added after this was written.
        return;
    }
  };

  const step = (out: ChatCompletionChunk[]): StreamStep => {
    const s: StreamStep = { chunks: out };
    if (failure !== undefined) s.error = failure;
    else if (done) s.done = true;
    return s;
  };

  const drain = (): StreamStep => {
    const out: ChatCompletionChunk[] = [];
    const events = pending;
    pending = [];
    for (const event of events) {
      if (done || failure !== undefined) break;
      try {
        handle(event, out);
      } catch (err) {
        failure = err instanceof ProviderError ? err : malformed('the Anthropic stream could not be read', err);
      }
    }
    return step(out);
  };

  return {
    push(data) {
      if (done || failure !== undefined) return step([]);
      parser.feed(typeof data === 'string' ? data : decoder.decode(data, { stream: true }));
      return drain();
    },
    end() {
      if (done || failure !== undefined) return step([]);
      const tail = decoder.decode();
      if (tail !== '') parser.feed(tail);
      // An event not terminated by a blank line is incomplete and discarded (WHATWG SSE).
      const last = drain();
      if (last.done === true || last.error !== undefined) return last;
      failure = providerError(502, 'upstream_error', 'The Anthropic stream ended before message_stop; the answer is incomplete.', {
        code: 'upstream_stream_truncated',
        retryable: true,
      });
      return step(last.chunks);
    },
    usage: () => (anthropicUsage === undefined ? undefined : mapUsage(anthropicUsage)),
    started: () => contentStarted,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
