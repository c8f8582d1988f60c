/**
 * The ai-proxy engine: a Chat Completions (or embeddings) request in, the route's targets
 * tried in order with retries, backoff, cooldown and one overall deadline, an OpenAI answer
 * out — JSON, or a stream whose first content is held back so that a failure before it can
 * still fall back invisibly. HTTP serving, auth, policy and audit are the caller's.
 *
 * Decisions (each also where it is applied):
 * - HTTP: one pooled keep-alive undici Agent. Streams use `Agent.request`, as
 *   upstream/forward.ts does: status, headers and the body as a Node stream read as it
 *   arrives. JSON calls use `Agent.dispatch` with a handler that collects the bytes
 *   (BodyReader): no stream to wrap an answer read whole. Either way an abort destroys the
 *   socket at once. `fetch` would add WHATWG stream wrapping for nothing.
 * - Failure classes (`classify`): retryable (ProviderError.retryable: connection errors,
 *   timeouts, 408/409, 429, 5xx, 529, cut streams) → retry the same target, then the next;
 *   401/402/403 and a spent quota → the gateway's credentials or account, not the caller's:
 *   next target at once, and if it is the last error the client gets a 502 `upstream_auth`
 *   without the upstream's message (it may quote part of our key); 404 and non-retryable
 *   5xx → next target at once, error kept; any other 4xx (400, 413, 422…) is the client's
 *   request → returned at once, no fallback, no cooldown count; a request one provider
 *   cannot express (translation 400, embeddings on Anthropic) → next target, no cooldown
 *   count, and the 400 is returned if no target could take it.
 * - Backoff: equal jitter, backoffMs·2^(n−1)·[0.5, 1). `retry-after-ms` / `retry-after`
 *   (seconds or HTTP date) replaces it; when the wait would end past the deadline the
 *   target is given up and the next one tried at once (waiting only to fail is useless).
 * - Deadline: ctx.deadline ?? start + retry.deadlineMs bounds everything, streams included:
 *   each attempt's timer is min(target.timeoutMs, time left). Backoff sleeps stop at it.
 * - Cooldown: `cooldown.failures` consecutive upstream-side failures bench a target for
 *   `cooldown.ms` (client errors and untranslatable requests do not count; a failure after
 *   content does). Benched targets are skipped; when every target of a route is benched they
 *   are all tried anyway, in order: a guaranteed error is worse than a probe that may work.
 *   Skipped targets are not listed in `attempts` (they were not attempted).
 * - Streams: the role-only preamble is held back with the first content chunk; an error or
 *   a cut stream before content is an ordinary failed attempt (retry/fallback); after it,
 *   `rest` yields `{ error }` and stops. A stream that ends cleanly without content resolves
 *   with everything in `head` and `rest` yields `{ done: true }`.
 * - Client abort: chat()/embeddings() reject with a 499 `client_closed_request` (never
 *   retried); `rest` just ends. Either way the upstream request is aborted immediately.
 * - Attempt.status is the HTTP status the upstream answered (absent when none came back).
 * - close() closes the Agent after in-flight requests end (each is bounded by its timer).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Agent, type Dispatcher } from 'undici';
import type { AiConfig, AiProvider, AiTargetConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { CancelSignal, Principal, TraceHeaders } from '../../call/context.js';
import { addTraceHeaders } from '../../tracing/headers.js';
import { splitUrl } from '../../upstream/forward.js';
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
import { ADAPTERS, hasContent, malformed, type AnswerOptions, type DecodeStep, type ProviderAdapter, type StreamDecoder, type UpstreamCall } from '../providers/adapters.js';
import { createCooldown, createRouter, type ResolvedRoute, type ResolvedTarget } from './router.js';

export type { ResolvedTarget } from './router.js';

/** One try of one target, in the order made. */
export interface Attempt {
  target: string;
  provider: AiProvider;
  /** The upstream model. */
  model: string;
  /** The HTTP status the upstream answered; absent when no answer came (connect error, timeout, abort). */
  status?: number;
  /** Why the attempt failed (`type/code: message`); absent on success. */
  error?: string;
  ms: number;
}

