/**
 * Two gateway processes sharing one Redis (127.0.0.1:6379) enforce one limit:
 * the counters live in Redis, not in either process. Each run uses rule names
 * of its own (the key prefix is the default `gatehouse:rl`) and deletes its keys.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { closeRedis, createRedisClient } from '../../src/limits/redis.js';
import { FIXTURES } from '../helpers/gateway.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { callTool, type RawCall } from '../helpers/tool-call.js';

const RUN = randomUUID().slice(0, 8);
/** Sequential calls to stub_getItem count against this rule… */
const SEQUENTIAL_RULE = `fleet-seq-${RUN}`;
/** …concurrent calls to stub_listItems against this one. */
const CONCURRENT_RULE = `fleet-conc-${RUN}`;
/** Start-up probes (stub_createItem with arguments it refuses) count against this one only. */
const PROBE_RULE = `fleet-probe-${RUN}`;
const LIMIT = 10;

let stub: StubBackend;
let dir: string;
let admin: Redis;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  admin = createRedisClient('redis://127.0.0.1:6379', silentLogger());
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-fleet-'));
  // Identical configs but for the state directory: the only thing the two processes share is Redis.
  const config = (n: number) => `server: { port: 0 }
dataDir: ${join(dir, `data-${n}`)}
redis: { url: "redis://127.0.0.1:6379" }
rateLimits:
  store: redis
  onStoreError: closed
  rules:
    - { name: ${SEQUENTIAL_RULE}, key: [principal], limit: ${LIMIT}, window: 1m, match: { tools: [stub_getItem] } }
    - { name: ${CONCURRENT_RULE}, key: [principal], limit: ${LIMIT}, window: 1m, match: { tools: [stub_listItems] } }
    - { name: ${PROBE_RULE}, key: [principal], limit: 100000, window: 1m, match: { tools: [stub_createItem] } }
audit: { store: none }
backends:
  - name: stub
    spec: ${join(FIXTURES, 'stub-api.yaml')}
    baseUrl: ${stub.url}/api
`;
  const started = await Promise.all([1, 2].map((n) => spawnGateway(writeConfigFile(dir, `gatehouse-${n}.yaml`, config(n)))));
  gateways.push(...started);
  await Promise.all(started.map(untilLimiterAnswers));
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop('SIGTERM')));
  for (const rule of [SEQUENTIAL_RULE, CONCURRENT_RULE, PROBE_RULE]) {
    const keys = (await admin?.keys(`gatehouse:rl:${rule}:*`)) ?? [];
    if (keys.length > 0) await admin.del(...keys);
  }
  if (admin !== undefined) await closeRedis(admin);
  await stub?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/**
 * A process listens as soon as its Redis client is created, maybe before it
 * has connected; with `onStoreError: closed` a call in that moment is refused
 * with GH_RATE_LIMIT_UNAVAILABLE. Probe until the limiter answers: the rate
 * limit runs before argument validation, so a refused-arguments call asks
 * Redis (PROBE_RULE) and never reaches the backend.
 */
async function untilLimiterAnswers(g: GatewayProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await callTool(g.url, 'stub_createItem', { name: 5 }, `fleet-${RUN}-probe-${randomUUID()}`);
    if (r.errorCode === 'GH_TOOL_ARGS_INVALID') return;
    expect(r.errorCode).toBe('GH_RATE_LIMIT_UNAVAILABLE');
    if (Date.now() > deadline) throw new Error(`${g.url}: rate-limit store still unavailable after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const outcome = (r: RawCall) => (r.status !== 200 || r.result === undefined ? `http ${r.status}` : (r.errorCode ?? 'ok'));

describe('two gateway processes sharing Redis', () => {
  it('30 calls alternating between them: exactly 10 pass, the backend sees exactly 10, the rest are GH_RATE_LIMITED', async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    expect(a.url).not.toBe(b.url);
    const before = stub.received.filter((r) => r.url.startsWith('/api/items/')).length;
    const results: Array<{ via: 'a' | 'b'; outcome: string }> = [];
    for (let i = 0; i < 30; i++) {
      const via = i % 2 === 0 ? 'a' : 'b';
      const r = await callTool((via === 'a' ? a : b).url, 'stub_getItem', { itemId: String(i) }, `fleet-${RUN}-seq-${i}`);
      results.push({ via, outcome: outcome(r) });
    }
    const ok = results.filter((r) => r.outcome === 'ok');
    expect(ok).toHaveLength(LIMIT);
    // Both processes served some of the ten and refused some of the twenty: one bucket, not two of ten each.
    expect(new Set(ok.map((r) => r.via))).toEqual(new Set(['a', 'b']));
    expect(results.filter((r) => r.outcome !== 'ok').every((r) => r.outcome === 'GH_RATE_LIMITED')).toBe(true);
    expect(new Set(results.filter((r) => r.outcome === 'GH_RATE_LIMITED').map((r) => r.via))).toEqual(new Set(['a', 'b']));
    // The first ten in order pass: a refusal never precedes a success within the window.
    expect(results.slice(0, LIMIT).every((r) => r.outcome === 'ok')).toBe(true);
    expect(stub.received.filter((r) => r.url.startsWith('/api/items/')).length - before).toBe(LIMIT);
    expect(await admin.keys(`gatehouse:rl:${SEQUENTIAL_RULE}:*`)).toEqual([`gatehouse:rl:${SEQUENTIAL_RULE}:["anonymous"]`]);
  });

  it('30 concurrent calls split over both: still exactly 10 reach the backend', async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    const listCalls = () => stub.received.filter((r) => r.url === '/api/items' && r.method === 'GET').length;
    const before = listCalls();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => callTool((i % 2 === 0 ? a : b).url, 'stub_listItems', {}, `fleet-${RUN}-conc-${i}`)));
    const outcomes = results.map(outcome);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(LIMIT);
    expect(outcomes.filter((o) => o === 'GH_RATE_LIMITED')).toHaveLength(30 - LIMIT);
    expect(listCalls() - before).toBe(LIMIT);
  });
});
