import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/audit/sqlite-store.js';
import { startTestGateway } from './helpers/gateway.js';
import { watchListenStream } from './helpers/listen-stream.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * A graceful close: calls in flight finish and are answered, new connections
 * are refused, and every answered call is in the audit trail afterwards.
 */

let stub: StubBackend;
beforeAll(async () => {
  stub = await startStubBackend();
});

/** Answers every call once `release` is called: calls are surely in flight until then. */
function holdCalls(): () => void {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  stub.handle((req, res) => {
    void held.then(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url }));
    });
  });
  return release;
}
afterAll(() => stub?.close());

const call = (url: string, id: number) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'x-request-id': `shutdown-${id}` },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'stub_getItem', arguments: { itemId: String(id) } } }),
  });

describe('graceful close', () => {
  it('answers the calls in flight, refuses new ones, and records every answered call', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-'));
    const gateway = await startTestGateway(
      `server: { host: 127.0.0.1, port: 0 }\ndataDir: ${dataDir}\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`,
      { STUB_URL: stub.url },
    );
    const release = holdCalls();
    const inFlight = Array.from({ length: 8 }, (_, i) => call(gateway.url, i));
    while (stub.received.length < 8) await new Promise((r) => setTimeout(r, 10));
    const store = gateway.runtime.audit.store!;
    // A kept-alive connection for a readiness probe, opened before the drain.
    const probe = new Agent({ connections: 1 });
    expect((await request(`${gateway.url}/readyz`, { dispatcher: probe })).statusCode).toBe(200);
    const closing = gateway.close();
    // Unready as soon as the drain starts: the idle probe connection is closed and
    // new ones are refused (a request on a busy kept-alive connection gets 503 GH_SHUTTING_DOWN).
    const during = await request(`${gateway.url}/readyz`, { dispatcher: probe }).then(
      (r) => r.statusCode,
      () => 'refused',
    );
    expect(during === 503 || during === 'refused').toBe(true);
    release();
    const answered = await Promise.all(inFlight);
    expect(answered.map((r) => r.status)).toEqual(Array(8).fill(200));
    for (const r of answered) expect(await r.text()).toContain('"result"');
    await expect(call(gateway.url, 99)).rejects.toThrow();
    await closing;
    // The store is closed with the gateway; reopen the same file to read what was written.
    expect(store.kind).toBe('sqlite');
    const reopened = createSqliteStore({ file: join(dataDir, 'audit.db') });
    await reopened.init();
    const { records } = await reopened.query({ limit: 100 });
    expect(records.map((r) => r.requestId).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `shutdown-${i}`).sort());
    expect(records.every((r) => r.outcome === 'ok' && r.status === 200)).toBe(true);
    await reopened.close();
    await probe.close();
  });

  it('turns /readyz unready first, keeps serving for readinessDelayMs, then stops', async () => {
    holdCalls()(); // answered at once
    const gateway = await startTestGateway(
      `server: { host: 127.0.0.1, port: 0, shutdown: { readinessDelayMs: 400 } }\naudit: { store: none }\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`,
      { STUB_URL: stub.url },
    );
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const closing = gateway.close();
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    // Still serving during the delay: a call made now is answered.
    const during = await call(gateway.url, 1);
    expect(during.status).toBe(200);
    expect(await during.text()).toContain('/api/items/1');
    await closing;
    await expect(fetch(`${gateway.url}/readyz`)).rejects.toThrow();
  });

  it('ends open subscriptions/listen streams when the drain starts, not when the calls in flight end', async () => {
    // Calls in flight may take an hour to finish; the listen stream must end at once all the same,
    // so its client can listen elsewhere while the calls drain.
    const gateway = await startTestGateway(
      `server: { host: 127.0.0.1, port: 0, shutdown: { graceMs: 3600000 } }\naudit: { store: none }\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`,
      { STUB_URL: stub.url },
    );
    // What crossed the wire on the client's listen stream: when its answer opened, and when it ended.
    const listen = watchListenStream();
    const client = new Client(
      { name: 'gatehouse-test', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } }, listChanged: { tools: { onChanged: () => undefined } } },
    );
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { fetch: listen.fetch }));
    await listen.opened; // the subscription is open once its answer's headers arrived
    // A call held by the backend until the drain has started.
    const release = holdCalls();
    const before = stub.received.length;
    const inFlight = call(gateway.url, 7);
    while (stub.received.length === before) await new Promise((r) => setTimeout(r, 10));
    const closing = gateway.close();
    release();
    // Which the client sees first: the stream's end, or the answer of the call in flight.
    const first = await Promise.race([listen.ended.then(() => 'stream ended' as const), inFlight.then(() => 'call answered' as const)]);
    expect(first).toBe('stream ended');
    expect((await inFlight).status).toBe(200);
    await closing;
    await client.close().catch(() => undefined);
  });
});
