/**
 * The ai-proxy's HTTP surface in OpenAI's dialect: `POST /v1/chat/completions`
 * (JSON and SSE), `GET /v1/models`, `POST /v1/embeddings` — OpenAI's wire
 * format in and out.
 *
 * Each model call is a call of the one chain (policy/chain.ts), as a tool call
 * is: authenticate (the gateway's own JWTs and API keys, sent as the OpenAI SDK
 * sends its key) → authorise the model → rate-limit (requests, and tokens: an
 * estimate reserved until the real usage settles it) → budget → validate →
 * guard → redact → forward, where forward is the engine (ai/engine/proxy.ts:
 * routing, retries, fallback). This module reads the request into the call's
 * context, writes the answer (applying the redactor the chain chose), and ends
 * the call with its outcome. Errors are always OpenAI's
 * `{error: {message, type, code, param}}` (ai/openai-errors.ts); `code` is the
 * GH_* code for refusals by Gatehouse itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AiConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { Authenticator } from '../policy/authenticate.js';
import type { Chain } from '../policy/chain.js';
import type { Authorizer } from '../policy/rules.js';
import { ANONYMOUS, OneShotSignal, NEVER_CANCELLED, type CallContext, type Principal, type Redactor, type TokenUsage } from '../call/context.js';
import { redactJson, redactStream } from './policy/guards.js';
import { isProviderError, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type EmbeddingRequest, type ProviderError, type Usage } from './openai-types.js';
import { costUsd, loadPriceTable, priceFor, type PriceTable } from './policy/prices.js';
import type { AiProxy, Attempt, ResolvedTarget } from './engine/proxy.js';
import type { ResolvedRoute } from './engine/router.js';
import { refusal, upstreamRefusal, type Refusal } from './openai-errors.js';
import { MAX_JSON_DEPTH, readJsonBody } from '../http/read-body.js';
import { acceptCallerTrace } from '../tracing/headers.js';

export interface AiEndpointOptions {
  config: AiConfig;
  proxy: AiProxy;
  chain: Pick<Chain, 'run' | 'finish'>;
  authenticate: Authenticator | undefined;
  authorizer: Authorizer | undefined;
  /** `audit.durability: sync` with a store: a successful answer is sent only once its record is committed. */
  durable: boolean;
  maxRequestBytes: number;
  log: Logger;
}

/** A rough token count for reservations: about four characters a token in English text. */
export function estimatePromptTokens(req: ChatCompletionRequest): number {
  let chars = 0;
  for (const m of req.messages) {
    const content = (m as { content?: unknown }).content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) for (const part of content) if (typeof part?.text === 'string') chars += part.text.length;
    chars += 4; // role and framing
  }
  return Math.ceil(chars / 4);
}

/** The `model` label of a call that no route serves (no model, or one ai.routes does not match). */
export const UNROUTED_MODEL = '(unrouted)';

