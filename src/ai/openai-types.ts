/**
 * The OpenAI Chat Completions and Embeddings wire format: the subset the ai-proxy
 * accepts from clients and speaks back to them, whatever provider serves the call.
 * Field names are the wire names (snake_case), so a parsed body can be typed
 * without copying. Reference: https://platform.openai.com/docs/api-reference/chat
 * and the `openai` SDK's `resources/chat/completions` types (v6), which we do not
 * import in src/ so that the proxy does not depend on the SDK at run time.
 */

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/** A text part of a user/system/developer/assistant/tool message. */
export interface TextContentPart {
  type: 'text';
  text: string;
}

/** An image part of a user message: an https URL or a `data:` URL (base64). */
export interface ImageContentPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export type ContentPart = TextContentPart | ImageContentPart;

/** A function call the assistant made; `arguments` is a JSON text (possibly invalid). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface SystemMessage {
  role: 'system';
  content: string | TextContentPart[];
  name?: string;
}

/** The o-series replacement for `system`; providers without it treat it as system. */
export interface DeveloperMessage {
  role: 'developer';
  content: string | TextContentPart[];
  name?: string;
}

export interface UserMessage {
  role: 'user';
  content: string | ContentPart[];
  name?: string;
}

export interface AssistantMessage {
  role: 'assistant';
  /** Null (or absent) when the turn is only tool calls. */
  content?: string | TextContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  refusal?: string | null;
}

export interface ToolMessage {
  role: 'tool';
  content: string | TextContentPart[];
  /** The `ToolCall.id` this message answers. */
  tool_call_id: string;
}

export type ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage;
export type ChatRole = ChatMessage['role'];

/** A function tool; `parameters` is a JSON Schema object (absent = no arguments). */
export interface FunctionTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean | null;
  };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null };
    };

/** `POST /v1/chat/completions` body. Unknown fields may be present and are the adapter's call. */
export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  stream?: boolean | null;
  /** Only meaningful with `stream: true`: ask for a final usage chunk with empty `choices`. */
  stream_options?: { include_usage?: boolean } | null;
  /** Deprecated by OpenAI in favour of `max_completion_tokens`, still widely sent. */
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** 0..2 in OpenAI's scale. */
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
  user?: string;
  response_format?: ResponseFormat;
  n?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  reasoning_effort?: 'minimal' | 'low' | 'medium' | 'high' | null;
  metadata?: Record<string, string> | null;
  store?: boolean | null;
  service_tier?: string | null;
}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

/**
 * Why generation stopped. `null` in a non-final stream chunk, and in a final
 * answer only when the provider gave a reason we cannot map (never guessed as 'stop').
 */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** `cached_tokens` counts prompt tokens served from the provider's prompt cache (included in prompt_tokens). */
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: string | null;
  tool_calls?: ToolCall[];
}

export interface ChatCompletionChoice {
  index: number;
  message: ChatCompletionMessage;
  finish_reason: FinishReason | null;
  logprobs: null;
}

/** Non-streaming answer: `object: 'chat.completion'`. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  /** Unix seconds. */
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: Usage;
  system_fingerprint?: string | null;
}

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

/** A tool call fragment: the first for an `index` carries id/type/name, later ones only argument text. */
export interface ToolCallDelta {
  /** Ordinal of the tool call within the message (0, 1, 2…). */
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChatCompletionChunkDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChatCompletionChunkDelta;
  finish_reason: FinishReason | null;
  logprobs?: null;
}

/**
 * One `data:` payload of a `stream: true` answer: `object: 'chat.completion.chunk'`.
 * With `stream_options.include_usage`, every chunk has `usage: null` except one last
 * chunk with `choices: []` and the totals; then `data: [DONE]`.
 */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: Usage | null;
  system_fingerprint?: string | null;
}

// ---------------------------------------------------------------------------
// Models and embeddings
// ---------------------------------------------------------------------------

export interface Model {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** `GET /v1/models`. */
export interface ModelList {
  object: 'list';
  data: Model[];
}

/** `POST /v1/embeddings` body. */
export interface EmbeddingRequest {
  model: string;
  /** A string, strings, or token arrays. */
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  /** Floats, or a base64 string of little-endian float32 when `encoding_format: 'base64'`. */
  embedding: number[] | string;
}

export interface EmbeddingResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** OpenAI's error body, the only error shape an OpenAI client understands. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    /** e.g. invalid_request_error, authentication_error, rate_limit_error, server_error. */
    type: string;
    code: string | null;
    param: string | null;
  };
}

/**
 * An upstream (or translation) failure, already in OpenAI's terms: the HTTP status to
 * answer with and the body to send. `retryable` tells the router whether another
 * attempt — same or another target — may succeed (429, 5xx, overload, cut streams);
 * a request the provider rejected as invalid is not retryable.
 */
export class ProviderError extends Error {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  readonly retryable: boolean;

  constructor(status: number, body: OpenAIErrorBody, options: { retryable: boolean; cause?: unknown }) {
    super(body.error.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.status = status;
    this.body = body;
    this.retryable = options.retryable;
  }
}

/** Build a ProviderError from parts; `param` names the offending request field, when there is one. */
export function providerError(
  status: number,
  type: string,
  message: string,
  options: { code?: string | null; param?: string | null; retryable?: boolean; cause?: unknown } = {},
): ProviderError {
  return new ProviderError(
    status,
    { error: { message, type, code: options.code ?? null, param: options.param ?? null } },
    { retryable: options.retryable ?? false, cause: options.cause },
  );
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}
