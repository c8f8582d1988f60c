/**
 * One adapter per provider, mostly data (Portkey's shape): where to POST, which headers,
 * how to turn the OpenAI request into the provider's body, and how to read its answers,
 * stream and errors back. The translations themselves live in anthropic.ts, ollama.ts and
 * openai-stream.ts; the HTTP call lives in proxy.ts.
 */
import type { AiProvider, AiTargetConfig } from '../../config/schema.js';
import { createAnthropicStreamTranslator, fromAnthropicError, fromAnthropicResponse, toAnthropicRequest } from './anthropic.js';
import { createOllamaStreamTranslator, fromOllamaChatResponse, fromOllamaEmbedResponse, fromOllamaError, toOllamaChatRequest, toOllamaEmbedRequest, type OllamaChatResponse, type OllamaEmbedResponse } from './ollama.js';
import { createOpenAIStreamObserver, fromOpenAIError } from './openai.js';
import {
  ProviderError,
  providerError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type EmbeddingRequest,
  type EmbeddingResponse,
  type Usage,
} from '../openai-types.js';

/** The target a call goes to, as the engine resolved it: what an adapter builds the upstream request for. */
export interface ResolvedTarget {
  /** The key in ai.targets. */
  name: string;
  provider: AiProvider;
  /** The upstream model: the target's `model`, else the model the client asked for. */
  model: string;
  /** Without a trailing slash. */
  baseUrl: string;
}

