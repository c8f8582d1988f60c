import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log/logger.js';
import { startGatewayFrom, testConfig } from './helpers/gateway.js';

/** A call's log lines carry its request id: the caller's X-Request-Id, echoed back and stored in the audit record. */
describe('request ids in logs', () => {
  it('a failing call logs with the X-Request-Id the caller sent', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    // A backend on a port nothing listens on: the call fails with GH_UPSTREAM_CONNECT and is logged.
    const config = testConfig('server: { host: 127.0.0.1, port: 0 }\nbackends: [{ name: dead, spec: ./stub-api.yaml, baseUrl: "http://127.0.0.1:9/api", circuitBreaker: false }]\n');
    const gateway = await startGatewayFrom(config, createLogger({ level: 'warn', stream: sink }));
    try {
      const res = await fetch(`${gateway.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'x-request-id': 'trace-42' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'dead_getItem', arguments: { itemId: '1' } } }),
      });
      expect(res.headers.get('x-request-id')).toBe('trace-42');
      expect(await res.text()).toContain('GH_UPSTREAM_CONNECT');
      // The line is written as the call fails, through the logger's stream: wait for it, however long that takes.
      await expect.poll(() => lines.find((l) => l['code'] === 'GH_UPSTREAM_CONNECT'), { timeout: 10_000 }).toBeDefined();
      const line = lines.find((l) => l['code'] === 'GH_UPSTREAM_CONNECT');
      expect(line).toMatchObject({ requestId: 'trace-42', tool: 'dead_getItem', level: 40 });
    } finally {
      await gateway.close(0);
    }
  });
});
