import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSpec } from '../bench/synthetic-spec.mjs';
import type { BackendConfig } from '../src/config/schema.js';
import { isGatehouseError } from '../src/errors/catalogue.js';
import { createLogger, silentLogger } from '../src/log/logger.js';
import { importBackend, type ImportedBackend } from '../src/openapi/import-backend.js';
import type { ImportCache } from '../src/openapi/import-cache.js';
import { createImportWorker, type ImportWorker } from '../src/openapi/import-worker-client.js';
import { importOne } from '../src/registry/load-backends.js';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, startTestGateway, testConfig } from './helpers/gateway.js';

/**
 * Reload-time imports run on a worker thread (src/openapi/import-worker-client.ts):
 * the event loop keeps serving while a big spec is imported, the results and
 * failures are those of an in-process import, and a thread that cannot start or
 * dies leaves the import to the main thread with a warning.
 */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-import-worker-'));
  copyFileSync(join(FIXTURES, 'stub-api.yaml'), join(dir, 'stub.yaml'));
  writeFileSync(join(dir, 'broken.yaml'), 'openapi: 3.0.3\ninfo: { title: Broken }\npaths: {\n');
  writeFileSync(
    join(dir, 'dangling.yaml'),
    'openapi: 3.0.3\ninfo: { title: Dangling, version: "1" }\nservers: [{ url: "http://127.0.0.1:9" }]\npaths:\n  /x:\n    get:\n      operationId: getX\n      responses:\n        "200": { $ref: "#/components/responses/Missing" }\n',
  );
  writeFileSync(join(dir, 'serverless.yaml'), 'openapi: 3.0.3\ninfo: { title: Serverless, version: "1" }\npaths:\n  /x:\n    get:\n      operationId: getX\n      responses:\n        "200": { description: ok }\n');
  writeFileSync(join(dir, 'not-a-spec.json'), '[1, 2, 3]');
});

const workers: ImportWorker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});
const newWorker = (url?: URL): ImportWorker => {
  const w = createImportWorker(url === undefined ? {} : { url });
  workers.push(w);
  return w;
};

/**
 * A stand-in import thread: counts requests (`seen`), runs `behaviour` for each
 * (it may exit or return without answering), else fails the import with `text`.
 */
function fakeWorkerScript(file: string, behaviour: string, text: string): URL {
  const script = join(dir, file);
  writeFileSync(
    script,
    `import { parentPort } from 'node:worker_threads';
let seen = 0;
parentPort.on('message', (req) => {
  seen += 1;
  ${behaviour}
  parentPort.postMessage({ id: req.id, ok: false, error: { kind: 'value', text: ${JSON.stringify(text)} } });
});
`,
  );
  return pathToFileURL(script);
}

/** A backend entry with the config defaults filled in. */
const entry = (name: string, spec: string, extra = ''): BackendConfig =>
  testConfig(`backends:\n  - { name: ${name}, spec: ${spec}${extra ? `, ${extra}` : ''} }\n`).backends[0]!;

