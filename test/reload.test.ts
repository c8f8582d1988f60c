import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/log/logger.js';
import { startConfigWatch, type ConfigWatch } from '../src/registry/config-watch.js';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, rawToolsList, startGatewayFrom } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';
import { callTool, metric } from './helpers/tool-call.js';

/**
 * Hot reload of the config file's backends: a real gateway on port 0 serving a
 * config in a temporary directory, the file rewritten, then `runtime.reload()`
 * (or the file watch) applied. What clients see is read over HTTP.
 */

let stub: StubBackend;
let other: StubBackend;
beforeAll(async () => {
  [stub, other] = await Promise.all([startStubBackend(), startStubBackend()]);
});
afterAll(async () => {
  await Promise.all([stub?.close(), other?.close()]);
});

interface Setup {
  dir: string;
  file: string;
  gateway: Gateway;
  /** Every log line the gateway wrote, parsed. */
  lines: Array<Record<string, unknown>>;
  /** Replaces the config file's backends (written to a temp file and renamed over it, as editors do). */
  write: (backends: string) => void;
}

const open: Array<{ gateway: Gateway; watch?: ConfigWatch }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    o.watch?.close();
    await o.gateway.close(0);
  }
});

const configText = (backends: string) => `server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nlog: { level: info }\nbackends:\n${backends}`;
const backend = (name: string, extra = '', url = stub.url) => `  - { name: ${name}, spec: ./${name}.yaml, baseUrl: "${url}/api"${extra ? `, ${extra}` : ''} }\n`;

async function setup(backends: string): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'));
  for (const name of ['a', 'b', 'c']) copyFileSync(join(FIXTURES, 'stub-api.yaml'), join(dir, `${name}.yaml`));
  const file = join(dir, 'gatehouse.yaml');
  const write = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  write(configText(backends));
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const gateway = await startGatewayFrom(loadConfig(file), createLogger({ level: 'info', stream: sink }));
  open.push({ gateway });
  return { dir, file, gateway, lines, write: (b) => write(configText(b)) };
}

const listed = async (url: string) => (await rawToolsList(url, 'legacy')).result.tools.map((t) => t.name).sort();
const readyz = async (url: string) => (await (await fetch(`${url}/readyz`)).json()) as Record<string, unknown> & { backends: Array<Record<string, unknown>> };
/** Import log lines ("backend a: 6 tools") for one backend. */
const imports = (lines: Array<Record<string, unknown>>, name: string) => lines.filter((l) => l['backend'] === name && typeof l['tools'] === 'number' && l['ms'] !== undefined).length;

