/**
 * The policy pipeline of one gateway, built once from the configuration:
 * authorise → rate-limit → (validate, guard, forward) with every call — allowed
 * or refused — observed once for the audit trail and the metrics.
 *
 * The pieces live in their own modules (policy/rules, limits/, audit/,
 * metrics/); this file only decides their order and turns what a call did
 * into one audit record and one metrics observation. It knows nothing of MCP
 * beyond the ToolCall shape, so the ai-proxy plugs into the same pieces.
 */
import { resolve } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { BackendConfig, GatehouseConfig } from '../config/schema.js';
import { GatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { BackendGuard, ObservedCall } from '../mcp/call-tool.js';
import { compose, type CallContext, type Policy, type Principal } from '../policy/compose.js';
import { authorize, toolTarget, type Authorizer } from '../policy/rules.js';
import type { ToolRegistry } from '../registry/registry.js';
import { createArgumentRedactor, createAuditWriter, createJsonlSink, openAuditStore, startRetention, type AuditOutcome, type AuditRecord, type AuditSink, type AuditStore, type AuditWriter, type Retention } from '../audit/index.js';
import { createBulkhead, type Bulkhead } from '../limits/bulkhead.js';
import { createCircuitBreaker } from '../limits/circuit-breaker.js';
import { createRateLimiter, rateLimitHeaders, type RateLimiter } from '../limits/rate-limit.js';
import type { Redis } from 'ioredis';
import { createMetrics, type GatewayMetrics } from '../metrics/metrics.js';

export interface Pipeline {
  /** The policy chain every operation call runs, in order. */
  policies: Policy<CallToolResult>[];
  /**
   * The checks every call passes before it runs — authorise, then rate-limit —
   * for a tool or a model alike: the tool chain above runs them, and the
   * ai-proxy calls this directly. Rejects with GH_POLICY_DENIED or
   * GH_RATE_LIMITED (whose details carry the RateLimit headers for HTTP).
   */
  admit(ctx: CallContext): Promise<void>;
  /** Per-backend bulkhead and circuit breaker around the backend request. */
  guards: ReadonlyMap<string, BackendGuard>;
  /**
   * Makes `guards` follow a reload: guards for added backends and for those whose
   * bulkhead or circuit-breaker settings changed; removed backends lose theirs.
   */
  updateBackends(backends: readonly BackendConfig[]): void;
  /** Records a finished call (audit record, metrics); with `audit.durability: sync`, resolves once the record is committed. */
  observe(observed: ObservedCall): void | Promise<void>;
  /** Records a request refused before any call ran (authentication, required scopes). */
  refused(r: RefusedRequest): void;
  /**
   * Writes the one info line of a finished call (`log.calls`), tool or model;
   * undefined when that line is off (or below the log level), so callers build
   * nothing for it.
   */
  callLine: ((line: CallLine) => void) | undefined;
  metrics: GatewayMetrics | undefined;
  /** The audit store queries read (absent with `audit.store: none`). */
  auditStore: AuditStore | undefined;
  auditWriter: AuditWriter | undefined;
  /** `audit.durability: sync` with a store: answers wait for their record's commit (`auditWriter.recordDurable`). */
  auditDurable: boolean;
  limiter: RateLimiter | undefined;
  /** The one Redis connection of this process (rate limits, ai budgets), made on first use; undefined without `redis.url`. */
  redis: (() => Redis) | undefined;
  /** Flushes the audit queue and closes the stores. */
  close(): Promise<void>;
}

/** What the per-call log line says. */
export interface CallLine {
  requestId: string;
  kind: 'tool' | 'model';
  /** The tool or the model. */
  target: string;
  principal: string | undefined;
  outcome: AuditOutcome;
  status: number | undefined;
  code: ErrorCode | undefined;
  ms: number;
}

/** The per-call line, or undefined when `log.calls` is off or info lines are not logged. */
function createCallLine(log: Logger, enabled: boolean): ((line: CallLine) => void) | undefined {
  if (!enabled || !log.isLevelEnabled('info')) return undefined;
  return (l) => {
    const ms = Math.round(l.ms * 10) / 10;
    const status = l.status === undefined ? '' : ` ${l.status}`;
    log.info(
      { requestId: l.requestId, kind: l.kind, [l.kind]: l.target, principal: l.principal, outcome: l.outcome, status: l.status, code: l.code, ms },
      `${l.kind} ${l.target || '-'} ${l.outcome}${status}${l.code !== undefined ? ` ${l.code}` : ''} ${ms} ms (${l.principal ?? 'no principal'})`,
    );
  };
}

export interface RefusedRequest {
  requestId: string;
  outcome: 'unauthenticated' | 'denied';
  errorCode: ErrorCode;
  principal?: Principal;
  /** The tool the request named, when it says so without reading the body (`Mcp-Name`). */
  tool?: string;
  protocol?: string;
  startedAt: number;
  latencyMs: number;
}

/** The audit outcome of an error code (no code: ok). */
export function outcomeOf(code: ErrorCode | undefined): AuditOutcome {
  switch (code) {
    case undefined:
      return 'ok';
    // The caller sent something it should not have: the same outcome whether it was a tool's
    // arguments or the request itself (too large, too deep, not a valid request body).
    case 'GH_TOOL_ARGS_INVALID':
    case 'GH_TOOL_ARGS_TOO_LARGE':
    case 'GH_REQUEST_BUILD_FAILED':
    case 'GH_REQUEST_TOO_LARGE':
    case 'GH_REQUEST_TOO_DEEP':
    case 'GH_AI_REQUEST_INVALID':
    case 'GH_MCP_BATCH_REFUSED':
      return 'invalid';
    case 'GH_POLICY_DENIED':
    case 'GH_AUTH_FORBIDDEN':
      return 'denied';
    case 'GH_RATE_LIMITED':
      return 'limited';
    case 'GH_RATE_LIMIT_UNAVAILABLE':
    case 'GH_AUDIT_NOT_DURABLE':
    case 'GH_BACKEND_BUSY':
    case 'GH_BACKEND_UNAVAILABLE':
      return 'unavailable';
    case 'GH_UPSTREAM_ABORTED':
      return 'cancelled';
    case 'GH_AUTH_REQUIRED':
    case 'GH_AUTH_INVALID':
      return 'unauthenticated';
    default:
      return 'error';
  }
}

/** `30s`, `1m`, `2h`, `1d` → seconds (the schema admits only these forms). */
export function windowSeconds(window: string): number {
  const n = Number(window.slice(0, -1));
  const unit = window.at(-1);
  return n * (unit === 'd' ? 86_400 : unit === 'h' ? 3_600 : unit === 'm' ? 60 : 1);
}

/** Errors that say the backend is unwell: they count towards opening its circuit. */
const BACKEND_FAILURES: ReadonlySet<ErrorCode> = new Set(['GH_UPSTREAM_CONNECT', 'GH_UPSTREAM_TIMEOUT', 'GH_UPSTREAM_FAILED']);

/** The settings a backend's guard is built from. */
function guardKey(b: BackendConfig): string {
  return JSON.stringify([b.maxConcurrent, b.maxQueued, b.queueTimeoutMs, b.circuitBreaker]);
}

export interface PipelineOptions {
  config: GatehouseConfig;
  log: Logger;
  registry: () => ToolRegistry;
  authorizer: Authorizer | undefined;
}

export async function createPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, log, registry, authorizer } = options;
  const metrics = config.metrics.enabled ? createMetrics() : undefined;
  const closers: Array<() => Promise<void>> = [];

  // Authorisation: the same rules decide calls (here) and what tools/list shows (mcp/visibility.ts).
  const checks: Policy<void>[] = [];
  if (authorizer !== undefined) {
    checks.push(
      authorize(authorizer, (ctx) => {
        if (ctx.kind === 'model') return { kind: 'model', name: ctx.target };
        const served = registry().get(ctx.target);
        // The chain only runs for operations (call_operation runs it under the operation's name).
        return served?.kind === 'operation' ? toolTarget(served.definition) : { kind: 'tool', name: ctx.target, backend: ctx.backend, method: '', readOnly: false };
      }),
    );
  }

  let redisClient: Redis | undefined;
  // ioredis is loaded only when Redis is configured: it costs about 8 MiB resident.
  const redisModule = config.redis === undefined ? undefined : await import('../limits/redis.js');
  const redis =
    redisModule === undefined
      ? undefined
      : (): Redis => {
          if (redisClient === undefined) {
            const client = redisModule.createRedisClient(config.redis!.url, log);
            closers.push(() => redisModule.closeRedis(client));
            redisClient = client;
          }
          return redisClient;
        };

  // Budgets counted in Redis: connect now, so the first model call finds the connection made.
  if (config.ai?.budgetStore === 'redis' && config.ai.budgets.length > 0) redis?.();

  // Rate limits: memory per process, or Redis shared by every replica.
  let limiter: RateLimiter | undefined;
  const rules = config.rateLimits.rules;
  if (rules.length > 0) {
    let store: Parameters<typeof createRateLimiter>[0]['store'] = { type: 'memory' };
    if (config.rateLimits.store === 'redis') store = { type: 'redis', client: redis!() };
    limiter = createRateLimiter({
      rules: rules.map((r) => ({
        name: r.name,
        key: r.key,
        limit: r.limit,
        windowSeconds: windowSeconds(r.window),
        cost: r.cost,
        ...(r.match !== undefined ? { match: r.match } : {}),
      })),
      store,
      onStoreError: config.rateLimits.onStoreError,
      onStoreFailure: () => metrics?.storeError('redis'),
    });
    const limits = limiter;
    checks.push(async function rateLimitPolicy(ctx, next) {
      const decision = await limits.check({ principal: ctx.principal.id, backend: ctx.backend, ...(ctx.kind === 'tool' ? { tool: ctx.target } : { model: ctx.target }) });
      if (!decision.allowed) {
        metrics?.rateLimited(decision.rule);
        const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        throw new GatehouseError('GH_RATE_LIMITED', `rate limit "${decision.rule}" reached; retry after ${retryAfterSeconds} s`, {
          details: { rule: decision.rule, retryAfterSeconds, headers: rateLimitHeaders(decision) },
        });
      }
      return next();
    });
  }
  // audit.durability: sync fails closed. While the audit store is known to be down, a call
  // is refused before it reaches a backend or provider: its answer could not be held for a commit.
  let auditHealthy: () => boolean = () => true;
  if (config.audit.durability === 'sync' && config.audit.store !== 'none') {
    checks.push(async function auditDurabilityPolicy(_ctx, next) {
      if (!auditHealthy()) throw new GatehouseError('GH_AUDIT_NOT_DURABLE', 'the audit store cannot commit records now (audit.durability: sync); nothing was sent');
      return next();
    });
  }
  const runChecks = compose(checks);
  const admit = (ctx: CallContext): Promise<void> => runChecks(ctx, () => Promise.resolve());
  const policies: Policy<CallToolResult>[] = checks.length === 0 ? [] : [(ctx, next) => admit(ctx).then(next)];

  // Backend protection: a bulkhead and a circuit breaker per backend.
  const guards = new Map<string, BackendGuard>();
  const bulkheads = new Map<string, Bulkhead>();
  /** What each guard was built from: a reload rebuilds a guard only when these settings change. */
  const guardSettings = new Map<string, string>();
  const addGuard = (b: BackendConfig): void => {
    const bulkhead = createBulkhead({ maxConcurrent: b.maxConcurrent, maxQueued: b.maxQueued, queueTimeoutMs: b.queueTimeoutMs, name: b.name });
    bulkheads.set(b.name, bulkhead);
    guardSettings.set(b.name, guardKey(b));
    const breakerConfig = b.circuitBreaker;
    if (breakerConfig === false) {
      guards.set(b.name, (send) => bulkhead.run(send));
      return;
    }
    const breaker = createCircuitBreaker({
      ...breakerConfig,
      name: b.name,
      onStateChange: (state) => {
        metrics?.circuit(b.name, state);
        if (state === 'open') log.warn({ backend: b.name }, `backend ${b.name}: circuit open after ${breakerConfig.failureThreshold} consecutive failures; calls refused for ${breakerConfig.cooldownMs} ms`);
        else if (state === 'closed') log.info({ backend: b.name }, `backend ${b.name}: circuit closed`);
      },
    });
    metrics?.circuit(b.name, 'closed');
    // The breaker stands outside the bulkhead: an open circuit refuses without taking a slot,
    // and a full bulkhead (GH_BACKEND_BUSY) says nothing about the backend's health.
    guards.set(b.name, (send) =>
      breaker.run(
        () => bulkhead.run(send),
        ({ value, error }) =>
          error !== undefined ? error instanceof GatehouseError && BACKEND_FAILURES.has(error.code) : value !== undefined && value.status >= 500,
      ),
    );
  };
  for (const b of config.backends) addGuard(b);
  metrics?.inFlight(() => new Map([...bulkheads].map(([name, b]) => [name, b.inFlight])));

  const updateBackends = (backends: readonly BackendConfig[]): void => {
    const names = new Set(backends.map((b) => b.name));
    for (const name of [...guards.keys()]) {
      if (names.has(name)) continue;
      guards.delete(name);
      bulkheads.delete(name);
      guardSettings.delete(name);
      metrics?.forgetBackend(name);
    }
    // A guard whose settings did not change is kept: its circuit state and the calls it counts survive the reload.
    // A rebuilt one starts afresh; calls in flight finish under the guard they started with.
    for (const b of backends) if (guardSettings.get(b.name) !== guardKey(b)) addGuard(b);
  };

  // Audit: a store (SQLite by default), an optional JSON-lines stream, one bounded writer.
  let auditStore: AuditStore | undefined;
  let auditWriter: AuditWriter | undefined;
  let retention: Retention | undefined;
  const audit = config.audit;
  const dataDir = resolve(config.baseDir, config.dataDir);
  const sinks: AuditSink[] = audit.stream === undefined ? [] : [createJsonlSink(audit.stream === 'stdout' ? 'stdout' : resolve(dataDir, audit.stream))];
  // A store that failed to open at start is down from the start (/readyz, gatehouse_audit_store_up).
  let auditStoreDown = false;
  if (audit.store !== 'none') {
    auditStore = await openAuditStore(
      audit.store === 'postgres' ? { store: 'postgres', postgres: audit.postgres! } : { store: 'sqlite', sqlite: { file: resolve(dataDir, audit.sqlite.file), thread: audit.sqlite.thread } },
      log,
      { onInitError: () => (auditStoreDown = true) },
    );
    retention = startRetention(auditStore, { days: audit.retentionDays, log });
  }
  if (auditStore !== undefined || sinks.length > 0) {
    auditWriter = createAuditWriter({
      ...(auditStore !== undefined ? { store: auditStore } : {}),
      sinks,
      maxQueue: audit.queue.max,
      batchSize: audit.queue.batchSize,
      flushIntervalMs: audit.queue.flushIntervalMs,
      storeHealthy: !auditStoreDown,
      log,
      onEvent: (e) => {
        if (e.type === 'written') metrics?.auditWritten(e.count);
        else if (e.type === 'dropped') metrics?.auditDropped(e.count);
        else if (e.type === 'failure') {
          metrics?.auditFailure();
          metrics?.storeError('audit');
        }
      },
    });
    const writer = auditWriter;
    metrics?.auditStats(() => writer.stats());
    auditHealthy = () => writer.stats().storeHealthy;
  }
  const redact = createArgumentRedactor({ mode: audit.arguments, names: audit.redact });

  const principalFields = (p: Principal | undefined): Partial<AuditRecord> =>
    p === undefined
      ? {}
      : { principalId: p.id, principalKind: p.kind, ...(p.client !== undefined ? { clientId: p.client } : {}), ...(p.kind === 'api-key' ? { keyId: p.id } : {}) };

  const durable = audit.durability === 'sync' && auditWriter !== undefined && auditStore !== undefined;
  const callLine = createCallLine(log, config.log.calls);

  const observe = ({ call, facts, startedAt, seconds }: ObservedCall): void | Promise<void> => {
    const outcome = outcomeOf(facts.errorCode);
    const operation = facts.operation?.definition;
    const backend = operation?.backend ?? (call.tool.kind === 'meta' ? call.tool.catalogue.backend : '');
    const tool = operation?.name ?? call.tool.tool.name;
    metrics?.call({ kind: 'tool', backend, target: tool, outcome, seconds });
    // The name served (with its prefix), as the client called it.
    callLine?.({ requestId: call.requestId, kind: 'tool', target: call.tool.tool.name, principal: call.principal.id, outcome, status: facts.status, code: facts.errorCode, ms: seconds * 1000 });
    if (facts.backendSeconds !== undefined) metrics?.backendResponse(backend, facts.status ?? 0, facts.backendSeconds);
    if (auditWriter === undefined) return;
    // Built field by field: this runs once per call, and absent fields stay absent.
    const p = call.principal;
    const record: AuditRecord = { time: startedAt, requestId: call.requestId, kind: 'tool', outcome, latencyMs: Math.round(seconds * 1e6) / 1e3 };
    record.principalId = p.id;
    record.principalKind = p.kind;
    if (p.client !== undefined) record.clientId = p.client;
    if (p.kind === 'api-key') record.keyId = p.id;
    if (call.client?.name !== undefined) record.clientName = call.client.name;
    if (call.client?.version !== undefined) record.clientVersion = call.client.version;
    if (call.protocol !== undefined) record.protocol = call.protocol;
    record.backend = backend;
    record.tool = tool;
    if (operation !== undefined) {
      record.httpMethod = operation.source.method.toUpperCase();
      record.urlTemplate = operation.source.path;
    }
    // Arguments refused for their size are not read again, not even to redact them.
    if (facts.errorCode !== 'GH_TOOL_ARGS_TOO_LARGE') Object.assign(record, redact(facts.args ?? call.args));
    if (facts.errorCode !== undefined) record.errorCode = facts.errorCode;
    if (facts.status !== undefined) record.status = facts.status;
    if (facts.bytesIn !== undefined) record.bytesIn = facts.bytesIn;
    if (facts.bytesOut !== undefined) record.bytesOut = facts.bytesOut;
    // A call refused for durability has no answer to hold: its record is queued like any other.
    if (durable && facts.errorCode !== 'GH_AUDIT_NOT_DURABLE') return auditWriter.recordDurable(record);
    auditWriter.record(record);
  };

  const refused = (r: RefusedRequest): void => {
    metrics?.authFailure(r.errorCode);
    metrics?.call({ kind: 'tool', backend: '', target: '', outcome: r.outcome, seconds: r.latencyMs / 1000 });
    callLine?.({ requestId: r.requestId, kind: 'tool', target: r.tool?.slice(0, 128) ?? '', principal: r.principal?.id, outcome: r.outcome, status: undefined, code: r.errorCode, ms: r.latencyMs });
    auditWriter?.record({
      time: r.startedAt,
      requestId: r.requestId,
      kind: 'tool',
      ...principalFields(r.principal),
      ...(r.protocol !== undefined ? { protocol: r.protocol } : {}),
      // The tool named in a header is not checked against the registry: recorded, never used as a label.
      ...(r.tool !== undefined ? { tool: r.tool.slice(0, 128) } : {}),
      outcome: r.outcome,
      errorCode: r.errorCode,
      latencyMs: r.latencyMs,
    });
  };

  return {
    policies,
    admit,
    guards,
    updateBackends,
    observe,
    refused,
    callLine,
    metrics,
    auditStore,
    auditWriter,
    auditDurable: durable,
    limiter,
    redis,
    async close() {
      retention?.stop();
      // The writer closes the store once everything queued is written.
      if (auditWriter !== undefined) await auditWriter.close();
      else await auditStore?.close();
      for (const close of closers) await close();
    },
  };
}