export function createAiEndpoint(options: AiEndpointOptions): (req: IncomingMessage, res: ServerResponse, requestId: string) => void {
  const { config, proxy, chain, authenticate, authorizer, log, durable } = options;
  const prices: PriceTable = loadPriceTable(config.prices ?? {});
  // The `model` label of a call's metrics: a name from the config, never one a caller made up (each
  // label value is a series kept for the process's life). A model ai.routes names (or aliases) is
  // itself; one a glob route matched is that route's glob; any other is UNROUTED_MODEL.
  const routedNames = new Set(proxy.models());
  const modelLabel = (ctx: CallContext): string => (ctx.backend === '' ? UNROUTED_MODEL : routedNames.has(ctx.target) ? ctx.target : ctx.backend);

  /** A JSON answer; `text` is already JSON. Every answer carries the request id (set here, not with setHeader: writeHead's fast path). */
  const sendText = (res: ServerResponse, status: number, text: string, requestId: string, headers?: Record<string, string>): number => {
    if (res.headersSent || res.destroyed) return 0;
    const bytes = Buffer.byteLength(text);
    res.writeHead(status, headers === undefined ? { 'content-type': 'application/json', 'content-length': bytes, 'x-request-id': requestId } : { 'content-type': 'application/json', 'content-length': bytes, 'x-request-id': requestId, ...headers });
    res.end(text);
    return bytes;
  };
  const send = (res: ServerResponse, status: number, body: unknown, requestId: string, headers?: Record<string, string>): number => sendText(res, status, JSON.stringify(body), requestId, headers);

  /** The caller, or a refusal. Without auth configured every caller is anonymous (loopback binds only). */
  async function principalOf(req: IncomingMessage): Promise<Principal> {
    return authenticate === undefined ? ANONYMOUS : authenticate(req.headers);
  }

  function mayUse(principal: Principal, model: string): boolean {
    return authorizer === undefined || authorizer.decide(principal, { kind: 'model', name: model }).allowed;
  }

  /** The body as JSON, within the size and nesting limits of the HTTP edge (see read-body.ts). */
  async function readJson(req: IncomingMessage): Promise<{ body: unknown; bytes: number }> {
    const read = await readJsonBody(req, options.maxRequestBytes);
    switch (read.kind) {
      case 'json':
        return { body: read.value, bytes: read.bytes };
      case 'too-large':
        // 413 (RFC 9110 §15.5.14), and the connection closed: the rest of an oversized body is not read.
        throw new GatehouseError('GH_REQUEST_TOO_LARGE', `the request body exceeds ${options.maxRequestBytes} bytes`, { details: { headers: { connection: 'close' } } });
      case 'too-deep':
        throw new GatehouseError('GH_REQUEST_TOO_DEEP', `the request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);
      case 'not-json':
        throw new GatehouseError('GH_AI_REQUEST_INVALID', 'the request body is not valid JSON');
    }
  }

  /**
   * What chat and embeddings calls share before the chain runs: the caller, the
   * body (`decode` reads what routing needs and leaves the rest to the validate
   * stage), the route. The decoded body, or undefined when the call was refused
   * (the refusal is sent and the call ended).
   */
  async function open<T extends { model: string }>(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: CallContext,
    decode: (body: unknown, ctx: CallContext) => T,
    reserve?: (body: T, route: ResolvedRoute, ctx: CallContext) => void,
  ): Promise<T | undefined> {
    try {
      try {
        ctx.principal = await principalOf(req);
      } catch (err) {
        ctx.outcome.principalUnknown = true;
        throw err;
      }
      const read = await readJson(req);
      ctx.outcome.bytesIn = read.bytes;
      const body = decode(read.body, ctx);
      ctx.target = body.model;
      // The route this caller is served by (routes may be chosen by who is calling: ai.routes[].when).
      const resolved = proxy.resolve(body.model, ctx.principal);
      if (resolved === undefined) throw new GatehouseError('GH_AI_MODEL_NOT_FOUND', `no route for model "${body.model}"; GET /v1/models lists the models you may use`, { details: { param: 'model' } });
      ctx.backend = resolved.route;
      ctx.request = body;
      reserve?.(body, resolved, ctx);
      return body;
    } catch (err) {
      failed(res, ctx, err);
      return undefined;
    }
  }

  /** A call that ended in an error (a refusal, a failed engine, the client gone): the answer and the call's end. */
  function failed(res: ServerResponse, ctx: CallContext, err: unknown, abort?: OneShotSignal): void {
    if (abort?.aborted === true) {
      ctx.outcome.status = 499;
      ctx.outcome.errorCode = 'GH_UPSTREAM_ABORTED';
      end(ctx);
      return;
    }
    const attempts = (err as { attempts?: Attempt[] } | undefined)?.attempts;
    if (attempts !== undefined) ctx.outcome.attempts = attempts;
    let r: Refusal;
    if (isGatehouseError(err)) r = refusal(err);
    else if (isProviderError(err)) r = upstreamRefusal(err);
    else {
      log.error({ err, requestId: ctx.requestId }, 'ai: request failed unexpectedly');
      r = refusal(new GatehouseError('GH_INTERNAL', 'internal error'));
    }
    ctx.outcome.errorCode = r.code;
    ctx.outcome.status = r.status;
    ctx.outcome.bytesOut = send(res, r.status, r.body, ctx.requestId, r.headers);
    end(ctx);
  }

  /** Runs the chain with the engine as its forward step; notes the route, target and attempts. Undefined when it failed (answered here). */
  async function run<T extends { route: string; target: ResolvedTarget; attempts: Attempt[] }>(res: ServerResponse, ctx: CallContext, abort: OneShotSignal, engine: () => Promise<T>): Promise<T | undefined> {
    let result: T;
    try {
      result = await chain.run(ctx, () => {
        ctx.outcome.sent = true;
        return engine();
      });
    } catch (err) {
      failed(res, ctx, err, abort);
      return undefined;
    }
    ctx.backend = result.route;
    ctx.outcome.aiTarget = result.target.name;
    ctx.outcome.provider = result.target.provider;
    ctx.outcome.upstreamModel = result.target.model;
    ctx.outcome.attempts = result.attempts;
    return result;
  }

  /** Ends a call: its cost, then the chain's finish (settlements, audit, metrics). With `hold` under durable audit, resolves once the record is committed. */
  function end(ctx: CallContext, hold = false): Promise<void> | undefined {
    const o = ctx.outcome;
    if (o.usage !== undefined && o.upstreamModel !== undefined) {
      const price = priceFor(prices, o.upstreamModel) ?? priceFor(prices, ctx.target);
      if (price !== undefined) o.costUsd = costUsd(price, { promptTokens: o.usage.input, completionTokens: o.usage.output, ...(o.usage.cached !== undefined ? { cachedTokens: o.usage.cached } : {}) });
    }
    o.metricsTarget = modelLabel(ctx);
    const done = chain.finish(ctx);
    if (done === undefined) return undefined;
    if (hold) return done;
    done.catch(() => undefined);
    return undefined;
  }

  /** The OpenAI-shaped answer when the record of a finished call could not be committed. */
  const notDurable = (err: unknown): Refusal =>
    refusal(
      new GatehouseError('GH_AUDIT_NOT_DURABLE', `the model call ran, but ${err instanceof Error ? err.message : String(err)}; its answer is withheld (audit.durability: sync)`, { cause: err }),
    );

  /** A 200 JSON answer: sent, then recorded; under `audit.durability: sync`, recorded and committed, then sent. */
  async function answer(res: ServerResponse, ctx: CallContext, text: string): Promise<void> {
    ctx.outcome.status = 200;
    if (!durable) {
      ctx.outcome.bytesOut = sendText(res, 200, text, ctx.requestId);
      end(ctx);
      return;
    }
    ctx.outcome.bytesOut = Buffer.byteLength(text);
    try {
      await end(ctx, true);
    } catch (err) {
      const r = notDurable(err);
      sendText(res, r.status, JSON.stringify(r.body), ctx.requestId);
      return;
    }
    sendText(res, 200, text, ctx.requestId);
  }

  /** Chat: what routing needs (the model), and the messages check for the validate stage. */
  const decodeChat = (body: unknown, ctx: CallContext): ChatCompletionRequest => {
    const chat = chatRequest(body);
    ctx.validate = () => messagesRefusal(chat);
    return chat;
  };
  /** The token reservation: the prompt estimate plus the answer's maximum (the client's, else the serving route's first target's). */
  const reserveChat = (chat: ChatCompletionRequest, route: ResolvedRoute, ctx: CallContext): void => {
    const maxTokens = chat.max_completion_tokens ?? chat.max_tokens ?? config.targets[route.targets[0]?.name ?? '']?.maxTokens ?? 4096;
    // Messages that are not a list are refused by the validate stage; until then, no estimate.
    if (Array.isArray(chat.messages)) ctx.tokens = estimatePromptTokens(chat) + maxTokens;
  };

  async function chat(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const ctx = modelContext(requestId, log);
    acceptCallerTrace(ctx, req.headers);
    const body = await open(req, res, ctx, decodeChat, reserveChat);
    if (body === undefined) return;
    const abort = cancelOnClose(res);
    const outcome = await run(res, ctx, abort, () => proxy.chat(body, { signal: abort, caller: ctx.principal, trace: ctx.trace?.send }));
    if (outcome === undefined) return;
    const redactor = ctx.redactor;

    if (outcome.kind === 'json') {
      if (redactor === undefined) {
        // Nothing to rewrite: the engine's text when it has one (the upstream's own bytes).
        ctx.outcome.usage = usageOf(outcome.completion.usage);
        await answer(res, ctx, outcome.text ?? JSON.stringify(outcome.completion));
      } else {
        const completion: ChatCompletion = redactJson(outcome.completion, redactor);
        ctx.outcome.usage = usageOf(completion.usage);
        await answer(res, ctx, JSON.stringify(completion));
      }
      return;
    }
    await stream(res, ctx, abort, outcome, redactor);
  }

  /** A stream: SSE frames of chunks; content deltas through the redactor, which may hold text back. */
  async function stream(res: ServerResponse, ctx: CallContext, abort: OneShotSignal, outcome: Extract<Awaited<ReturnType<AiProxy['chat']>>, { kind: 'stream' }>, redactor: Redactor | undefined): Promise<void> {
    const requestId = ctx.requestId;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': requestId });
    let bytesOut = 0;
    const write = (data: string) => {
      const frame = `data: ${data}\n\n`;
      bytesOut += Buffer.byteLength(frame);
      res.write(frame);
    };
    const redacting = redactor === undefined ? undefined : redactStream(redactor);
    const emit = (chunk: ChatCompletionChunk) => {
      if (redacting === undefined) write(JSON.stringify(chunk));
      else for (const c of redacting.chunk(chunk)) write(JSON.stringify(c));
    };
    let endError: ProviderError | undefined;
    let clean = false;
    try {
      for (const chunk of outcome.head) emit(chunk);
      for await (const item of outcome.rest) {
        if ('done' in item) {
          clean = true;
          break;
        }
        if ('error' in item) {
          endError = item.error;
          break;
        }
        emit(item);
      }
    } catch (err) {
      endError = isProviderError(err) ? err : undefined;
      if (endError === undefined && !abort.aborted) log.error({ err, requestId }, 'ai: stream failed unexpectedly');
    }
    const o = ctx.outcome;
    o.usage = usageOf(outcome.usage());
    const ttft = outcome.ttftMs();
    if (ttft !== undefined) o.ttftMs = Math.round(ttft * 1000) / 1000;
    if (abort.aborted) {
      o.status = 499;
      o.errorCode = 'GH_UPSTREAM_ABORTED';
      o.bytesOut = bytesOut;
      end(ctx);
      return;
    }
    if (clean) {
      for (const c of redacting?.end({ id: `chatcmpl-${requestId}`, object: 'chat.completion.chunk', created: Math.floor(ctx.startedAt / 1000), model: ctx.target }) ?? []) write(JSON.stringify(c));
      if (durable) {
        // The stream is answered when [DONE] arrives: that waits for the commit; a record that cannot be committed ends it with an error event instead.
        o.status = 200;
        o.bytesOut = bytesOut + Buffer.byteLength('data: [DONE]\n\n');
        try {
          await end(ctx, true);
          write('[DONE]');
        } catch (err) {
          write(JSON.stringify(notDurable(err).body));
        }
        res.end();
        return;
      }
      write('[DONE]');
    } else {
      // After content has reached the client there is no clean way out: an error event, never [DONE].
      write(JSON.stringify(endError?.body ?? { error: { message: 'the upstream stream ended unexpectedly', type: 'server_error', code: 'GH_AI_UPSTREAM', param: null } }));
      o.errorCode = 'GH_AI_UPSTREAM';
    }
    res.end();
    o.status = 200;
    o.bytesOut = bytesOut;
    end(ctx);
  }

  const decodeEmbeddings = (body: unknown, ctx: CallContext): EmbeddingRequest => {
    const b = body as EmbeddingRequest;
    if (b === null || typeof b !== 'object' || typeof b.model !== 'string' || b.model === '') {
      throw new GatehouseError('GH_AI_REQUEST_INVALID', '`model` must be a non-empty string', { details: { param: 'model' } });
    }
    ctx.validate = () => (b.input === undefined ? new GatehouseError('GH_AI_REQUEST_INVALID', '`input` is required', { details: { param: 'input' } }) : undefined);
    return b;
  };

  async function embeddings(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const ctx = modelContext(requestId, log);
    acceptCallerTrace(ctx, req.headers);
    const body = await open(req, res, ctx, decodeEmbeddings);
    if (body === undefined) return;
    const abort = cancelOnClose(res);
    const out = await run(res, ctx, abort, () => proxy.embeddings(body, { signal: abort, caller: ctx.principal, trace: ctx.trace?.send }));
    if (out === undefined) return;
    const usage = out.response.usage;
    if (usage) ctx.outcome.usage = { input: usage.prompt_tokens, output: 0 };
    await answer(res, ctx, JSON.stringify(out.response));
  }

  async function models(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    let principal: Principal;
    try {
      principal = await principalOf(req);
    } catch (err) {
      const e = isGatehouseError(err) ? err : new GatehouseError('GH_INTERNAL', 'internal error');
      send(res, e.status, refusal(e).body, requestId);
      return;
    }
    const data = proxy
      .models(principal)
      .filter((id) => mayUse(principal, id))
      .map((id) => ({ id, object: 'model', created: 0, owned_by: 'gatehouse' }));
    send(res, 200, { object: 'list', data }, requestId);
  }

  return (req, res, requestId) => {
    const path = (req.url ?? '/').split('?')[0];
    const serve =
      req.method === 'POST' && path === '/v1/chat/completions'
        ? chat(req, res, requestId)
        : req.method === 'POST' && path === '/v1/embeddings'
          ? embeddings(req, res, requestId)
          : req.method === 'GET' && path === '/v1/models'
            ? models(req, res, requestId)
            : undefined;
    if (serve === undefined) {
      send(res, 404, { error: { message: `${req.method} ${path} is not an endpoint of this proxy`, type: 'not_found_error', code: null, param: null } }, requestId);
      return;
    }
    serve.catch((err: unknown) => {
      log.error({ err, requestId }, 'ai: request failed');
      if (!res.headersSent) send(res, 500, { error: { message: 'internal error', type: 'server_error', code: 'GH_INTERNAL', param: null } }, requestId);
      else res.destroy();
    });
  };
}

/** A model call's context before its body is read: anonymous, no model, no route yet. */
function modelContext(requestId: string, log: Logger): CallContext {
  return {
    kind: 'model',
    target: '',
    backend: '',
    method: '',
    readOnly: false,
    principal: ANONYMOUS,
    args: {},
    requestId,
    log,
    // The engine is given the client's own signal; the stages before it need none.
    signal: NEVER_CANCELLED,
    startedAt: Date.now(),
    started: performance.now(),
    outcome: { bytesIn: 0, bytesOut: 0, status: 0 },
  };
}

/** OpenAI's usage as the call's. */
function usageOf(u: Usage | null | undefined): TokenUsage | undefined {
  if (u == null) return undefined;
  const cached = u.prompt_tokens_details?.cached_tokens;
  return cached === undefined ? { input: u.prompt_tokens, output: u.completion_tokens } : { input: u.prompt_tokens, output: u.completion_tokens, cached };
}

/** A client that goes away cancels the call (see OneShotSignal for why not an AbortController). */
function cancelOnClose(res: ServerResponse): OneShotSignal {
  const abort = new OneShotSignal();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  return abort;
}

/** What routing needs of a chat request: an object with a model. The rest is the validate stage's (messagesRefusal) and the providers'. */
function chatRequest(body: unknown): ChatCompletionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatehouseError('GH_AI_REQUEST_INVALID', 'the request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b['model'] !== 'string' || b['model'] === '') throw new GatehouseError('GH_AI_REQUEST_INVALID', '`model` must be a non-empty string', { details: { param: 'model' } });
  return body as ChatCompletionRequest;
}

/** The minimal message shape every provider needs, or the refusal naming what is wrong. */
function messagesRefusal(req: ChatCompletionRequest): GatehouseError | undefined {
  const messages = (req as { messages?: unknown }).messages;
  if (!Array.isArray(messages) || messages.length === 0) return new GatehouseError('GH_AI_REQUEST_INVALID', '`messages` must be a non-empty array', { details: { param: 'messages' } });
  for (const [i, m] of (messages as unknown[]).entries()) {
    if (m === null || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') {
      return new GatehouseError('GH_AI_REQUEST_INVALID', `messages[${i}] must be an object with a role`, { details: { param: `messages[${i}]` } });
    }
  }
  return undefined;
}
