/**
 * Watching an OpenAI(-compatible) stream that the proxy passes through unchanged: the
 * proxy forwards the upstream bytes as they are and feeds a copy here, to learn the usage,
 * whether content reached the client (fallback is only possible before), and whether the
 * stream ended properly (`data: [DONE]`) or failed. Also the one place that turns an
 * OpenAI-style error answer into a ProviderError.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ProviderError, providerError, type Usage } from '../openai-types.js';

export interface ObserveStep {
  /** SSE events completed by this push. */
  events: number;
  /** Set once `[DONE]` has been seen (on this push or before). */
  done?: boolean;
  /** The stream carried an error payload, or a data line that is not JSON. */
  error?: ProviderError;
}

export interface OpenAIStreamObserver {
  /** Feed a copy of what was forwarded, cut anywhere. */
  push(data: string | Uint8Array): ObserveStep;
  /** The last chunk carrying a non-null `usage` (stream_options.include_usage). */
  usage(): Usage | undefined;
  /** True once a choice delta carried text, a refusal or a tool call (not the role-only preamble). */
  started(): boolean;
  /** The upstream closed: an error if it failed or stopped before `[DONE]`. */
  end(): { error?: ProviderError };
}

/**
 * Parse, never alter: the observer sees a copy and returns facts. `onChunk` is
 * given every chunk object the stream carries (not errors, not `[DONE]`), for
 * a caller that re-emits them (the proxy's OpenAI decoder, providers.ts).
 */
export function createOpenAIStreamObserver(options: { onChunk?: (chunk: Record<string, unknown>) => void } = {}): OpenAIStreamObserver {
  const decoder = new TextDecoder();
  let pending: EventSourceMessage[] = [];
  let lastUsage: Usage | undefined;
  let contentStarted = false;
  let done = false;
  let failure: ProviderError | undefined;
  const parser = createParser({ onEvent: (event) => pending.push(event) });

  const inspect = (event: EventSourceMessage): void => {
    // OpenAI ends a stream with the literal `data: [DONE]`.
    if (event.data.trim() === '[DONE]') {
      done = true;
      return;
    }
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch (cause) {
      failure = providerError(502, 'upstream_error', 'Malformed upstream stream: a data line is not JSON.', { code: 'upstream_malformed', retryable: true, cause });
      return;
    }
    if (!isRecord(data)) return;
    // Mid-stream failures arrive as `data: {"error": {...}}` (the openai SDK throws on them),
    // sometimes under `event: error`.
    if (isRecord(data['error']) || event.event === 'error') {
      failure = fromOpenAIError(200, data);
      return;
    }
    if (isRecord(data['usage'])) lastUsage = data['usage'] as unknown as Usage;
    options.onChunk?.(data);
    const choices = Array.isArray(data['choices']) ? data['choices'] : [];
    for (const choice of choices) {
      const delta = isRecord(choice) && isRecord(choice['delta']) ? choice['delta'] : undefined;
      if (delta === undefined) continue;
      if (nonEmpty(delta['content']) || nonEmpty(delta['refusal']) || (Array.isArray(delta['tool_calls']) && delta['tool_calls'].length > 0) || isRecord(delta['function_call'])) {
        contentStarted = true;
      }
    }
  };

  return {
    push(chunk) {
      parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      const events = pending;
      pending = [];
      for (const event of events) {
        if (done || failure !== undefined) break;
        inspect(event);
      }
      const step: ObserveStep = { events: events.length };
      if (done) step.done = true;
      if (failure !== undefined) step.error = failure;
      return step;
    },
    usage: () => lastUsage,
    started: () => contentStarted,
    end() {
      const tail = decoder.decode();
      if (tail !== '') this.push(tail);
      if (failure !== undefined) return { error: failure };
      if (done) return {};
      return {
        error: providerError(502, 'upstream_error', 'The upstream stream ended before [DONE]; the answer is incomplete.', {
          code: 'upstream_stream_truncated',
          retryable: true,
        }),
      };
    },
  };
}

/**
 * An OpenAI-style error answer → ProviderError. The body is kept when it already has
 * OpenAI's shape; otherwise a generic message names the status. Retryable mirrors the
 * openai SDK's own retry rule (408, 409, 429, ≥500), except a 429 for exhausted quota,
 * which no retry fixes. `status` 200 means "inside a stream": the status is inferred
 * from the error's type/code.
 */
export function fromOpenAIError(status: number, body: unknown): ProviderError {
  const err = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const type = typeof err?.['type'] === 'string' ? err['type'] : undefined;
  const code = typeof err?.['code'] === 'string' ? err['code'] : typeof err?.['code'] === 'number' ? String(err['code']) : null;
  const param = typeof err?.['param'] === 'string' ? err['param'] : null;
  const message = typeof err?.['message'] === 'string' && err['message'] !== '' ? err['message'] : `Upstream answered HTTP ${status}.`;
  const httpStatus = status >= 400 ? status : inferStatus(type, code);
  const quota = type === 'insufficient_quota' || code === 'insufficient_quota';
  const retryable = !quota && (httpStatus === 408 || httpStatus === 409 || httpStatus === 429 || httpStatus >= 500);
  return new ProviderError(
    httpStatus,
    { error: { message, type: type ?? (httpStatus >= 500 ? 'server_error' : 'invalid_request_error'), code, param } },
    { retryable, cause: body },
  );
}

function inferStatus(type: string | undefined, code: string | null): number {
  if (type === 'insufficient_quota' || code === 'insufficient_quota' || code === 'rate_limit_exceeded' || type === 'rate_limit_error') return 429;
  if (type === 'invalid_request_error') return 400;
  if (type === 'server_error') return 500;
  return 502;
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v !== '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
