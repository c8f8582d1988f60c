/**
 * Every call a client saw complete has its audit record, on SQLite (on its
 * worker thread and on the event loop) and on PostgreSQL (127.0.0.1:5432/test, trust auth): under concurrency, and when
 * the gateway process is stopped with SIGTERM in the middle of a stream of
 * calls. Records are read straight from the store, not through the gateway.
 * PostgreSQL tables are unique per run and dropped afterwards.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { auditStores, pgUrl, stubBackendYaml, type StoreKind } from '../helpers/audit-stores.js';
import { startTestGateway } from '../helpers/gateway.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { callTool } from '../helpers/tool-call.js';

/** Trust auth as the OS user, as psql does (pg alone reads only $USER, unset in some CI shells). */
const RUN = randomUUID().slice(0, 8);
/** The backend takes a little time per call, so calls overlap in the gateway. */
const BACKEND_DELAY_MS = 5;

/** `sqlite` writes on a worker thread (the default); `sqlite-loop` on the event loop (`audit.sqlite.thread: false`). */
let stub: StubBackend;
let admin: pg.Client;
const stores = auditStores('done');
const gateways: Gateway[] = [];
const processes: GatewayProcess[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: pgUrl() });
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
  await stores.cleanup(admin);
});

afterAll(async () => {
  await admin?.end();
  await stub?.close();
});

/** A fresh state directory (and for PostgreSQL a fresh table), removed after the test. */
const newStore = (kind: StoreKind) => stores.create(kind, 'queue: { flushIntervalMs: 20 }');
const storedIds = (kind: StoreKind, store: { dir: string; table: string; yaml: string }) => stores.storedIds(admin, kind, store);

const backendYaml = () => stubBackendYaml(stub.url);

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

    await gateway.runtime.audit.writer!.flush();
    const stored = await storedIds(kind, store);
    expect(stored).toHaveLength(N);
    expect(new Set(stored).size).toBe(N);
    expect([...stored].sort()).toEqual([...ids].sort());
    expect(gateway.runtime.audit.writer!.stats()).toMatchObject({ written: N, dropped: 0, queued: 0 });
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
