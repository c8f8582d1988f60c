/**
 * The ai-proxy's HTTP surface: `POST /v1/chat/completions` (JSON and SSE),
 * `GET /v1/models`, `POST /v1/embeddings` — OpenAI's wire format in and out.
 *
 * Each LLM call runs the same pipeline as a tool call: authenticate (the
 * gateway's own JWTs and API keys, sent as the OpenAI SDK sends its key) →
 * authorise the model (the same rules, `models:` globs) → rate-limit (request
 * rules, and token rules with a reservation settled by the real usage) →
 * budget → request guard → the engine (ai/engine/proxy.ts: routing, retries,
 * fallback) → response redaction → one audit record and metrics. Errors are
 * always OpenAI's `{error: {message, type, code, param}}`; `code` is the GH_*
 * code for refusals by Gatehouse itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AiConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { Authenticator } from '../policy/authenticate.js';
import { ANONYMOUS, OneShotSignal, type CancelSignal, type Principal } from '../policy/compose.js';
import type { Authorizer } from '../policy/rules.js';
import type { LimitSubject } from '../limits/rate-limit.js';
import type { AuditRecord } from '../audit/record.js';
import { createBudgets, createRedisBudgets, type Budgets } from '../ai/policy/budget.js';
import { createRedactor, createRequestGuard, redactJson, type Redactor, type RequestGuard } from '../ai/policy/guards.js';
import { isProviderError, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type EmbeddingRequest, type OpenAIErrorBody, type ProviderError, type Usage } from '../ai/openai-types.js';
import { costUsd, loadPriceTable, priceFor, type PriceTable } from '../ai/policy/prices.js';
import type { AiProxy, Attempt, ResolvedTarget } from '../ai/engine/proxy.js';
import { outcomeOf, type Pipeline } from './pipeline.js';
import { MAX_JSON_DEPTH, readJsonBody } from './read-body.js';

export interface AiEndpointOptions {
  config: AiConfig;
  proxy: AiProxy;
  pipeline: Pipeline;
  authenticate: Authenticator | undefined;
  authorizer: Authorizer | undefined;
  maxRequestBytes: number;
  log: Logger;
}

/** What a refusal or failure looks like to an OpenAI client. */
interface Refusal {
  status: number;
  body: OpenAIErrorBody;
  code: ErrorCode;
  headers?: Record<string, string>;
}

const ERROR_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** A refusal by Gatehouse itself; a rate-limit refusal carries its RateLimit headers in details. */
function refusal(err: GatehouseError): Refusal {
  const headers = err.details?.['headers'] as Record<string, string> | undefined;
  const type = err.code === 'GH_AI_BUDGET_EXCEEDED' ? 'insufficient_quota' : (ERROR_TYPE[err.status] ?? 'server_error');
  const param = typeof err.details?.['param'] === 'string' ? err.details['param'] : null;
  return { status: err.status, body: { error: { message: err.message, type, code: err.code, param } }, code: err.code, ...(headers ? { headers } : {}) };
}

