/**
 * Rate limiting: named rules, each a fixed-window counter per bucket key,
 * kept in process memory or in Redis so that several Gatehouse instances
 * share one limit.
 *
 * The counting is rate-limiter-flexible's (one RateLimiterMemory or
 * RateLimiterRedis per rule; its "enhanced fixed window" starts when a bucket
 * is first used). This module decides which rules apply to a call, what one
 * bucket is, what to do when the store is down, and how to report the result
 * (`RuleState`s for metrics and audit, `rateLimitHeaders` for HTTP).
 *
 * Two units: 'requests' rules are charged one point by `check()`. 'tokens'
 * rules (LLM proxy) cannot know the cost before the call, so `check()` only
 * refuses when the bucket is already spent and `charge()` adds the tokens the
 * provider reported afterwards: a call may overshoot a token limit once, the
 * next call is refused until the window ends.
 */
import { createRequire } from 'node:module';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { GatehouseError } from '../errors/catalogue.js';
import { globToRegExp } from '../openapi/select-operations.js';

type Flexible = typeof import('rate-limiter-flexible');
let flexible: Flexible | undefined;
/**
 * rate-limiter-flexible (CommonJS), loaded with the first rule rather than with
 * this module: the chain imports this module whether or not any rate limit is
 * configured, and loading the package costs tens of milliseconds of start-up.
 * `require` keeps the limiter's construction synchronous.
 */
function loadFlexible(): Flexible {
  return (flexible ??= createRequire(import.meta.url)('rate-limiter-flexible') as Flexible);
}

/** One dimension a bucket can be per. */
export type LimitKeyPart = 'principal' | 'backend' | 'tool' | 'model';

/** One configured rule (config `rateLimits.rules[]`). */
export interface RateLimitRule {
  /**
   * Unique; shows in errors, metrics, audit and the RateLimit headers. Letters,
   * digits, `_`, `-`, `.` only, so it is also a Redis key segment and an
   * sf-string without escapes.
   */
  name: string;
  /** What one bucket is per, e.g. `['principal','backend']`; `[]` = one global bucket. */
  key: LimitKeyPart[];
  /** Points per window: requests, or tokens for `cost: 'tokens'`. */
  limit: number;
  /** Window length in whole seconds. The window starts at a bucket's first use. */
  windowSeconds: number;
  /**
   * Which calls the rule applies to: glob lists (`*` matches anything), all
   * given lists must match. Absent (or an absent list) matches everything.
   */
  match?: { backends?: string[]; tools?: string[]; models?: string[]; principals?: string[] };
  /** Default 'requests'. 'tokens' rules are charged by `charge()` (LLM proxy). */
  cost?: 'requests' | 'tokens';
  /** A compiled `when:` condition (conditions/cel.ts) over `LimitSubject.input`: the rule counts only calls where it holds. */
  when?: (input: unknown) => boolean;
}

/** What is being limited: one call. */
export interface LimitSubject {
  principal: string;
  backend: string;
  tool?: string;
  model?: string;
  /** What rules' `when` conditions read, made only if one asks (conditions/input.ts). */
  input?: () => unknown;
}

/** A rule's bucket after a check, for metrics, audit and headers. */
export interface RuleState {
  rule: string;
  limit: number;
  /** Points left in the current window (0 when refused). */
  remaining: number;
  /** Milliseconds until the window ends and the bucket is full again. */
  resetMs: number;
  windowSeconds: number;
}

export type LimitDecision =
  | { allowed: true; states: RuleState[] }
  | { allowed: false; rule: string; retryAfterMs: number; states: RuleState[] };

export interface RateLimiterOptions {
  rules: RateLimitRule[];
  /**
   * Where counters live. `memory` is per process. `redis` is shared by every
   * instance using the same client database and `keyPrefix` (default
   * `gatehouse:rl`); create the client with `createRedisClient` (redis.ts) so
   * that commands fail fast while Redis is down.
   */
  store: { type: 'memory' } | { type: 'redis'; client: Redis; keyPrefix?: string; timeoutMs?: number };
  /**
   * When the store cannot answer: 'open' lets calls through (availability
   * over enforcement), 'closed' refuses them with GH_RATE_LIMIT_UNAVAILABLE.
   */
  onStoreError: 'open' | 'closed';
  /** Called once per `check()`/`charge()` that met a store failure (for a metric and a log). */
  onStoreFailure?: (err: Error) => void;
}

