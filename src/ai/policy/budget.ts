/**
 * Spend budgets: USD per principal per UTC day or month. Checked before a call, charged
 * after it with the call's actual cost. Two stores behind `Budgets`: in memory (one
 * process, lost on restart) and Redis (`ai.budgetStore: redis`: one count for a fleet).
 *
 * Budgets are soft by design: the check happens before the cost is known, so calls that
 * start under the limit may together overshoot it by what they cost. Refusing at the
 * moment a stream crosses the limit would cut answers the caller has partly received.
 */
import type { Redis } from 'ioredis';
import { GatehouseError } from '../../errors/catalogue.js';

export interface BudgetRule {
  /** Unique; names the rule in refusals and counter keys. */
  name: string;
  per: 'day' | 'month';
  limitUsd: number;
  /** Which calls the rule applies to; absent lists match all. Entries are exact names or `prefix*`. */
  match?: { principals?: string[]; models?: string[] };
  /** A compiled `when:` condition (conditions/cel.ts) over the call: the rule counts only calls where it holds. */
  when?: (input: unknown) => boolean;
}

export type BudgetDecision =
  | { allowed: true }
  | {
      allowed: false;
      /** The rule's name. */
      rule: string;
      limitUsd: number;
      spentUsd: number;
      /** Start of the next period (UTC midnight, or the 1st of next month). */
      resetsAt: Date;
    };

/** What the proxy depends on; the in-memory implementation answers synchronously. */
export interface Budgets {
  /** `input`: what rules' `when` conditions read (rules with one do not apply without it). */
  check(principal: string, model: string, input?: unknown): BudgetDecision | Promise<BudgetDecision>;
  charge(principal: string, model: string, usd: number, input?: unknown): void | Promise<void>;
}

export interface MemoryBudgets extends Budgets {
  check(principal: string, model: string, input?: unknown): BudgetDecision;
  charge(principal: string, model: string, usd: number, input?: unknown): void;
}

export interface BudgetOptions {
  rules: readonly BudgetRule[];
  /** Clock in epoch milliseconds; injected by tests. */
  now?: () => number;
  /** Config path named in errors. Default "ai.budgets". */
  configPath?: string;
}

/** The UTC period containing `nowMs`: [start, end) in epoch milliseconds. */
export function periodOf(per: BudgetRule['per'], nowMs: number): { start: number; end: number } {
  const d = new Date(nowMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (per === 'month') return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  const day = d.getUTCDate();
  return { start: Date.UTC(y, m, day), end: Date.UTC(y, m, day + 1) };
}

/** Exact name or `prefix*`. */
function matches(patterns: readonly string[] | undefined, value: string): boolean {
  if (patterns === undefined) return true;
  return patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : p === value));
}

/** The rules, checked, and which of them apply to a call. */
function compileBudgetRules(options: BudgetOptions): { now: () => number; applicable: (principal: string, model: string, input: unknown) => BudgetRule[] } {
  const path = options.configPath ?? 'ai.budgets';
  const rules = [...options.rules];
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (typeof r.name !== 'string' || r.name === '') throw new GatehouseError('GH_CONFIG_INVALID', `${path}[${i}].name must be a non-empty string`);
    if (names.has(r.name)) throw new GatehouseError('GH_CONFIG_INVALID', `${path}[${i}].name "${r.name}" is used by another rule`);
    names.add(r.name);
    if (r.per !== 'day' && r.per !== 'month') throw new GatehouseError('GH_CONFIG_INVALID', `${path}[${i}].per must be "day" or "month", got ${JSON.stringify(r.per)}`);
    if (typeof r.limitUsd !== 'number' || !Number.isFinite(r.limitUsd) || r.limitUsd < 0) {
      throw new GatehouseError('GH_CONFIG_INVALID', `${path}[${i}].limitUsd must be a number ≥ 0, got ${JSON.stringify(r.limitUsd)}`);
    }
  });
  return {
    now: options.now ?? Date.now,
    applicable: (principal, model, input) =>
      rules.filter((r) => matches(r.match?.principals, principal) && matches(r.match?.models, model) && (r.when === undefined || (input !== undefined && r.when(input)))),
  };
}

