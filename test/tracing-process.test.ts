import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from './helpers/otlp-sink.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from './helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * Tracing is off by default and then costs nothing: the gateway process never
 * loads an OpenTelemetry module (a module hook in it reports every load) and
 * sends no traceparent on, whatever the caller sent. The OTEL_* variables
 * alone turn it on, as any OpenTelemetry SDK takes them (here the default
 * protocol, http/protobuf).
 */

let dir: string;
let stub: StubBackend;
let sink: OtlpSink;
const processes: GatewayProcess[] = [];

/** A `gatehouse serve` whose OpenTelemetry loads are appended to `log`. */
async function spawnWatched(name: string, env: NodeJS.ProcessEnv): Promise<{ g: GatewayProcess; loads: () => string[] }> {
  const log = join(dir, `${name}.loaded.log`);
  writeFileSync(log, '');
  writeFileSync(
    join(dir, `${name}.hooks.mjs`),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.includes('/node_modules/@opentelemetry/')) appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`,
  );
  writeFileSync(join(dir, `${name}.register.mjs`), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, `${name}.hooks.mjs`)).href)});\n`);
  const config = writeConfigFile(
    dir,
    `${name}.yaml`,
    `server: { port: 0 }\nlog: { level: info }\ndataDir: ${join(dir, name)}\naudit: { store: none }\nbackends:\n  - { name: stub, spec: ${join(FIXTURES, 'stub-api.yaml')}, baseUrl: "${stub.url}/api" }\n`,
  );
  // Whatever the environment running the tests says about OpenTelemetry, only `env` counts here.
  const clean = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OTEL_')).map((k) => [k, undefined]));
  const g = await spawnGateway(config, { env: { ...clean, ...env, NODE_OPTIONS: `--import ${pathToFileURL(join(dir, `${name}.register.mjs`)).href}` } });
  processes.push(g);
  return { g, loads: () => readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') };
}

/** One tools/call through the real MCP client, sending the caller's traceparent. */
async function callWithTrace(url: string, traceparent: string, itemId: string): Promise<void> {
  const client = new Client({ name: 'tracing-test', version: '1' }, { versionNegotiation: { mode: 'legacy' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { traceparent } } }));
  try {
    const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId } });
    expect(result.isError).not.toBe(true);
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-tracing-'));
  stub = await startStubBackend();
  sink = await startOtlpSink();
});
afterAll(async () => {
  for (const g of processes) await g.stop();
  await stub?.close();
  await sink?.close();
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('tracing off (no telemetry section, no OTEL_TRACES_EXPORTER)', () => {
  it('loads no OpenTelemetry module and sends no traceparent to the backend', async () => {
    const { g, loads } = await spawnWatched('off', {});
    await callWithTrace(g.url, CALLER, 'off-1');
    const sent = stub.received.find((r) => r.url === '/api/items/off-1')!;
    expect(sent.headers.traceparent).toBeUndefined();
    expect(sent.headers.tracestate).toBeUndefined();
    expect(loads()).toEqual([]);
  });
});

describe('tracing on from the OTEL_* variables alone', () => {
  it('loads OpenTelemetry, exports http/protobuf to OTEL_EXPORTER_OTLP_ENDPOINT, and carries the trace to the backend', async () => {
    const { g, loads } = await spawnWatched('env', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_SERVICE_NAME: 'from-env', OTEL_BSP_SCHEDULE_DELAY: '10' });
    await callWithTrace(g.url, CALLER, 'env-1');
    const sent = stub.received.find((r) => r.url === '/api/items/env-1')!;
    const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent.headers.traceparent))!;
    expect(traceId).toBe(TRACE_ID);
    expect(loads().some((l) => l.includes('/@opentelemetry/exporter-trace-otlp-proto/'))).toBe(true);
    // The protobuf export carries the span's ids as raw bytes, and the service name from OTEL_SERVICE_NAME.
    await expect.poll(() => sink.exports.filter((e) => e.path === '/v1/traces' && e.contentType === 'application/x-protobuf').length, { timeout: 5_000 }).toBeGreaterThan(0);
    const body = Buffer.concat(sink.exports.map((e) => e.body));
    expect(body.includes(Buffer.from(TRACE_ID, 'hex'))).toBe(true);
    expect(body.includes(Buffer.from(spanId!, 'hex'))).toBe(true);
    expect(body.includes(Buffer.from('from-env'))).toBe(true);
  });
});
