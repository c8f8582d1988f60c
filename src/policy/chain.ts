/**
 * THE chain: every call — a tool call from any MCP client, a model call from
 * any agent — runs these stages, in this order, built once from the config:
 *
 *   authenticate → authorize → rateLimit → (audit durability) → budget →
 *   validate → guard → redact → protect → forward
 *
 * Why this order:
 * - authenticate first: nothing can be decided before knowing who calls. It
 *   runs at the HTTP edge, once per request (MCP asks that every request be
 *   authenticated, tools/list included), with the one authenticator here.
 * - authorize next: a caller that may not make the call learns nothing else —
 *   not its quota, not the tool's schema — and spends no quota.
 * - rateLimit before any work: every admitted attempt counts, invalid ones too,
 *   so a client cannot make the gateway validate or guard for free.
 * - audit durability (`audit.durability: sync`) before anything is sent: while
 *   the store cannot commit, nothing runs whose answer could not be held.
 * - budget before the money is spent; charged when the call ends.
 * - validate, then guard: content checks run on input of the right shape.
 * - redact on the way back: the stage hands the protocol its redactor.
 * - protect last before forward: a refused call never takes a bulkhead slot,
 *   and only the backend's own failures count towards its circuit.
 *
 * Stages never see the protocol's answer; what they leave for the call's end
 * (a token reservation to settle, a cost to charge) runs in `finish`, which
 * then tells the observers (tracing, audit, metrics, the call line).
 */
