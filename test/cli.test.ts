import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CLI, gatehouse } from './helpers/cli.js';
import { FIXTURES } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

let stub: StubBackend;
let dir: string;
beforeAll(async () => {
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
});
afterAll(() => stub?.close());

function writeConfig(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

describe('gatehouse CLI', () => {
  it('prints usage and exits 2 without a command', async () => {
    const r = await gatehouse([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('Usage: gatehouse');
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await gatehouse(['frobnicate'])).code).toBe(2);
    const r = await gatehouse(['serve', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope/);
  });

  it('tools --json prints MCP Tool objects exactly as tools/list would, without a prefix', async () => {
    const r = await gatehouse(['tools', join(FIXTURES, 'stub-api.yaml'), '--json']);
    expect(r.code).toBe(0);
    const tools = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(tools.map((t) => t.name).sort()).toEqual(['createItem', 'deleteItem', 'getItem', 'getStatus', 'listItems', 'slow']);
    for (const t of tools) {
      expect(Object.keys(t).every((k) => ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'].includes(k))).toBe(true);
      expect((t.inputSchema as { type: string }).type).toBe('object');
    }
  });

  it('tools --prefix adds the backend prefix', async () => {
    const r = await gatehouse(['tools', join(FIXTURES, 'stub-api.yaml'), '--json', '--prefix', 'inv']);
    expect((JSON.parse(r.stdout) as Array<{ name: string }>).map((t) => t.name)).toContain('inv_getItem');
  });

  it('tools --listed prints what tools/list serves: search meta-tools above the budget, every tool otherwise', async () => {
    const spec = join(FIXTURES, 'stub-api.yaml');
    const names = async (...flags: string[]) => {
      const r = await gatehouse(['tools', spec, '--json', ...flags]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as Array<{ name: string }>).map((t) => t.name);
    };
    const meta = ['inv_search_operations', 'inv_describe_operation', 'inv_call_operation'];
    expect(await names('--prefix', 'inv', '--listed', '--mode', 'search')).toEqual(meta);
    expect(await names('--prefix', 'inv', '--listed', '--budget', '5')).toEqual(meta);
    expect(await names('--prefix', 'inv', '--listed')).toHaveLength(6);
    expect(await names('--listed', '--mode', 'search')).toEqual(['search_operations', 'describe_operation', 'call_operation']);
    // Without --listed: every tool, whatever the budget would say.
    expect(await names('--prefix', 'inv')).toHaveLength(6);
    const text = await gatehouse(['tools', spec, '--listed', '--mode', 'search']);
    expect(text.stdout).toMatch(/^search_operations {2}search mode {2}Search the 6 operations of Stub API/m);
    expect(text.stdout).toMatch(/3 tools listed \(search mode over 6 tools\)\n$/);
  });

  it('tools rejects --mode without --listed and a bad --mode or --budget, exit 2', async () => {
    const spec = join(FIXTURES, 'stub-api.yaml');
    for (const flags of [['--mode', 'search'], ['--listed', '--mode', 'some'], ['--listed', '--budget', '0']]) {
      const r = await gatehouse(['tools', spec, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--mode|--budget/);
    }
  });

  it('validate names the file and the field on a bad config, exit 2', async () => {
    const file = writeConfig('bad.yaml', 'server:\n  port: "eighty"\nbackends:\n  - name: 9bad\n    spec: x.yaml\n    colour: red\n');
    const r = await gatehouse(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yaml');
    expect(r.stderr).toContain('server.port: must be integer');
    expect(r.stderr).toMatch(/backends\[0\]\.name: must match/);
    expect(r.stderr).toContain('backends[0].colour: unknown field');
  });

  it('validate reports a spec that does not load, exit 2; a good one exits 0', async () => {
    const spec = join(FIXTURES, 'stub-api.yaml');
    const bad = writeConfig('missing.yaml', `backends:\n  - name: ok\n    spec: ${spec}\n  - name: gone\n    spec: ./nope.yaml\n`);
    const r = await gatehouse(['validate', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/ok\s+ok: 6 tools/);
    expect(r.stdout).toMatch(/error gone: GH_SPEC_LOAD_FAILED/);
    const good = writeConfig('good.yaml', `backends:\n  - name: ok\n    spec: ${spec}\n`);
    expect((await gatehouse(['validate', '--config', good])).code).toBe(0);
  });

  it('validate builds the call chain: prints its stages, and names the field and column of a bad when: condition or a policies[] entry out of order', async () => {
    const good = writeConfig('chain.yaml', "rateLimits:\n  rules:\n    - { name: rpm, limit: 60, window: 1m }\npolicies:\n  - guard: { blockedPatterns: ['sk-[a-z0-9]{20,}'] }\n");
    const ok = await gatehouse(['validate', '--config', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('chain authenticate → rateLimit → validate → guard → protect → forward');
    const badWhen = writeConfig('when.yaml', "policies:\n  - rateLimit: { name: vip, limit: 5, window: 1m, when: \"'vip' in principal.grups\" }\n");
    const r = await gatehouse(['validate', '--config', badWhen]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/policies\[0\]\.rateLimit\.when: .*grups.* column \d+/);
    const order = writeConfig('order.yaml', 'policies:\n  - guard: { maxChars: 100 }\n  - budget: { name: daily, per: day, limitUsd: 5 }\n');
    const o = await gatehouse(['validate', '--config', order]);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/policies\[1\]: budget is listed after guard, but runs before it/);
  });

  it('a missing ${VAR} is a config error naming the field', async () => {
    const file = writeConfig('env.yaml', 'backends:\n  - name: a\n    spec: ${GH_TEST_UNSET_SPEC}\n');
    const r = await gatehouse(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/backends\[0\]\.spec: environment variable GH_TEST_UNSET_SPEC is not set/);
  });
});

describe('gatehouse stdio', () => {
  it.each(['legacy', 'modern'] as const)('serves the tools over stdio to the SDK client (%s era); logs stay off stdout', async (era) => {
    const config = writeConfig(`stdio-${era}.yaml`, `backends:\n  - name: stub\n    spec: ${join(FIXTURES, 'stub-api.yaml')}\n    baseUrl: ${stub.url}/api\n`);
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'stdio', '--config', config], stderr: 'pipe' });
    const client = new Client(
      { name: 'stdio-test', version: '1.0.0' },
      { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
    );
    await client.connect(transport);
    try {
      expect(client.getProtocolEra()).toBe(era);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('stub_getItem');
      stub.handle((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: '7', name: 'over stdio' }));
      });
      const before = stub.received.length;
      const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '7' } });
      expect(result.structuredContent).toEqual({ id: '7', name: 'over stdio' });
      expect(stub.received[before]!.url).toBe('/api/items/7');
    } finally {
      await client.close();
    }
  });
});