export interface RateLimiter {
  /**
   * Consume one request (cost 1) from every matching 'requests' rule; for
   * 'tokens' rules only check that the bucket is not exhausted.
   *
   * All matching rules are asked at once (one store round trip of latency).
   * When any rule refuses, the point is given back to the rules that accepted
   * it: a refused call costs nothing in the other buckets. Otherwise a
   * caller hammering its own per-principal limit would keep draining a shared
   * (global or per-backend) bucket and lock everybody else out.
   *
   * Throws GatehouseError GH_RATE_LIMIT_UNAVAILABLE when the store fails and
   * `onStoreError` is 'closed'. A rule that refused wins over a store failure.
   */
  check(subject: LimitSubject): Promise<LimitDecision>;
  /**
   * Charges `tokens` to every matching 'tokens' rule; a negative amount
   * refunds (reserve an estimate before an LLM call, settle after). Never
   * refuses (the next check does). Never throws: a store failure is reported
   * to `onStoreFailure` and the tokens are not counted, whatever
   * `onStoreError` says, because the call has already happened.
   */
  charge(subject: LimitSubject, tokens: number): Promise<void>;
  readonly rules: readonly RateLimitRule[];
}

const RULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY_PARTS: ReadonlySet<string> = new Set<LimitKeyPart>(['principal', 'backend', 'tool', 'model']);
const DEFAULT_KEY_PREFIX = 'gatehouse:rl';
/**
 * A Redis answer normally takes a millisecond; past this the store counts as
 * failed. The ioredis client has its own command timeout (redis.ts), this one
 * also covers a client configured elsewhere.
 */
const DEFAULT_STORE_TIMEOUT_MS = 250;

type Matcher = (subject: LimitSubject) => boolean;

interface CompiledRule {
  rule: RateLimitRule;
  tokens: boolean;
  matches: Matcher;
  limiter: RateLimiterAbstract;
}

/**
 * Checks the rules once and returns the limiter. Throws GatehouseError
 * GH_CONFIG_INVALID naming the rule and field for a rule that cannot work.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const names = new Set<string>();
  for (const [i, rule] of options.rules.entries()) {
    validateRule(rule, i);
    if (names.has(rule.name)) throw ruleError(i, `name "${rule.name}" is used by another rule; rule names must be unique.`);
    names.add(rule.name);
  }
  const rules = Object.freeze(options.rules.map((r) => Object.freeze({ ...r })));
  const compiled: CompiledRule[] = rules.map((rule) => ({
    rule,
    tokens: rule.cost === 'tokens',
    matches: withCondition(compileMatch(rule.match), rule.when),
    limiter: createStoreLimiter(rule, options.store),
  }));
  const report = (err: unknown): void => {
    try {
      options.onStoreFailure?.(asError(err));
    } catch {
      // A metrics/log hook must not turn a store outage into a failed call.
    }
  };

  async function check(subject: LimitSubject): Promise<LimitDecision> {
    const applicable = compiled.filter((c) => c.matches(subject));
    const outcomes = await Promise.all(applicable.map((c) => ask(c, bucketKey(c.rule, subject))));

    const states: RuleState[] = [];
    let refusal: { rule: string; retryAfterMs: number } | undefined;
    let failure: unknown;
    for (const [i, outcome] of outcomes.entries()) {
      const c = applicable[i] as CompiledRule;
      if (outcome.kind === 'error') {
        failure ??= outcome.error;
        continue;
      }
      states.push(outcome.state);
      // The longest wait wins: retrying earlier would be refused again.
      if (outcome.kind === 'refused' && (refusal === undefined || outcome.state.resetMs > refusal.retryAfterMs)) {
        refusal = { rule: c.rule.name, retryAfterMs: outcome.state.resetMs };
      }
    }

    if (failure !== undefined) report(failure);
    if (refusal !== undefined) {
      await refund(applicable, outcomes, subject, states);
      return { allowed: false, rule: refusal.rule, retryAfterMs: refusal.retryAfterMs, states };
    }
    if (failure !== undefined && options.onStoreError === 'closed') {
      await refund(applicable, outcomes, subject, states);
      throw new GatehouseError('GH_RATE_LIMIT_UNAVAILABLE', `The rate-limit store could not be reached (${asError(failure).message}); calls are refused while it is down.`, {
        cause: failure,
      });
    }
    return { allowed: true, states };
  }

  /**
   * Gives back the point taken from rules that accepted a call that is
   * refused anyway, and corrects their reported `remaining`.
   */
  async function refund(applicable: CompiledRule[], outcomes: Outcome[], subject: LimitSubject, states: RuleState[]): Promise<void> {
    const refunded = applicable.filter((c, i) => !c.tokens && outcomes[i]?.kind === 'allowed');
    const results = await Promise.allSettled(refunded.map((c) => c.limiter.reward(bucketKey(c.rule, subject), 1)));
    let failure: unknown;
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') {
        failure ??= result.reason;
        continue;
      }
      const s = states.find((st) => st.rule === refunded[i]?.rule.name);
      if (s !== undefined) s.remaining = Math.min(s.remaining + 1, s.limit);
    }
    if (failure !== undefined) report(failure);
  }

  async function charge(subject: LimitSubject, tokens: number): Promise<void> {
    // rate-limiter-flexible counts whole points; a part-token still costs one.
    // A negative amount gives tokens back: the proxy reserves an estimate before
    // the call and settles with the real usage after it.
    const points = Number.isFinite(tokens) ? (tokens >= 0 ? Math.ceil(tokens) : -Math.floor(-tokens)) : 0;
    if (points === 0) return;
    const charged = compiled
      .filter((c) => c.tokens && c.matches(subject))
      .map((c) => (points > 0 ? c.limiter.penalty(bucketKey(c.rule, subject), points) : c.limiter.reward(bucketKey(c.rule, subject), -points)));
    const results = await Promise.allSettled(charged);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) report(failed.reason);
  }

  return { check, charge, rules };
}

