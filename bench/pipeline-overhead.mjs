// What the policy pipeline costs per call: the same gateway twice, as two
// processes in front of one stub backend —
//   off: no auth, no rate limits, no audit, no metrics, no circuit breaker;
//   on:  JWT auth (RS256, JWKS served here), one rate-limit rule, the SQLite
//        audit trail, Prometheus metrics, the circuit breaker and bulkhead.
// Measures, in the same run: sequential latency (interleaved calls, p50/p99 and
// what "on" adds) and requests/s at C connections (autocannon, alternating
// off/on rounds), then checks that "on" audited every call it answered.
//
//   npm run bench:pipeline
//   node bench/pipeline-overhead.mjs [--calls 4000] [--seconds 10] [--connections 32] [--rounds 2]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Pool } from 'undici';
import { freePort, listen, memoryMb, startGatewayProcess } from './lib.mjs';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
  },
});
const CALLS = Number(values.calls);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);

const ITEM = JSON.stringify({ id: '42', name: 'widget', quantity: 7 });
const backend = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ITEM) });
  res.end(ITEM);
});
const backendPort = await listen(backend);

// The identity provider: a JWKS on port 0 and one token for every call.
const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const idp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ keys: [jwk] }));
});
const idpPort = await listen(idp);
const ISSUER = 'https://idp.bench/';
const AUDIENCE = 'https://gatehouse.bench/mcp';
const token = await new SignJWT({ scope: 'tools:read' })
  .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
  .setIssuer(ISSUER)
  .setAudience(AUDIENCE)
  .setSubject('bench-user')
  .setIssuedAt()
  .setExpirationTime('2h')
  .sign(privateKey);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-pipeline-'));
const spec = new URL('./fixtures-api.yaml', import.meta.url).pathname;
async function startGateway(name, extra, backendExtra) {
  const port = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `server: { host: 127.0.0.1, port: ${port} }
log: { level: warn }
dataDir: ${join(dir, name)}
${extra}
backends:
  - { name: bench, spec: ${spec}, baseUrl: "http://127.0.0.1:${backendPort}"${backendExtra} }
`,
  );
  const { child, url } = await startGatewayProcess(file, port, `gateway ${name}`);
  return { name, child, url, pool: new Pool(url, { connections: 1 }) };
}

const off = await startGateway('off', 'audit: { store: none }\nmetrics: { enabled: false }', ', circuitBreaker: false');
const on = await startGateway(
  'on',
  `auth:
  jwt: { jwksUrl: "http://127.0.0.1:${idpPort}/jwks.json", issuer: "${ISSUER}", audience: "${AUDIENCE}" }
rateLimits:
  rules: [{ name: per-caller, key: [principal, backend], limit: 100000000, window: 1h }]
audit: { store: sqlite }
metrics: { enabled: true }`,
  '',
);

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const body = (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'bench_getItem', arguments: { itemId: '42' }, _meta: META } });
const baseHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'bench_getItem' };
const headersFor = (g) => (g === on ? { ...baseHeaders, authorization: `Bearer ${token}` } : baseHeaders);

let answered = 0;
async function timeCall(g, id) {
  const t = process.hrtime.bigint();
  const res = await g.pool.request({ method: 'POST', path: '/mcp', headers: headersFor(g), body: body(id) });
  const text = await res.body.text();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (res.statusCode !== 200 || !text.includes('widget') || text.includes('"isError":true')) throw new Error(`bad answer from ${g.name} ${res.statusCode}: ${text.slice(0, 300)}`);
  if (g === on) answered++;
  return ms;
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

for (let i = 0; i < 500; i++) {
  await timeCall(off, i);
  await timeCall(on, i);
}
const offMs = [];
const onMs = [];
for (let i = 0; i < CALLS; i++) {
  offMs.push(await timeCall(off, i));
  onMs.push(await timeCall(on, i));
}

async function cannon(g) {
  const result = await autocannon({ url: `${g.url}/mcp`, method: 'POST', headers: headersFor(g), body: body(1), connections: CONNECTIONS, duration: SECONDS, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon saw ${result.non2xx} non-2xx and ${result.errors} errors on ${g.name}`);
  if (g === on) answered += result.requests.total;
  return result.requests.average;
}
const offRps = [];
const onRps = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which goes first, so drift on a shared machine hits both alike.
  if (r % 2 === 0) {
    offRps.push(await cannon(off));
    onRps.push(await cannon(on));
  } else {
    onRps.push(await cannon(on));
    offRps.push(await cannon(off));
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// Every answered call of "on" must be in its audit trail (flushed within 200 ms).
await new Promise((r) => setTimeout(r, 1000));
const metrics = await (await fetch(`${on.url}/metrics`)).text();
const written = Number(/^gatehouse_audit_records_written_total (\d+)/m.exec(metrics)?.[1] ?? NaN);
const dropped = Number(/^gatehouse_audit_records_dropped_total (\d+)/m.exec(metrics)?.[1] ?? NaN);

const f = (x) => x.toFixed(3);
console.log(
  JSON.stringify(
    {
      calls: CALLS,
      latencyMs: {
        off: { p50: f(pct(offMs, 50)), p99: f(pct(offMs, 99)) },
        on: { p50: f(pct(onMs, 50)), p99: f(pct(onMs, 99)) },
        addedByPipeline: { p50: f(pct(onMs, 50) - pct(offMs, 50)), p99: f(pct(onMs, 99) - pct(offMs, 99)) },
      },
      throughput: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        rounds: ROUNDS,
        offRps: offRps.map(Math.round),
        onRps: onRps.map(Math.round),
        drop: `${((1 - mean(onRps) / mean(offRps)) * 100).toFixed(1)}%`,
      },
      audit: { answeredCalls: answered, recordsWritten: written, dropped },
      rssMb: { off: memoryMb(off.child.pid), on: memoryMb(on.child.pid) },
      node: process.version,
    },
    null,
    2,
  ),
);

for (const g of [off, on]) {
  g.child.kill('SIGTERM');
  await g.pool.close();
}
backend.close();
idp.close();