export interface ChatContext {
  /** The client went away: abort everything. */
  /** The client's cancellation (an AbortSignal is one; the HTTP edge passes a lighter OneShotSignal). */
  signal: CancelSignal;
  /** overall deadline (epoch ms); default now + retry.deadlineMs */
  deadline?: number;
  /** Who is calling: routes with `when` serve only callers for whom it holds; without one, only routes without `when` serve (router.ts). */
  caller?: Principal;
  /** Tracing on: the call's span, which every upstream request carries as its parent (`traceparent`). */
  trace?: TraceHeaders | undefined;
}

/** The end of a stream, as an item of `rest`. */
export type StreamEnd = { done: true } | { error: ProviderError };

export type ChatOutcome =
  | {
      kind: 'json';
      completion: ChatCompletion;
      /** The completion as JSON text already (the upstream's own bytes, model replaced), when the adapter could keep them. */
      text?: string;
      target: ResolvedTarget;
      route: string;
      attempts: Attempt[];
    }
  | {
      kind: 'stream';
      target: ResolvedTarget;
      route: string;
      attempts: Attempt[];
      /** The chunks held back until the first content (the role-only preamble and that first content chunk, or everything if the stream ended before any content). */
      head: ChatCompletionChunk[];
      /** The rest; each item is a chunk, or the end: { done: true } or { error: ProviderError } (after content has started: the HTTP layer writes an error event, never a clean [DONE]). */
      rest: AsyncIterable<ChatCompletionChunk | StreamEnd>;
      usage(): Usage | undefined;
      /** ms from chat() being called to the first content chunk (undefined if none). */
      ttftMs(): number | undefined;
    };

export interface AiProxy {
  /** The route for a requested model and caller: exact model name or alias first, then globs, in config order; the first whose `when` holds (router.ts). */
  resolve(model: string, caller?: Principal): ResolvedRoute | undefined;
  /** Model ids for /v1/models: route models and aliases, then glob patterns; with a caller, those it may request; without, all (router.ts). */
  models(caller?: Principal): string[];
  /** Throws ProviderError when every target failed before any content reached the caller (the last error; 404-ish 'model_not_found' when no route). */
  chat(req: ChatCompletionRequest, ctx: ChatContext): Promise<ChatOutcome>;
  embeddings(req: EmbeddingRequest, ctx: ChatContext): Promise<{ response: EmbeddingResponse; target: ResolvedTarget; route: string; attempts: Attempt[] }>;
  close(): Promise<void>;
}

/** A JSON answer larger than this is refused (a model answer is kilobytes; embeddings a few MB). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;
/** Of an error answer we read this much: enough for any provider's error body. */
const MAX_ERROR_BYTES = 64 * 1024;

type CallEnd = 'client' | 'timeout' | 'deadline' | 'done';

/** One upstream request's lifetime: its abort signal, its timer and why it ended. */
interface Call {
  /**
   * What undici listens to: it accepts an EventEmitter as its signal, and on Node 20
   * an AbortController costs ~10 µs a call where an EventEmitter costs ~0.25 µs
   * (the same choice as upstream/forward.ts).
   */
  signal: EventEmitter;
  ended(): CallEnd | undefined;
  /** Abort the upstream request (if still running) and release the timer and listener. */
  abort(): void;
  /** Release the timer and listener, leaving the request alone (it completed). */
  dispose(): void;
}

/** A failed attempt, with what the retry logic needs beyond the error itself. */
class AttemptFailure extends Error {
  constructor(
    readonly error: ProviderError,
    readonly info: { status?: number; retryAfterMs?: number; beforeSend?: boolean } = {},
  ) {
    super(error.message, { cause: error });
  }
}

type FailureClass = 'retry' | 'gateway' | 'next' | 'skip' | 'client';

/** See the decisions at the top of the file. */
function classify(f: AttemptFailure): FailureClass {
  if (f.info.beforeSend === true) return 'skip';
  if (f.error.retryable) return 'retry';
  const e = f.error.body.error;
  const auth = (s: number | undefined): boolean => s === 401 || s === 402 || s === 403;
  if (auth(f.info.status) || auth(f.error.status) || e.type === 'insufficient_quota' || e.code === 'insufficient_quota') {
    return 'gateway';
  }
  if (f.error.status === 404 || f.error.status >= 500) return 'next';
  return 'client';
}

