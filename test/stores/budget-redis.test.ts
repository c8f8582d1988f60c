/**
 * USD budgets counted in the real Redis (`ai.budgetStore: redis`): one count
 * for a fleet. Two budget instances stand for two replicas; two gateways
 * sharing Redis show it end to end with the official OpenAI SDK. Each run uses
 * a key prefix or rule names of its own and deletes its keys.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBudgets } from '../../src/ai/policy/budget.js';
import { closeRedis, createRedisClient } from '../../src/limits/redis.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const RUN = randomUUID().slice(0, 8);
const PREFIX = `gatehouse-test:budget:${RUN}`;
let redis: Redis;
let proxy: TcpProxy;
let viaProxy: Redis;

/** The clients fail fast (no offline queue): wait until one is connected. */
const ready = (c: Redis) => (c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => c.once('ready', () => resolve())));

beforeAll(async () => {
  redis = createRedisClient('redis://127.0.0.1:6379', silentLogger());
  proxy = await startTcpProxy(6379);
  viaProxy = createRedisClient(`redis://${proxy.address}`, silentLogger());
  await Promise.all([ready(redis), ready(viaProxy)]);
});
afterAll(async () => {
  const keys = [...(await redis.keys(`${PREFIX}:*`)), ...(await redis.keys(`gatehouse:budget:fleet-${RUN}:*`))];
  if (keys.length > 0) await redis.del(...keys);
  await closeRedis(viaProxy);
  await proxy.close();
  await closeRedis(redis);
});

// Noon UTC of the real day the test runs on, never a fixed date: the counters are
// written with real Redis expiries (a day after their period ends), and a fixed date
// would write expiries that have already passed on later days. The day's period ends
// at the next midnight UTC.
const DAY = 86_400_000;
const TODAY = Math.floor(Date.now() / DAY) * DAY;
const NOW = TODAY + DAY / 2;
const rules = [{ name: 'daily', per: 'day' as const, limitUsd: 1, match: { models: ['gpt-*'] } }];

describe('budgets in Redis', () => {
  it('two replicas share one count per principal and period; the counter expires a day after its period', async () => {
    const a = createRedisBudgets({ rules, client: redis, prefix: PREFIX, now: () => NOW });
    const b = createRedisBudgets({ rules, client: redis, prefix: PREFIX, now: () => NOW });
    const who = 'team:a'; // the separator in a principal is harmless
    await a.charge(who, 'gpt-4o', 0.6);
    expect(await b.check(who, 'gpt-4o')).toEqual({ allowed: true });
    await b.charge(who, 'gpt-4o', 0.5);
    expect(await a.check(who, 'gpt-4o')).toEqual({ allowed: false, rule: 'daily', limitUsd: 1, spentUsd: 1.1, resetsAt: new Date(TODAY + DAY) });
    // Another principal, another model the rule does not match, another day: not counted together.
    expect(await a.check('team:b', 'gpt-4o')).toEqual({ allowed: true });
    expect(await a.check(who, 'claude-3')).toEqual({ allowed: true });
    const tomorrow = createRedisBudgets({ rules, client: redis, prefix: PREFIX, now: () => NOW + DAY });
    expect(await tomorrow.check(who, 'gpt-4o')).toEqual({ allowed: true });

    const [key] = await redis.keys(`${PREFIX}:daily:"team:a":*`);
    expect(key).toBe(`${PREFIX}:daily:"team:a":${TODAY}`);
    expect(await redis.pexpiretime(key!)).toBe(TODAY + 2 * DAY);
  });

  it('Redis down: the check lets the call through and says so; the charge fails (the caller logs it)', async () => {
    const errors: unknown[] = [];
    const budgets = createRedisBudgets({ rules, client: viaProxy, prefix: PREFIX, now: () => NOW, onStoreError: (err) => errors.push(err) });
    await budgets.charge('down', 'gpt-4o', 5);
    expect(await budgets.check('down', 'gpt-4o')).toMatchObject({ allowed: false });
    await proxy.cut();
    try {
      expect(await budgets.check('down', 'gpt-4o')).toEqual({ allowed: true });
      expect(errors).toHaveLength(1);
      await expect(budgets.charge('down', 'gpt-4o', 1)).rejects.toBeDefined();
    } finally {
      await proxy.restore();
    }
  });
});

describe('two gateways with ai.budgetStore: redis', () => {
  let llm: FakeLLM;
  const gateways: Gateway[] = [];
  beforeAll(async () => {
    llm = await startFakeOpenAI();
    const config = `server: { host: 127.0.0.1, port: 0 }
audit: { store: none }
redis: { url: "redis://127.0.0.1:6379" }
ai:
  targets:
    oa: { provider: openai-compatible, baseUrl: "\${OA}/v1", apiKey: k }
  routes:
    - { model: budgeted, targets: [oa] }
  prices:
    budgeted: { input: 1, output: 1, cache_read: 1, cache_write: 1 }
  budgetStore: redis
  budgets:
    - { name: fleet-${RUN}, per: day, limitUsd: 0.000001, match: { models: [budgeted] } }
`;
    for (let i = 0; i < 2; i++) gateways.push(await startTestGateway(config, { OA: llm.url }));
  });
  afterAll(async () => {
    for (const g of gateways) await g.close(0);
    await llm?.close();
  });

  it('spending through one refuses the next call through the other', async () => {
    const [a, b] = gateways.map((g) => new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'unused', maxRetries: 0 })) as [OpenAI, OpenAI];
    const user = [{ role: 'user' as const, content: 'Hi' }];
    await a.chat.completions.create({ model: 'budgeted', messages: user });
    // The charge is written after the answer: wait until it is in Redis.
    const deadline = Date.now() + 2_000;
    while ((await redis.keys(`gatehouse:budget:fleet-${RUN}:*`)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const upstreamCalls = llm.received.length;
    await expect(b.chat.completions.create({ model: 'budgeted', messages: user })).rejects.toMatchObject({ status: 429, code: 'GH_AI_BUDGET_EXCEEDED' });
    expect(llm.received.length).toBe(upstreamCalls);
  });
});