type Outcome = { kind: 'allowed' | 'refused'; state: RuleState } | { kind: 'error'; error: unknown };

/** One rule's answer for one call; never rejects. */
async function ask(c: CompiledRule, key: string): Promise<Outcome> {
  const { rule } = c;
  try {
    if (c.tokens) {
      const res = await c.limiter.get(key);
      // No record, or a memory record whose window ended but is not yet swept (windows always expire, so ≤ 0 is "ended").
      if (res === null || res.msBeforeNext <= 0) {
        return { kind: 'allowed', state: state(rule, rule.limit, rule.windowSeconds * 1000) };
      }
      const remaining = Math.max(rule.limit - res.consumedPoints, 0);
      return { kind: remaining > 0 ? 'allowed' : 'refused', state: state(rule, remaining, resetOf(res, rule)) };
    }
    const res = await c.limiter.consume(key, 1);
    return { kind: 'allowed', state: state(rule, res.remainingPoints, resetOf(res, rule)) };
  } catch (err) {
    // rate-limiter-flexible rejects with a RateLimiterRes when the bucket is spent, with an Error when the store failed.
    if (err instanceof loadFlexible().RateLimiterRes) return { kind: 'refused', state: state(rule, 0, resetOf(err, rule)) };
    return { kind: 'error', error: err };
  }
}

function state(rule: RateLimitRule, remaining: number, resetMs: number): RuleState {
  return { rule: rule.name, limit: rule.limit, remaining, resetMs, windowSeconds: rule.windowSeconds };
}

/** msBeforeNext is -1 for a key without expiry (cannot happen with windowSeconds ≥ 1, but be safe). */
function resetOf(res: RateLimiterRes, rule: RateLimitRule): number {
  return res.msBeforeNext >= 0 ? res.msBeforeNext : rule.windowSeconds * 1000;
}

/**
 * The bucket key of a call under one rule: the values of the rule's key parts
 * as a JSON array, so `a:b`+`c` and `a`+`b:c` are different buckets. A part
 * the call does not have (a tool rule on an LLM call) is `null`.
 */
export function bucketKey(rule: Pick<RateLimitRule, 'key'>, subject: LimitSubject): string {
  return JSON.stringify(rule.key.map((part) => subject[part] ?? null));
}

function createStoreLimiter(rule: RateLimitRule, store: RateLimiterOptions['store']): RateLimiterAbstract {
  const { RateLimiterMemory, RateLimiterRedis, RLWrapperTimeouts } = loadFlexible();
  // The rule name is part of every key, so two rules never share a counter.
  if (store.type === 'memory') {
    return new RateLimiterMemory({ points: rule.limit, duration: rule.windowSeconds, keyPrefix: `${DEFAULT_KEY_PREFIX}:${rule.name}` });
  }
  const redis = new RateLimiterRedis({
    storeClient: store.client,
    points: rule.limit,
    duration: rule.windowSeconds,
    keyPrefix: `${store.keyPrefix ?? DEFAULT_KEY_PREFIX}:${rule.name}`,
    // Fail at once instead of waiting for a reconnect (rate-limiter-flexible's advice with ioredis, with enableOfflineQueue off).
    rejectIfRedisNotReady: true,
  });
  return new RLWrapperTimeouts({ limiter: redis, timeoutMs: store.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS });
}

/** A matcher that also needs the rule's `when` condition (no input to read: no match). */
function withCondition(matches: Matcher, when: RateLimitRule['when']): Matcher {
  if (when === undefined) return matches;
  return (s) => matches(s) && s.input !== undefined && when(s.input());
}

