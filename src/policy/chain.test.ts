import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { silentLogger } from '../log/logger.js';
import type { CallContext, Principal } from '../call/context.js';
import type { GatehouseConfig, PolicyEntryConfig } from '../config/schema.js';
import { createBackendGuards } from '../limits/backend-guards.js';
import { callContext, modelContext } from '../../test/helpers/call-context.js';
import { createChain, type ChainConfig, type ChainDeps } from './chain.js';
import { compileRules } from './rules.js';
import type { RuleConfig } from '../config/schema.js';

const log = silentLogger();
const alice: Principal = { id: 'alice', kind: 'api-key', scopes: ['shop:read'], groups: [] };
const premium: Principal = { id: 'pat', kind: 'api-key', groups: ['premium'] };

const rateLimits = (rules: GatehouseConfig['rateLimits']['rules'] = []): GatehouseConfig['rateLimits'] => ({ store: 'memory', onStoreError: 'open', rules });

function chainOf(over: Partial<ChainConfig> = {}, deps: Partial<ChainDeps> & { rules?: RuleConfig[] } = {}) {
  const seen: CallContext[] = [];
  const chain = createChain(
    { policies: [], rateLimits: rateLimits(), audit: { durability: 'batched', store: 'sqlite' }, ...over },
    {
      log,
      authorizer: deps.rules === undefined ? undefined : compileRules(deps.rules),
      backendGuards: deps.backendGuards ?? createBackendGuards([], { log, metrics: undefined }),
      redis: undefined,
      metrics: undefined,
      auditHealthy: deps.auditHealthy ?? (() => true),
      observers: deps.observers ?? [(ctx) => void seen.push(ctx)],
    },
  );
  return { chain, seen };
}

/** Runs one call through the chain with a forward step that answers `ok` and reports `usage`/`cost`, then ends it. */
async function call(chain: ReturnType<typeof chainOf>['chain'], ctx: CallContext, report: Partial<CallContext['outcome']> = {}): Promise<string | GatehouseError> {
  let result: string | GatehouseError;
  try {
    result = await chain.run(ctx, async () => {
      ctx.outcome.sent = true;
      Object.assign(ctx.outcome, report);
      return 'ok';
    });
  } catch (err) {
    if (!(err instanceof GatehouseError)) throw err;
    ctx.outcome.errorCode = err.code;
    result = err;
  }
  await chain.finish(ctx);
  return result;
}

const codeOf = (r: string | GatehouseError): string => (typeof r === 'string' ? r : r.code);

