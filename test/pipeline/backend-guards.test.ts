import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { closedPort, connectWith, holdRequests, onlyRecord, storedAudit, text } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * The per-backend guards through a real gateway: the circuit breaker (a
 * backend answering 503, one refusing connections) and the bulkhead (a stub
 * that holds requests open, so the test decides how many are in flight).
 * Each backend has a stub of its own, so `received` counts only its traffic.
 */

let flaky: StubBackend;
let held: StubBackend;
let queued: StubBackend;
let brief: StubBackend;
let gateway: Gateway;
let modern: Client;
let legacy: Client;

const answer = (stub: StubBackend, status: number) =>
  stub.handle((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status }));
  });

beforeAll(async () => {
  [flaky, held, queued, brief] = await Promise.all([startStubBackend(), startStubBackend(), startStubBackend(), startStubBackend()]);
  const dead = await closedPort();
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - name: flaky
    spec: ./stub-api.yaml
    baseUrl: \${FLAKY}/api
    circuitBreaker: { failureThreshold: 3, cooldownMs: 300 }
  - name: dead
    spec: ./stub-api.yaml
    baseUrl: http://127.0.0.1:${dead}/api
    circuitBreaker: { failureThreshold: 2, cooldownMs: 60000 }
  - name: held
    spec: ./stub-api.yaml
    baseUrl: \${HELD}/api
    maxConcurrent: 2
    circuitBreaker: { failureThreshold: 1, cooldownMs: 60000 }
  - name: queued
    spec: ./stub-api.yaml
    baseUrl: \${QUEUED}/api
    maxConcurrent: 2
    maxQueued: 1
    queueTimeoutMs: 2000
  - name: brief
    spec: ./stub-api.yaml
    baseUrl: \${BRIEF}/api
    maxConcurrent: 1
    maxQueued: 1
    queueTimeoutMs: 100
`,
    { FLAKY: flaky.url, HELD: held.url, QUEUED: queued.url, BRIEF: brief.url },
  );
  modern = await connectWith(gateway, 'modern');
  legacy = await connectWith(gateway, 'legacy');
});

afterAll(async () => {
  await modern?.close();
  await legacy?.close();
  await gateway?.close();
  await Promise.all([flaky, held, queued, brief].map((s) => s?.close()));
});

const call = (client: Client, name: string, args: Record<string, unknown> = { itemId: '1' }) => client.callTool({ name, arguments: args });

describe('circuit breaker', () => {
  it('4xx answers do not open it; 503s do, after failureThreshold; cooldown lets one trial through; success closes it', async () => {
    // 4xx: the backend is answering; more than failureThreshold of them change nothing.
    answer(flaky, 404);
    for (let i = 0; i < 5; i++) expect(text(await call(modern, 'flaky_getItem'))).toMatch(/^GH_UPSTREAM_STATUS: .*404/);
    expect(flaky.received).toHaveLength(5);

    answer(flaky, 503);
    for (let i = 0; i < 3; i++) expect(text(await call(modern, 'flaky_getItem'))).toMatch(/^GH_UPSTREAM_STATUS: .*503/);
    expect(flaky.received).toHaveLength(8);
    // Open: refused at once, without reaching the backend.
    for (let i = 0; i < 3; i++) {
      expect(text(await call(modern, 'flaky_getItem'))).toMatch(/^GH_BACKEND_UNAVAILABLE: Backend "flaky" kept failing; its circuit breaker is open\. Retry in 1 s\.$/);
    }
    expect(flaky.received).toHaveLength(8);

    // After the cool-down a trial goes through; it fails (503), so the circuit opens again at once.
    await expect.poll(async () => text(await call(modern, 'flaky_getItem')), { timeout: 3_000, interval: 50 }).toMatch(/^GH_UPSTREAM_STATUS/);
    expect(flaky.received).toHaveLength(9);
    expect(text(await call(modern, 'flaky_getItem'))).toMatch(/^GH_BACKEND_UNAVAILABLE/);
    expect(flaky.received).toHaveLength(9);

    // The backend is back: the next trial succeeds and closes the circuit.
    answer(flaky, 200);
    await expect.poll(async () => (await call(modern, 'flaky_getItem')).isError ?? false, { timeout: 3_000, interval: 50 }).toBe(false);
    expect(flaky.received).toHaveLength(10);
    for (let i = 0; i < 3; i++) expect((await call(modern, 'flaky_getItem')).isError).toBeFalsy();
    expect(flaky.received).toHaveLength(13);
  });

  it('a backend refusing connections opens it after failureThreshold connect errors; refusals are audited as unavailable with nothing sent', async () => {
    for (let i = 0; i < 2; i++) expect(text(await call(legacy, 'dead_getItem'))).toMatch(/^GH_UPSTREAM_CONNECT/);
    expect(text(await call(legacy, 'dead_getItem'))).toMatch(/^GH_BACKEND_UNAVAILABLE: Backend "dead"/);
    const refused = await call(legacy, 'dead_createItem', { name: 'never-sent' });
    expect(text(refused)).toMatch(/^GH_BACKEND_UNAVAILABLE/);
    const records = await storedAudit(gateway, { backend: 'dead' });
    expect(records.map((r) => [r.tool, r.outcome, r.errorCode])).toEqual([
      ['dead_createItem', 'unavailable', 'GH_BACKEND_UNAVAILABLE'],
      ['dead_getItem', 'unavailable', 'GH_BACKEND_UNAVAILABLE'],
      ['dead_getItem', 'error', 'GH_UPSTREAM_CONNECT'],
      ['dead_getItem', 'error', 'GH_UPSTREAM_CONNECT'],
    ]);
    // Nothing was sent, so nothing was received and there is no status or byte count.
    const create = records[0]!;
    expect(create.status).toBeUndefined();
    expect(create.bytesIn).toBeUndefined();
    expect(create.bytesOut).toBeUndefined();
  });
});

describe('bulkhead', () => {
  it('maxConcurrent 2, no queue: a 3rd concurrent call gets GH_BACKEND_BUSY without reaching the backend, and does not open the circuit', async () => {
    const gate = holdRequests(held);
    const first = [call(legacy, 'held_getItem'), call(modern, 'held_getItem')];
    await expect.poll(gate.held, { timeout: 2_000 }).toBe(2);
    const busy = await call(legacy, 'held_getItem');
    expect(text(busy)).toMatch(/^GH_BACKEND_BUSY: Backend "held" already has 2 calls in flight \(maxConcurrent 2\) and 0 waiting \(maxQueued 0\)\.$/);
    expect(held.received).toHaveLength(2);
    gate.release();
    for (const r of await Promise.all(first)) expect(r.isError).toBeFalsy();
    // failureThreshold is 1: had the refusal counted as a backend failure, this call would be refused.
    answer(held, 200);
    expect((await call(legacy, 'held_getItem')).isError).toBeFalsy();
    expect(held.received).toHaveLength(3);
    const busyRecord = (await storedAudit(gateway, { backend: 'held', outcome: 'unavailable' })).map((r) => r.errorCode);
    expect(busyRecord).toEqual(['GH_BACKEND_BUSY']);
  });

  it('maxQueued 1: one call waits for a slot and then succeeds; the one after it is refused', async () => {
    const gate = holdRequests(queued);
    const first = [call(legacy, 'queued_getItem'), call(legacy, 'queued_getItem')];
    await expect.poll(gate.held, { timeout: 2_000 }).toBe(2);
    const third = call(modern, 'queued_getItem').then((r) => ({ who: 'third', r }));
    const fourth = call(modern, 'queued_getItem').then((r) => ({ who: 'fourth', r }));
    // With two in flight and one slot in the queue, exactly one of them is refused at once...
    const refused = await Promise.race([third, fourth]);
    expect(text(refused.r)).toMatch(/^GH_BACKEND_BUSY: .*1 waiting \(maxQueued 1\)/);
    const waiting = refused.who === 'third' ? fourth : third;
    // ...and the other is waiting, not at the backend.
    expect(queued.received).toHaveLength(2);
    gate.release();
    for (const r of await Promise.all(first)) expect(r.isError).toBeFalsy();
    // The freed slot goes to the waiting call.
    await expect.poll(gate.held, { timeout: 2_000 }).toBe(1);
    gate.release();
    expect((await waiting).r.isError).toBeFalsy();
    expect(queued.received).toHaveLength(3);
    const outcomes = (await storedAudit(gateway, { backend: 'queued' })).map((r) => r.outcome).sort();
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'unavailable']);
  });

  it('a queued call that waits longer than queueTimeoutMs is refused with GH_BACKEND_BUSY', async () => {
    const gate = holdRequests(brief);
    const first = call(legacy, 'brief_getItem');
    await expect.poll(gate.held, { timeout: 2_000 }).toBe(1);
    // Refused while the first call is still held: the queue timeout ended it, not a free slot.
    const late = await call(legacy, 'brief_createItem', { name: 'late' });
    expect(gate.held()).toBe(1);
    expect(text(late)).toMatch(/^GH_BACKEND_BUSY: Backend "brief" had 1 calls in flight \(maxConcurrent 1\) for longer than queueTimeoutMs 100 ms\.$/);
    expect(brief.received).toHaveLength(1);
    gate.release();
    expect((await first).isError).toBeFalsy();
    const rec = await onlyRecord(gateway, { backend: 'brief', tool: 'brief_createItem' });
    expect(rec).toMatchObject({ outcome: 'unavailable', errorCode: 'GH_BACKEND_BUSY' });
    expect(rec.bytesIn).toBeUndefined();
  });
});
