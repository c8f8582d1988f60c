// What `audit.durability: sync` costs on tools/call: requests/s and latency with
// the audit trail batched (the default) and sync, for the SQLite store (worker
// thread) and the PostgreSQL store, measured in the same run, interleaved.
//
//   npm run build && node bench/audit-durability.mjs [--seconds 5] [--connections 32] [--calls 1000] [--stores sqlite,postgres] [--rounds 2]
//
// PostgreSQL: 127.0.0.1:5432/test (trust auth, as the tests use); each gateway
// writes a table of its own, dropped at the end. For each store and round, each
// durability in turn: a fresh gateway (child process), 300 warm-up calls, N
// sequential calls (p50, p99), then autocannon at C connections for S seconds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { Pool } from 'undici';
import { freePort, listen, startGatewayProcess } from './lib.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    calls: { type: 'string', default: '1000' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    rounds: { type: 'string', default: '2' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const PG_URL = `postgres://${encodeURIComponent(process.env.PGUSER ?? userInfo().username)}@127.0.0.1:5432/test`;

const ITEM = JSON.stringify({ id: '42', name: 'widget', quantity: 7 });
const backend = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ITEM) });
  res.end(ITEM);
});
const backendPort = await listen(backend);
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-durability-'));
const tables = [];

const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
const body = (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'bench_getItem', arguments: { itemId: '42' } } });
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function measure(store, durability, round) {
  const port = await freePort();
  const table = `bench_durability_${process.pid}_${store}_${durability}_${round}`;
  const audit =
    store === 'postgres'
      ? `audit: { store: postgres, postgres: { url: "${PG_URL}", table: ${table} }, durability: ${durability} }`
      : `audit: { store: sqlite, durability: ${durability} }`;
  if (store === 'postgres') tables.push(table);
  const configFile = join(dir, `${table}.yaml`);
  writeFileSync(
    configFile,
    `server: { host: 127.0.0.1, port: ${port} }
log: { level: warn }
dataDir: ${join(dir, table)}
${audit}
backends:
  - name: bench
    spec: ${new URL('./fixtures-api.yaml', import.meta.url).pathname}
    baseUrl: http://127.0.0.1:${backendPort}
`,
  );
  const { child, url } = await startGatewayProcess(configFile, port);
  const pool = new Pool(url, { connections: 1 });
  const call = async (id) => {
    const t = process.hrtime.bigint();
    const res = await pool.request({ method: 'POST', path: '/mcp', headers, body: body(id) });
    const text = await res.body.text();
    if (res.statusCode !== 200 || text.includes('"isError":true')) throw new Error(`bad answer ${res.statusCode}: ${text.slice(0, 300)}`);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  for (let i = 0; i < 300; i++) await call(i);
  const ms = [];
  for (let i = 0; i < CALLS; i++) ms.push(await call(i));
  const load = await autocannon({ url: `${url}/mcp`, method: 'POST', headers, body: body(1), connections: CONNECTIONS, duration: SECONDS, pipelining: 1 });
  if (load.non2xx > 0 || load.errors > 0) throw new Error(`autocannon saw ${load.non2xx} non-2xx and ${load.errors} errors`);
  await pool.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { store, durability, round, rps: Math.round(load.requests.average), loadP50Ms: load.latency.p50, p50Ms: pct(ms, 50).toFixed(3), p99Ms: pct(ms, 99).toFixed(3) };
}

const rows = [];
for (const store of values.stores.split(',')) {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const durability of round % 2 === 1 ? ['batched', 'sync'] : ['sync', 'batched']) rows.push(await measure(store, durability, round));
  }
}
console.log(JSON.stringify({ connections: CONNECTIONS, seconds: SECONDS, sequentialCalls: CALLS, node: process.version, rows }, null, 2));

if (tables.length > 0) {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${t}`);
  await db.end();
}
backend.close();
rmSync(dir, { recursive: true, force: true });