describe('the chain', () => {
  it('runs its stages in the documented order, those configured only', () => {
    expect(chainOf().chain.stages).toEqual(['authenticate', 'validate', 'protect', 'forward']);
    const full = chainOf(
      {
        rateLimits: rateLimits([{ name: 'rpm', key: ['principal'], limit: 10, window: '1m', cost: 'requests' }]),
        audit: { durability: 'sync', store: 'sqlite' },
        policies: [{ budget: { name: 'daily', per: 'day', limitUsd: 1 } }, { guard: { maxChars: 10 } }, { redact: { patterns: ['x'] } }],
      },
      { rules: [{ allow: {} }] },
    );
    expect(full.chain.stages).toEqual(['authenticate', 'authorize', 'rateLimit', 'auditDurability', 'budget', 'validate', 'guard', 'redact', 'protect', 'forward']);
  });

  it('refuses policies[] listed out of the chain order, naming the entry', () => {
    const build = (policies: PolicyEntryConfig[]) => () => chainOf({ policies });
    expect(build([{ guard: { maxChars: 1 } }, { rateLimit: { name: 'r', key: ['principal'], limit: 1, window: '1m', cost: 'requests' } }])).toThrow(
      /policies\[1\]: rateLimit is listed after guard, but runs before it/,
    );
    expect(build([{ validate: false }, { validate: { when: 'true' } }])).toThrow(/policies\[1\]: validate is listed twice/);
  });

  it('refuses a rate limit or budget name used twice, across the sections that declare them', () => {
    const rpm = { name: 'rpm', key: ['principal' as const], limit: 1, window: '1m', cost: 'requests' as const };
    expect(() => chainOf({ rateLimits: rateLimits([rpm]), policies: [{ rateLimit: rpm }] })).toThrow(/policies\[0\]\.rateLimit\.name: "rpm" is the name of rateLimits\.rules\[0\] too/);
    const daily = { name: 'daily', per: 'day' as const, limitUsd: 1 };
    expect(() => chainOf({ ai: { budgets: [daily], budgetStore: 'memory', guards: {} }, policies: [{ budget: daily }] })).toThrow(/policies\[0\]\.budget\.name: "daily" is the name of ai\.budgets\[0\] too/);
  });

  it('ends a call: the work stages left first, then every observer, once', async () => {
    const order: string[] = [];
    const { chain } = chainOf({}, { observers: [() => void order.push('observer')] });
    const ctx = callContext();
    await chain.run(ctx, async () => {
      (ctx.onFinish ??= []).push(() => order.push('settle'));
      return 'ok';
    });
    await chain.finish(ctx);
    expect(order).toEqual(['settle', 'observer']);
  });

  it('holds the end of a call for an observer that returns a promise (durable audit)', async () => {
    const { chain } = chainOf({}, { observers: [() => Promise.reject(new Error('not committed'))] });
    await expect(chain.finish(callContext())).rejects.toThrow('not committed');
  });

  it('tells observers of a request refused at the edge, without a principal it could not identify', () => {
    const { chain, seen } = chainOf();
    chain.refused({ kind: 'tool', requestId: 'r9', errorCode: 'GH_AUTH_INVALID', tool: 'shop_list', startedAt: Date.now(), started: performance.now() });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ requestId: 'r9', target: 'shop_list', outcome: { errorCode: 'GH_AUTH_INVALID', refusedAtEdge: true, principalUnknown: true } });
  });
});

describe('authorize', () => {
  const rules: RuleConfig[] = [{ allow: { principals: { scopes: ['shop:read'] }, methods: ['GET'] } }, { allow: { principals: { scopes: ['shop:write'] }, backends: ['shop'] } }];

  it('lets an allowed call through and refuses another with the scope that would allow it', async () => {
    const { chain } = chainOf({}, { rules });
    expect(await call(chain, callContext({ principal: alice }))).toBe('ok');
    const refused = await call(chain, callContext({ principal: alice, target: 'shop_create', method: 'POST', readOnly: false }));
    expect(refused).toBeInstanceOf(GatehouseError);
    expect((refused as GatehouseError).details).toMatchObject({ kind: 'tool', target: 'shop_create', error: 'insufficient_scope', scope: 'shop:write' });
  });

  it('applies a rule only where its when: condition holds', async () => {
    const { chain } = chainOf({}, { rules: [{ allow: {} }, { deny: { models: ['*'] }, when: "call.kind == 'model'" }] });
    expect(await call(chain, callContext())).toBe('ok');
    expect(codeOf(await call(chain, modelContext('gpt-4o')))).toBe('GH_POLICY_DENIED');
  });
});

