/**
 * `audit.durability: sync`: a tool call is answered only once its record is
 * committed. A spawned gateway is killed with SIGKILL (nothing flushed, no
 * shutdown) right after a stream of calls from 16 concurrent callers; every call
 * a client saw answered has its record in the store, on SQLite (worker thread
 * and event loop) and on PostgreSQL (127.0.0.1:5432/test, trust auth). Records
 * are read from the store itself. Then the PostgreSQL store is taken away
 * (through a TCP proxy): calls get GH_AUDIT_NOT_DURABLE, and once the store is
 * known to be down, nothing reaches the backend.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { auditStores, pgUrl, stubBackendYaml, type StoreKind } from '../helpers/audit-stores.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { startTestGateway } from '../helpers/gateway.js';
import { spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { callTool } from '../helpers/tool-call.js';

/** Trust auth as the OS user, as psql does (pg alone reads only $USER, unset in some CI shells). */
const RUN = randomUUID().slice(0, 8);

let stub: StubBackend;
let llm: FakeLLM;
let admin: pg.Client;
const stores = auditStores('durable');
const processes: GatewayProcess[] = [];
const gateways: Gateway[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: pgUrl(5432) });
  await admin.connect();
  llm = await startFakeOpenAI();
  stub = await startStubBackend();
  stub.handle((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: req.url.split('/').pop(), name: 'durable' }));
  });
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  for (const g of gateways.splice(0)) await g.close(0);
  for (const p of proxies.splice(0)) await p.close();
  await stores.cleanup(admin);
});

afterAll(async () => {
  await admin?.end();
  await stub?.close();
  await llm?.close();
});

// A long flush interval by default: only the commit a call waits for can have written its record.
const newStore = (kind: StoreKind, pgPort = 5432, flushIntervalMs = 60_000) => stores.create(kind, `durability: sync, queue: { flushIntervalMs: ${flushIntervalMs} }`, pgPort);
const storedIds = (kind: StoreKind, store: { dir: string; table: string; yaml: string }) => stores.storedIds(admin, kind, store);

const backendYaml = () => stubBackendYaml(stub.url);

describe.each(['sqlite', 'sqlite-loop', 'postgres'] as const)('audit.durability: sync on %s', (kind) => {
  it('SIGKILL right after a stream of calls: every answered call has its record', async () => {
    const store = newStore(kind);
    const gateway = await spawnGateway(writeConfigFile(store.dir, 'gatehouse.yaml', `server: { port: 0 }\nlog: { level: info }\n${store.yaml}${backendYaml()}`));
    processes.push(gateway);
    let killed = false;
    const answered: string[] = [];
    const worker = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const id = `kill-${RUN}-${kind}-${w}-${i}`;
        try {
          const r = await callTool(gateway.url, 'stub_getItem', { itemId: `${w}-${i}` }, id);
          if (r.status === 200 && r.result !== undefined && r.result.isError === undefined) answered.push(id);
          else if (!killed) throw new Error(`call ${id} failed: ${JSON.stringify(r.result)}`);
        } catch (err) {
          if (!killed) throw err;
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await expect.poll(() => answered.length, { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(300);
    // Killed while calls are in flight: the ones answered before the kill are what the clients saw.
    gateway.child.kill('SIGKILL');
    killed = true;
    const seen = answered.length;
    const exit = await gateway.exited;
    await Promise.all(workers);
    expect(exit.signal).toBe('SIGKILL');

    const stored = new Set(await storedIds(kind, store));
    const missing = answered.filter((id) => !stored.has(id));
    expect(missing, `${answered.length} answered (${seen} when killed), ${stored.size} stored`).toEqual([]);
  });
});

describe.each(['sqlite', 'postgres'] as const)('audit.durability: sync for model calls on %s', (kind) => {
  it('SIGKILL right after a stream of chat completions (JSON and streamed): every answered call has its record', async () => {
    const store = newStore(kind);
    const ai = `ai:
  targets:
    oa: { provider: openai-compatible, baseUrl: "${llm.url}/v1", apiKey: upstream-key }
  routes:
    - { model: gpt-4o, targets: [oa] }
`;
    const gateway = await spawnGateway(writeConfigFile(store.dir, 'gatehouse.yaml', `server: { port: 0 }\nlog: { level: info }\n${store.yaml}${ai}`));
    processes.push(gateway);
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    let killed = false;
    const answered: string[] = [];
    const worker = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const id = `llm-${RUN}-${kind}-${w}-${i}`;
        const headers = { 'x-request-id': id };
        try {
          if (i % 2 === 0) {
            const c = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hi ${id}` }] }, { headers });
            if (c.choices[0]?.message.content === undefined) throw new Error('no answer');
          } else {
            const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: `hi ${id}` }] }, { headers });
            // The SDK ends the loop at [DONE]; an error event throws.
            for await (const _chunk of stream);
          }
          answered.push(id);
        } catch (err) {
          if (!killed) throw err;
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await expect.poll(() => answered.length, { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(200);
    gateway.child.kill('SIGKILL');
    killed = true;
    expect((await gateway.exited).signal).toBe('SIGKILL');
    await Promise.all(workers);

    const stored = new Set(await storedIds(kind, store));
    const missing = answered.filter((id) => !stored.has(id));
    expect(missing, `${answered.length} answered, ${stored.size} stored`).toEqual([]);
  });
});

describe('audit.durability: sync with the PostgreSQL store down', () => {
  it('answers GH_AUDIT_NOT_DURABLE, then refuses before the backend, and serves again once the store is back', async () => {
    const proxy = await startTcpProxy(5432);
    proxies.push(proxy);
    // The writer retries a failed write no sooner than the flush interval.
    const store = newStore('postgres', proxy.port, 50);
    const gateway = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\n${store.yaml}${backendYaml()}`);
    gateways.push(gateway);
    const ok = await callTool(gateway.url, 'stub_getItem', { itemId: 'before' }, `down-${RUN}-before`);
    expect(ok.result?.isError).toBeUndefined();
    expect(await storedIds('postgres', store)).toEqual([`down-${RUN}-before`]);

    await proxy.cut();
    // The write of this call's record fails: the call ran, its answer is withheld.
    const ran = await callTool(gateway.url, 'stub_getItem', { itemId: 'during-1' }, `down-${RUN}-1`);
    expect(ran.errorCode).toBe('GH_AUDIT_NOT_DURABLE');
    expect(ran.result?.content[0]?.text).toMatch(/^GH_AUDIT_NOT_DURABLE: the call to stub_getItem ran, but the audit record could not be committed: the postgres store is unavailable; its result is withheld/);
    // The store is known to be down now: the next call is refused before it is sent.
    const sentBefore = stub.received.length;
    const refused = await callTool(gateway.url, 'stub_getItem', { itemId: 'during-2' }, `down-${RUN}-2`);
    expect(refused.errorCode).toBe('GH_AUDIT_NOT_DURABLE');
    expect(refused.result?.content[0]?.text).toContain('nothing was sent');
    expect(stub.received.length).toBe(sentBefore);

    await proxy.restore();
    // The writer's retry finds the store again; the records kept meanwhile are written.
    await expect.poll(() => gateway.runtime.audit.writer!.stats().storeHealthy, { timeout: 20_000, interval: 50 }).toBe(true);
    const again = await callTool(gateway.url, 'stub_getItem', { itemId: 'after' }, `down-${RUN}-after`);
    expect(again.result?.isError).toBeUndefined();
    expect((await storedIds('postgres', store)).sort()).toEqual([`down-${RUN}-1`, `down-${RUN}-2`, `down-${RUN}-after`, `down-${RUN}-before`].sort());
  });
});
