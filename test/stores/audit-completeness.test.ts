/**
 * Every call a client saw complete has its audit record, on SQLite (on its
 * worker thread and on the event loop) and on PostgreSQL (127.0.0.1:5432/test, trust auth): under concurrency, and when
 * the gateway process is stopped with SIGTERM in the middle of a stream of
 * calls. Records are read straight from the store, not through the gateway.
 * PostgreSQL tables are unique per run and dropped afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { FIXTURES, startTestGateway } from '../helpers/gateway.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { callTool } from '../helpers/tool-call.js';

/** Trust auth as the OS user, as psql does (pg alone reads only $USER, unset in some CI shells). */
const PG_USER = encodeURIComponent(process.env.PGUSER ?? userInfo().username);
const PG_URL = `postgres://${PG_USER}@127.0.0.1:5432/test`;
const RUN = randomUUID().slice(0, 8);
/** The backend takes a little time per call, so calls overlap in the gateway. */
const BACKEND_DELAY_MS = 5;

/** `sqlite` writes on a worker thread (the default); `sqlite-loop` on the event loop (`audit.sqlite.thread: false`). */
type StoreKind = 'sqlite' | 'sqlite-loop' | 'postgres';

let stub: StubBackend;
let admin: pg.Client;
let seq = 0;
const dirs: string[] = [];
const tables: string[] = [];
const gateways: Gateway[] = [];
const processes: GatewayProcess[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  stub = await startStubBackend();
  stub.handle((req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: req.url.split('/').pop(), name: 'audited' }));
    }, BACKEND_DELAY_MS);
  });
});

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  for (const t of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${t}`);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  await admin?.end();
  await stub?.close();
});

/** A fresh state directory (and for PostgreSQL a fresh table), removed after the test. */
function newStore(kind: StoreKind): { dir: string; table: string; yaml: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-'));
  dirs.push(dir);
  const table = `audit_done_${process.pid}_${Date.now().toString(36)}_${seq++}`;
  if (kind === 'postgres') tables.push(table);
  const audit =
    kind === 'sqlite'
      ? 'audit: { store: sqlite, queue: { flushIntervalMs: 20 } }'
      : kind === 'sqlite-loop'
        ? 'audit: { store: sqlite, sqlite: { thread: false }, queue: { flushIntervalMs: 20 } }'
        : `audit: { store: postgres, postgres: { url: "${PG_URL}", table: ${table} }, queue: { flushIntervalMs: 20 } }`;
  return { dir, table, yaml: `dataDir: ${join(dir, 'data')}\n${audit}\n` };
}

/** The request ids of every stored record (one entry per row), read from the store itself. */
async function storedIds(kind: StoreKind, store: { dir: string; table: string }): Promise<string[]> {
  if (kind === 'postgres') {
    const { rows } = await admin.query<{ request_id: string }>(`SELECT request_id FROM ${store.table}`);
    return rows.map((r) => r.request_id);
  }
  const db = new Database(join(store.dir, 'data', 'audit.db'), { readonly: true });
  try {
    return (db.prepare('SELECT request_id FROM audit').all() as Array<{ request_id: string }>).map((r) => r.request_id);
  } finally {
    db.close();
  }
}

const backendYaml = () => `backends:
  - name: stub
    spec: ${join(FIXTURES, 'stub-api.yaml')}
    baseUrl: ${stub.url}/api
    maxConcurrent: 1000
`;

describe.each(['sqlite', 'sqlite-loop', 'postgres'] as const)('audit completeness on %s', (kind) => {
  it('300 concurrent calls through a gateway → exactly 300 records, one per request id', async () => {
    const store = newStore(kind);
    const gateway = await startTestGateway(`${store.yaml}${backendYaml()}`);
    gateways.push(gateway);
    const N = 300;
    const ids = Array.from({ length: N }, (_, i) => `conc-${RUN}-${kind}-${i}`);
    const results = await Promise.all(ids.map((id, i) => callTool(gateway.url, 'stub_getItem', { itemId: String(i) }, id)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.result?.isError, JSON.stringify(r.result)).toBeUndefined();
    }
    expect(results.map((r) => r.requestId)).toEqual(ids);

    await gateway.runtime.pipeline.auditWriter!.flush();
    const stored = await storedIds(kind, store);
    expect(stored).toHaveLength(N);
    expect(new Set(stored).size).toBe(N);
    expect([...stored].sort()).toEqual([...ids].sort());
    expect(gateway.runtime.pipeline.auditWriter!.stats()).toMatchObject({ written: N, dropped: 0, queued: 0 });
  });

  it('SIGTERM in the middle of a stream of calls: exit 0, and every call that completed is recorded', async () => {
    const store = newStore(kind);
    const config = writeConfigFile(store.dir, 'gatehouse.yaml', `server: { port: 0 }\n${store.yaml}${backendYaml()}`);
    const gateway = await spawnGateway(config);
    processes.push(gateway);
    let exited = false;
    void gateway.exited.then(() => (exited = true));

    // 16 callers, each sending its next call as soon as the last one answers.
    const WORKERS = 16;
    const completed: string[] = [];
    const sent: string[] = [];
    let failedBeforeSignal = 0;
    let failedAfterSignal = 0;
    let completedAfterSignal = 0;
    let signalled = false;
    const worker = async (w: number) => {
      for (let i = 0; !exited; i++) {
        const id = `term-${RUN}-${kind}-${w}-${i}`;
        sent.push(id);
        try {
          const r = await callTool(gateway.url, 'stub_getItem', { itemId: `${w}-${i}` }, id);
          if (r.status === 200 && r.result !== undefined && r.result.isError === undefined) {
            completed.push(id);
            if (signalled) completedAfterSignal++;
            continue;
          }
        } catch {
          // The connection was closed or refused: the server is going away.
        }
        if (!signalled) {
          failedBeforeSignal++;
          continue;
        }
        failedAfterSignal++;
        return;
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

    await expect.poll(() => completed.length, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(300);
    const completedBeforeSignal = completed.length;
    signalled = true;
    const exit = await gateway.stop('SIGTERM', 15_000);
    await Promise.all(workers);

    expect(exit, gateway.output().stderr).toEqual({ code: 0, signal: null });
    expect(failedBeforeSignal).toBe(0);
    // The stream went on into the shutdown until the gateway stopped taking calls.
    expect(failedAfterSignal).toBeGreaterThan(0);
    const stored = await storedIds(kind, store);
    const storedSet = new Set(stored);
    const missing = completed.filter((id) => !storedSet.has(id));
    expect(missing, `${completed.length} completed (${completedBeforeSignal} before SIGTERM, ${completedAfterSignal} after), ${failedAfterSignal} refused after it, ${stored.length} stored`).toEqual([]);
    // Nothing twice, nothing that was never sent.
    expect(storedSet.size).toBe(stored.length);
    const sentSet = new Set(sent);
    expect(stored.filter((id) => !sentSet.has(id))).toEqual([]);
  });
});