describe('rateLimit', () => {
  it('stacks token windows: each counts every call, the one that runs out refuses', async () => {
    const { chain } = chainOf({
      policies: [
        { rateLimit: { name: 'tokens-per-minute', key: ['principal'], limit: 100, window: '1m', cost: 'tokens' } },
        { rateLimit: { name: 'tokens-per-hour', key: ['principal'], limit: 150, window: '1h', cost: 'tokens' } },
      ],
    });
    const used = { usage: { input: 50, output: 30 } };
    expect(await call(chain, modelContext('gpt-4o', { principal: alice, tokens: 80 }), used)).toBe('ok');
    expect(await call(chain, modelContext('gpt-4o', { principal: alice, tokens: 80 }), used)).toBe('ok');
    // 160 tokens used: past both windows; the longer wait (the hour's) is the one reported.
    const refused = (await call(chain, modelContext('gpt-4o', { principal: alice, tokens: 80 }))) as GatehouseError;
    expect(refused.code).toBe('GH_RATE_LIMITED');
    expect(refused.details).toMatchObject({ rule: 'tokens-per-hour' });
    const states = (await chain.limiter!.check({ principal: 'alice', backend: 'main', model: 'gpt-4o' })).states;
    expect(states.map((s) => [s.rule, s.remaining])).toEqual([
      ['tokens-per-minute', 0],
      ['tokens-per-hour', 0],
    ]);
    // Another caller has buckets of its own.
    expect(await call(chain, modelContext('gpt-4o', { principal: premium, tokens: 80 }), used)).toBe('ok');
  });

  it('gives a reservation back whole when a later stage refuses the call, and settles it with the real usage otherwise', async () => {
    const { chain } = chainOf({
      policies: [{ rateLimit: { name: 'tpm', key: ['principal'], limit: 1000, window: '1m', cost: 'tokens' } }, { guard: { blockedPatterns: ['secret'] } }],
    });
    const remaining = async () => (await chain.limiter!.check({ principal: 'alice', backend: 'main', model: 'm' })).states[0]!.remaining;
    const blocked = modelContext('m', { principal: alice, tokens: 400, request: { model: 'm', messages: [{ role: 'user', content: 'the secret' }] } });
    expect(codeOf(await call(chain, blocked))).toBe('GH_AI_GUARD_BLOCKED');
    expect(await remaining()).toBe(1000);
    const ok = modelContext('m', { principal: alice, tokens: 400, request: { model: 'm', messages: [{ role: 'user', content: 'hello' }] } });
    expect(await call(chain, ok, { usage: { input: 10, output: 20 } })).toBe('ok');
    expect(await remaining()).toBe(970);
  });

  it('counts only the calls a when: condition selects', async () => {
    const { chain } = chainOf({ policies: [{ rateLimit: { name: 'premium-rpm', key: ['principal'], limit: 1, window: '1m', cost: 'requests', when: "'premium' in principal.groups" } }] });
    expect(await call(chain, callContext({ principal: premium }))).toBe('ok');
    expect(codeOf(await call(chain, callContext({ principal: premium })))).toBe('GH_RATE_LIMITED');
    for (let i = 0; i < 3; i++) expect(await call(chain, callContext({ principal: alice }))).toBe('ok');
  });
});

describe('budget', () => {
  it('refuses a model call once the budget is spent, charged with each call’s cost; tool calls pass', async () => {
    const { chain } = chainOf({ policies: [{ budget: { name: 'tiny', per: 'day', limitUsd: 0.001 } }] });
    expect(await call(chain, modelContext('gpt-4o', { principal: alice }), { costUsd: 0.002 })).toBe('ok');
    const refused = (await call(chain, modelContext('gpt-4o', { principal: alice }))) as GatehouseError;
    expect(refused.code).toBe('GH_AI_BUDGET_EXCEEDED');
    expect(refused.details).toMatchObject({ rule: 'tiny', limitUsd: 0.001 });
    expect(await call(chain, callContext({ principal: alice }))).toBe('ok');
  });
});

describe('validate', () => {
  const invalid = () => new GatehouseError('GH_TOOL_ARGS_INVALID', 'bad');

  it('refuses with the protocol’s own error; `validate: false` leaves tool arguments to the backend but still checks model requests', async () => {
    expect(codeOf(await call(chainOf().chain, callContext({ validate: invalid })))).toBe('GH_TOOL_ARGS_INVALID');
    const off = chainOf({ policies: [{ validate: false }] }).chain;
    expect(await call(off, callContext({ validate: invalid }))).toBe('ok');
    const badModel = () => new GatehouseError('GH_AI_REQUEST_INVALID', 'no messages');
    expect(codeOf(await call(off, modelContext('m', { validate: badModel })))).toBe('GH_AI_REQUEST_INVALID');
  });

  it('checks tool arguments only where its when: holds', async () => {
    const { chain } = chainOf({ policies: [{ validate: { when: "'premium' in principal.groups" } }] });
    expect(codeOf(await call(chain, callContext({ principal: premium, validate: invalid })))).toBe('GH_TOOL_ARGS_INVALID');
    expect(await call(chain, callContext({ principal: alice, validate: invalid }))).toBe('ok');
  });
});