export function createAiProxy(config: AiConfig, options: { log?: Logger; now?: () => number } = {}): AiProxy {
  const log = options.log ?? silentLogger();
  const now = options.now ?? Date.now;
  const router = createRouter(config);
  const cooldown = createCooldown({ failures: config.cooldown.failures, ms: config.cooldown.ms, now });
  const agent = new Agent({
    // Each call has its own total timer (timeoutMs, capped by the deadline); undici's
    // per-phase timers would only cut long generations that are still streaming.
    headersTimeout: 0,
    bodyTimeout: 0,
  });

  function openCall(signal: CancelSignal, timeoutMs: number, deadline: number): Call {
    const emitter = new EventEmitter();
    let end: CallEnd | undefined;
    let aborted = false;
    const left = deadline - now();
    const byDeadline = left < timeoutMs;
    const stop = (why: CallEnd): void => {
      end ??= why;
      if (aborted) return;
      aborted = true;
      emitter.emit('abort');
    };
    const timer = setTimeout(() => stop(byDeadline ? 'deadline' : 'timeout'), Math.max(0, Math.min(timeoutMs, left)));
    timer.unref();
    const onClientAbort = (): void => stop('client');
    if (signal.aborted) onClientAbort();
    else signal.addEventListener('abort', onClientAbort, { once: true });
    const dispose = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onClientAbort);
    };
    return {
      signal: emitter,
      ended: () => end,
      abort() {
        dispose();
        if (end === undefined) stop('done');
      },
      dispose() {
        dispose();
        end ??= 'done';
      },
    };
  }

  /** POST the call for a stream; a non-2xx answer becomes an AttemptFailure with the provider's error. */
  async function send(target: ResolvedTarget, upstream: UpstreamCall, call: Call, timeoutMs: number): Promise<Dispatcher.ResponseData> {
    const { origin, path } = splitUrl(upstream.url);
    let res: Dispatcher.ResponseData;
    try {
      res = await agent.request({ origin, path, method: 'POST', headers: upstream.headers, body: upstream.body, signal: call.signal });
    } catch (err) {
      throw transportFailure(err, call, target, timeoutMs);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    let text = '';
    try {
      text = (await readAll(res.body, MAX_ERROR_BYTES, true)).toString('utf8');
    } catch {
      // The status says enough; a broken error body must not hide it.
    }
    throw upstreamFailure(target, res.statusCode, text, res.headers);
  }

  /**
   * POST the call and read the whole answer (JSON calls). A non-2xx answer becomes an
   * AttemptFailure with the provider's error; the body of a 2xx answer is returned.
   */
  async function sendForBody(target: ResolvedTarget, upstream: UpstreamCall, call: Call, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
    const { origin, path } = splitUrl(upstream.url);
    const reader = new BodyReader(call);
    const whole = new Promise<Buffer>((resolve, reject) => {
      reader.resolve = resolve;
      reader.reject = reject;
    });
    agent.dispatch({ origin, path, method: 'POST', headers: upstream.headers, body: upstream.body }, reader);
    let body: Buffer;
    try {
      body = await whole;
    } catch (err) {
      throw readFailure(err, call, target, timeoutMs, reader.status === 0 ? undefined : reader.status);
    }
    if (reader.status >= 200 && reader.status < 300) return { status: reader.status, body };
    throw upstreamFailure(target, reader.status, body.toString('utf8'), reader.errorHeaders());
  }

  function upstreamFailure(target: ResolvedTarget, status: number, text: string, headers: Dispatcher.ResponseData['headers']): AttemptFailure {
    const retryAfterMs = retryAfter(headers, now);
    return new AttemptFailure(ADAPTERS[target.provider].error(status, text), { status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }

  /** A 2xx answer that could not be read whole: the reader's own refusal (too large), else the transport's failure. */
  function readFailure(err: unknown, call: Call, target: ResolvedTarget, timeoutMs: number, status: number | undefined): AttemptFailure {
    return err instanceof ProviderError ? new AttemptFailure(err, status === undefined ? {} : { status }) : transportFailure(err, call, target, timeoutMs, status);
  }

  function transportFailure(err: unknown, call: Call, target: ResolvedTarget, timeoutMs: number, status?: number): AttemptFailure {
    if (err instanceof AttemptFailure) return err;
    const info = status === undefined ? {} : { status };
    switch (call.ended()) {
      case 'client':
        return new AttemptFailure(clientClosed(err), info);
      case 'timeout':
        return new AttemptFailure(
          providerError(504, 'server_error', `The upstream did not finish within ${timeoutMs} ms.`, { code: 'upstream_timeout', retryable: true, cause: err }),
          info,
        );
      case 'deadline':
        return new AttemptFailure(deadlineError(err), info);
      default: {
        const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? ` (${(err as { code: string }).code})` : '';
        const what = status === undefined ? `could not be reached${code}` : `broke off its answer${code}`;
        return new AttemptFailure(
          providerError(502, 'upstream_error', `The upstream ${target.provider} server ${what}.`, { code: status === undefined ? 'upstream_unreachable' : 'upstream_stream_broken', retryable: true, cause: err }),
          info,
        );
      }
    }
  }

  interface Run<T> {
    value: T;
    target: ResolvedTarget;
    route: string;
    attempts: Attempt[];
  }

  /**
   * Try the route's targets in order until one answers. `attempt` gets the target and a
   * live Call; on success it owns the Call (a stream keeps it until `rest` ends).
   */
  async function run<T>(model: string, ctx: ChatContext, start: number, attempt: (target: ResolvedTarget, config: AiTargetConfig, call: Call) => Promise<T>): Promise<Run<T>> {
    const resolved = router.resolve(model, ctx.caller);
    if (resolved === undefined) {
      throw providerError(404, 'invalid_request_error', `The model "${model}" does not exist or is not served by this gateway.`, { code: 'model_not_found', param: 'model' });
    }
    const deadline = ctx.deadline ?? start + config.retry.deadlineMs;
    const attempts: Attempt[] = [];
    const active = resolved.targets.filter((t) => !cooldown.cooling(t.name));
    if (active.length < resolved.targets.length) {
      log.debug({ route: resolved.route, skipped: resolved.targets.filter((t) => !active.includes(t)).map((t) => t.name) }, 'ai targets cooling down');
    }
    const order = active.length > 0 ? active : resolved.targets;
    let last: ProviderError | undefined;

    for (const target of order) {
      const targetConfig = config.targets[target.name] as AiTargetConfig;
      for (let n = 1; n <= config.retry.attempts; n++) {
        if (ctx.signal.aborted) throw clientClosed(ctx.signal.reason);
        if (now() >= deadline) throw last ?? deadlineError();
        const t0 = now();
        const call = openCall(ctx.signal, targetConfig.timeoutMs, deadline);
        try {
          const value = await attempt(target, targetConfig, call);
          attempts.push({ target: target.name, provider: target.provider, model: target.model, status: 200, ms: now() - t0 });
          cooldown.success(target.name);
          return { value, target, route: resolved.route, attempts };
        } catch (err) {
          call.abort();
          const f = err instanceof AttemptFailure ? err : new AttemptFailure(asProviderError(err));
          const e = f.error.body.error;
          attempts.push({
            target: target.name,
            provider: target.provider,
            model: target.model,
            ...(f.info.status === undefined ? {} : { status: f.info.status }),
            error: `${e.type}${e.code === null ? '' : `/${e.code}`}: ${e.message}`.slice(0, 300),
            ms: now() - t0,
          });
          if (call.ended() === 'client' || ctx.signal.aborted) throw clientClosed(f.error);
          const kind = classify(f);
          if (kind === 'client') throw f.error;
          if (kind !== 'skip') cooldown.failure(target.name);
          last = kind === 'gateway' ? gatewayError(f.error) : f.error;
          log.warn({ route: resolved.route, target: target.name, try: n, status: f.info.status, code: e.code, type: e.type, kind, message: e.message }, 'ai upstream attempt failed');
          if (kind !== 'retry' || n === config.retry.attempts) break;
          const base = config.retry.backoffMs * 2 ** (n - 1);
          const wait = f.info.retryAfterMs ?? Math.round(base / 2 + (Math.random() * base) / 2);
          if (now() + wait >= deadline) break;
          try {
            await sleepUnlessCancelled(wait, ctx.signal);
          } catch (cause) {
            throw clientClosed(cause);
          }
        }
      }
    }
    throw last ?? deadlineError();
  }

  /** The answer's JSON, parsed (the bytes came whole from sendForBody). */
  function parseAnswer(text: string, status: number): unknown {
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new AttemptFailure(malformed('the answer is not JSON', cause), { status });
    }
  }

  function build(f: () => UpstreamCall, trace: TraceHeaders | undefined): UpstreamCall {
    try {
      const upstream = f();
      addTraceHeaders(upstream.headers, trace);
      return upstream;
    } catch (err) {
      throw new AttemptFailure(asProviderError(err), { beforeSend: true });
    }
  }

  /** An adapter's reading of a 2xx answer; an answer it cannot read fails the attempt. */
  function translate<T>(status: number, f: () => T): T {
    try {
      return f();
    } catch (err) {
      throw new AttemptFailure(asProviderError(err), { status });
    }
  }

  async function chat(req: ChatCompletionRequest, ctx: ChatContext): Promise<ChatOutcome> {
    const start = now();
    const includeUsage = req.stream_options?.include_usage === true;
    const answer = (): AnswerOptions => new Answer(req.model, includeUsage, Math.floor(now() / 1000));

    if (req.stream !== true) {
      const r = await run(req.model, ctx, start, async (target, targetConfig, call) => {
        const adapter = ADAPTERS[target.provider];
        const upstream = build(() => adapter.chatRequest(req, target, targetConfig), ctx.trace);
        const res = await sendForBody(target, upstream, call, targetConfig.timeoutMs);
        const text = res.body.toString('utf8');
        const body = parseAnswer(text, res.status);
        const shape = answer();
        const completion = translate(res.status, () => adapter.chatResponse(body, shape));
        const passed = adapter.chatText?.(text, body, shape);
        call.dispose();
        return { completion, text: passed };
      });
      const { completion, text } = r.value;
      return { kind: 'json', completion, ...(text === undefined ? {} : { text }), target: r.target, route: r.route, attempts: r.attempts };
    }

    const r = await run(req.model, ctx, start, async (target, targetConfig, call) => {
      const adapter = ADAPTERS[target.provider];
      const upstream = build(() => adapter.chatRequest(req, target, targetConfig), ctx.trace);
      const res = await send(target, upstream, call, targetConfig.timeoutMs);
      if (isJsonAnswer(res.headers)) {
        const shape = answer();
        return completedStream(await readCompletion(res, adapter, shape, call, target, targetConfig.timeoutMs), shape.includeUsage, call, targetConfig.timeoutMs, start);
      }
      return openStream(res, adapter.streamDecoder(answer()), call, target, targetConfig.timeoutMs, start);
    });
    const s = r.value;
    const rest = streamRest(s, r.target, ctx.signal);
    return {
      kind: 'stream',
      target: r.target,
      route: r.route,
      attempts: r.attempts,
      head: s.head,
      rest,
      usage: () => s.decoder.usage(),
      ttftMs: () => s.ttftMs,
    };
  }

  interface OpenStream {
    head: ChatCompletionChunk[];
    /** Chunks decoded with the first content but after it (same read), for `rest`. */
    queued: ChatCompletionChunk[];
    /** Set when the stream already ended while the head was read. */
    end?: StreamEnd;
    decoder: StreamDecoder;
    body: AsyncIterator<Buffer>;
    call: Call;
    ttftMs?: number;
    timeoutMs: number;
    status: number;
  }

  /**
   * A stream request answered with one JSON completion: some OpenAI-compatible servers
   * ignore `stream: true`. Read and translated like a JSON call (a bad answer fails the
   * attempt, so fallback still applies), then served as a stream.
   */
  async function readCompletion(res: Dispatcher.ResponseData, adapter: ProviderAdapter, shape: AnswerOptions, call: Call, target: ResolvedTarget, timeoutMs: number): Promise<ChatCompletion> {
    let text: string;
    try {
      text = (await readAll(res.body, MAX_JSON_BYTES, false)).toString('utf8');
    } catch (err) {
      throw readFailure(err, call, target, timeoutMs, res.statusCode);
    }
    const body = parseAnswer(text, res.statusCode);
    const completion = translate(res.statusCode, () => adapter.chatResponse(body, shape));
    call.dispose();
    return completion;
  }

  /** The stream of a whole completion: each choice's message in one delta, then the finish reasons, then the usage if asked for. */
  function completedStream(completion: ChatCompletion, includeUsage: boolean, call: Call, timeoutMs: number, start: number): OpenStream {
    const frame = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk => ({ id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model, choices });
    const head = completion.choices.map((c) => {
      const delta: ChatCompletionChunk['choices'][number]['delta'] = { role: 'assistant', content: c.message.content ?? '' };
      if (c.message.refusal) delta.refusal = c.message.refusal;
      if (c.message.tool_calls !== undefined && c.message.tool_calls.length > 0) {
        delta.tool_calls = c.message.tool_calls.map((t, index) => ({ index, id: t.id, type: 'function', function: { name: t.function.name, arguments: t.function.arguments } }));
      }
      return frame([{ index: c.index, delta, finish_reason: null }]);
    });
    head.push(frame(completion.choices.map((c) => ({ index: c.index, delta: {}, finish_reason: c.finish_reason }))));
    if (completion.usage !== undefined && includeUsage) head.push({ ...frame([]), usage: completion.usage });
    const usage = completion.usage;
    const decoder: StreamDecoder = { push: () => ({ chunks: [] }), end: () => ({ chunks: [], done: true }), usage: () => usage };
    const body: AsyncIterator<Buffer> = { next: async () => ({ done: true, value: undefined }) };
    return { head, queued: [], decoder, body, call, timeoutMs, status: 200, end: { done: true }, ttftMs: now() - start };
  }

  /** Read up to and including the first content chunk; a failure before it throws (fallback is still possible). */
  async function openStream(res: Dispatcher.ResponseData, decoder: StreamDecoder, call: Call, target: ResolvedTarget, timeoutMs: number, start: number): Promise<OpenStream> {
    const body = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const s: OpenStream = { head: [], queued: [], decoder, body, call, timeoutMs, status: res.statusCode };
    for (;;) {
      let step: DecodeStep;
      try {
        const next = await body.next();
        step = next.done === true ? decoder.end() : decoder.push(next.value);
      } catch (err) {
        throw transportFailure(err, call, target, timeoutMs, res.statusCode);
      }
      for (const chunk of step.chunks) {
        if (s.ttftMs !== undefined) s.queued.push(chunk);
        else {
          s.head.push(chunk);
          if (hasContent(chunk)) s.ttftMs = now() - start;
        }
      }
      if (step.error !== undefined) {
        if (s.ttftMs === undefined) throw new AttemptFailure(step.error, { status: res.statusCode });
        s.end = { error: step.error };
        return s;
      }
      if (step.done === true) {
        s.end = { done: true };
        return s;
      }
      if (s.ttftMs !== undefined) return s;
    }
  }

  /** The stream after the head. Ending early (break, return(), abort) aborts the upstream. */
  function streamRest(s: OpenStream, target: ResolvedTarget, signal: CancelSignal): AsyncIterable<ChatCompletionChunk | StreamEnd> {
    let finished = false;
    const finish = (clean: boolean): void => {
      if (finished) return;
      finished = true;
      if (!clean) {
        s.call.abort();
        return;
      }
      // Read what follows the end marker (normally nothing) so the socket can be reused;
      // the call's timer still bounds it.
      void (async () => {
        try {
          let r = await s.body.next();
          while (r.done !== true) r = await s.body.next();
          s.call.dispose();
        } catch {
          s.call.abort();
        }
      })();
    };
    const fail = (error: ProviderError): StreamEnd => {
      cooldown.failure(target.name);
      log.warn({ target: target.name, code: error.body.error.code, message: error.message }, 'ai upstream stream failed after content');
      return { error };
    };

    async function* items(): AsyncGenerator<ChatCompletionChunk | StreamEnd> {
      let clean = false;
      try {
        for (const chunk of s.queued) {
          if (signal.aborted) return;
          yield chunk;
        }
        if (s.end !== undefined) {
          clean = 'done' in s.end;
          yield 'error' in s.end ? fail(s.end.error) : s.end;
          return;
        }
        for (;;) {
          if (signal.aborted) return;
          let step: DecodeStep;
          try {
            const next = await s.body.next();
            step = next.done === true ? s.decoder.end() : s.decoder.push(next.value);
          } catch (err) {
            if (signal.aborted || s.call.ended() === 'client') return;
            yield fail(transportFailure(err, s.call, target, s.timeoutMs, s.status).error);
            return;
          }
          for (const chunk of step.chunks) yield chunk;
          if (step.error !== undefined) {
            yield fail(step.error);
            return;
          }
          if (step.done === true) {
            clean = true;
            yield { done: true };
            return;
          }
        }
      } finally {
        finish(clean);
      }
    }

    const gen = items();
    const iterator: AsyncIterator<ChatCompletionChunk | StreamEnd> = {
      next: () => gen.next(),
      // A generator that never started skips its `finally`: release the upstream here too.
      return: async () => {
        const r = await gen.return(undefined);
        finish(false);
        return r;
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  async function embeddings(req: EmbeddingRequest, ctx: ChatContext) {
    const r = await run(req.model, ctx, now(), async (target, targetConfig, call) => {
      const adapter = ADAPTERS[target.provider];
      const upstream = build(() => adapter.embedRequest(req, target, targetConfig), ctx.trace);
      const res = await sendForBody(target, upstream, call, targetConfig.timeoutMs);
      const body = parseAnswer(res.body.toString('utf8'), res.status);
      const response = translate(res.status, () => adapter.embedResponse(body, req));
      call.dispose();
      return response;
    });
    return { response: r.value, target: r.target, route: r.route, attempts: r.attempts };
  }

  return {
    resolve: (model, caller) => router.resolve(model, caller),
    models: (caller) => router.models(caller),
    chat: (req, ctx) => onlyProviderErrors(() => chat(req, ctx)),
    embeddings: (req, ctx) => onlyProviderErrors(() => embeddings(req, ctx)),
    close: () => agent.close(),
  };
}

/**
 * What shapes an answer. The id is made on first read: OpenAI-compatible answers keep the
 * upstream's, so most calls never need one (a UUID and a regex replace a call otherwise).
 */
class Answer implements AnswerOptions {
  private madeId: string | undefined;

  constructor(
    readonly model: string,
    readonly includeUsage: boolean,
    readonly created: number,
  ) {}

  get id(): string {
    return (this.madeId ??= `chatcmpl-${randomUUID().replace(/-/g, '')}`);
  }
}

/** The contract: chat()/embeddings() reject with ProviderError and nothing else. */
async function onlyProviderErrors<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw asProviderError(err);
  }
}

function asProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof AttemptFailure) return err.error;
  return providerError(502, 'server_error', 'The gateway failed while calling the upstream.', { code: 'gateway_error', cause: err });
}