import type { Redis } from 'ioredis';
import type { AiConfig, GatehouseConfig, PolicyEntryConfig, RateLimitRuleConfig } from '../config/schema.js';
import { GatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { ANONYMOUS, compose, NEVER_CANCELLED, type CallContext, type CallObserver, type Middleware, type Principal } from '../call/context.js';
import { createRateLimiter, type RateLimiter, type RateLimitRule } from '../limits/rate-limit.js';
import type { BackendGuards } from '../limits/backend-guards.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { createBudgets, createRedisBudgets, type BudgetRule, type Budgets } from '../ai/policy/budget.js';
import { compileCondition, type Condition } from '../conditions/cel.js';
import { compileRules, type Authorizer } from './rules.js';
import type { RuleConfig } from '../config/schema.js';
import { authorizeStage } from './stages/authorize.js';
import { rateLimitStage } from './stages/rate-limit.js';
import { budgetStage } from './stages/budget.js';
import { validateStage } from './stages/validate.js';
import { guardStage } from './stages/guard.js';
import { redactStage, type RedactInstance } from './stages/redact.js';
import { protectStage } from './stages/protect.js';

/** The stages, in the order they run. `policies[]` lists its instances in this order too. */
export const STAGE_ORDER = ['authenticate', 'authorize', 'rateLimit', 'auditDurability', 'budget', 'validate', 'guard', 'redact', 'protect', 'forward'] as const;
export type StageName = (typeof STAGE_ORDER)[number];

/** The config sections the chain is built from, and nothing else. */
export interface ChainConfig {
  policies: readonly PolicyEntryConfig[];
  rateLimits: GatehouseConfig['rateLimits'];
  ai?: Pick<AiConfig, 'budgets' | 'budgetStore' | 'guards'> | undefined;
  audit: Pick<GatehouseConfig['audit'], 'durability' | 'store'>;
}

export interface ChainDeps {
  log: Logger;
  /** The compiled `rules` (absent: every call allowed). */
  authorizer: Authorizer | undefined;
  /** Per-backend bulkhead and circuit breaker. */
  backendGuards: BackendGuards;
  /** The process's Redis connection, made on first use (rate limits and budgets kept in Redis). */
  redis: (() => Redis) | undefined;
  metrics: GatewayMetrics | undefined;
  /** False while the audit store cannot commit (with `audit.durability: sync`, calls are then refused). */
  auditHealthy: () => boolean;
  /** Told about every finished call, in order. */
  observers: readonly CallObserver[];
  /** Tracing, when on: told as each call starts running, so its span starts before anything is sent (tracing/tracing.ts). */
  onRun?: ((ctx: CallContext) => void) | undefined;
}

export interface Chain {
  /** The stages this chain runs, in order (those configured; `authenticate` runs at the edge). */
  readonly stages: readonly StageName[];
  /** Runs the stages, then `forward` (the protocol's work). Rejects with the GatehouseError of a refusal. */
  run<R>(ctx: CallContext, forward: () => Promise<R>): Promise<R>;
  /**
   * Ends a call: the work its stages left (settle a reservation, charge a
   * budget), then every observer. Under durable audit, resolves once the
   * record is committed (and rejects if it cannot be).
   */
  finish(ctx: CallContext): void | Promise<void>;
  /**
   * A request refused before any call existed (authentication, required
   * scopes): the observers hear of it as of a call, marked refused at the edge.
   */
  refused(r: EdgeRefusal): void;
  /** The rate limiter of every rateLimit instance, when there is one. */
  readonly limiter: RateLimiter | undefined;
}

/** What the edge knows of a request it refused. */
export interface EdgeRefusal {
  kind: 'tool' | 'model';
  requestId: string;
  errorCode: ErrorCode;
  /** The caller, when it was identified (a token without the scope needed). */
  principal?: Principal;
  /** The tool the request named, when it says so without reading the body (`Mcp-Name`). */
  tool?: string;
  protocol?: string;
  /** Epoch ms and `performance.now()` when the request arrived. */
  startedAt: number;
  started: number;
}

/** `30s`, `1m`, `2h`, `1d` → seconds (the schema admits only these forms). */
export function windowSeconds(window: string): number {
  const n = Number(window.slice(0, -1));
  const unit = window.at(-1);
  return n * (unit === 'd' ? 86_400 : unit === 'h' ? 3_600 : unit === 'm' ? 60 : 1);
}

/** Which stage a `policies[]` entry is an instance of. */
function stageOf(entry: PolicyEntryConfig): 'rateLimit' | 'budget' | 'validate' | 'guard' | 'redact' {
  return Object.keys(entry)[0] as 'rateLimit' | 'budget' | 'validate' | 'guard' | 'redact';
}

/** `when` compiled, when given (a config error names `field`). */
function condition(when: string | undefined, field: string): Condition | undefined {
  return when === undefined ? undefined : compileCondition(when, field);
}

/**
 * `policies[]` listed out of the chain's order is a config error: the list
 * reads as the chain runs.
 */
function checkOrder(policies: readonly PolicyEntryConfig[]): void {
  let last = -1;
  let validate = false;
  policies.forEach((entry, i) => {
    const stage = stageOf(entry);
    const at = STAGE_ORDER.indexOf(stage);
    if (at < last) {
      throw new GatehouseError('GH_CONFIG_INVALID', `policies[${i}]: ${stage} is listed after ${STAGE_ORDER[last]}, but runs before it; list instances in the chain's order: ${STAGE_ORDER.join(' → ')}`, {
        details: { field: `policies[${i}]` },
      });
    }
    if (stage === 'validate') {
      if (validate) throw new GatehouseError('GH_CONFIG_INVALID', `policies[${i}]: validate is listed twice; the chain has one validate stage`, { details: { field: `policies[${i}]` } });
      validate = true;
    }
    last = at;
  });
}

export function createChain(config: ChainConfig, deps: ChainDeps): Chain {
  checkOrder(config.policies);
  const built: Array<[StageName, Middleware]> = [];
  const add = (name: StageName, stage: Middleware | undefined): void => {
    if (stage !== undefined) built.push([name, stage]);
  };
  const entries = instancesOf(config.policies);
  if (deps.authorizer !== undefined) add('authorize', authorizeStage(deps.authorizer));
  const limiter = buildLimiter(config, entries, deps);
  if (limiter !== undefined) add('rateLimit', rateLimitStage(limiter, (rule) => deps.metrics?.rateLimited(rule)));
  if (config.audit.durability === 'sync' && config.audit.store !== 'none') add('auditDurability', auditDurabilityStage(deps.auditHealthy));
  add('budget', buildBudget(config, entries, deps));
  add('validate', buildValidate(config.policies));
  for (const guard of buildGuards(config, entries)) add('guard', guard);
  add('redact', buildRedact(config, entries));
  add('protect', protectStage(deps.backendGuards));

  const stages = compose(built.map(([, stage]) => stage));
  const onRun = deps.onRun;
  // With nothing to tell (tracing off), run is the stages themselves: no wrapper per call.
  const run: Chain['run'] = onRun === undefined ? stages : (ctx, forward) => (onRun(ctx), stages(ctx, forward));
  const finish = finisher(deps.log, deps.observers);
  const refused = (r: EdgeRefusal): void => {
    finish(edgeRefusalContext(r, deps.log))?.catch(() => undefined);
  };
  return { stages: ['authenticate', ...built.map(([name]) => name), 'forward'], run, finish, refused, limiter };
}

/** The `policies[]` entries of one stage, each with the config path its errors name. */
type Instances = <K extends 'rateLimit' | 'budget' | 'guard' | 'redact'>(stage: K) => Array<{ options: unknown; path: string }>;

function instancesOf(policies: readonly PolicyEntryConfig[]): Instances {
  return (stage) => policies.flatMap((entry, i) => (stageOf(entry) === stage ? [{ options: (entry as Record<string, unknown>)[stage], path: `policies[${i}].${stage}` }] : []));
}

/** Rate limits: `rateLimits.rules`, then the `policies[]` instances; one limiter over all of them (undefined: none). */
function buildLimiter(config: ChainConfig, instances: Instances, deps: ChainDeps): RateLimiter | undefined {
  const entries = [
    ...config.rateLimits.rules.map((r, i) => ({ options: r, path: `rateLimits.rules[${i}]` })),
    ...instances('rateLimit').map(({ options, path }) => ({ options: options as RateLimitRuleConfig, path })),
  ];
  uniqueNames(entries, 'rate limit');
  if (entries.length === 0) return undefined;
  return createRateLimiter({
    rules: entries.map(({ options, path }) => rateRule(options, path)),
    store: config.rateLimits.store === 'redis' ? { type: 'redis', client: deps.redis!() } : { type: 'memory' },
    onStoreError: config.rateLimits.onStoreError,
    onStoreFailure: () => deps.metrics?.storeError('redis'),
  });
}

/** `audit.durability: sync` fails closed: while the audit store is known to be down, nothing is sent. */
function auditDurabilityStage(healthy: () => boolean): Middleware {
  return async function auditDurability(_ctx, next) {
    if (!healthy()) throw new GatehouseError('GH_AUDIT_NOT_DURABLE', 'the audit store cannot commit records now (audit.durability: sync); nothing was sent');
    return next();
  };
}

/** Budgets: `ai.budgets`, then the `policies[]` instances, in one store (undefined: none). */
function buildBudget(config: ChainConfig, instances: Instances, deps: ChainDeps): Middleware | undefined {
  const entries = [
    ...(config.ai?.budgets ?? []).map((b, i) => ({ options: b as BudgetRuleInput, path: `ai.budgets[${i}]` })),
    ...instances('budget').map(({ options, path }) => ({ options: options as BudgetRuleInput, path })),
  ];
  uniqueNames(entries, 'budget');
  if (entries.length === 0) return undefined;
  return budgetStage(openBudgets(entries.map(({ options, path }) => budgetRule(options, path)), config, deps), deps.log);
}

/** The one validate stage: always there; `policies[]` may scope tool argument checks or turn them off. */
function buildValidate(policies: readonly PolicyEntryConfig[]): Middleware {
  const i = policies.findIndex((p) => stageOf(p) === 'validate');
  const entry = i === -1 ? undefined : (policies[i] as { validate: false | { when?: string } });
  const when = entry === undefined || entry.validate === false ? undefined : condition(entry.validate.when, `policies[${i}].validate.when`);
  return validateStage({ when, off: entry?.validate === false });
}

/** Guards: `ai.guards` (prompts only, as it always was), then the `policies[]` instances (prompts and tool arguments). */
function buildGuards(config: ChainConfig, instances: Instances): Middleware[] {
  const guards: Middleware[] = [];
  const g = config.ai?.guards;
  if (g !== undefined && (g.maxMessages !== undefined || g.maxChars !== undefined || (g.blockedPatterns?.length ?? 0) > 0)) {
    guards.push(guardStage({ ...pick(g, 'maxMessages', 'maxChars', 'blockedPatterns'), modelsOnly: true, configPath: 'ai.guards' }));
  }
  for (const { options, path } of instances('guard')) {
    const o = options as { maxMessages?: number; maxChars?: number; blockedPatterns?: string[]; when?: string };
    const when = condition(o.when, `${path}.when`);
    guards.push(guardStage({ ...pick(o, 'maxMessages', 'maxChars', 'blockedPatterns'), ...(when ? { when } : {}), configPath: path }));
  }
  return guards;
}

/** Redaction: `ai.guards.redactPatterns` (model answers only), then the `policies[]` instances, as one stage (undefined: none). */
function buildRedact(config: ChainConfig, instances: Instances): Middleware | undefined {
  const redactions: RedactInstance[] = [];
  const patterns = config.ai?.guards?.redactPatterns;
  if (patterns !== undefined && patterns.length > 0) redactions.push({ patterns, modelsOnly: true, configPath: 'ai.guards.redactPatterns' });
  for (const { options, path } of instances('redact')) {
    const o = options as { patterns: string[]; when?: string };
    const when = condition(o.when, `${path}.when`);
    redactions.push({ patterns: o.patterns, ...(when ? { when } : {}), configPath: `${path}.patterns` });
  }
  return redactions.length === 0 ? undefined : redactStage(redactions);
}

/** `Chain.finish`: the work the stages left, then every observer; a promise when one holds the call (durable audit). */
function finisher(log: Logger, observers: readonly CallObserver[]): (ctx: CallContext) => void | Promise<void> {
  return (ctx) => {
    const outcome = ctx.outcome;
    for (const settle of ctx.onFinish ?? []) {
      try {
        settle(outcome);
      } catch (err) {
        log.error({ err, requestId: ctx.requestId }, 'settling a call failed');
      }
    }
    const seconds = (performance.now() - ctx.started) / 1000;
    let held: Promise<void>[] | undefined;
    for (const observe of observers) {
      try {
        const p = observe(ctx, seconds);
        if (p !== undefined) (held ??= []).push(p);
      } catch (err) {
        log.error({ err, requestId: ctx.requestId }, 'call observer failed');
      }
    }
    if (held === undefined) return undefined;
    return held.length === 1 ? held[0] : Promise.all(held).then(() => undefined);
  };
}

/** The context the observers are told of for a request refused at the edge. */
function edgeRefusalContext(r: EdgeRefusal, log: Logger): CallContext {
  return {
    kind: r.kind,
    target: r.tool ?? '',
    backend: '',
    method: '',
    readOnly: false,
    principal: r.principal ?? ANONYMOUS,
    args: {},
    requestId: r.requestId,
    log,
    signal: NEVER_CANCELLED,
    startedAt: r.startedAt,
    started: r.started,
    outcome: { errorCode: r.errorCode, refusedAtEdge: true, ...(r.principal === undefined ? { principalUnknown: true } : {}), ...(r.protocol !== undefined ? { protocol: r.protocol } : {}) },
  };
}

/**
 * Builds the chain as `gatehouse validate` checks it: every stage, condition
 * and pattern compiled, nothing opened (counters in memory, no Redis, no
 * observers). Throws the config error the gateway would meet at start.
 */
export function checkChainConfig(config: ChainConfig & { rules?: RuleConfig[] | undefined }, log: Logger): StageName[] {
  const chain = createChain(
    { ...config, rateLimits: { ...config.rateLimits, store: 'memory' }, ...(config.ai !== undefined ? { ai: { ...config.ai, budgetStore: 'memory' as const } } : {}) },
    {
      log,
      authorizer: config.rules !== undefined && config.rules.length > 0 ? compileRules(config.rules) : undefined,
      backendGuards: { get: () => undefined, update: () => undefined },
      redis: undefined,
      metrics: undefined,
      auditHealthy: () => true,
      observers: [],
    },
  );
  return [...chain.stages];
}

/** Names of rate limits (and of budgets) are unique across the sections that declare them: they name counters, headers and metrics. */
function uniqueNames(entries: ReadonlyArray<{ options: { name: string }; path: string }>, what: string): void {
  const first = new Map<string, string>();
  for (const { options, path } of entries) {
    const earlier = first.get(options.name);
    if (earlier !== undefined) {
      throw new GatehouseError('GH_CONFIG_INVALID', `${path}.name: "${options.name}" is the name of ${earlier} too; ${what} names must be unique`, { details: { field: `${path}.name` } });
    }
    first.set(options.name, path);
  }
}

function rateRule(r: RateLimitRuleConfig, path: string): RateLimitRule {
  const when = condition(r.when, `${path}.when`);
  // Tokens are what model calls spend; a tool call spends none, so a token rule
  // applies to model calls only (a model glob never matches a tool call). Without
  // this, a window spent by a caller's model calls would refuse its tool calls too.
  const match = r.cost === 'tokens' && r.match?.models === undefined ? { ...r.match, models: ['*'] } : r.match;
  return {
    name: r.name,
    key: r.key,
    limit: r.limit,
    windowSeconds: windowSeconds(r.window),
    cost: r.cost,
    ...(match !== undefined ? { match } : {}),
    ...(when !== undefined ? { when: when as (input: unknown) => boolean } : {}),
  };
}

type BudgetRuleInput = { name: string; per: 'day' | 'month'; limitUsd: number; match?: { principals?: string[]; models?: string[] }; when?: string };

function budgetRule(b: BudgetRuleInput, path: string): BudgetRule {
  const when = condition(b.when, `${path}.when`);
  return { name: b.name, per: b.per, limitUsd: b.limitUsd, ...(b.match !== undefined ? { match: b.match } : {}), ...(when !== undefined ? { when: when as (input: unknown) => boolean } : {}) };
}

function openBudgets(rules: BudgetRule[], config: ChainConfig, deps: ChainDeps): Budgets {
  if (config.ai?.budgetStore !== 'redis') return createBudgets({ rules, configPath: 'budgets' });
  return createRedisBudgets({
    rules,
    client: deps.redis!(),
    onStoreError: (err) => {
      deps.metrics?.storeError('redis');
      deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'ai: budget store unreachable; the call is let through');
    },
  });
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k] as Exclude<T[K], undefined>;
  return out;
}
