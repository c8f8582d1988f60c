import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/** An audit store that cannot open does not take the gateway down: calls go on, the outage shows. */

let stub: StubBackend;
beforeAll(async () => {
  stub = await startStubBackend();
});
afterAll(() => stub?.close());

describe('an audit store that cannot be opened', () => {
  it('still serves calls, and says so in the metrics', async () => {
    // dataDir under a regular file: no directory can be created there.
    const blocker = join(mkdtempSync(join(tmpdir(), 'gatehouse-blocked-')), 'not-a-dir');
    writeFileSync(blocker, 'x');
    const gateway = await startTestGateway(
      `server: { host: 127.0.0.1, port: 0 }\ndataDir: ${join(blocker, 'data')}\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`,
      { STUB_URL: stub.url },
    );
    try {
      const res = await fetch(`${gateway.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: '1' } } }),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).not.toContain('"isError":true');
      await gateway.runtime.audit.writer!.flush();
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
      expect(metrics).toMatch(/^gatehouse_audit_store_up 0$/m);
      expect(metrics).toMatch(/^gatehouse_audit_queue_depth 1$/m);
    } finally {
      await gateway.close(0);
    }
  });
});