/** An upstream HTTP call, ready to send. */
export interface UpstreamCall {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What the client asked for that shapes the answer (ids and the model name it sees). */
export interface AnswerOptions {
  /** The model the client asked for: every answer and chunk carries it, not the upstream id. */
  model: string;
  id: string;
  /** Unix seconds. */
  created: number;
  /** The client's `stream_options.include_usage`. */
  includeUsage: boolean;
}

/** What one piece of upstream stream produced, already as OpenAI chunks. */
export interface DecodeStep {
  chunks: ChatCompletionChunk[];
  /** The upstream ended its answer properly. */
  done?: true;
  /** The upstream failed (or broke its format); nothing after this is read. */
  error?: ProviderError;
}

/** Upstream stream bytes → OpenAI chunks, whatever the provider's stream format. */
export interface StreamDecoder {
  push(data: Uint8Array): DecodeStep;
  /** The body ended: an error unless the provider's end marker was seen. */
  end(): DecodeStep;
  /** The usage, whether or not the client asked for it. */
  usage(): Usage | undefined;
}

export interface ProviderAdapter {
  /** Throws a 400 ProviderError for a request the provider cannot express. */
  chatRequest(req: ChatCompletionRequest, target: ResolvedTarget, config: AiTargetConfig): UpstreamCall;
  chatResponse(body: unknown, answer: AnswerOptions): ChatCompletion;
  /**
   * The answer as the upstream wrote it, with only the model name changed, when that is
   * all chatResponse changes (OpenAI-compatible answers): sending it spares serialising
   * the answer again. Undefined when the text cannot be used as it is.
   */
  chatText?(text: string, body: unknown, answer: AnswerOptions): string | undefined;
  streamDecoder(answer: AnswerOptions): StreamDecoder;
  /** Throws a 400 ProviderError when the provider has no embeddings. */
  embedRequest(req: EmbeddingRequest, target: ResolvedTarget, config: AiTargetConfig): UpstreamCall;
  embedResponse(body: unknown, req: EmbeddingRequest): EmbeddingResponse;
  /** A non-2xx answer (body as text) → ProviderError in OpenAI terms. */
  error(status: number, body: string): ProviderError;
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' } as const;

/** Provider auth first, then the target's extra headers (which may override, e.g. an Azure `api-key`). */
function headersFor(config: AiTargetConfig, auth: Record<string, string>, stream: boolean): Record<string, string> {
  return { ...JSON_HEADERS, ...(stream ? { accept: 'text/event-stream' } : {}), ...auth, ...config.headers };
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------
// OpenAI and OpenAI-compatible: pass-through with the model replaced
// ---------------------------------------------------------------------------

const openaiAdapter: ProviderAdapter = {
  chatRequest(req, target, config) {
    const body: Record<string, unknown> = { ...req, model: target.model };
    if (req.stream === true) {
      // Always ask for the usage chunk: budgets and audit need tokens even when the client
      // did not ask; the decoder drops it again for such clients.
      body['stream_options'] = { ...req.stream_options, include_usage: true };
    }
    const auth: Record<string, string> = config.apiKey === undefined || config.apiKey === '' ? {} : { authorization: `Bearer ${config.apiKey}` };
    return { url: `${target.baseUrl}/chat/completions`, headers: headersFor(config, auth, req.stream === true), body: JSON.stringify(body) };
  },
  chatResponse(body, answer) {
    if (!isRecord(body) || !Array.isArray(body['choices'])) throw malformed('the answer is not a chat.completion object');
    return { ...(body as unknown as ChatCompletion), model: answer.model };
  },
  chatText: (text, body, answer) => withModel(text, (body as Record<string, unknown>)['model'], answer.model),
  streamDecoder: createOpenAIChunkDecoder,
  embedRequest(req, target, config) {
    const auth: Record<string, string> = config.apiKey === undefined || config.apiKey === '' ? {} : { authorization: `Bearer ${config.apiKey}` };
    return { url: `${target.baseUrl}/embeddings`, headers: headersFor(config, auth, false), body: JSON.stringify({ ...req, model: target.model }) };
  },
  embedResponse(body, req) {
    if (!isRecord(body) || !Array.isArray(body['data'])) throw malformed('the answer is not an embeddings list');
    return { ...(body as unknown as EmbeddingResponse), model: req.model };
  },
  error: (status, body) => fromOpenAIError(status, parseMaybeJson(body)),
};

/**
 * A `"model": "…"` member. It can only be a key: a quote inside a JSON string is escaped,
 * so `"model"` followed by a colon never occurs within one.
 */
const MODEL_MEMBER = /"model"\s*:\s*("(?:[^"\\]|\\.)*")/g;

/**
 * `text` (a JSON object whose top-level `model` parsed as `upstreamModel`) with that model
 * replaced by `model`; undefined when that cannot be done for certain: no top-level model,
 * or more than one `"model"` key in the text (a nested one could be the one found).
 */
export function withModel(text: string, upstreamModel: unknown, model: string): string | undefined {
  if (typeof upstreamModel !== 'string') return undefined;
  if (upstreamModel === model) return text;
  MODEL_MEMBER.lastIndex = 0;
  const found = MODEL_MEMBER.exec(text);
  if (found === null || MODEL_MEMBER.exec(text) !== null) return undefined;
  const value = found[1]!;
  if (JSON.parse(value) !== upstreamModel) return undefined;
  const end = found.index + found[0].length;
  return text.slice(0, end - value.length) + JSON.stringify(model) + text.slice(end);
}

/**
 * OpenAI SSE → chunks with the client's model name. The usage-only chunk (`choices: []`)
 * and the `usage: null` fields go to the client only if it asked for `include_usage`; the
 * usage is recorded either way. Same end and error rules as createOpenAIStreamObserver.
 */
export function createOpenAIChunkDecoder(answer: AnswerOptions): StreamDecoder {
  let out: ChatCompletionChunk[] = [];
  const observer = createOpenAIStreamObserver({
    onChunk(data) {
      const chunk = { ...(data as unknown as ChatCompletionChunk), model: answer.model };
      if (!answer.includeUsage) {
        if (Array.isArray(chunk.choices) && chunk.choices.length === 0 && isRecord(data['usage'])) return;
        delete chunk.usage;
      }
      out.push(chunk);
    },
  });
  let ended: DecodeStep | undefined;
  const take = (): ChatCompletionChunk[] => {
    const chunks = out;
    out = [];
    return chunks;
  };
  return {
    push(data) {
      if (ended !== undefined) return { chunks: [], ...(ended.error ? { error: ended.error } : { done: true as const }) };
      const s = observer.push(data);
      if (s.error !== undefined) return (ended = { chunks: take(), error: s.error });
      if (s.done === true) return (ended = { chunks: take(), done: true });
      return { chunks: take() };
    },
    end() {
      if (ended !== undefined) return { chunks: [], ...(ended.error ? { error: ended.error } : { done: true as const }) };
      const { error } = observer.end();
      return error === undefined ? { chunks: take(), done: true } : { chunks: take(), error };
    },
    usage: () => observer.usage(),
  };
}

// ---------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------

/** platform.claude.com/docs/en/api/versioning: the only stable version string. */
const ANTHROPIC_VERSION = '2023-06-01';

const anthropicAdapter: ProviderAdapter = {
  chatRequest(req, target, config) {
    const body = toAnthropicRequest(req, { model: target.model, defaultMaxTokens: config.maxTokens });
    const auth: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    if (config.apiKey !== undefined && config.apiKey !== '') auth['x-api-key'] = config.apiKey;
    return { url: `${target.baseUrl}/v1/messages`, headers: headersFor(config, auth, req.stream === true), body: JSON.stringify(body) };
  },
  chatResponse: (body, answer) => fromAnthropicResponse(body, { model: answer.model, created: answer.created }),
  streamDecoder(answer) {
    const t = createAnthropicStreamTranslator(answer);
    return { push: (data) => t.push(data), end: () => t.end(), usage: () => t.usage() };
  },
  embedRequest() {
    throw providerError(400, 'invalid_request_error', 'Anthropic has no embeddings API: route this model to an OpenAI, OpenAI-compatible or Ollama target.', {
      code: 'embeddings_unsupported',
      param: 'model',
    });
  },
  embedResponse() {
    throw new Error('unreachable: Anthropic embeddings are refused before sending');
  },
  error: (status, body) => fromAnthropicError(status, parseMaybeJson(body)),
};

// ---------------------------------------------------------------------------
// Ollama native API
// ---------------------------------------------------------------------------

const ollamaAdapter: ProviderAdapter = {
  chatRequest(req, target, config) {
    const body = toOllamaChatRequest(req, { model: target.model });
    const auth: Record<string, string> = config.apiKey === undefined || config.apiKey === '' ? {} : { authorization: `Bearer ${config.apiKey}` };
    // NDJSON, not SSE: accept stays application/json-ish; Ollama ignores it.
    return { url: `${target.baseUrl}/api/chat`, headers: headersFor(config, auth, false), body: JSON.stringify(body) };
  },
  chatResponse(body, answer) {
    if (!isRecord(body)) throw malformed('the Ollama answer is not a JSON object');
    return fromOllamaChatResponse(body as OllamaChatResponse, answer);
  },
  streamDecoder(answer) {
    const t = createOllamaStreamTranslator(answer);
    const text = new TextDecoder();
    // The translator throws on an error line and drops what it decoded earlier in that same
    // push; feeding it line by line keeps the chunks that came before the error.
    const feed = (s: string): DecodeStep => {
      const out: ChatCompletionChunk[] = [];
      try {
        let from = 0;
        for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', from)) {
          out.push(...t.push(s.slice(from, nl + 1)));
          from = nl + 1;
        }
        if (from < s.length) out.push(...t.push(s.slice(from)));
      } catch (err) {
        return { chunks: out, error: asProviderError(err) };
      }
      return t.done() ? { chunks: out, done: true } : { chunks: out };
    };
    return {
      push: (data) => feed(text.decode(data, { stream: true })),
      end() {
        const last = feed(text.decode());
        if (last.error !== undefined) return last;
        try {
          return { chunks: [...last.chunks, ...t.end()], done: true };
        } catch (err) {
          return { chunks: last.chunks, error: asProviderError(err) };
        }
      },
      usage: () => t.usage(),
    };
  },
  embedRequest(req, target, config) {
    const auth: Record<string, string> = config.apiKey === undefined || config.apiKey === '' ? {} : { authorization: `Bearer ${config.apiKey}` };
    return { url: `${target.baseUrl}/api/embed`, headers: headersFor(config, auth, false), body: JSON.stringify(toOllamaEmbedRequest(req, { model: target.model })) };
  },
  embedResponse(body, req) {
    if (!isRecord(body) || !Array.isArray(body['embeddings'])) throw malformed('the Ollama answer has no embeddings');
    return fromOllamaEmbedResponse(body as unknown as OllamaEmbedResponse, { model: req.model, ...(req.encoding_format === undefined ? {} : { encodingFormat: req.encoding_format }) });
  },
  error: (status, body) => fromOllamaError(status, body),
};

export const ADAPTERS: Record<AiProvider, ProviderAdapter> = {
  openai: openaiAdapter,
  'openai-compatible': openaiAdapter,
  anthropic: anthropicAdapter,
  ollama: ollamaAdapter,
};

/** True when a chunk carries what the client will show: text, a refusal or a tool call (not the role-only preamble). */
export function hasContent(chunk: ChatCompletionChunk): boolean {
  // Guarded: an OpenAI-compatible server may send chunks without choices or delta.
  if (!Array.isArray(chunk.choices)) return false;
  return chunk.choices.some((c) => {
    const d = (c as Partial<typeof c>).delta;
    return d !== undefined && ((typeof d.content === 'string' && d.content !== '') || (typeof d.refusal === 'string' && d.refusal !== '') || (Array.isArray(d.tool_calls) && d.tool_calls.length > 0));
  });
}

export function malformed(what: string, cause?: unknown): ProviderError {
  return providerError(502, 'upstream_error', `Malformed upstream response: ${what}.`, { code: 'upstream_malformed', retryable: true, cause });
}

function asProviderError(err: unknown): ProviderError {
  return err instanceof ProviderError ? err : malformed('the stream could not be read', err);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