/** A rule's `match` as one predicate; every list given must match. */
function compileMatch(match: RateLimitRule['match']): Matcher {
  if (match === undefined) return () => true;
  const tests: Matcher[] = [];
  const add = (globs: string[] | undefined, value: (s: LimitSubject) => string | undefined): void => {
    if (globs === undefined) return;
    const matches = globMatcher(globs);
    tests.push((s) => {
      const v = value(s);
      return v !== undefined && matches(v);
    });
  };
  add(match.backends, (s) => s.backend);
  add(match.tools, (s) => s.tool);
  add(match.models, (s) => s.model);
  add(match.principals, (s) => s.principal);
  return (s) => tests.every((t) => t(s));
}

/**
 * A predicate true when `value` matches one of `globs`: `*` matches any run
 * of characters (including none), everything else is literal. Uses the same
 * glob syntax as operation filters (`globToRegExp`, operationId flavour).
 */
export function globMatcher(globs: readonly string[]): (value: string) => boolean {
  const res = globs.map((g) => globToRegExp(g, 'operationId'));
  return (value) => res.some((re) => re.test(value));
}

/**
 * HTTP header fields for a decision: `Retry-After` (RFC 9110 §10.2.3, whole
 * seconds, at least 1) when refused, and the `RateLimit-Policy` / `RateLimit`
 * fields of draft-ietf-httpapi-ratelimit-headers (structured-field Lists;
 * `q` quota, `w` window seconds, `r` remaining, `t` seconds to reset) for the
 * most restrictive rule: the one that refused, else the one with the smallest
 * share of its limit left. No fields when no rule applied.
 */
export function rateLimitHeaders(decision: LimitDecision): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!decision.allowed) headers['Retry-After'] = String(toSeconds(decision.retryAfterMs));
  const state = decision.allowed ? mostRestrictive(decision.states) : (decision.states.find((s) => s.rule === decision.rule) ?? mostRestrictive(decision.states));
  if (state === undefined) return headers;
  const name = sfString(state.rule);
  headers['RateLimit-Policy'] = `${name};q=${state.limit};w=${state.windowSeconds}`;
  headers.RateLimit = `${name};r=${state.remaining};t=${decision.allowed ? Math.max(0, Math.ceil(state.resetMs / 1000)) : toSeconds(decision.retryAfterMs)}`;
  return headers;
}

function mostRestrictive(states: readonly RuleState[]): RuleState | undefined {
  let best: RuleState | undefined;
  for (const s of states) {
    if (best === undefined) {
      best = s;
      continue;
    }
    const share = s.remaining / s.limit;
    const bestShare = best.remaining / best.limit;
    // Ties: the longer wait is the more restrictive.
    if (share < bestShare || (share === bestShare && s.resetMs > best.resetMs)) best = s;
  }
  return best;
}

/** Whole seconds, rounded up, never 0: `Retry-After: 0` would invite an immediate retry that is refused. */
function toSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** RFC 9651 §3.3.3 sf-string (rule names are already restricted to safe characters). */
function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

function validateRule(rule: RateLimitRule, i: number): void {
  if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
    throw ruleError(i, `name must be 1-64 letters, digits, "_", "-" or "."; got ${JSON.stringify(rule.name)}.`);
  }
  const at = `"${rule.name}"`;
  if (!Array.isArray(rule.key) || rule.key.some((p) => !KEY_PARTS.has(p))) {
    throw ruleError(i, `${at}: key must be a list of principal, backend, tool, model; got ${JSON.stringify(rule.key)}.`);
  }
  if (new Set(rule.key).size !== rule.key.length) throw ruleError(i, `${at}: key lists a part twice.`);
  if (!Number.isSafeInteger(rule.limit) || rule.limit < 1) throw ruleError(i, `${at}: limit must be a positive integer; got ${String(rule.limit)}.`);
  if (!Number.isSafeInteger(rule.windowSeconds) || rule.windowSeconds < 1) {
    throw ruleError(i, `${at}: windowSeconds must be a positive integer; got ${String(rule.windowSeconds)}.`);
  }
  if (rule.cost !== undefined && rule.cost !== 'requests' && rule.cost !== 'tokens') {
    throw ruleError(i, `${at}: cost must be "requests" or "tokens"; got ${JSON.stringify(rule.cost)}.`);
  }
  for (const [field, globs] of Object.entries(rule.match ?? {})) {
    if (!['backends', 'tools', 'models', 'principals'].includes(field)) throw ruleError(i, `${at}: match.${field} is not a known field.`);
    if (!Array.isArray(globs) || globs.some((g) => typeof g !== 'string' || g === '')) {
      throw ruleError(i, `${at}: match.${field} must be a list of non-empty glob strings.`);
    }
  }
}

function ruleError(i: number, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `rateLimits.rules[${i}]: ${message}`);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