/** A logger whose lines are kept, parsed. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: 'info', stream }), lines };
}

const fallbackWarnings = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l['level'] === 40 && String(l['msg']).includes('importing in-process'));

describe('imports on the worker thread', () => {
  it('give what an in-process import gives, failures included (code, message, details)', async () => {
    const worker = newWorker();
    const cases = [
      entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api", include: { methods: [GET] }, overrides: { getItem: { name: fetch_item } }'),
      entry('broken', './broken.yaml'),
      entry('dangling', './dangling.yaml'),
      entry('serverless', './serverless.yaml'),
      entry('missing', './missing.yaml'),
      entry('notaspec', './not-a-spec.json'),
      entry('badurl', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"'),
    ];
    const { log, lines } = capturingLogger();
    for (const b of cases) {
      const inProcess = await importOne(b, dir, silentLogger());
      const onThread = await importOne(b, dir, log, { worker });
      expect(onThread).toEqual(inProcess);
    }
    // The failures really are failures, with the codes the catalogue gives them.
    const codes = await Promise.all(cases.map(async (b) => (await importOne(b, dir, silentLogger(), { worker })).status));
    expect(codes.map((s) => (s.state === 'failed' ? s.error.code : 'ready'))).toEqual(['ready', 'GH_SPEC_LOAD_FAILED', 'GH_SPEC_INVALID', 'GH_SPEC_NO_SERVER', 'GH_SPEC_LOAD_FAILED', 'GH_SPEC_LOAD_FAILED', 'ready']);
    expect(fallbackWarnings(lines)).toEqual([]);

    // A GatehouseError crosses the thread whole: code, message and the JSON pointer in its details.
    const thrown = async (run: () => Promise<unknown>) => run().then(() => undefined, (e: unknown) => e);
    const local = await thrown(() => importBackend({ name: 'serverless', spec: './serverless.yaml', baseDir: dir }));
    const remote = await thrown(() => worker.run({ name: 'serverless', spec: './serverless.yaml', baseDir: dir }, () => {}));
    expect(isGatehouseError(remote)).toBe(true);
    expect(isGatehouseError(local)).toBe(true);
    if (!isGatehouseError(remote) || !isGatehouseError(local)) return;
    expect({ code: remote.code, message: remote.message, details: remote.details, status: remote.status }).toEqual({ code: local.code, message: local.message, details: local.details, status: local.status });
    expect(remote.details).toEqual({ pointer: '#/paths/~1x/get' });
  });

  it('read and fill the import cache on the calling thread, as in-process imports do', async () => {
    const entries = new Map<string, ImportedBackend>();
    const calls: string[] = [];
    const cache: ImportCache = {
      get: async (bytes, options) => {
        calls.push('get');
        return entries.get(bytes.toString('utf8') + JSON.stringify(options));
      },
      set: async (bytes, options, value) => {
        calls.push('set');
        entries.set(bytes.toString('utf8') + JSON.stringify(options), value);
      },
    };
    const worker = newWorker();
    const b = entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"');
    const first = await importOne(b, dir, silentLogger(), { cache, worker });
    expect(calls).toEqual(['get', 'set']);
    const second = await importOne(b, dir, silentLogger(), { cache, worker });
    expect(calls).toEqual(['get', 'set', 'get']);
    expect(second.tools).toBe(entries.values().next().value!.tools); // served from the cache, not imported again
    expect(second).toEqual(first);
    expect(first).toEqual(await importOne(b, dir, silentLogger()));
  });

  it('fall back to the main thread, with a warning, when the thread cannot start', async () => {
    const worker = newWorker(pathToFileURL(join(dir, 'no-such-worker.js')));
    const { log, lines } = capturingLogger();
    const b = entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"');
    const loaded = await importOne(b, dir, log, { worker });
    expect(loaded).toEqual(await importOne(b, dir, silentLogger()));
    expect(loaded.status.state).toBe('ready');
    expect(fallbackWarnings(lines)).toEqual([expect.objectContaining({ backend: 'stub', err: expect.stringContaining('the import thread failed') })]);
    // A failing import is still that import's failure, with its own code.
    const broken = await importOne(entry('broken', './broken.yaml'), dir, log, { worker });
    expect(broken).toEqual(await importOne(entry('broken', './broken.yaml'), dir, silentLogger()));
  });

  it('fall back to the main thread, with a warning, when the thread dies mid-import; the next import gets a new thread', async () => {
    // Exits on its second import request: the first one proves the thread ran.
    const worker = newWorker(fakeWorkerScript('dying-worker.mjs', 'if (seen === 2) process.exit(7);', 'from the thread'));
    const { log, lines } = capturingLogger();
    const b = entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"');
    const first = await importOne(b, dir, log, { worker });
    expect(first.status).toEqual({ name: 'stub', state: 'failed', error: { code: 'GH_SPEC_LOAD_FAILED', message: 'from the thread' } });
    expect(fallbackWarnings(lines)).toEqual([]);
    const second = await importOne(b, dir, log, { worker });
    expect(second).toEqual(await importOne(b, dir, silentLogger()));
    expect(fallbackWarnings(lines)).toEqual([expect.objectContaining({ backend: 'stub', err: 'the import thread exited (code 7)' })]);
    // A fresh thread (its first request) answers again.
    expect((await importOne(b, dir, log, { worker })).status).toMatchObject({ state: 'failed', error: { message: 'from the thread' } });
  });

  it('fail an import that runs past the timeout, stop its thread, and start a new one for the next', async () => {
    // Never answers its first request; answers the others at once.
    const worker = createImportWorker({ url: fakeWorkerScript('stuck-worker.mjs', 'if (seen === 1) return;', 'answered'), timeoutMs: 200 });
    workers.push(worker);
    const { log, lines } = capturingLogger();
    const b = entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"');
    const stuck = await importOne(b, dir, log, { worker });
    expect(stuck.status).toEqual({
      name: 'stub',
      state: 'failed',
      error: { code: 'GH_SPEC_LOAD_FAILED', message: 'Backend "stub": importing "./stub.yaml" took longer than 200 ms; the import was stopped' },
    });
    expect(fallbackWarnings(lines)).toEqual([]);
    // A new thread (its first request is the stuck one again: that one never answers either).
    expect((await importOne(b, dir, log, { worker })).status).toMatchObject({ state: 'failed', error: { message: expect.stringContaining('took longer than 200 ms') } });
  });

  it('finish in-process, without a warning, when the thread is closed under them', async () => {
    const worker = newWorker();
    const { log, lines } = capturingLogger();
    const b = entry('stub', './stub.yaml', 'baseUrl: "http://127.0.0.1:9/api"');
    const pending = importOne(b, dir, log, { worker });
    await worker.close();
    expect(await pending).toEqual(await importOne(b, dir, silentLogger()));
    expect(fallbackWarnings(lines)).toEqual([]);
    expect((await importOne(b, dir, log, { worker })).status.state).toBe('ready'); // started again
  });
});

describe('an import on the thread leaves the event loop free', () => {
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.close(0);
  });

  it('answers HTTP and runs timers while the thread is inside an import (known from the thread itself)', async () => {
    const bigDir = mkdtempSync(join(tmpdir(), 'gatehouse-import-worker-big-'));
    writeFileSync(join(bigDir, 'big.json'), JSON.stringify(syntheticSpec({ operations: 1000, serverUrl: 'http://127.0.0.1:9' })));
    copyFileSync(join(FIXTURES, 'stub-api.yaml'), join(bigDir, 'stub.yaml'));
    gateway = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\n`);

    // The real import thread, with one step in front: on each import it says so (over a
    // BroadcastChannel, with a shared flag) and then holds its own thread, synchronously,
    // until this thread lets it go; then the real import runs. No clock decides anything.
    const channel = `gatehouse-import-progress-${process.pid}-${Date.now()}`;
    const script = join(dir, 'signalling-worker.mjs');
    writeFileSync(
      script,
      `import { parentPort, BroadcastChannel } from 'node:worker_threads';
const progress = new BroadcastChannel(${JSON.stringify(channel)});
// The real thread's message listener, taken aside so that this step runs first.
let runImport;
const on = parentPort.on;
parentPort.on = (event, listener) => (event === 'message' ? ((runImport = listener), parentPort) : on.call(parentPort, event, listener));
await import(${JSON.stringify(new URL('../dist/openapi/import-worker.js', import.meta.url).href)});
parentPort.on = on;
parentPort.on('message', (req) => {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  progress.postMessage({ id: req.id, flag });
  Atomics.wait(flag, 0, 0);
  runImport(req);
});
`,
    );
    const worker = newWorker(pathToFileURL(script));
    const progress = new BroadcastChannel(channel);
    try {
      const started = new Promise<Int32Array>((resolve) => {
        progress.onmessage = (event) => resolve((event as unknown as { data: { flag: Int32Array } }).data.flag);
      });
      const pending = importOne(entry('big', './big.json', 'tools: all'), bigDir, silentLogger(), { worker });
      const first = await Promise.race([started, pending.then(() => 'finished' as const)]);
      if (first === 'finished') throw new Error('the import finished without reaching the import thread');
      // The thread is held inside the import: this thread still answers a request and runs a timer.
      let settled = false;
      void pending.finally(() => (settled = true));
      const health = await fetch(`${gateway.url}/healthz`);
      expect(health.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(settled).toBe(false);
      Atomics.store(first, 0, 1);
      Atomics.notify(first, 0);
      const done = await pending;
      expect(done.status).toMatchObject({ state: 'ready', tools: 1000 });
    } finally {
      progress.close();
    }
  });
});