describe('guard', () => {
  it('checks string arguments of tool calls at any depth, naming the path, never the text', async () => {
    const { chain } = chainOf({ policies: [{ guard: { blockedPatterns: ['sk-[a-z0-9]{8}'], maxChars: 50 } }] });
    const blocked = (await call(chain, callContext({ args: { items: [{ note: 'use sk-abcdefgh' }] } }))) as GatehouseError;
    expect(blocked.code).toBe('GH_TOOL_GUARD_BLOCKED');
    expect(blocked.details).toEqual({ limit: 'blockedPatterns', patternIndex: 0, path: 'items[0].note' });
    expect(blocked.message).not.toContain('sk-abcdefgh');
    expect(codeOf(await call(chain, callContext({ args: { a: 'x'.repeat(30), b: 'y'.repeat(30) } })))).toBe('GH_TOOL_GUARD_SIZE');
    expect(await call(chain, callContext({ args: { a: 'harmless', n: 3 } }))).toBe('ok');
  });

  it('checks model prompts with the same patterns; ai.guards guards prompts only', async () => {
    const both = chainOf({ policies: [{ guard: { blockedPatterns: ['forbidden'] } }] }).chain;
    const prompt = { model: 'm', messages: [{ role: 'user', content: 'a FORBIDDEN word' }] };
    expect(codeOf(await call(both, modelContext('m', { request: prompt })))).toBe('GH_AI_GUARD_BLOCKED');
    const aiOnly = chainOf({ ai: { budgets: [], budgetStore: 'memory', guards: { blockedPatterns: ['forbidden'] } } }).chain;
    expect(codeOf(await call(aiOnly, modelContext('m', { request: prompt })))).toBe('GH_AI_GUARD_BLOCKED');
    expect(await call(aiOnly, callContext({ args: { q: 'forbidden' } }))).toBe('ok');
  });
});

describe('redact', () => {
  it('hands the protocol a redactor: one instance’s, or one over every instance that applies', async () => {
    const { chain } = chainOf({ policies: [{ redact: { patterns: ['sk-\\w+'] } }, { redact: { patterns: ['\\d{3}-\\d{4}'], when: "'premium' in principal.groups" } }] });
    const plain = callContext({ principal: alice });
    await call(chain, plain);
    expect(plain.redactor!.text('sk-abc and 555-1234')).toBe('[REDACTED] and 555-1234');
    const both = callContext({ principal: premium });
    await call(chain, both);
    expect(both.redactor!.text('sk-abc and 555-1234')).toBe('[REDACTED] and [REDACTED]');
  });
});

describe('protect', () => {
  it('opens a backend’s circuit on its own failures; an open circuit refuses without forwarding', async () => {
    const backendGuards = createBackendGuards([{ name: 'shop', maxConcurrent: 4, maxQueued: 0, queueTimeoutMs: 100, circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 } }], {
      log,
      metrics: undefined,
    });
    const { chain } = chainOf({}, { backendGuards });
    expect(await call(chain, callContext(), { status: 503 })).toBe('ok');
    let forwarded = false;
    const ctx = callContext();
    const err = await chain
      .run(ctx, async () => {
        forwarded = true;
        return 'ok';
      })
      .catch((e: unknown) => e);
    expect((err as GatehouseError).code).toBe('GH_BACKEND_UNAVAILABLE');
    expect(forwarded).toBe(false);
  });
});