/** The refusal of a rule whose period's spend reached its limit. */
function refusal(rule: BudgetRule, spentUsd: number, end: number): BudgetDecision {
  return { allowed: false, rule: rule.name, limitUsd: rule.limitUsd, spentUsd: round(spentUsd), resetsAt: new Date(end) };
}

export function createBudgets(options: BudgetOptions): MemoryBudgets {
  const { now, applicable } = compileBudgetRules(options);

  // Per rule and principal: the spend of the current period. A counter from an earlier
  // period is reset when next touched, so no timer is needed; memory grows with the
  // number of distinct principals, which authentication bounds.
  const spent = new Map<string, { periodStart: number; usd: number }>();
  const current = (rule: BudgetRule, principal: string, at: number): { key: string; start: number; end: number; usd: number } => {
    const { start, end } = periodOf(rule.per, at);
    const key = `${rule.name}\u0000${principal}`;
    const entry = spent.get(key);
    return { key, start, end, usd: entry !== undefined && entry.periodStart === start ? entry.usd : 0 };
  };

  return {
    check(principal, model, input) {
      const at = now();
      for (const rule of applicable(principal, model, input)) {
        const c = current(rule, principal, at);
        if (c.usd >= rule.limitUsd) return refusal(rule, c.usd, c.end);
      }
      return { allowed: true };
    },
    charge(principal, model, usd, input) {
      if (!Number.isFinite(usd) || usd <= 0) return;
      const at = now();
      for (const rule of applicable(principal, model, input)) {
        const c = current(rule, principal, at);
        spent.set(c.key, { periodStart: c.start, usd: c.usd + usd });
      }
    },
  };
}

export interface RedisBudgetOptions extends BudgetOptions {
  client: Redis;
  /** Key prefix. Default `gatehouse:budget`. */
  prefix?: string;
  /** Told when Redis cannot be read: the check lets the call through (budgets are soft). */
  onStoreError?: (err: unknown) => void;
}

/**
 * Budgets counted in Redis, one count for every replica: a counter per rule,
 * principal and period (`INCRBYFLOAT`), expiring a day after its period ends.
 * Redis unreachable: the check lets calls through (reported to `onStoreError`)
 * and the charge rejects, which the caller logs; the spend of that time is lost.
 */
export function createRedisBudgets(options: RedisBudgetOptions): Budgets {
  const { now, applicable } = compileBudgetRules(options);
  const { client } = options;
  const prefix = options.prefix ?? 'gatehouse:budget';
  // The principal is JSON-quoted: it may contain the separator.
  const keyOf = (rule: BudgetRule, principal: string, start: number) => `${prefix}:${rule.name}:${JSON.stringify(principal)}:${start}`;
  return {
    async check(principal, model, input) {
      const at = now();
      const rules = applicable(principal, model, input);
      if (rules.length === 0) return { allowed: true };
      const periods = rules.map((r) => periodOf(r.per, at));
      let values: Array<string | null>;
      try {
        values = await client.mget(rules.map((r, i) => keyOf(r, principal, periods[i]!.start)));
      } catch (err) {
        options.onStoreError?.(err);
        return { allowed: true };
      }
      for (const [i, rule] of rules.entries()) {
        const usd = Number(values[i] ?? 0);
        if (usd >= rule.limitUsd) return refusal(rule, usd, periods[i]!.end);
      }
      return { allowed: true };
    },
    async charge(principal, model, usd, input) {
      if (!Number.isFinite(usd) || usd <= 0) return;
      const at = now();
      const rules = applicable(principal, model, input);
      if (rules.length === 0) return;
      // A spend must not be lost to a connection still being made (or remade): wait a little for it.
      if (client.status !== 'ready') await whenReady(client, READY_WAIT_MS);
      const tx = client.multi();
      for (const rule of rules) {
        const { start, end } = periodOf(rule.per, at);
        const key = keyOf(rule, principal, start);
        tx.incrbyfloat(key, usd);
        tx.pexpireat(key, end + DAY_MS);
      }
      const results = await tx.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed !== undefined) throw failed[0];
    },
  };
}

const DAY_MS = 86_400_000;
const READY_WAIT_MS = 2_000;

/** Resolves when the client is connected, or after `ms` (the command then fails as it would have). */
function whenReady(client: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.once('ready', done);
  });
}

/** Sums of float costs drift (0.1 + 0.2); report to 1e-9 USD like costUsd. */
function round(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}
