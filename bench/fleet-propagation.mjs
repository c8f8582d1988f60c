// A fleet: how long a backend registered through one replica takes to be served
// by another.
//
//   npm run build && node bench/fleet-propagation.mjs [--changes 20] [--operations 100] [--pg postgres://postgres@127.0.0.1:5432/test]
//
// Two `gatehouse serve` processes (the built CLI) share one PostgreSQL table of
// runtime backends (admin.store: postgres). Each change is made on replica A
// through the admin API (PUT /admin/backends/bench with an inline synthetic spec
// of N operations and an `include` that changes every time, so each change
// gives a different tool list). The clock starts when A's answer arrives, i.e.
// when A itself serves the change, and stops when replica B's tools/list shows
// it (polled every 5 ms). Also timed: A's own answer (trial import, store,
// swap), and from sending the request to B serving the change. Prints one JSON object; the table is dropped afterwards.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort, startGatewayProcess } from './lib.mjs';
import { syntheticSpec } from './synthetic-spec.mjs';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '20' },
    operations: { type: 'string', default: '100' },
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const CHANGES = Number(values.changes);
const OPERATIONS = Number(values.operations);
const TABLE = `bench_backends_${process.pid}`;
const KEY = 'bench-admin-key-0123456789';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-fleet-'));
const ports = [await freePort(), await freePort()];
const replicas = [];
for (const [i, port] of ports.entries()) {
  const file = join(dir, `gatehouse-${i}.yaml`);
  writeFileSync(
    file,
    `server: { port: ${port} }\nlog: { level: warn }\ndataDir: ${join(dir, `data-${i}`)}\naudit: { store: none }\nmetrics: { enabled: false }\n` +
      `admin:\n  apiKey: ${KEY}\n  store: postgres\n  postgres: { url: "${values.pg}", table: ${TABLE} }\n`,
  );
  replicas.push(await startGatewayProcess(file, port, `replica ${i}`));
}
const [a, b] = replicas;

const spec = syntheticSpec({ operations: OPERATIONS });
const operationIds = Object.values(spec.paths).flatMap((item) => Object.values(item).map((op) => op.operationId)).filter(Boolean);

async function toolNames(url) {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  const text = await res.text();
  const json = text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: ')).slice(6);
  return JSON.parse(json).result.tools.map((t) => t.name);
}

const pickup = [];
const answer = [];
const total = [];
try {
  for (let i = 0; i < CHANGES; i++) {
    // Each change serves a different count of operations: B has it when its list is that long.
    const keep = operationIds.slice(0, 1 + (i % (operationIds.length - 1)) + (i % 2));
    const sent = performance.now();
    const res = await fetch(`${a.url}/admin/backends/bench`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ spec, baseUrl: 'http://127.0.0.1:9/api', tools: 'all', include: { operations: keep } }),
    });
    if (!res.ok) throw new Error(`PUT: ${res.status} ${await res.text()}`);
    const body = await res.json();
    const answered = performance.now();
    answer.push(answered - sent);
    for (;;) {
      const names = await toolNames(b.url);
      if (names.length === body.tools) break;
      if (performance.now() - answered > 10_000) throw new Error(`replica B still lists ${names.length} tools, expected ${body.tools}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    pickup.push(performance.now() - answered);
    total.push(performance.now() - sent);
  }
} finally {
  for (const r of replicas) r.child.kill('SIGTERM');
  const db = new pg.Client({ connectionString: values.pg });
  await db.connect();
  await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db.end();
}

const stats = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s.at(-1).toFixed(1) };
};
console.log(JSON.stringify({ changes: CHANGES, operations: OPERATIONS, replicaPickupMs: stats(pickup), adminAnswerMs: stats(answer), requestToReplicaMs: stats(total) }, null, 2));
