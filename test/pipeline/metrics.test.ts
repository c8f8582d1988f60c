import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { closedPort, connectWith, metricValue, scrape, storedAudit, text, type Sample } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * GET /metrics after a known mix of calls through a real gateway: every
 * counter must say exactly what happened, no more (a call refused before the
 * backend is not a backend response), in the Prometheus text format.
 */

let stub: StubBackend;
let gateway: Gateway;
let client: Client;
let samples: Sample[];
let contentType: string;

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((req, res) => {
    const status = req.url === '/api/status/500' ? 500 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
rateLimits:
  rules:
    - { name: list-cap, key: [principal], limit: 1, window: 1m, match: { tools: [stub_listItems] } }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
  - name: dead
    spec: ./stub-api.yaml
    baseUrl: http://127.0.0.1:${await closedPort()}/api
    circuitBreaker: { failureThreshold: 2, cooldownMs: 60000 }
`,
    { STUB_URL: stub.url },
  );
  client = await connectWith(gateway, 'legacy');
  const calls: Array<[string, Record<string, unknown>, RegExp | undefined]> = [
    ['stub_getItem', { itemId: '1' }, undefined],
    ['stub_getItem', { itemId: '2' }, undefined],
    ['stub_getStatus', { code: 500 }, /^GH_UPSTREAM_STATUS/],
    ['stub_createItem', { name: '' }, /^GH_TOOL_ARGS_INVALID/],
    ['stub_listItems', {}, undefined],
    ['stub_listItems', {}, /^GH_RATE_LIMITED/],
    ['dead_getItem', { itemId: '1' }, /^GH_UPSTREAM_CONNECT/],
    ['dead_getItem', { itemId: '1' }, /^GH_UPSTREAM_CONNECT/],
    ['dead_getItem', { itemId: '1' }, /^GH_BACKEND_UNAVAILABLE/],
  ];
  for (const [name, args, error] of calls) {
    const result = await client.callTool({ name, arguments: args });
    if (error === undefined) expect(result.isError, name).toBeFalsy();
    else expect(text(result)).toMatch(error);
  }
  // Written records are counted once the writer has stored them.
  expect(await storedAudit(gateway)).toHaveLength(calls.length);
  ({ contentType, samples } = await scrape(gateway));
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await stub?.close();
});

const value = (name: string, labels: Record<string, string> = {}) => metricValue(samples, name, labels);

describe('/metrics', () => {
  it('is the Prometheus text format', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts every call by backend, target and outcome', () => {
    const calls = (backend: string, target: string, outcome: string) => value('gatehouse_calls_total', { kind: 'tool', backend, target, outcome });
    expect(calls('stub', 'stub_getItem', 'ok')).toBe(2);
    expect(calls('stub', 'stub_getStatus', 'error')).toBe(1);
    expect(calls('stub', 'stub_createItem', 'invalid')).toBe(1);
    expect(calls('stub', 'stub_listItems', 'ok')).toBe(1);
    expect(calls('stub', 'stub_listItems', 'limited')).toBe(1);
    expect(calls('dead', 'dead_getItem', 'error')).toBe(2);
    expect(calls('dead', 'dead_getItem', 'unavailable')).toBe(1);
    const total = samples.filter((s) => s.name === 'gatehouse_calls_total').reduce((n, s) => n + s.value, 0);
    expect(total).toBe(9);
    expect(value('gatehouse_call_duration_seconds_count', { kind: 'tool', backend: 'stub', outcome: 'ok' })).toBe(3);
  });

  it('counts backend responses by status; status 0 only for requests that were sent and got no answer', () => {
    expect(value('gatehouse_backend_responses_total', { backend: 'stub', status: '200' })).toBe(3);
    expect(value('gatehouse_backend_responses_total', { backend: 'stub', status: '500' })).toBe(1);
    // Two connection attempts failed; the third call was refused by the open circuit and sent nothing.
    expect(value('gatehouse_backend_responses_total', { backend: 'dead', status: '0' })).toBe(2);
    expect(samples.filter((s) => s.name === 'gatehouse_backend_responses_total').map((s) => `${s.labels.backend}:${s.labels.status}`).sort()).toEqual([
      'dead:0',
      'stub:200',
      'stub:500',
    ]);
    expect(value('gatehouse_backend_request_duration_seconds_count', { backend: 'stub' })).toBe(4);
    expect(value('gatehouse_backend_request_duration_seconds_count', { backend: 'dead' })).toBe(2);
  });

  it('counts rate-limit refusals by rule', () => {
    expect(value('gatehouse_rate_limited_total', { rule: 'list-cap' })).toBe(1);
  });

  it('shows the circuit state per backend, one state at 1', () => {
    expect(value('gatehouse_circuit_breaker_state', { backend: 'dead', state: 'open' })).toBe(1);
    expect(value('gatehouse_circuit_breaker_state', { backend: 'dead', state: 'closed' })).toBe(0);
    expect(value('gatehouse_circuit_breaker_state', { backend: 'dead', state: 'half-open' })).toBe(0);
    expect(value('gatehouse_circuit_breaker_state', { backend: 'stub', state: 'closed' })).toBe(1);
    expect(value('gatehouse_circuit_breaker_state', { backend: 'stub', state: 'open' })).toBe(0);
  });

  it('reports the audit writer and in-flight calls', () => {
    expect(value('gatehouse_audit_records_written_total')).toBe(9);
    expect(value('gatehouse_audit_records_dropped_total')).toBe(0);
    expect(value('gatehouse_audit_queue_depth')).toBe(0);
    expect(value('gatehouse_audit_store_up')).toBe(1);
    expect(value('gatehouse_backend_in_flight', { backend: 'stub' })).toBe(0);
  });

  it('includes the process and Node.js default metrics', () => {
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(value(name), name).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('metrics: { enabled: false }', () => {
  it('serves no /metrics; calls are still served and audited', async () => {
    const off = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
      { STUB_URL: stub.url },
    );
    try {
      const c = await connectWith(off, 'modern');
      expect((await c.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } })).isError).toBeFalsy();
      await c.close();
      expect(off.runtime.metrics).toBeUndefined();
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
      expect(await storedAudit(off)).toHaveLength(1);
    } finally {
      await off.close();
    }
  });
});
