/**
 * A gateway whose Redis goes away and comes back, through real calls: the
 * gateway reaches Redis (127.0.0.1:6379) through a TCP proxy the test cuts and
 * restores. Rule names are unique per run; their keys are deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { closeRedis, createRedisClient } from '../../src/limits/redis.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { callTool, metric, scrape, type RawCall } from '../helpers/tool-call.js';

const REDIS_ERRORS = 'gatehouse_store_errors_total{store="redis"}';

let stub: StubBackend;
let admin: Redis;
let dir: string;
const rules: string[] = [];
const gateways: Gateway[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  admin = createRedisClient('redis://127.0.0.1:6379', silentLogger());
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-outage-'));
});

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const rule of rules.splice(0)) {
    const keys = await admin.keys(`gatehouse:rl:${rule}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});

afterAll(async () => {
  if (admin !== undefined) await closeRedis(admin);
  await stub?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** An in-process gateway limited by one rule of `limit` calls a minute, its Redis behind a fresh proxy. */
async function gatewayBehindProxy(onStoreError: 'open' | 'closed', limit: number): Promise<{ gateway: Gateway; proxy: TcpProxy }> {
  const proxy = await startTcpProxy(6379);
  proxies.push(proxy);
  const rule = `outage-${onStoreError}-${randomUUID().slice(0, 8)}`;
  rules.push(rule);
  const gateway = await startTestGateway(`dataDir: ${dir}
redis: { url: "redis://${proxy.address}" }
rateLimits:
  store: redis
  onStoreError: ${onStoreError}
  rules: [{ name: ${rule}, key: [principal], limit: ${limit}, window: 1m }]
audit: { store: none }
backends:
  - name: stub
    spec: stub-api.yaml
    baseUrl: ${stub.url}/api
`);
  gateways.push(gateway);
  return { gateway, proxy };
}

let seq = 0;
const call = (g: Gateway): Promise<RawCall> => callTool(g.url, 'stub_getItem', { itemId: String(seq) }, `redis-outage-${seq++}`);
const received = () => stub.received.filter((r) => r.url.startsWith('/api/items/')).length;

/** Calls until `done` says so (each call a fresh one), for at most `timeoutMs`; returns the last answer. */
async function callUntil(g: Gateway, done: (r: RawCall) => boolean, timeoutMs = 10_000): Promise<RawCall> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(g);
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`no call met the condition within ${timeoutMs} ms; last: ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Redis outage through a gateway', () => {
  // That the limiter fails fast rather than waiting out Redis's command timeout is
  // test/stores/rate-limit-redis.test.ts's to show (by the error it fails with).
  it("onStoreError 'open': calls keep working while Redis is away; limiting resumes when it is back", async () => {
    const { gateway, proxy } = await gatewayBehindProxy('open', 3);
    // Limiting works through the proxy: the bucket is spent (calls made before the client connected pass uncounted).
    await callUntil(gateway, (r) => r.errorCode === 'GH_RATE_LIMITED');

    await proxy.cut();
    const errorsBefore = metric(await scrape(gateway.url), REDIS_ERRORS);
    const receivedBefore = received();
    for (let i = 0; i < 10; i++) {
      const r = await call(gateway);
      expect(r.status).toBe(200);
      expect(r.result?.isError, JSON.stringify(r.result)).toBeUndefined();
    }
    expect(received() - receivedBefore).toBe(10);
    const errors = metric(await scrape(gateway.url), REDIS_ERRORS);
    expect(errors).toBeGreaterThan(0);
    expect(errors - (Number.isNaN(errorsBefore) ? 0 : errorsBefore)).toBe(10);

    await proxy.restore();
    // The client reconnects by itself and the bucket (kept in Redis) is still spent.
    await callUntil(gateway, (r) => r.errorCode === 'GH_RATE_LIMITED');
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
  });

  it("onStoreError 'closed': calls get GH_RATE_LIMIT_UNAVAILABLE and nothing reaches the backend; calls pass again when Redis is back", async () => {
    const { gateway, proxy } = await gatewayBehindProxy('closed', 1000);
    await callUntil(gateway, (r) => r.status === 200 && r.result?.isError === undefined);

    await proxy.cut();
    const receivedBefore = received();
    for (let i = 0; i < 10; i++) {
      const r = await call(gateway);
      expect(r.status).toBe(200);
      expect(r.result?.isError).toBe(true);
      expect(r.errorCode).toBe('GH_RATE_LIMIT_UNAVAILABLE');
    }
    expect(received()).toBe(receivedBefore);
    expect(metric(await scrape(gateway.url), REDIS_ERRORS)).toBeGreaterThanOrEqual(10);
    expect(metric(await scrape(gateway.url), 'gatehouse_calls_total{kind="tool",backend="stub",target="stub_getItem",outcome="unavailable"}')).toBeGreaterThanOrEqual(10);

    await proxy.restore();
    await callUntil(gateway, (r) => r.status === 200 && r.result?.isError === undefined);
    expect(received()).toBe(receivedBefore + 1);
  });

  it('a gateway started while Redis is away serves (closed: refuses) and starts limiting once Redis appears', async () => {
    const proxy = await startTcpProxy(6379);
    await proxy.cut();
    proxies.push(proxy);
    const rule = `outage-boot-${randomUUID().slice(0, 8)}`;
    rules.push(rule);
    const gateway = await startTestGateway(`dataDir: ${dir}
redis: { url: "redis://${proxy.address}" }
rateLimits: { store: redis, onStoreError: closed, rules: [{ name: ${rule}, key: [principal], limit: 2, window: 1m }] }
audit: { store: none }
backends: [{ name: stub, spec: stub-api.yaml, baseUrl: "${stub.url}/api" }]
`);
    gateways.push(gateway);
    // Several reconnect attempts fail meanwhile; none of them may take the process down.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await call(gateway)).errorCode).toBe('GH_RATE_LIMIT_UNAVAILABLE');
    await proxy.restore();
    await callUntil(gateway, (r) => r.status === 200 && r.result?.isError === undefined);
    expect((await call(gateway)).errorCode).toBeUndefined();
    expect((await call(gateway)).errorCode).toBe('GH_RATE_LIMITED');
  });
});
