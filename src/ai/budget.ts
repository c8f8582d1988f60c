/**
 * Spend budgets: USD per principal per UTC day or month. Checked before a call, charged
 * after it with the call's actual cost. This implementation keeps the counters in memory
 * (one instance, lost on restart); `Budgets` is the seam for a shared store: a Redis one
 * keys counters with `budgetKey` and lets them expire at `periodOf(...).end` (INCRBYFLOAT
 * + EXPIREAT), and its methods return promises, which callers already await.
 *
 * Budgets are soft by design: the check happens before the cost is known, so calls that
 * start under the limit may together overshoot it by what they cost. Refusing at the
 * moment a stream crosses the limit would cut answers the caller has partly received.
 */
import { GatehouseError } from '../errors/catalogue.js';

export interface BudgetRule {
  /** Unique; names the rule in refusals and counter keys. */
  name: string;
  per: 'day' | 'month';
  limitUsd: number;
  /** Which calls the rule applies to; absent lists match all. Entries are exact names or `prefix*`. */
  match?: { principals?: string[]; models?: string[] };
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
  check(principal: string, model: string): BudgetDecision | Promise<BudgetDecision>;
  charge(principal: string, model: string, usd: number): void | Promise<void>;
}

export interface MemoryBudgets extends Budgets {
  check(principal: string, model: string): BudgetDecision;
  charge(principal: string, model: string, usd: number): void;
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

/** The counter key of one principal under one rule in one period. */
export function budgetKey(rule: string, principal: string, periodStart: number): string {
  return `${rule}\u0000${principal}\u0000${periodStart}`;
}

/** Exact name or `prefix*`. */
function matches(patterns: readonly string[] | undefined, value: string): boolean {
  if (patterns === undefined) return true;
  return patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : p === value));
}

export function createBudgets(options: BudgetOptions): MemoryBudgets {
  const path = options.configPath ?? 'ai.budgets';
  const now = options.now ?? Date.now;
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

  // Per rule and principal: the spend of the current period. A counter from an earlier
  // period is reset when next touched, so no timer is needed; memory grows with the
  // number of distinct principals, which authentication bounds.
  const spent = new Map<string, { periodStart: number; usd: number }>();
  const applicable = (principal: string, model: string): BudgetRule[] =>
    rules.filter((r) => matches(r.match?.principals, principal) && matches(r.match?.models, model));
  const current = (rule: BudgetRule, principal: string, at: number): { key: string; start: number; end: number; usd: number } => {
    const { start, end } = periodOf(rule.per, at);
    const key = `${rule.name}\u0000${principal}`;
    const entry = spent.get(key);
    return { key, start, end, usd: entry !== undefined && entry.periodStart === start ? entry.usd : 0 };
  };

  return {
    check(principal, model) {
      const at = now();
      for (const rule of applicable(principal, model)) {
        const c = current(rule, principal, at);
        if (c.usd >= rule.limitUsd) {
          return { allowed: false, rule: rule.name, limitUsd: rule.limitUsd, spentUsd: round(c.usd), resetsAt: new Date(c.end) };
        }
      }
      return { allowed: true };
    },
    charge(principal, model, usd) {
      if (!Number.isFinite(usd) || usd <= 0) return;
      const at = now();
      for (const rule of applicable(principal, model)) {
        const c = current(rule, principal, at);
        spent.set(c.key, { periodStart: c.start, usd: c.usd + usd });
      }
    },
  };
}

/** Sums of float costs drift (0.1 + 0.2); report to 1e-9 USD like costUsd. */
function round(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}
