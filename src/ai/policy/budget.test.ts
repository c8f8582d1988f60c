import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../../errors/catalogue.js';
import { createBudgets, periodOf, type BudgetRule } from './budget.js';

function clock(iso: string): { now: () => number; set(iso: string): void } {
  let t = Date.parse(iso);
  return { now: () => t, set: (v) => (t = Date.parse(v)) };
}

describe('periodOf', () => {
  it('uses UTC days and calendar months', () => {
    const at = Date.parse('2026-02-28T23:59:59.999Z');
    expect(periodOf('day', at)).toEqual({ start: Date.parse('2026-02-28T00:00:00Z'), end: Date.parse('2026-03-01T00:00:00Z') });
    expect(periodOf('month', at)).toEqual({ start: Date.parse('2026-02-01T00:00:00Z'), end: Date.parse('2026-03-01T00:00:00Z') });
    expect(periodOf('month', Date.parse('2026-12-15T12:00:00Z')).end).toBe(Date.parse('2027-01-01T00:00:00Z'));
  });
});

describe('createBudgets', () => {
  it('refuses once the day limit is reached, with rule, amounts and reset time; resets at 00:00 UTC', () => {
    const c = clock('2026-11-24T22:00:00Z');
    const b = createBudgets({ rules: [{ name: 'daily', per: 'day', limitUsd: 1 }], now: c.now });
    expect(b.check('alice', 'gpt-4o')).toEqual({ allowed: true });
    b.charge('alice', 'gpt-4o', 0.6);
    expect(b.check('alice', 'gpt-4o').allowed).toBe(true);
    b.charge('alice', 'gpt-4o', 0.4);
    expect(b.check('alice', 'gpt-4o')).toEqual({ allowed: false, rule: 'daily', limitUsd: 1, spentUsd: 1, resetsAt: new Date('2026-11-25T00:00:00Z') });
    c.set('2026-11-24T23:59:59.999Z');
    expect(b.check('alice', 'gpt-4o').allowed).toBe(false);
    c.set('2026-11-25T00:00:00Z');
    expect(b.check('alice', 'gpt-4o')).toEqual({ allowed: true });
  });

  it('keeps month spend across days and resets on the 1st (UTC)', () => {
    const c = clock('2026-01-31T23:00:00Z');
    const b = createBudgets({ rules: [{ name: 'monthly', per: 'month', limitUsd: 10 }], now: c.now });
    b.charge('bob', 'm', 6);
    c.set('2026-01-15T00:00:00Z'); // same month, another day
    b.charge('bob', 'm', 4);
    c.set('2026-01-31T23:59:59Z');
    const refused = b.check('bob', 'm');
    expect(refused).toMatchObject({ allowed: false, rule: 'monthly', spentUsd: 10, resetsAt: new Date('2026-02-01T00:00:00Z') });
    c.set('2026-02-01T00:00:00Z');
    expect(b.check('bob', 'm').allowed).toBe(true);
    b.charge('bob', 'm', 1);
    expect(b.check('bob', 'm').allowed).toBe(true);
  });

  it('isolates principals', () => {
    const b = createBudgets({ rules: [{ name: 'd', per: 'day', limitUsd: 1 }], now: () => 0 });
    b.charge('alice', 'm', 5);
    expect(b.check('alice', 'm').allowed).toBe(false);
    expect(b.check('bob', 'm')).toEqual({ allowed: true });
  });

  it('applies rules only to matching principals and models (exact or prefix*), first refusing rule reported', () => {
    const rules: BudgetRule[] = [
      { name: 'interns-opus', per: 'day', limitUsd: 0.5, match: { principals: ['intern-*'], models: ['claude-opus-*'] } },
      { name: 'everyone', per: 'month', limitUsd: 2 },
    ];
    const b = createBudgets({ rules, now: () => Date.parse('2026-11-24T10:00:00Z') });
    b.charge('intern-1', 'claude-opus-4-5', 0.5);
    expect(b.check('intern-1', 'claude-opus-4-5')).toMatchObject({ allowed: false, rule: 'interns-opus', spentUsd: 0.5, limitUsd: 0.5 });
    expect(b.check('intern-1', 'gpt-4o-mini')).toEqual({ allowed: true }); // only "everyone" applies: 0.5 of 2
    b.charge('intern-1', 'gpt-4o-mini', 1.5); // counts for "everyone" only
    expect(b.check('intern-1', 'gpt-4o-mini')).toMatchObject({ allowed: false, rule: 'everyone', spentUsd: 2, resetsAt: new Date('2026-12-01T00:00:00Z') });
    expect(b.check('staff', 'claude-opus-4-5')).toEqual({ allowed: true });
  });

  it('sums without float drift and ignores non-positive charges', () => {
    const b = createBudgets({ rules: [{ name: 'd', per: 'day', limitUsd: 0.3 }], now: () => 0 });
    b.charge('a', 'm', 0.1);
    b.charge('a', 'm', 0.2);
    b.charge('a', 'm', -5);
    b.charge('a', 'm', Number.NaN);
    expect(b.check('a', 'm')).toMatchObject({ allowed: false, spentUsd: 0.3 });
  });

  it('a zero limit refuses from the start', () => {
    const b = createBudgets({ rules: [{ name: 'off', per: 'day', limitUsd: 0 }], now: () => 0 });
    expect(b.check('a', 'm')).toMatchObject({ allowed: false, rule: 'off', spentUsd: 0 });
  });

  it('rejects bad rules, naming the index and field', () => {
    const msg = (rules: unknown[]): string => {
      try {
        createBudgets({ rules: rules as BudgetRule[] });
      } catch (e) {
        expect(e).toBeInstanceOf(GatehouseError);
        return (e as GatehouseError).message;
      }
      throw new Error('expected a throw');
    };
    expect(msg([{ name: 'a', per: 'week', limitUsd: 1 }])).toContain('ai.budgets[0].per');
    expect(msg([{ name: 'a', per: 'day', limitUsd: 1 }, { name: 'a', per: 'day', limitUsd: 1 }])).toContain('ai.budgets[1].name "a" is used');
    expect(msg([{ name: 'a', per: 'day', limitUsd: -1 }])).toContain('ai.budgets[0].limitUsd');
  });
});
