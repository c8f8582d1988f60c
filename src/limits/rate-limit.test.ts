import { afterEach, describe, expect, it, vi } from 'vitest';
import { isGatehouseError } from '../errors/catalogue.js';
import { bucketKey, createRateLimiter, globMatcher, rateLimitHeaders, type LimitDecision, type LimitSubject, type RateLimitRule } from './rate-limit.js';

const alice: LimitSubject = { principal: 'alice', backend: 'petstore', tool: 'petstore_list_pets' };

function memory(rules: RateLimitRule[]) {
  return createRateLimiter({ rules, store: { type: 'memory' }, onStoreError: 'open' });
}

async function allowedCount(check: () => Promise<LimitDecision>, times: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < times; i++) if ((await check()).allowed) n++;
  return n;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createRateLimiter (memory)', () => {
  it('gives each principal its own bucket', async () => {
    const rl = memory([{ name: 'per-principal', key: ['principal'], limit: 3, windowSeconds: 60 }]);
    expect(await allowedCount(() => rl.check(alice), 5)).toBe(3);
    expect(await allowedCount(() => rl.check({ ...alice, principal: 'bob' }), 5)).toBe(3);
  });

  it('keys by every listed part: same principal, another backend is another bucket', async () => {
    const rl = memory([{ name: 'pb', key: ['principal', 'backend'], limit: 2, windowSeconds: 60 }]);
    expect(await allowedCount(() => rl.check(alice), 4)).toBe(2);
    expect(await allowedCount(() => rl.check({ ...alice, backend: 'weather' }), 4)).toBe(2);
    // Tool is not part of the key: another tool on the same backend shares the spent bucket.
    expect((await rl.check({ ...alice, tool: 'petstore_add_pet' })).allowed).toBe(false);
  });

  it('one global bucket for key []', async () => {
    const rl = memory([{ name: 'global', key: [], limit: 4, windowSeconds: 60 }]);
    let n = 0;
    for (const principal of ['a', 'b', 'c', 'd', 'e', 'f']) if ((await rl.check({ ...alice, principal })).allowed) n++;
    expect(n).toBe(4);
  });

  it('bucket keys cannot collide through separators', () => {
    const rule = { key: ['principal', 'backend'] as const };
    const k1 = bucketKey({ key: [...rule.key] }, { principal: 'a:b', backend: 'c' });
    const k2 = bucketKey({ key: [...rule.key] }, { principal: 'a', backend: 'b:c' });
    expect(k1).not.toBe(k2);
  });

  it('applies a rule only to calls its match globs select', async () => {
    const rl = memory([
      { name: 'pets-writes', key: ['principal'], limit: 1, windowSeconds: 60, match: { backends: ['pet*'], tools: ['*_add_*', '*_delete_*'] } },
    ]);
    const add = { ...alice, tool: 'petstore_add_pet' };
    expect((await rl.check(add)).allowed).toBe(true);
    expect((await rl.check(add)).allowed).toBe(false);
    // Not matched: another tool, another backend, or no tool at all.
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(3);
    expect(await allowedCount(() => rl.check({ principal: 'alice', backend: 'weather', tool: 'weather_add_city' }), 3)).toBe(3);
    const noTool = await rl.check({ principal: 'alice', backend: 'petstore' });
    expect(noTool).toEqual({ allowed: true, states: [] });
  });

  it('matches principals and models', async () => {
    const rl = memory([{ name: 'bots', key: ['principal', 'model'], limit: 1, windowSeconds: 60, match: { principals: ['bot-*'], models: ['gpt-*'] } }]);
    const bot = { principal: 'bot-7', backend: 'openai', model: 'gpt-5' };
    expect(await allowedCount(() => rl.check(bot), 3)).toBe(1);
    expect(await allowedCount(() => rl.check({ ...bot, model: 'claude-x' }), 3)).toBe(3);
    expect(await allowedCount(() => rl.check({ ...bot, principal: 'human' }), 3)).toBe(3);
  });

  it('refills when the window ends', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const rl = memory([{ name: 'w', key: ['principal'], limit: 2, windowSeconds: 10 }]);
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(2);
    vi.advanceTimersByTime(9_000);
    expect((await rl.check(alice)).allowed).toBe(false);
    vi.advanceTimersByTime(1_001);
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(2);
  });

  it('reports retryAfterMs as the time left in the window, and the states', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const rl = memory([{ name: 'per-principal', key: ['principal'], limit: 2, windowSeconds: 60 }]);
    const first = await rl.check(alice);
    expect(first).toEqual({ allowed: true, states: [{ rule: 'per-principal', limit: 2, remaining: 1, resetMs: 60_000, windowSeconds: 60 }] });
    await rl.check(alice);
    vi.advanceTimersByTime(15_000);
    const refused = await rl.check(alice);
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.rule).toBe('per-principal');
    expect(refused.retryAfterMs).toBe(45_000);
    expect(refused.states).toEqual([{ rule: 'per-principal', limit: 2, remaining: 0, resetMs: 45_000, windowSeconds: 60 }]);
  });

  it('refunds the other rules when one refuses, so refused calls do not drain shared buckets', async () => {
    const rl = memory([
      { name: 'per-principal', key: ['principal'], limit: 2, windowSeconds: 60 },
      { name: 'global', key: [], limit: 5, windowSeconds: 60 },
    ]);
    // alice spends her 2, then is refused 10 times by per-principal.
    expect(await allowedCount(() => rl.check(alice), 12)).toBe(2);
    // The global bucket lost only alice's 2 allowed calls: 3 left for everyone else.
    let others = 0;
    for (let i = 0; i < 6; i++) if ((await rl.check({ ...alice, principal: `p${i}` })).allowed) others++;
    expect(others).toBe(3);
    const last = await rl.check({ ...alice, principal: 'zed' });
    expect(last.allowed === false && last.rule).toBe('global');
  });

  it('token rules refuse only once charge() has spent the bucket', async () => {
    const rl = memory([
      { name: 'tokens-per-principal', key: ['principal'], limit: 1000, windowSeconds: 60, cost: 'tokens' },
      { name: 'requests', key: ['principal'], limit: 100, windowSeconds: 60 },
    ]);
    const llm = { principal: 'alice', backend: 'openai', model: 'gpt-5' };
    // check() does not consume tokens.
    expect(await allowedCount(() => rl.check(llm), 20)).toBe(20);
    const fresh = await rl.check(llm);
    expect(fresh.states.find((s) => s.rule === 'tokens-per-principal')).toMatchObject({ remaining: 1000, limit: 1000 });
    await rl.charge(llm, 600);
    const partly = await rl.check(llm);
    expect(partly.allowed).toBe(true);
    expect(partly.states.find((s) => s.rule === 'tokens-per-principal')?.remaining).toBe(400);
    // Overshoot is allowed once (the cost is only known afterwards)…
    await rl.charge(llm, 450.2);
    const refused = await rl.check(llm);
    expect(refused.allowed).toBe(false);
    expect(refused.allowed === false && refused.rule).toBe('tokens-per-principal');
    expect(refused.allowed === false && refused.retryAfterMs).toBeGreaterThan(55_000);
    // …and refused calls do not spend request points: 22 allowed checks so far, whatever the refusals.
    expect(refused.states.find((s) => s.rule === 'requests')?.remaining).toBe(78);
    const again = await rl.check(llm);
    expect(again.states.find((s) => s.rule === 'requests')?.remaining).toBe(78);
    // Another principal is unaffected.
    expect((await rl.check({ ...llm, principal: 'bob' })).allowed).toBe(true);
  });

  it('charge() ignores request rules, zero and NaN', async () => {
    const rl = memory([{ name: 'requests', key: ['principal'], limit: 2, windowSeconds: 60 }]);
    await rl.charge(alice, 50);
    await rl.charge(alice, 0);
    await rl.charge(alice, Number.NaN);
    await rl.charge(alice, -5);
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(2);
  });

  it('a negative charge refunds a reservation: reserve an estimate, settle with the real usage', async () => {
    const rl = memory([{ name: 'tpm', key: ['principal'], limit: 1000, windowSeconds: 60, cost: 'tokens' }]);
    const llm = { principal: 'alice', backend: 'openai', model: 'gpt-5' };
    await rl.charge(llm, 900); // reserved before the call
    expect((await rl.check(llm)).states[0]?.remaining).toBe(100);
    await rl.charge(llm, 120 - 900); // the call used 120
    expect((await rl.check(llm)).states[0]?.remaining).toBe(880);
  });

  it('rejects bad rules, naming the rule and field', () => {
    const bad = (rule: Partial<RateLimitRule>) => () => memory([{ name: 'r', key: [], limit: 1, windowSeconds: 1, ...rule } as RateLimitRule]);
    expect(bad({ limit: 0 })).toThrow(/rateLimits\.rules\[0\]: "r": limit must be a positive integer/);
    expect(bad({ windowSeconds: 0.5 })).toThrow(/windowSeconds/);
    expect(bad({ key: ['ip' as never] })).toThrow(/key must be a list/);
    expect(bad({ name: 'a b' })).toThrow(/name must be/);
    expect(bad({ match: { tools: [''] } })).toThrow(/match\.tools/);
    expect(() =>
      memory([
        { name: 'x', key: [], limit: 1, windowSeconds: 1 },
        { name: 'x', key: [], limit: 1, windowSeconds: 1 },
      ]),
    ).toThrow(/rules\[1\]: name "x" is used by another rule/);
    try {
      bad({ limit: -1 })();
    } catch (err) {
      expect(isGatehouseError(err) && err.code).toBe('GH_CONFIG_INVALID');
    }
  });
});

