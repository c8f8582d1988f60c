// Start-up cost of big specs: how long from `gatehouse serve` to the first
// tools/list an agent can get, how big that list is, and what the gateway
// holds in memory afterwards.
//
//   npm run build && node bench/startup.mjs [--runs 5] [--only one,github,kubernetes,stripe,synthetic] [--operations 10000] [--no-peer]
//
// For each spec (GitHub, Kubernetes and Stripe from specs/real, and
// a synthetic spec of 10,000+ operations served with `tools: search`):
//  - start → first tools/list: spawns `node dist/cli/main.js serve` with a
//    config holding that one backend (baseUrl http://127.0.0.1:9, log level
//    warn, a free port) and polls /mcp with a legacy (2025-11-25, stateless)
//    tools/list POST until one succeeds; the time from spawn to that answer,
//    median of --runs runs, each in a fresh process;
//  - tools/list bytes: the JSON-RPC `result` of every page, cursor by cursor;
//  - the gateway's RSS (VmRSS) once the whole list has been read;
//  - the peer, @ivotoby/openapi-mcp-server, in the same runs (alternating with
//    Gatehouse, run by run): spawned with `--transport http --port <free>
//    --openapi-spec <file> --api-base-url http://127.0.0.1:9`; its HTTP
//    transport keeps sessions, so it is polled with `initialize` until one
//    answers, then sent `notifications/initialized` and `tools/list` with the
//    session id; the time from spawn to that tools/list answer (two more local
//    round trips than Gatehouse's, well under a millisecond each). --no-peer skips it;
//  - a one-operation spec (row "one operation"): the fixed cost of starting;
//  - importBackend alone, in a fresh process: module load and import time
//    (median), so the cost of the importer can be told from the rest of the
//    start-up.
// Prints one JSON report. The machine's load is part of it: timings on a
// shared machine swing widely, compare runs made under the same load.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, memoryMb } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist', 'cli', 'main.js');
const IMPORTER = join(ROOT, 'dist', 'openapi', 'import-backend.js');
const REAL = fileURLToPath(new URL('../specs/real/', import.meta.url));
const SYNTHETIC = new URL('./synthetic-spec.mjs', import.meta.url);
// The peer: @ivotoby/openapi-mcp-server (a dev dependency), over its Streamable HTTP transport.
const PEER = join(ROOT, 'node_modules', '@ivotoby', 'openapi-mcp-server', 'bin', 'mcp-server.js');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    only: { type: 'string' },
    operations: { type: 'string', default: '10000' },
    'no-peer': { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const ONLY = values.only ? new Set(values.only.split(',')) : undefined;
const START_TIMEOUT_MS = 120_000;
const WITH_PEER = !values['no-peer'] && existsSync(PEER);

if (!existsSync(MAIN) || !existsSync(IMPORTER)) {
  console.error('bench/startup: dist/ is missing; run `npm run build` first.');
  process.exit(1);
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x) => Math.round(x);


/** One POST /mcp tools/list; resolves to { status, body } or rejects on a connection error. */
function listTools(port, cursor) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: cursor === undefined ? {} : { cursor } });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers: { ...HEADERS, 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One JSON-RPC POST to the peer's /mcp; resolves to { status, headers, body }. */
function postPeer(port, message, session) {
  const body = JSON.stringify(message);
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body), ...(session ? { 'mcp-session-id': session } : {}) };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One cold start of the peer: spawn, initialize until it answers, then tools/list in that session; stop. */
async function peerOnce(spec) {
  const port = await freePort();
  let output = '';
  const started = performance.now();
  const child = spawn(process.execPath, [PEER, '--transport', 'http', '--port', String(port), '--host', '127.0.0.1', '--openapi-spec', spec, '--api-base-url', 'http://127.0.0.1:9'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c) => (output = (output + c).slice(-4000)));
  child.stderr.on('data', (c) => (output = (output + c).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone;
  exited.then((e) => (gone = e));
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } };
  try {
    let session;
    while (session === undefined) {
      if (gone) throw new Error(`the peer exited (${gone.code ?? gone.signal}) before answering:\n${output}`);
      if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`the peer did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
      try {
        const answer = await postPeer(port, init);
        if (answer.status === 200) session = String(answer.headers['mcp-session-id']);
      } catch {
        // Not listening yet.
      }
      if (session === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    await postPeer(port, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    const listed = resultOf(await postPeer(port, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, session));
    if (listed === undefined) throw new Error(`the peer's tools/list failed:\n${output}`);
    return { firstListMs: performance.now() - started, tools: listed.tools.length, rssMb: memoryMb(child.pid).rss };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** The JSON-RPC result of a tools/list answer (JSON or a one-event SSE stream), or undefined. */
function resultOf(answer) {
  if (answer.status !== 200) return undefined;
  let text = answer.body;
  if (answer.contentType.includes('text/event-stream')) {
    const data = text.split('\n').filter((l) => l.startsWith('data:'));
    text = data.map((l) => l.slice(5).trim()).join('');
  }
  try {
    const message = JSON.parse(text);
    return Array.isArray(message?.result?.tools) ? message.result : undefined;
  } catch {
    return undefined;
  }
}


/** One cold start: spawn, poll until the first tools/list answers, read every page, measure RSS, stop. */
async function startOnce(dir, backendYaml) {
  const port = await freePort();
  const config = join(dir, `gatehouse-${port}.yaml`);
  writeFileSync(config, `server: { host: 127.0.0.1, port: ${port} }\nlog: { level: warn }\nbackends:\n${backendYaml}`);
  let output = '';
  const keep = (c) => {
    output = (output + c).slice(-4000);
  };
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone;
  exited.then((e) => (gone = e));
  try {
    let first;
    while (first === undefined) {
      if (gone) throw new Error(`the gateway exited (${gone.code ?? gone.signal}) before serving tools/list:\n${output}`);
      if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`no tools/list answer within ${START_TIMEOUT_MS} ms:\n${output}`);
      try {
        first = resultOf(await listTools(port));
      } catch {
        // Not listening yet.
      }
      if (first === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    const firstListMs = performance.now() - started;
    let bytes = Buffer.byteLength(JSON.stringify(first));
    let tools = first.tools.length;
    let pages = 1;
    for (let page = first; page.nextCursor !== undefined; pages++) {
      page = resultOf(await listTools(port, page.nextCursor));
      if (page === undefined) throw new Error('a tools/list page failed');
      bytes += Buffer.byteLength(JSON.stringify(page));
      tools += page.tools.length;
    }
    return { firstListMs, bytes, tools, pages, rssMb: memoryMb(child.pid).rss };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** importBackend alone in a fresh process: module load and import, in ms. */
async function importOnce(spec) {
  const script = `
    const t0 = performance.now();
    const { importBackend } = await import(${JSON.stringify(pathToFileURL(IMPORTER).href)});
    const t1 = performance.now();
    const r = await importBackend({ name: 'api', spec: ${JSON.stringify(spec)}, baseUrl: 'http://127.0.0.1:9' });
    const t2 = performance.now();
    process.stdout.write(JSON.stringify({ moduleLoadMs: t1 - t0, importMs: t2 - t1, tools: r.tools.length }));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`importBackend failed for ${spec}`);
  return JSON.parse(out);
}

async function measure(name, spec, backendYaml, { withImport, withPeer = WITH_PEER }) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-startup-'));
  try {
    const starts = [];
    const peers = [];
    // Alternating, run by run, so that both see the same load.
    for (let i = 0; i < RUNS; i++) {
      starts.push(await startOnce(dir, backendYaml));
      if (withPeer) peers.push(await peerOnce(spec));
    }
    const last = starts[starts.length - 1];
    const row = {
      spec: name,
      tools: last.tools,
      firstListMs: { median: round(median(starts.map((s) => s.firstListMs))), runs: starts.map((s) => round(s.firstListMs)) },
      toolsListBytes: last.bytes,
      pages: last.pages,
      rssMb: { median: median(starts.map((s) => s.rssMb)), runs: starts.map((s) => s.rssMb) },
    };
    if (withPeer) {
      row.peer = {
        name: '@ivotoby/openapi-mcp-server',
        tools: peers[peers.length - 1].tools,
        firstListMs: { median: round(median(peers.map((p) => p.firstListMs))), runs: peers.map((p) => round(p.firstListMs)) },
        rssMb: { median: median(peers.map((p) => p.rssMb)) },
      };
    }
    if (withImport) {
      const imports = [];
      for (let i = 0; i < RUNS; i++) imports.push(await importOnce(spec));
      row.importBackend = {
        moduleLoadMs: round(median(imports.map((x) => x.moduleLoadMs))),
        importMs: { median: round(median(imports.map((x) => x.importMs))), runs: imports.map((x) => round(x.importMs)) },
      };
    }
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const backend = (name, spec, extra = '') => `  - name: ${name}\n    spec: ${JSON.stringify(spec)}\n    baseUrl: http://127.0.0.1:9\n${extra}`;

const report = {
  node: process.version,
  cpus: cpus().length,
  loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  runs: RUNS,
  results: [],
};

if (!ONLY || ONLY.has('one')) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-one-'));
  const spec = join(dir, 'one.json');
  writeFileSync(spec, JSON.stringify({ openapi: '3.0.3', info: { title: 'one', version: '1' }, paths: { '/ping': { get: { operationId: 'ping', responses: { 200: { description: 'ok' } } } } } }));
  try {
    report.results.push(await measure('one operation', spec, backend('api', spec), { withImport: false }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const real = [
  { key: 'github', file: 'github.com_api.github.com.json' },
  { key: 'kubernetes', file: 'kubernetes.io.json' },
  { key: 'stripe', file: 'stripe.com.json' },
];
for (const { key, file } of real) {
  if (ONLY && !ONLY.has(key)) continue;
  const spec = join(REAL, file);
  // Every operation listed (`tools: all`), whatever the default listing mode.
  report.results.push(await measure(key, spec, backend('api', spec, '    tools: all\n'), { withImport: true }));
}

if (!ONLY || ONLY.has('synthetic')) {
  if (!existsSync(SYNTHETIC)) {
    report.results.push({ spec: 'synthetic', skipped: 'bench/synthetic-spec.mjs does not exist yet' });
  } else {
    const { syntheticSpec } = await import(SYNTHETIC.href);
    const operations = Math.max(10_000, Number(values.operations));
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-synthetic-'));
    const spec = join(dir, 'synthetic.json');
    writeFileSync(spec, JSON.stringify(syntheticSpec({ operations })));
    try {
      const row = await measure(`synthetic (${operations} operations, tools: search)`, spec, backend('api', spec, '    tools: search\n'), { withImport: true, withPeer: false });
      row.specBytes = readFileSync(spec).length;
      report.results.push(row);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

report.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
console.log(JSON.stringify(report, null, 2));