function clientClosed(cause: unknown): ProviderError {
  // 499: nginx's "client closed request"; nobody reads it, but logs and audit do.
  return providerError(499, 'request_aborted', 'The client closed the request; the upstream call was aborted.', { code: 'client_closed_request', cause });
}

function deadlineError(cause?: unknown): ProviderError {
  return providerError(504, 'server_error', 'No upstream answered within the request deadline.', { code: 'deadline_exceeded', cause });
}

/** 401/402/403 or a spent quota upstream: the gateway's credentials or account, so a 502 to the client — never the upstream's message, which may quote the key. */
function gatewayError(cause: ProviderError): ProviderError {
  return providerError(502, 'upstream_error', `The upstream provider refused the gateway's credentials or account (HTTP ${cause.status}); this is a gateway configuration problem.`, {
    code: 'upstream_auth',
    cause,
  });
}

/**
 * `retry-after-ms` (OpenAI's, milliseconds) or `retry-after` (RFC 9110 §10.2.3: seconds or
 * an HTTP date). Undefined when absent or unreadable.
 */
export function retryAfter(headers: Dispatcher.ResponseData['headers'], now: () => number = Date.now): number | undefined {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)?.trim();
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const ra = first(headers['retry-after']);
  if (ra === undefined || ra === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.ceil(Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now());
}