describe('globMatcher', () => {
  it.each([
    [['pet*'], 'petstore', true],
    [['pet*'], 'carpet', false],
    [['*'], 'anything/with/slashes', true],
    [['a.b'], 'aXb', false],
    [['x', 'y*'], 'yes', true],
    [[], 'x', false],
  ])('%j matches %s: %s', (globs, value, expected) => {
    expect(globMatcher(globs)(value)).toBe(expected);
  });
});

describe('rateLimitHeaders', () => {
  it('refused: Retry-After in whole seconds (rounded up) and the refusing rule', () => {
    const headers = rateLimitHeaders({
      allowed: false,
      rule: 'per-principal',
      retryAfterMs: 29_001,
      states: [
        { rule: 'global', limit: 1000, remaining: 10, resetMs: 50_000, windowSeconds: 60 },
        { rule: 'per-principal', limit: 60, remaining: 0, resetMs: 29_001, windowSeconds: 60 },
      ],
    });
    expect(headers).toEqual({
      'Retry-After': '30',
      'RateLimit-Policy': '"per-principal";q=60;w=60',
      RateLimit: '"per-principal";r=0;t=30',
    });
  });

  it('never says Retry-After: 0', () => {
    const headers = rateLimitHeaders({ allowed: false, rule: 'r', retryAfterMs: 3, states: [{ rule: 'r', limit: 1, remaining: 0, resetMs: 3, windowSeconds: 1 }] });
    expect(headers['Retry-After']).toBe('1');
  });

  it('allowed: the rule with the smallest share left, no Retry-After', () => {
    const headers = rateLimitHeaders({
      allowed: true,
      states: [
        { rule: 'global', limit: 1000, remaining: 900, resetMs: 50_000, windowSeconds: 60 },
        { rule: 'per-principal', limit: 60, remaining: 6, resetMs: 12_300, windowSeconds: 60 },
      ],
    });
    expect(headers).toEqual({ 'RateLimit-Policy': '"per-principal";q=60;w=60', RateLimit: '"per-principal";r=6;t=13' });
  });

  it('no rule applied: no fields', () => {
    expect(rateLimitHeaders({ allowed: true, states: [] })).toEqual({});
  });
});
