// Gateway overhead on tools/call versus calling the backend directly.
//
//   npm run bench               (builds, then runs this script)
//   node bench/tools-call.mjs [--calls 4000] [--seconds 10] [--connections 32] [--era modern|legacy]
//
// Starts a stub backend and the gateway (a child process, so its RSS is its own),
// then measures, in the same run:
//  1. latency: N sequential calls, interleaved: direct GET / gateway tools/call /
//     reference forwarder (median and p99 of each, and what each adds);
//  2. throughput: autocannon at C connections against the direct backend, the
//     gateway and the reference forwarder; ratios to the direct backend;
//  3. the gateway's RSS at idle and right after the load.
// The reference (bench/reference-forwarder.mjs) is a minimal hand-written
// JSON-RPC-to-HTTP forwarder: the practical floor on this machine, this run.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { freePort, listen, memoryMb, startGatewayProcess } from './lib.mjs';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    era: { type: 'string', default: 'modern' },
    // `--audit off`: no audit trail and no metrics (the configuration the first
    // figures were taken with, before the pipeline existed); `--audit loop`: the
    // SQLite trail on the event loop (audit.sqlite.thread: false); default: as shipped.
    audit: { type: 'string', default: 'on' },
  },
});
const CALLS = Number(values.calls);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ERA = values.era;

const ITEM = JSON.stringify({ id: '42', name: 'widget', quantity: 7 });


// The backend: the cheapest possible JSON answer, so the gateway's cost dominates.
const backend = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ITEM) });
  res.end(ITEM);
});
const backendPort = await listen(backend);

const gatewayPort = await freePort();

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(
  configFile,
  `server: { host: 127.0.0.1, port: ${gatewayPort} }
log: { level: warn }
dataDir: ${join(dir, 'data')}
${values.audit === 'off' ? 'audit: { store: none }\nmetrics: { enabled: false }' : values.audit === 'loop' ? 'audit: { sqlite: { thread: false }, queue: { batchSize: 100 } }' : ''}
backends:
  - name: bench
    spec: ${new URL('./fixtures-api.yaml', import.meta.url).pathname}
    baseUrl: http://127.0.0.1:${backendPort}
`,
);
const referencePort = await freePort();
const reference = spawn(process.execPath, [new URL('./reference-forwarder.mjs', import.meta.url).pathname, String(referencePort), `http://127.0.0.1:${backendPort}`], { stdio: 'inherit' });
const referenceUrl = `http://127.0.0.1:${referencePort}`;
const { child: gateway, url: gatewayUrl } = await startGatewayProcess(configFile, gatewayPort);

const rssMb = () => memoryMb(gateway.pid).rss;

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const callBody = (id) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'bench_getItem', arguments: { itemId: '42', fields: ['name', 'quantity'] }, ...(ERA === 'modern' ? { _meta: META } : {}) },
  });
const callHeaders =
  ERA === 'modern'
    ? { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'bench_getItem' }
    : { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };

const direct = new Pool(`http://127.0.0.1:${backendPort}`, { connections: 1 });
const viaGateway = new Pool(gatewayUrl, { connections: 1 });
const viaReference = new Pool(referenceUrl, { connections: 1 });
const directPath = '/items/42?fields=name,quantity';

async function timeDirect() {
  const t = process.hrtime.bigint();
  const res = await direct.request({ method: 'GET', path: directPath });
  await res.body.text();
  return Number(process.hrtime.bigint() - t) / 1e6;
}
async function timeGateway(id, pool = viaGateway) {
  const t = process.hrtime.bigint();
  const res = await pool.request({ method: 'POST', path: '/mcp', headers: callHeaders, body: callBody(id) });
  const text = await res.body.text();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (res.statusCode !== 200 || !text.includes('widget') || text.includes('"isError":true')) throw new Error(`bad gateway answer ${res.statusCode}: ${text.slice(0, 300)}`);
  return ms;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// Warm up both paths (JIT, connection pools, lazy validator compile).
for (let i = 0; i < 500; i++) {
  await timeDirect();
  await timeGateway(i);
  await timeGateway(i, viaReference);
}
const idleRss = rssMb();

const d = [];
const g = [];
const ref = [];
for (let i = 0; i < CALLS; i++) {
  d.push(await timeDirect());
  g.push(await timeGateway(i));
  ref.push(await timeGateway(i, viaReference));
}

async function cannon(opts) {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, pipelining: 1, ...opts });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon saw ${result.non2xx} non-2xx and ${result.errors} errors`);
  return result.requests.average;
}
const directRps = await cannon({ url: `http://127.0.0.1:${backendPort}${directPath}` });
const gatewayRps = await cannon({ url: `${gatewayUrl}/mcp`, method: 'POST', headers: callHeaders, body: callBody(1) });
const loadRss = rssMb();
const referenceRps = await cannon({ url: `${referenceUrl}/mcp`, method: 'POST', headers: callHeaders, body: callBody(1) });

const f = (x) => x.toFixed(3);
const report = {
  era: ERA,
  audit: values.audit,
  calls: CALLS,
  latencyMs: {
    direct: { p50: f(pct(d, 50)), p99: f(pct(d, 99)) },
    gateway: { p50: f(pct(g, 50)), p99: f(pct(g, 99)) },
    added: { p50: f(pct(g, 50) - pct(d, 50)), p99: f(pct(g, 99) - pct(d, 99)) },
    reference: { p50: f(pct(ref, 50)), p99: f(pct(ref, 99)), addedP50: f(pct(ref, 50) - pct(d, 50)) },
  },
  throughput: {
    connections: CONNECTIONS,
    seconds: SECONDS,
    directRps: Math.round(directRps),
    gatewayRps: Math.round(gatewayRps),
    ratio: (gatewayRps / directRps).toFixed(3),
    referenceRps: Math.round(referenceRps),
    referenceRatio: (referenceRps / directRps).toFixed(3),
  },
  gatewayRssMb: { idle: idleRss, afterLoad: loadRss },
  node: process.version,
};
console.log(JSON.stringify(report, null, 2));

gateway.kill('SIGTERM');
reference.kill('SIGTERM');
await direct.close();
await viaGateway.close();
await viaReference.close();
backend.close();