function upstreamRefusal(err: ProviderError): Refusal {
  return { status: err.status, body: err.body, code: 'GH_AI_UPSTREAM' };
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

/** Checks run before the call exists: nothing to cancel yet. */
const NEVER_CANCELLED: CancelSignal = { aborted: false, addEventListener() {}, removeEventListener() {} };

export function createAiEndpoint(options: AiEndpointOptions): (req: IncomingMessage, res: ServerResponse, requestId: string) => void {
  const { config, proxy, pipeline, authenticate, authorizer, log } = options;
  const { limiter, metrics, auditWriter } = pipeline;
  // audit.durability: sync: a successful answer is sent only once its record is committed.
  const durable = pipeline.auditDurable;
  const tokenRules = limiter?.rules.some((r) => r.cost === 'tokens') === true;
  const prices: PriceTable = loadPriceTable(config.prices ?? {});
  const budgets: Budgets | undefined =
    config.budgets.length === 0
      ? undefined
      : config.budgetStore === 'redis'
        ? createRedisBudgets({
            rules: config.budgets,
            client: options.pipeline.redis!(),
            onStoreError: (err) => {
              options.pipeline.metrics?.storeError('redis');
              log.warn({ err: err instanceof Error ? err.message : String(err) }, 'ai: budget store unreachable; the call is let through');
            },
          })
        : createBudgets({ rules: config.budgets });
  const g = config.guards;
  const guard: RequestGuard | undefined =
    g.maxMessages !== undefined || g.maxChars !== undefined || (g.blockedPatterns?.length ?? 0) > 0
      ? createRequestGuard({
          ...(g.maxMessages !== undefined ? { maxMessages: g.maxMessages } : {}),
          ...(g.maxChars !== undefined ? { maxChars: g.maxChars } : {}),
          ...(g.blockedPatterns !== undefined ? { blockedPatterns: g.blockedPatterns } : {}),
          configPath: 'ai.guards.blockedPatterns',
        })
      : undefined;
  const redactor: Redactor | undefined = (g.redactPatterns?.length ?? 0) > 0 ? createRedactor({ patterns: g.redactPatterns!, configPath: 'ai.guards.redactPatterns' }) : undefined;
  // The `model` label of a call's metrics: a name from the config, never one a caller made up (each
  // label value is a series kept for the process's life). A model ai.routes names (or aliases) is
  // itself; one a glob route matched is that route's glob; any other is UNROUTED_MODEL.
  const routedNames = new Set(proxy.models());
  const modelLabel = (f: LlmCall): string => (f.route === undefined ? UNROUTED_MODEL : routedNames.has(f.model) ? f.model : f.route);
  const firstTargetMaxTokens = new Map(config.routes.map((r) => [r.model, config.targets[r.targets[0]!]?.maxTokens ?? 4096]));

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

  /** The route serving `model`, or GH_AI_MODEL_NOT_FOUND. */
  function routeOf(model: string, principal: Principal): string {
    const resolved = proxy.resolve(model, principal);
    if (resolved === undefined) throw new GatehouseError('GH_AI_MODEL_NOT_FOUND', `no route for model "${model}"; GET /v1/models lists the models you may use`, { details: { param: 'model' } });
    return resolved.route;
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
   * What chat and embeddings calls share before the engine runs: the caller, the body,
   * the route; then the pipeline's checks (authorise the model, rate-limit), the same as
   * for a tool call; then what only model calls have: a token reservation and the budget.
   * `check` validates the body; `reserve` says how many tokens to reserve. The body, or undefined
   * when the call was refused (the refusal is sent and recorded).
   */
  async function open<T extends { model: string }>(req: IncomingMessage, res: ServerResponse, call: LlmCall, check: (body: unknown) => T, reserve: (body: T, route: string) => number): Promise<T | undefined> {
    try {
      call.principal = await principalOf(req);
      const read = await readJson(req);
      call.bytesIn = read.bytes;
      const body = check(read.body);
      call.model = body.model;
      const route = (call.route = routeOf(body.model, call.principal));
      const tokens = reserve(body, route);
      await pipeline.admit({ kind: 'model', target: body.model, backend: route, principal: call.principal, args: {}, requestId: call.requestId, log, signal: NEVER_CANCELLED });
      const subject: LimitSubject = { principal: call.principal.id, backend: route, model: body.model };
      call.subject = subject;
      if (limiter !== undefined && tokenRules && tokens > 0) {
        await limiter.charge(subject, tokens);
        call.reserved = tokens;
      }
      if (budgets !== undefined) {
        const b = await budgets.check(call.principal.id, body.model);
        if (!b.allowed) {
          throw new GatehouseError('GH_AI_BUDGET_EXCEEDED', `budget "${b.rule}" of ${b.limitUsd} USD is spent (${b.spentUsd.toFixed(4)} USD); it resets at ${b.resetsAt.toISOString()}`, {
            details: { rule: b.rule, limitUsd: b.limitUsd, spentUsd: b.spentUsd, resetsAt: b.resetsAt.toISOString() },
          });
        }
      }
      return body;
    } catch (err) {
      if (isGatehouseError(err)) {
        if (err.code === 'GH_AUTH_REQUIRED' || err.code === 'GH_AUTH_INVALID' || err.code === 'GH_AUTH_UNAVAILABLE') metrics?.authFailure(err.code);
        // A refused call gives its reservation back at once (finish settles it with no usage: the estimate).
        if (call.reserved > 0) {
          await limiter?.charge(call.subject!, -call.reserved);
          call.reserved = 0;
        }
        fail(res, call, refusal(err));
      } else {
        log.error({ err, requestId: call.requestId }, 'ai: request failed unexpectedly');
        fail(res, call, refusal(new GatehouseError('GH_INTERNAL', 'internal error')));
      }
      return undefined;
    }
  }

  /**
   * Runs the engine for a call and notes the route, target and attempts; a failure is
   * answered and recorded here (then undefined).
   */
  async function runEngine<T extends { route: string; target: LlmCall['target']; attempts: Attempt[] }>(
    res: ServerResponse,
    call: LlmCall,
    abort: OneShotSignal,
    send: () => Promise<T>,
  ): Promise<T | undefined> {
    let result: T;
    try {
      result = await send();
    } catch (err) {
      engineFailed(res, call, abort, err);
      return undefined;
    }
    call.route = result.route;
    call.target = result.target;
    call.attempts = result.attempts;
    return result;
  }

  /** The engine failed (or the client left): the error answer and the record. */
  function engineFailed(res: ServerResponse, call: LlmCall, abort: OneShotSignal, err: unknown): void {
    if (abort.aborted) {
      call.status = 499;
      call.cancelled = true;
      finish(call);
      return;
    }
    const e = isProviderError(err) ? err : undefined;
    if (e === undefined) log.error({ err, requestId: call.requestId }, 'ai: engine failed unexpectedly');
    const attempts = (err as { attempts?: Attempt[] }).attempts;
    if (attempts !== undefined) call.attempts = attempts;
    fail(res, call, e ? upstreamRefusal(e) : refusal(new GatehouseError('GH_INTERNAL', 'internal error')));
  }

  function fail(res: ServerResponse, call: LlmCall, r: Refusal): void {
    call.refusal = r;
    call.status = r.status;
    call.bytesOut = send(res, r.status, r.body, call.requestId, r.headers);
    finish(call);
  }

  /**
   * Settles tokens and budget, records the call: metrics and one audit record. With
   * `hold` under `audit.durability: sync`, resolves once the record is committed.
   */
  function finish(f: LlmCall, hold = false): Promise<void> | undefined {
    const seconds = (performance.now() - f.started) / 1000;
    const usage = f.usage;
    let cost: number | undefined;
    if (usage !== undefined && f.target !== undefined) {
      const price = priceFor(prices, f.target.model) ?? priceFor(prices, f.model);
      if (price !== undefined) {
        cost = costUsd(price, {
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          ...(usage.prompt_tokens_details?.cached_tokens !== undefined ? { cachedTokens: usage.prompt_tokens_details.cached_tokens } : {}),
        });
        if (budgets !== undefined && cost > 0) void Promise.resolve(budgets.charge(f.principal.id, f.model, cost)).catch((err: unknown) => log.warn({ err }, 'ai: budget charge failed'));
      }
    }
    if (f.subject !== undefined && limiter !== undefined && f.reserved > 0) {
      // Settle the reservation with what was used; unknown usage keeps the estimate.
      const used = usage === undefined ? f.reserved : usage.prompt_tokens + usage.completion_tokens;
      void limiter.charge(f.subject, used - f.reserved);
    }
    const code: ErrorCode | undefined = f.cancelled ? 'GH_UPSTREAM_ABORTED' : f.refusal?.code;
    const outcome = outcomeOf(code);
    const backend = f.target?.name ?? f.route ?? '';
    if (metrics !== undefined) {
      const model = modelLabel(f);
      metrics.call({ kind: 'model', backend, target: model, outcome, seconds });
      if (usage !== undefined) {
        metrics.llm({
          model,
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
          costUsd: cost ?? 0,
          ...(f.ttftMs !== undefined ? { ttftSeconds: f.ttftMs / 1000 } : {}),
        });
      }
    }
    pipeline.callLine?.({ requestId: f.requestId, kind: 'model', target: f.model, principal: f.principal.id, outcome, status: f.status, code, ms: seconds * 1000 });
    if (auditWriter === undefined) return undefined;
    const p = f.principal;
    const record: AuditRecord = { time: f.startedAt, requestId: f.requestId, kind: 'model', outcome, latencyMs: Math.round(seconds * 1e6) / 1e3 };
    record.principalId = p.id;
    record.principalKind = p.kind;
    if (p.client !== undefined) record.clientId = p.client;
    if (p.kind === 'api-key') record.keyId = p.id;
    record.model = f.model;
    if (backend !== '') record.backend = backend;
    if (f.route !== undefined) record.route = f.route;
    if (f.target !== undefined) record.provider = f.target.provider;
    if (f.attempts !== undefined && f.attempts.length > 0) record.attempts = f.attempts;
    if (code !== undefined) record.errorCode = code;
    record.status = f.status;
    if (usage !== undefined) {
      record.tokensIn = usage.prompt_tokens;
      record.tokensOut = usage.completion_tokens;
    }
    if (cost !== undefined) record.costUsd = cost;
    if (f.ttftMs !== undefined) record.ttftMs = f.ttftMs;
    record.bytesIn = f.bytesIn;
    record.bytesOut = f.bytesOut;
    if (hold && durable) return auditWriter.recordDurable(record);
    auditWriter.record(record);
    return undefined;
  }

  /** The OpenAI-shaped answer when the record of a finished call could not be committed. */
  const notDurable = (err: unknown): Refusal =>
    refusal(
      new GatehouseError('GH_AUDIT_NOT_DURABLE', `the model call ran, but ${err instanceof Error ? err.message : String(err)}; its answer is withheld (audit.durability: sync)`, { cause: err }),
    );

  /** A 200 JSON answer: sent, then recorded; under `audit.durability: sync`, recorded and committed, then sent. */
  async function answer(res: ServerResponse, call: LlmCall, text: string): Promise<void> {
    call.status = 200;
    if (!durable) {
      call.bytesOut = sendText(res, 200, text, call.requestId);
      finish(call);
      return;
    }
    call.bytesOut = Buffer.byteLength(text);
    try {
      await finish(call, true);
    } catch (err) {
      const r = notDurable(err);
      sendText(res, r.status, JSON.stringify(r.body), call.requestId);
      return;
    }
    sendText(res, 200, text, call.requestId);
  }

  /** Chat: the request guard runs on the body; the reservation is the prompt estimate plus the answer's maximum. */
  const reserveChat = (body: ChatCompletionRequest, route: string): number => {
    guard?.(body);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? firstTargetMaxTokens.get(route) ?? 4096;
    return estimatePromptTokens(body) + maxTokens;
  };

  async function chat(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const call = new LlmCall(requestId);
    const body = await open(req, res, call, validChat, reserveChat);
    if (body === undefined) return;
    const abort = cancelOnClose(res);
    const outcome = await runEngine(res, call, abort, () => proxy.chat(body, { signal: abort, caller: call.principal }));
    if (outcome === undefined) return;

    if (outcome.kind === 'json') {
      if (redactor === undefined) {
        // Nothing to rewrite: the engine's text when it has one (the upstream's own bytes).
        call.usage = outcome.completion.usage ?? undefined;
        await answer(res, call, outcome.text ?? JSON.stringify(outcome.completion));
      } else {
        const completion: ChatCompletion = redactJson(outcome.completion, redactor);
        call.usage = completion.usage ?? undefined;
        await answer(res, call, JSON.stringify(completion));
      }
      return;
    }

    // A stream: SSE frames of chunks; content deltas through the redactor, which may hold text back.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': requestId });
    let bytesOut = 0;
    const write = (data: string) => {
      const frame = `data: ${data}\n\n`;
      bytesOut += Buffer.byteLength(frame);
      res.write(frame);
    };
    const held = redactor?.stream();
    const emit = (chunk: ChatCompletionChunk) => {
      if (held !== undefined) {
        const choice = chunk.choices[0];
        if (choice?.finish_reason) {
          const rest = held.flush();
          if (rest !== '') write(JSON.stringify({ ...chunk, choices: [{ index: 0, delta: { content: rest }, finish_reason: null }] }));
        }
        const content = choice?.delta.content;
        if (typeof content === 'string' && content !== '') {
          const safe = held.push(content);
          if (safe === '') return;
          chunk = { ...chunk, choices: [{ ...choice!, delta: { ...choice!.delta, content: safe } }] };
        }
      }
      write(JSON.stringify(chunk));
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
    call.usage = outcome.usage();
    const ttft = outcome.ttftMs();
    if (ttft !== undefined) call.ttftMs = Math.round(ttft * 1000) / 1000;
    if (abort.aborted) {
      call.status = 499;
      call.cancelled = true;
      call.bytesOut = bytesOut;
      finish(call);
      return;
    }
    if (clean) {
      const rest = held?.flush();
      if (rest) write(JSON.stringify({ id: `chatcmpl-${requestId}`, object: 'chat.completion.chunk', created: Math.floor(call.startedAt / 1000), model: call.model, choices: [{ index: 0, delta: { content: rest }, finish_reason: null }] }));
      if (durable) {
        // The stream is answered when [DONE] arrives: that waits for the commit; a record that cannot be committed ends it with an error event instead.
        call.status = 200;
        call.bytesOut = bytesOut + Buffer.byteLength('data: [DONE]\n\n');
        try {
          await finish(call, true);
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
      call.refusal = { status: endError?.status ?? 502, body: endError?.body ?? { error: { message: 'stream ended', type: 'server_error', code: null, param: null } }, code: 'GH_AI_UPSTREAM' };
    }
    res.end();
    call.status = 200;
    call.bytesOut = bytesOut;
    finish(call);
  }

  async function embeddings(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const call = new LlmCall(requestId);
    const body = await open(req, res, call, validEmbeddings, noReservation);
    if (body === undefined) return;
    const abort = cancelOnClose(res);
    const out = await runEngine(res, call, abort, () => proxy.embeddings(body, { signal: abort, caller: call.principal }));
    if (out === undefined) return;
    const usage = out.response.usage;
    if (usage) call.usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: 0, total_tokens: usage.total_tokens };
    await answer(res, call, JSON.stringify(out.response));
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
    const run =
      req.method === 'POST' && path === '/v1/chat/completions'
        ? chat(req, res, requestId)
        : req.method === 'POST' && path === '/v1/embeddings'
          ? embeddings(req, res, requestId)
          : req.method === 'GET' && path === '/v1/models'
            ? models(req, res, requestId)
            : undefined;
    if (run === undefined) {
      send(res, 404, { error: { message: `${req.method} ${path} is not an endpoint of this proxy`, type: 'not_found_error', code: null, param: null } }, requestId);
      return;
    }
    run.catch((err: unknown) => {
      log.error({ err, requestId }, 'ai: request failed');
      if (!res.headersSent) send(res, 500, { error: { message: 'internal error', type: 'server_error', code: 'GH_INTERNAL', param: null } }, requestId);
      else res.destroy();
    });
  };
}

/** One LLM call's facts, filled in as it goes; `finish` turns them into the settlement, metrics and audit record. */
class LlmCall {
  readonly startedAt = Date.now();
  readonly started = performance.now();
  principal: Principal = ANONYMOUS;
  model = '';
  route: string | undefined;
  target: ResolvedTarget | undefined;
  attempts: Attempt[] | undefined;
  usage: Usage | undefined;
  refusal: Refusal | undefined;
  status = 0;
  ttftMs: number | undefined;
  bytesIn = 0;
  bytesOut = 0;
  /** The rate-limit subject, once admitted; `reserved` tokens are charged to it until settled. */
  subject: LimitSubject | undefined;
  reserved = 0;
  cancelled = false;

  constructor(readonly requestId: string) {}
}

/** A client that goes away cancels the call (see OneShotSignal for why not an AbortController). */
function cancelOnClose(res: ServerResponse): OneShotSignal {
  const abort = new OneShotSignal();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  return abort;
}

const noReservation = (): number => 0;

function validEmbeddings(body: unknown): EmbeddingRequest {
  const b = body as EmbeddingRequest;
  if (b === null || typeof b !== 'object' || typeof b.model !== 'string' || b.model === '') {
    throw new GatehouseError('GH_AI_REQUEST_INVALID', '`model` must be a non-empty string', { details: { param: 'model' } });
  }
  if (b.input === undefined) throw new GatehouseError('GH_AI_REQUEST_INVALID', '`input` is required', { details: { param: 'input' } });
  return b;
}

/** The minimal shape every provider needs; the rest is the providers' to judge. */
function validChat(body: unknown): ChatCompletionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatehouseError('GH_AI_REQUEST_INVALID', 'the request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b['model'] !== 'string' || b['model'] === '') throw new GatehouseError('GH_AI_REQUEST_INVALID', '`model` must be a non-empty string', { details: { param: 'model' } });
  if (!Array.isArray(b['messages']) || b['messages'].length === 0) {
    throw new GatehouseError('GH_AI_REQUEST_INVALID', '`messages` must be a non-empty array', { details: { param: 'messages' } });
  }
  (b['messages'] as unknown[]).forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') {
      throw new GatehouseError('GH_AI_REQUEST_INVALID', `messages[${i}] must be an object with a role`, { details: { param: `messages[${i}]` } });
    }
  });
  return body as ChatCompletionRequest;
}