/** A 2xx answer in JSON where a stream (SSE, or Ollama's NDJSON) was asked for. */
function isJsonAnswer(headers: Dispatcher.ResponseData['headers']): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type);
}

/** Read a body up to `limit` bytes; past it either truncate (error bodies) or fail (answers). */
async function readAll(body: Dispatcher.ResponseData['body'], limit: number, truncate: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of body as AsyncIterable<Buffer>) {
    if (size + part.length > limit) {
      body.destroy();
      if (truncate) {
        parts.push(part.subarray(0, limit - size));
        return Buffer.concat(parts);
      }
      throw providerError(502, 'upstream_error', `The upstream answer is larger than ${limit} bytes.`, { code: 'upstream_too_large' });
    }
    parts.push(part);
    size += part.length;
  }
  return Buffer.concat(parts);
}

/**
 * An undici dispatch handler that reads a whole answer into memory: the JSON calls' path.
 * `request()` wraps each answer in a Readable read through an async iterator, a promise
 * per chunk; for an answer of a few hundred bytes that machinery cost more than the rest of
 * the upstream hop. Up to MAX_JSON_BYTES of a 2xx body (more fails the attempt), up to
 * MAX_ERROR_BYTES of an error body (the rest is cut off). The call's abort event cancels it.
 */
