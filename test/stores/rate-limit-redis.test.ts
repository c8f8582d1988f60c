/**
 * The rate limiter against a real Redis at 127.0.0.1:6379 (start one with
 * `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`).
 * Every test uses its own key prefix and deletes its keys afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { isGatehouseError } from '../../src/errors/catalogue.js';
import { silentLogger } from '../../src/log/logger.js';
import { closeRedis, createRedisClient } from '../../src/limits/redis.js';
import { createRateLimiter, type LimitSubject, type RateLimiterOptions, type RateLimitRule } from '../../src/limits/rate-limit.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const alice: LimitSubject = { principal: 'alice', backend: 'petstore', tool: 'petstore_list_pets' };

const clients: Redis[] = [];
const prefixes: string[] = [];
let admin: Redis;

function client(url = REDIS_URL): Redis {
  const c = createRedisClient(url, silentLogger());
  clients.push(c);
  return c;
}

function prefix(): string {
  const p = `gh-test:${randomUUID()}`;
  prefixes.push(p);
  return p;
}

async function ready(c: Redis, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (c.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`Redis client not ready after ${timeoutMs} ms (status ${c.status})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function limiter(c: Redis, keyPrefix: string, rules: RateLimitRule[], extra: Partial<RateLimiterOptions> = {}) {
  return createRateLimiter({ rules, store: { type: 'redis', client: c, keyPrefix }, onStoreError: 'open', ...extra });
}

async function allowedCount(check: () => Promise<{ allowed: boolean }>, times: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < times; i++) if ((await check()).allowed) n++;
  return n;
}

beforeAll(async () => {
  admin = client();
  await ready(admin);
});

afterEach(async () => {
  for (const p of prefixes.splice(0)) {
    const keys = await admin.keys(`${p}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => closeRedis(c)));
});

describe('createRateLimiter (redis)', () => {
  it('gives each principal and each backend its own bucket, and stores counters under the prefix', async () => {
    const c = client();
    await ready(c);
    const p = prefix();
    const rl = limiter(c, p, [{ name: 'pb', key: ['principal', 'backend'], limit: 3, windowSeconds: 60 }]);
    expect(await allowedCount(() => rl.check(alice), 5)).toBe(3);
    expect(await allowedCount(() => rl.check({ ...alice, principal: 'bob' }), 5)).toBe(3);
    expect(await allowedCount(() => rl.check({ ...alice, backend: 'weather' }), 5)).toBe(3);
    const keys = await admin.keys(`${p}:*`);
    expect(keys.sort()).toEqual([`${p}:pb:["alice","petstore"]`, `${p}:pb:["alice","weather"]`, `${p}:pb:["bob","petstore"]`]);
    expect(await admin.get(`${p}:pb:["alice","petstore"]`)).toBe('5');
  });

  it('applies match globs', async () => {
    const c = client();
    await ready(c);
    const rl = limiter(c, prefix(), [{ name: 'writes', key: ['principal'], limit: 1, windowSeconds: 60, match: { tools: ['*_add_*'] } }]);
    expect(await allowedCount(() => rl.check({ ...alice, tool: 'petstore_add_pet' }), 3)).toBe(1);
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(3);
  });

  it('reports retryAfterMs within the window and refills when it ends', async () => {
    const c = client();
    await ready(c);
    const rl = limiter(c, prefix(), [{ name: 'w', key: ['principal'], limit: 2, windowSeconds: 1 }]);
    expect(await allowedCount(() => rl.check(alice), 2)).toBe(2);
    const refused = await rl.check(alice);
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.rule).toBe('w');
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1_000);
    await new Promise((r) => setTimeout(r, refused.retryAfterMs + 50));
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(2);
  });

  it('refunds other rules when one refuses', async () => {
    const c = client();
    await ready(c);
    const rl = limiter(c, prefix(), [
      { name: 'per-principal', key: ['principal'], limit: 2, windowSeconds: 60 },
      { name: 'global', key: [], limit: 5, windowSeconds: 60 },
    ]);
    expect(await allowedCount(() => rl.check(alice), 10)).toBe(2);
    let others = 0;
    for (let i = 0; i < 6; i++) if ((await rl.check({ ...alice, principal: `p${i}` })).allowed) others++;
    expect(others).toBe(3);
  });

  it('token rules: check refuses only after charge spends the bucket', async () => {
    const c = client();
    await ready(c);
    const rl = limiter(c, prefix(), [{ name: 'tokens', key: ['principal'], limit: 100, windowSeconds: 60, cost: 'tokens' }]);
    const llm = { principal: 'alice', backend: 'openai', model: 'gpt-5' };
    expect(await allowedCount(() => rl.check(llm), 5)).toBe(5);
    await rl.charge(llm, 60);
    const partly = await rl.check(llm);
    expect(partly.allowed).toBe(true);
    expect(partly.states[0]?.remaining).toBe(40);
    await rl.charge(llm, 41);
    const refused = await rl.check(llm);
    expect(refused.allowed === false && refused.rule).toBe('tokens');
    expect((await rl.check({ ...llm, principal: 'bob' })).allowed).toBe(true);
  });

  it('two instances with separate clients and the same prefix enforce one limit', async () => {
    const [c1, c2] = [client(), client()];
    await Promise.all([ready(c1), ready(c2)]);
    const p = prefix();
    const rules: RateLimitRule[] = [{ name: 'shared', key: ['principal'], limit: 10, windowSeconds: 60 }];
    const a = limiter(c1, p, rules);
    const b = limiter(c2, p, rules);
    let allowed = 0;
    for (let i = 0; i < 20; i++) if ((await (i % 2 === 0 ? a : b).check(alice)).allowed) allowed++;
    expect(allowed).toBe(10);
    // Concurrently too: the increments are atomic in Redis.
    const q = prefix();
    const a2 = limiter(c1, q, rules);
    const b2 = limiter(c2, q, rules);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a2 : b2).check(alice)));
    expect(results.filter((r) => r.allowed).length).toBe(10);
  });
});

describe('createRateLimiter (redis outage)', () => {
  let proxy: TcpProxy;

  beforeAll(async () => {
    proxy = await startTcpProxy(6379);
  });

  afterAll(async () => {
    await proxy.close();
  });

  async function settled(fn: () => Promise<unknown>): Promise<{ result?: unknown; error?: unknown }> {
    try {
      return { result: await fn() };
    } catch (error) {
      return { error };
    }
  }

  /**
   * Fails if `err` (or an error in its cause chain) is ioredis's command timeout: a
   * check that fails fast is refused by the client at once (no offline queue, no
   * retries), never after waiting out the timeout. Shown by the error, not by a
   * stopwatch a busy machine could stop late.
   */
  function expectNoTimeout(err: unknown): void {
    for (let e: unknown = err; e instanceof Error; e = e.cause) expect(e.message).not.toMatch(/timed out/i);
  }

  /** Polls until `fn` is true, for at most `timeoutMs`. */
  async function eventually(fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("'open': calls are allowed quickly while Redis is unreachable, then limiting resumes", async () => {
    const c = client(`redis://${proxy.address}`);
    await ready(c);
    const failures: Error[] = [];
    const rl = limiter(c, prefix(), [{ name: 'r', key: ['principal'], limit: 2, windowSeconds: 60 }], { onStoreFailure: (e) => failures.push(e) });
    expect(await allowedCount(() => rl.check(alice), 3)).toBe(2);

    await proxy.cut();
    for (let i = 0; i < 10; i++) {
      const { result, error } = await settled(() => rl.check(alice));
      expect(error).toBeUndefined();
      expect(result).toMatchObject({ allowed: true });
    }
    expect(failures.length).toBe(10);
    expect(failures.every((e) => e instanceof Error)).toBe(true);
    failures.forEach(expectNoTimeout);

    await proxy.restore();
    // The client reconnects by itself; the bucket (still in Redis) is spent again.
    await eventually(async () => (await rl.check(alice)).allowed === false);
    expect(c.status).toBe('ready');
  });

  it("'closed': calls are refused with GH_RATE_LIMIT_UNAVAILABLE, quickly, then limiting resumes", async () => {
    await proxy.restore();
    const c = client(`redis://${proxy.address}`);
    await ready(c);
    let failures = 0;
    const rl = limiter(c, prefix(), [{ name: 'r', key: ['principal'], limit: 5, windowSeconds: 60 }], {
      onStoreError: 'closed',
      onStoreFailure: (e) => {
        failures++;
        expectNoTimeout(e);
      },
    });
    expect((await rl.check(alice)).allowed).toBe(true);

    await proxy.cut();
    for (let i = 0; i < 5; i++) {
      const { error } = await settled(() => rl.check(alice));
      expect(isGatehouseError(error) && error.code).toBe('GH_RATE_LIMIT_UNAVAILABLE');
      expectNoTimeout(error);
    }
    expect(failures).toBe(5);
    // charge() never throws, even closed.
    await expect(rl.charge(alice, 10)).resolves.toBeUndefined();

    await proxy.restore();
    await eventually(async () => {
      try {
        return (await rl.check(alice)).allowed;
      } catch {
        return false;
      }
    });
    // 1 before the cut + 1 that resumed: 3 left, then refused.
    expect(await allowedCount(() => rl.check(alice), 5)).toBe(3);
  });

  it('a client that never reached Redis fails fast and does not crash the process', async () => {
    await proxy.cut();
    const c = client(`redis://${proxy.address}`);
    const rl = limiter(c, prefix(), [{ name: 'r', key: [], limit: 1, windowSeconds: 60 }], { onStoreError: 'closed' });
    const { error } = await settled(() => rl.check(alice));
    expect(isGatehouseError(error) && error.code).toBe('GH_RATE_LIMIT_UNAVAILABLE');
    expectNoTimeout(error);
    // Let a few reconnect attempts fail (each emits 'error', which must not throw).
    await new Promise((r) => setTimeout(r, 300));
    await proxy.restore();
    await ready(c, 10_000);
    expect((await rl.check(alice)).allowed).toBe(true);
    expect((await rl.check(alice)).allowed).toBe(false);
  });

  it('logs an outage once, not once per reconnect attempt, and logs the recovery', async () => {
    await proxy.cut();
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const c = createRedisClient(`redis://${proxy.address}`, log);
    clients.push(c);
    let errors = 0;
    c.on('error', () => errors++);
    // Backoff 50, 100, 200, 400 ms…: wait for several failed attempts, however long this machine takes.
    await expect.poll(() => errors, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    expect(lines.map((l) => l.msg)).toEqual(['Redis unreachable; rate limits follow onStoreError']);
    await proxy.restore();
    await ready(c, 10_000);
    expect(lines.map((l) => l.msg)).toEqual(['Redis unreachable; rate limits follow onStoreError', 'Redis reachable again']);
  });
});
