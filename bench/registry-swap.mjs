// Config reload: how long a reload takes to swap in a new registry, and what
// swapping does to calls running meanwhile.
//
//   npm run build && node bench/registry-swap.mjs [--operations 1000] [--reloads 10] [--seconds 5] [--connections 16]
//
// The gateway is the built CLI (`gatehouse serve`, a child process) serving two
// backends: `big` (a synthetic spec of N operations, tools: all) and `small`
// (the stub fixture). Reloads are SIGHUPs; their duration is the gateway's own
// measurement (`/readyz` → lastReload.ms: config read, fingerprints, imports,
// registry build and swap). Measured:
//  1. reload time when only `big` changed (its spec toggles between two titles:
//     all N operations re-imported), when only `small` changed (big's tools
//     reused), and when nothing changed;
//  2. tools/call latency at C concurrent callers of a `big` tool: without
//     reloads, with `big` re-imported and swapped once a second, and back to back;
//     and the gateway's own longest event-loop pause in each phase (prom-client's
//     nodejs_eventloop_lag_max_seconds from /metrics, 10 ms resolution, reset by
//     each scrape). Imports run on the gateway's import thread
//     (src/openapi/import-worker-client.ts); the pause is what stays on its loop.
// Prints one JSON object.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { freePort, listen, startGatewayProcess } from './lib.mjs';
import { syntheticSpec } from './synthetic-spec.mjs';

const { values } = parseArgs({
  options: {
    operations: { type: 'string', default: '1000' },
    reloads: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
  },
});
const OPERATIONS = Number(values.operations);
const RELOADS = Number(values.reloads);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);

const ITEM = JSON.stringify({ id: '42', name: 'widget' });
const backend = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ITEM) });
  res.end(ITEM);
});
const backendPort = await listen(backend);
const backendUrl = `http://127.0.0.1:${backendPort}`;

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-swap-'));
const configFile = join(dir, 'gatehouse.yaml');
// Both versions made once: generating them during the load would stall the callers, not the gateway.
const bigSpecs = { A: JSON.stringify(syntheticSpec({ operations: OPERATIONS, title: 'Synthetic A', serverUrl: backendUrl })), B: JSON.stringify(syntheticSpec({ operations: OPERATIONS, title: 'Synthetic B', serverUrl: backendUrl })) };
writeFileSync(join(dir, 'big.json'), bigSpecs.A);
copyFileSync(new URL('../test/fixtures/stub-api.yaml', import.meta.url), join(dir, 'small.yaml'));
const port = await freePort();
const writeConfig = (smallTimeout) =>
  writeFileSync(
    configFile,
    `server: { host: 127.0.0.1, port: ${port} }
log: { level: warn }
audit: { store: none }
backends:
  - { name: big, spec: ./big.json, tools: all }
  - { name: small, spec: ./small.yaml, baseUrl: "${backendUrl}/api", timeoutMs: ${smallTimeout} }
`,
  );
writeConfig(10_000);

const { child, url } = await startGatewayProcess(configFile, port);
const pool = new Pool(url, { connections: CONNECTIONS + 2 });

/** The gateway's longest event-loop pause (ms) since the previous scrape. */
const loopMaxMs = async () => {
  const res = await pool.request({ path: '/metrics', method: 'GET' });
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await res.body.text());
  return m ? round(Number(m[1]) * 1000) : undefined;
};
const readyz = async () => {
  const res = await pool.request({ path: '/readyz', method: 'GET' });
  return res.body.json();
};
/** Sends SIGHUP and waits for the gateway to report the reload it ran. */
async function reload() {
  const before = (await readyz()).lastReload?.at;
  child.kill('SIGHUP');
  for (let i = 0; ; i++) {
    const last = (await readyz()).lastReload;
    if (last !== undefined && last.at !== before) return last;
    if (i > 2_000) throw new Error('reload not reported');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: round(q(0.5)), p95: round(q(0.95)), p99: round(q(0.99)), max: round(s.at(-1)) };
};
const round = (x) => Math.round(x * 100) / 100;

// 1. Reload times.
let toggle = false;
const changeBig = () => {
  toggle = !toggle;
  writeFileSync(join(dir, 'big.json'), toggle ? bigSpecs.B : bigSpecs.A);
};
let smallTimeout = 10_000;
const changeSmall = () => writeConfig((smallTimeout += 1));

await reload(); // warm-up
const times = { bigChanged: [], smallChanged: [], nothingChanged: [] };
for (let i = 0; i < RELOADS; i++) {
  changeBig();
  const r = await reload();
  if (r.reimported.join() !== 'big') throw new Error(`expected big re-imported, got ${JSON.stringify(r)}`);
  times.bigChanged.push(r.ms);
  changeSmall();
  const s = await reload();
  if (s.reimported.join() !== 'small') throw new Error(`expected small re-imported, got ${JSON.stringify(s)}`);
  times.smallChanged.push(s.ms);
  // The config file watch reloads too, 200 ms after the write: let it pass, or it races the next SIGHUP.
  await new Promise((r) => setTimeout(r, 300));
  const n = await reload();
  if (n.reimported.length !== 0) throw new Error('expected nothing re-imported');
  times.nothingChanged.push(n.ms);
}

// 2. Calls during swaps versus without.
const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big_getBillingInvoice', arguments: { invoice_id: '42' } } });
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
/** `during`: undefined (no reloads), 0 (back to back) or the ms between reloads. */
async function load(seconds, during) {
  const latencies = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const caller = async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const res = await pool.request({ path: '/mcp', method: 'POST', headers, body });
      const text = await res.body.text();
      latencies.push(performance.now() - started);
      if (res.statusCode !== 200 || text.includes('"isError":true') || text.includes('"error"')) errors++;
    }
  };
  const swaps = [];
  const swapper = async () => {
    while (performance.now() < until) {
      changeBig();
      swaps.push((await reload()).ms);
      if (during > 0) await new Promise((r) => setTimeout(r, during));
    }
  };
  const swapping = during !== undefined;
  await loopMaxMs();
  await Promise.all([...Array.from({ length: CONNECTIONS }, caller), ...(swapping ? [swapper()] : [])]);
  return { calls: summary(latencies), errors, gatewayLoopMaxMs: await loopMaxMs(), ...(swapping ? { swaps: summary(swaps) } : {}) };
}
await load(1); // warm-up
const steady = await load(SECONDS);
const everySecond = await load(SECONDS, 1_000);
const backToBack = await load(SECONDS, 0);

console.log(
  JSON.stringify(
    {
      operations: OPERATIONS,
      node: process.version,
      reloadMs: { bigChanged: summary(times.bigChanged), smallChanged: summary(times.smallChanged), nothingChanged: summary(times.nothingChanged) },
      toolsCall: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        steady,
        swapEverySecond: { ...everySecond, p99Ratio: round(everySecond.calls.p99 / steady.calls.p99) },
        swapBackToBack: { ...backToBack, p99Ratio: round(backToBack.calls.p99 / steady.calls.p99) },
      },
    },
    null,
    2,
  ),
);

await pool.close();
child.kill('SIGTERM');
backend.close();