class BodyReader implements Dispatcher.DispatchHandler {
  resolve: (body: Buffer) => void = () => {};
  reject: (err: unknown) => void = () => {};
  /** The upstream's HTTP status; 0 until the headers arrive. */
  status = 0;
  private rawHeaders: Buffer[] | undefined;
  private readonly parts: Buffer[] = [];
  private size = 0;
  private settled = false;
  private abortRequest: ((err?: Error) => void) | undefined;
  private abortReason: Error | undefined;

  constructor(call: Call) {
    call.signal.once('abort', () => {
      this.abortReason = new Error('the upstream request was aborted');
      this.abortRequest?.(this.abortReason);
    });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.abortReason !== undefined) abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.status = statusCode;
    if (statusCode < 200 || statusCode >= 300) this.rawHeaders = rawHeaders;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return false;
    const error = this.status < 200 || this.status >= 300;
    const limit = error ? MAX_ERROR_BYTES : MAX_JSON_BYTES;
    if (this.size + chunk.length > limit) {
      if (error) {
        this.parts.push(chunk.subarray(0, limit - this.size));
        this.done();
      } else {
        this.fail(providerError(502, 'upstream_error', `The upstream answer is larger than ${limit} bytes.`, { code: 'upstream_too_large' }));
      }
      // Drop the connection rather than drain the rest.
      this.abortRequest?.(new Error('the upstream answer was cut off'));
      return false;
    }
    this.parts.push(chunk);
    this.size += chunk.length;
    return true;
  }

  onComplete(): void {
    this.done();
  }

  onError(err: Error): void {
    this.fail(err);
  }

  /** An error answer's headers (what retryAfter reads). */
  errorHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    const raw = this.rawHeaders ?? [];
    for (let i = 0; i + 1 < raw.length; i += 2) headers[raw[i]!.toString('latin1').toLowerCase()] ??= raw[i + 1]!.toString('latin1');
    return headers;
  }

  private done(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts));
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }
}

/** Waits `ms`, or rejects as soon as `signal` fires. */
function sleepUnlessCancelled(ms: number, signal: CancelSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason ?? new Error('cancelled'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('cancelled'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
