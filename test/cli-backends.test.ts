import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log/logger.js';
import type { Gateway } from '../src/server/gateway.js';
import { gatehouse } from './helpers/cli.js';
import { FIXTURES, rawToolsList, startGatewayFrom, testConfig } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * `gatehouse backends …` (the built CLI, as a user runs it) against a real
 * gateway on port 0 with the admin API on.
 */

const KEY = 'cli-admin-key-0123456789';
let stub: StubBackend;
let g: Gateway;
let dir: string;
let as: (args: string[], env?: NodeJS.ProcessEnv) => ReturnType<typeof gatehouse>;

beforeAll(async () => {
  stub = await startStubBackend();
  g = await startGatewayFrom(
    testConfig(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: { apiKey: ${KEY}, specUrls: [127.0.0.1] }\nbackends:\n  - { name: file, spec: ./stub-api.yaml, baseUrl: "${stub.url}/api" }\n`),
    silentLogger(),
  );
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-backends-'));
  copyFileSync(join(FIXTURES, 'stub-api.yaml'), join(dir, 'api.yaml'));
  as = (args, env = {}) => gatehouse(['backends', ...args], { GATEHOUSE_URL: g.url, GATEHOUSE_TOKEN: KEY, ...env });
});
afterAll(async () => {
  await g?.close(0);
  await stub?.close();
});

const names = async () => (await rawToolsList(g.url, 'legacy')).result.tools.map((t) => t.name);

describe('gatehouse backends', () => {
  it('add (a spec file sent inline), list, tools, reload, remove', async () => {
    const add = await as(['add', 'inv', '--spec', join(dir, 'api.yaml'), '--base-url', `${stub.url}/api`, '--set', 'include={"operations":["getItem","listItems"]}']);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toBe('inv: ready, 2 tools (revision 1)\n');
    expect((await names()).filter((n) => n.startsWith('inv_')).sort()).toEqual(['inv_getItem', 'inv_listItems']);

    const list = await as(['list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+SOURCE\s+STATE\s+TOOLS\s+REVISION\s+SPEC\s+PROBLEM$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 6))).toEqual([
      ['file', 'config', 'ready', expect.any(String), '-', '-'],
      ['inv', 'admin', 'ready', '2', '1', 'inline'],
    ]);
    const listed = JSON.parse((await as(['list', '--json'])).stdout) as { backends: Array<{ name: string }> };
    expect(listed.backends.map((b) => b.name)).toEqual(['file', 'inv']);

    const tools = await as(['tools', 'inv']);
    expect(tools.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/))).toEqual([
      ['inv_getItem', 'inv', 'GET', '/items/{itemId}'],
      ['inv_listItems', 'inv', 'GET', '/items'],
    ]);

    const reload = await as(['reload']);
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/^file: ready, \d+ tools\ninv: ready, 2 tools\n$/);
    expect(JSON.parse((await as(['list', '--json'])).stdout).backends[1].revision).toBe(2);

    expect(await as(['remove', 'inv'])).toMatchObject({ code: 0, stdout: 'inv: removed\n' });
    expect((await names()).some((n) => n.startsWith('inv_'))).toBe(false);
  });

  it('add --file takes a whole backends[] entry; --replace replaces', async () => {
    const entry = join(dir, 'entry.yaml');
    writeFileSync(entry, `name: pets\nspec: ./api.yaml\nbaseUrl: ${stub.url}/api\ninclude: { operations: [getItem] }\n`);
    expect((await as(['add', '--file', entry])).stdout).toBe('pets: ready, 1 tools (revision 1)\n');
    const again = await as(['add', '--file', entry]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('gatehouse: GH_ADMIN_CONFLICT: backend "pets" is registered already: PUT /admin/backends/pets replaces it\n');
    writeFileSync(entry, `name: pets\nspec: ./api.yaml\nbaseUrl: ${stub.url}/api\n`);
    expect((await as(['add', '--file', entry, '--replace'])).stdout).toMatch(/^pets: ready, \d+ tools \(revision 2\)\n$/);
    await as(['remove', 'pets']);
  });

  it('says clearly what went wrong', async () => {
    const bad = await as(['add', 'x', '--spec', 'https://127.0.0.1:9/spec.json', '--set', 'colour=blue']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('gatehouse: GH_ADMIN_INVALID: invalid backend:');
    expect(bad.stderr).toContain('colour: unknown field');
    const unreachableSpec = await as(['add', 'x', '--spec', 'http://127.0.0.1:9/spec.json']);
    expect(unreachableSpec.code).toBe(1);
    expect(unreachableSpec.stderr).toMatch(/^gatehouse: GH_ADMIN_IMPORT_FAILED: backend "x" could not be imported \(GH_SPEC_LOAD_FAILED\)/);
    const refusedSpec = await as(['add', 'x', '--spec', 'http://127.0.0.2:9/spec.json']);
    expect(refusedSpec.code).toBe(2);
    expect(refusedSpec.stderr).toMatch(/^gatehouse: GH_SPEC_URL_REFUSED: spec: .*127\.0\.0\.2 is a loopback address, which admin\.specUrls does not list/);
    expect((await as(['remove', 'file'])).stderr).toContain('GH_ADMIN_CONFLICT: backend "file" is defined in the config file');
    expect((await as(['remove', 'nope'])).stderr).toBe('gatehouse: GH_ADMIN_NOT_FOUND: no backend named "nope"\n');
    expect((await as(['add', 'x', '--spec', join(dir, 'missing.yaml')])).stderr).toContain('cannot read');
    const noKey = await as(['list'], { GATEHOUSE_TOKEN: 'wrong-key' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toBe('gatehouse: GH_AUTH_INVALID: not the admin API key\n');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await as(['list', '--url', `http://127.0.0.1:${port}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`gatehouse: cannot reach the gateway at http://127.0.0.1:${port} (ECONNREFUSED): give --url or set GATEHOUSE_URL\n`);
    const usage = await as(['frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown backends subcommand "frobnicate"');
  });
});
