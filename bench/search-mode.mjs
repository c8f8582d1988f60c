// Search mode on a large generated spec: start-up, tools/list, search, memory.
//
//   npm run build && node bench/search-mode.mjs [--operations 10000] [--searches 200]
//
// Writes a synthetic spec (bench/synthetic-spec.mjs) and starts the gateway on
// it as a child process (so its memory is its own), with the backend in
// search mode by default (`tools: auto`, over the 128-tool budget). Prints:
//  1. import + serve: from spawn until /readyz answers, and the backend's tool count;
//  2. tools/list: response bytes in both eras and median latency;
//  3. the first search (it builds the index) and the median of the next ones;
//  4. describe and call_operation medians (call against a local stub backend);
//  5. the gateway's RSS after start-up, after the first search, and its peak.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { syntheticSpec } from './synthetic-spec.mjs';
import { freePort, listen, memoryMb } from './lib.mjs';

const { values } = parseArgs({
  options: {
    operations: { type: 'string', default: '10000' },
    searches: { type: 'string', default: '200' },
  },
});
const OPERATIONS = Number(values.operations);
const SEARCHES = Number(values.searches);
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));


const backend = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1","name":"widget"}');
  });
});
const backendPort = await listen(backend);
const port = await freePort();

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-search-bench-'));
const specFile = join(dir, 'synthetic.json');
const spec = JSON.stringify(syntheticSpec({ operations: OPERATIONS }));
writeFileSync(specFile, spec);
const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(
  configFile,
  `server: { host: 127.0.0.1, port: ${port} }
log: { level: warn }
backends:
  - name: big
    spec: ${JSON.stringify(specFile)}
    baseUrl: http://127.0.0.1:${backendPort}
`,
);

const started = performance.now();
const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
let ready;
for (;;) {
  try {
    const res = await fetch(`${base}/readyz`);
    if (res.ok) {
      ready = await res.json();
      break;
    }
  } catch {
    /* not listening yet */
  }
  if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
  await new Promise((r) => setTimeout(r, 20));
}
const startupMs = performance.now() - started;
const rss = () => memoryMb(child.pid);
const rssReady = rss();

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
let nextId = 1;
async function rpc(era, method, params = {}) {
  const modern = era === 'modern';
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': modern ? '2026-07-28' : '2025-11-25',
      ...(modern ? { 'mcp-method': method, ...(params.name ? { 'mcp-name': params.name } : {}) } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: modern ? { ...params, _meta: META } : params }),
  });
  const text = await res.text();
  const message = JSON.parse(text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: ')).slice(6));
  if (message.error) throw new Error(`${method}: ${message.error.message}`);
  return { bytes: Buffer.byteLength(text), result: message.result };
}
async function timed(fn) {
  const t = performance.now();
  const out = await fn();
  return { ms: performance.now() - t, out };
}
async function median(n, fn) {
  const times = [];
  for (let i = 0; i < n; i++) times.push((await timed(() => fn(i))).ms);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const listLegacy = await rpc('legacy', 'tools/list');
const listModern = await rpc('modern', 'tools/list');
const listMs = await median(200, () => rpc('legacy', 'tools/list'));

const QUERIES = ['delete a fleet vehicle', 'list invoices', 'create customer subscription', 'update warehouse pallet', 'get driver', 'refund payment', 'archive document', 'sensor telemetry alerts'];
const search = (q) => rpc('legacy', 'tools/call', { name: 'big_search_operations', arguments: { query: q, limit: 10 } });
const first = await timed(() => search('remove a fleet vehicle'));
const rssSearched = rss();
const top = first.out.result.structuredContent.results[0]?.name;
const searchMs = await median(SEARCHES, (i) => search(QUERIES[i % QUERIES.length]));
const describeMs = await median(200, () => rpc('legacy', 'tools/call', { name: 'big_describe_operation', arguments: { name: 'big_createBillingInvoice' } }));
const callMs = await median(200, () => rpc('legacy', 'tools/call', { name: 'big_call_operation', arguments: { name: 'big_getBillingInvoice', arguments: { invoice_id: '1' } } }));
const directMs = await median(200, () => rpc('legacy', 'tools/call', { name: 'big_getBillingInvoice', arguments: { invoice_id: '1' } }));
const rssEnd = rss();

child.kill('SIGTERM');
backend.close();

const b = ready.backends[0];
const f = (ms) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
const mb = (x) => `${x.toFixed(0)} MiB`;
console.log(`search mode, ${OPERATIONS} operations (spec ${(spec.length / 1024 / 1024).toFixed(1)} MB, Node ${process.version})
import + serve (spawn → /readyz)   ${f(startupMs)}   backend ${b.name}: ${b.state}, ${b.tools} tools, listing ${b.listing}
tools/list bytes                   legacy ${listLegacy.bytes}, modern ${listModern.bytes} (${listLegacy.result.tools.length} tools)
tools/list median                  ${f(listMs)}
first search (builds the index)    ${f(first.ms)}   top hit for "remove a fleet vehicle": ${top}
search median (${SEARCHES} searches)      ${f(searchMs)}
describe median                    ${f(describeMs)}
call_operation median              ${f(callMs)}   (direct call of the same operation: ${f(directMs)})
RSS                                ready ${mb(rssReady.rss)}, after first search ${mb(rssSearched.rss)}, end ${mb(rssEnd.rss)}, peak ${mb(rssEnd.peak)}`);