describe('config reload', () => {
  it('adds a backend: its tools appear', async () => {
    const s = await setup(backend('a'));
    expect((await listed(s.gateway.url)).filter((n) => n.startsWith('b_'))).toEqual([]);
    s.write(backend('a') + backend('b'));
    const r = await s.gateway.runtime.reload();
    expect(r).toMatchObject({ result: 'ok', added: ['b'], unchanged: ['a'], reimported: [], removed: [], failed: [] });
    expect(await listed(s.gateway.url)).toContain('b_getItem');
    const called = await callTool(s.gateway.url, 'b_getItem', { itemId: '7' }, 'reload-add');
    expect(called.result?.isError).toBeFalsy();
    expect(stub.received.at(-1)?.url).toBe('/api/items/7');
  });

  it('re-imports only the backend whose entry changed; the others keep their tool objects', async () => {
    const s = await setup(backend('a') + backend('b'));
    const before = s.gateway.runtime.registry();
    const bTool = before.get('b_getItem');
    const aTool = before.get('a_getItem');
    expect(imports(s.lines, 'a')).toBe(1);
    expect(imports(s.lines, 'b')).toBe(1);

    s.write(backend('a', 'include: { operations: [getItem, listItems] }') + backend('b'));
    const r = await s.gateway.runtime.reload();
    expect(r).toMatchObject({ result: 'ok', reimported: ['a'], unchanged: ['b'], added: [], removed: [] });
    // a was imported once more, b was not.
    expect(imports(s.lines, 'a')).toBe(2);
    expect(imports(s.lines, 'b')).toBe(1);
    const after = s.gateway.runtime.registry();
    expect(after).not.toBe(before);
    expect(after.get('b_getItem')).toBe(bTool);
    expect(after.get('b_getItem')?.tool).toBe(bTool?.tool);
    expect(after.get('a_getItem')).not.toBe(aTool);
    const names = await listed(s.gateway.url);
    expect(names.filter((n) => n.startsWith('a_'))).toEqual(['a_getItem', 'a_listItems']);
    expect(names).toContain('b_createItem');

    // Nothing changed: nothing is imported, and the same objects are served.
    const again = await s.gateway.runtime.reload();
    expect(again).toMatchObject({ result: 'ok', reimported: [], unchanged: ['a', 'b'] });
    expect(imports(s.lines, 'a')).toBe(2);
    expect(s.gateway.runtime.registry().get('a_getItem')).toBe(after.get('a_getItem'));

    // A spec file that changed is re-imported even though its entry did not.
    writeFileSync(join(s.dir, 'b.yaml'), readFileSync(join(FIXTURES, 'stub-api.yaml'), 'utf8').replace('operationId: getItem', 'operationId: fetchItem'));
    const specChange = await s.gateway.runtime.reload();
    expect(specChange).toMatchObject({ reimported: ['b'], unchanged: ['a'] });
    expect(await listed(s.gateway.url)).toContain('b_fetchItem');
  });

  it('removes a backend: gone from tools/list and from calls', async () => {
    const s = await setup(backend('a') + backend('b'));
    s.write(backend('a'));
    const r = await s.gateway.runtime.reload();
    expect(r).toMatchObject({ result: 'ok', removed: ['b'], unchanged: ['a'] });
    const names = await listed(s.gateway.url);
    expect(names.some((n) => n.startsWith('b_'))).toBe(false);
    expect(names).toContain('a_getItem');
    const res = await fetch(`${s.gateway.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'b_getItem', arguments: { itemId: '1' } } }),
    });
    expect(await res.text()).toContain('Unknown tool: b_getItem');
    expect((await readyz(s.gateway.url)).backends.map((b) => b['name'])).toEqual(['a']);
  });

  it('ignores an invalid file: the old tools are served, the reason is in /readyz and the log', async () => {
    const s = await setup(backend('a'));
    s.write(backend('a') + '  - { name: b, spec: ./b.yaml\n'); // unclosed flow mapping
    const r = await s.gateway.runtime.reload();
    expect(r.result).toBe('invalid');
    expect(r.error?.code).toBe('GH_CONFIG_INVALID');
    expect(r.error?.message).toContain(`${s.file}:`);
    expect(r.error?.message).toContain('YAML syntax error');
    expect(await listed(s.gateway.url)).toContain('a_getItem');
    const ready = await readyz(s.gateway.url);
    expect(ready['status']).toBe('ready');
    expect(ready['lastReload']).toMatchObject({ result: 'invalid', error: { code: 'GH_CONFIG_INVALID' } });
    expect(s.lines.some((l) => l['level'] === 50 && String(l['msg']).includes('config reload refused') && String(l['msg']).includes('YAML syntax error'))).toBe(true);

    // A schema error names the field.
    s.write(backend('a', 'toolBudget: 0'));
    const schema = await s.gateway.runtime.reload();
    expect(schema.result).toBe('invalid');
    expect(schema.error?.message).toContain('backends[0].toolBudget');
    const metrics = await (await fetch(`${s.gateway.url}/metrics`)).text();
    expect(metric(metrics, 'gatehouse_config_reloads_total{result="invalid"}')).toBe(2);
  });

  it('keeps the previous version of a backend whose new spec is broken', async () => {
    const s = await setup(backend('a') + backend('b'));
    writeFileSync(join(s.dir, 'a.yaml'), 'openapi: 3.0.3\ninfo: { title: Broken }\npaths: {\n');
    s.write(backend('a') + backend('b', 'include: { operations: [getItem] }'));
    const r = await s.gateway.runtime.reload();
    expect(r.result).toBe('partial');
    expect(r.reimported).toEqual(['b']);
    expect(r.failed).toEqual([expect.objectContaining({ backend: 'a', kept: true })]);
    const names = await listed(s.gateway.url);
    expect(names.filter((n) => n.startsWith('a_')).length).toBe(6); // the previous version, whole
    expect(names.filter((n) => n.startsWith('b_'))).toEqual(['b_getItem']);
    const called = await callTool(s.gateway.url, 'a_getItem', { itemId: '3' }, 'reload-kept');
    expect(called.result?.isError).toBeFalsy();
    const ready = await readyz(s.gateway.url);
    const a = ready.backends.find((b) => b['name'] === 'a');
    expect(a).toMatchObject({ state: 'ready', reloadError: { code: expect.stringMatching(/^GH_SPEC_/) } });
    expect(ready['lastReload']).toMatchObject({ result: 'partial', failed: [{ backend: 'a', kept: true }] });
    expect(s.lines.some((l) => l['backend'] === 'a' && String(l['msg']).includes('still serving the previous one'))).toBe(true);
    const metrics = await (await fetch(`${s.gateway.url}/metrics`)).text();
    expect(metric(metrics, 'gatehouse_config_reloads_total{result="partial"}')).toBe(1);

    // Fixed: the next reload imports it and clears the error.
    copyFileSync(join(FIXTURES, 'stub-api.yaml'), join(s.dir, 'a.yaml'));
    const fixed = await s.gateway.runtime.reload();
    expect(fixed).toMatchObject({ result: 'ok', unchanged: ['a', 'b'] }); // the served fingerprint again
    expect((await readyz(s.gateway.url)).backends.find((b) => b['name'] === 'a')).not.toHaveProperty('reloadError');
  });

  it('lets a call in flight finish on the old backend; new calls see the new registry', async () => {
    const s = await setup(backend('a'));
    let release: (() => void) | undefined;
    const held = stub.received.length;
    stub.handle((req, res) => {
      release = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ from: 'old', url: req.url }));
      };
    });
    try {
      const inFlight = callTool(s.gateway.url, 'a_getItem', { itemId: 'held' }, 'reload-in-flight');
      for (let i = 0; stub.received.length === held; i++) {
        if (i > 200) throw new Error('the call never reached the stub');
        await new Promise((r) => setTimeout(r, 10));
      }
      // a moves to another backend and loses most of its operations while the call is held.
      s.write(backend('a', 'include: { operations: [listItems] }', other.url));
      const r = await s.gateway.runtime.reload();
      expect(r.reimported).toEqual(['a']);
      expect(await listed(s.gateway.url)).toEqual(['a_listItems']);
      release!();
      const done = await inFlight;
      expect(done.result?.isError).toBeFalsy();
      expect(JSON.stringify(done.result)).toContain('old');
      const fresh = await callTool(s.gateway.url, 'a_listItems', {}, 'reload-new');
      expect(fresh.result?.isError).toBeFalsy();
      expect(other.received.at(-1)?.url).toBe('/api/items');
    } finally {
      stub.handle((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url }));
      });
    }
  });

  it('the file watch picks up a change', async () => {
    const s = await setup(backend('a'));
    const watch = startConfigWatch(s.gateway.runtime, s.file, createLogger({ level: 'silent' }));
    open.at(-1)!.watch = watch;
    await watch.ready; // the watch's first read of the file: what it compares changes with
    const started = performance.now();
    s.write(backend('a') + backend('c'));
    let names: string[] = [];
    // Polled until it shows (how soon depends on the machine's load, so no bound is asserted).
    while (performance.now() - started < 15_000) {
      names = await listed(s.gateway.url);
      if (names.includes('c_getItem')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(names).toContain('c_getItem');
    expect(s.gateway.runtime.lastReload()).toMatchObject({ result: 'ok', added: ['c'] });
  });
});
