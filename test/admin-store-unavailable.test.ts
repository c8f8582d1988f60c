import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { FIXTURES, startTestGateway } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';
import { callTool } from './helpers/tool-call.js';

/** A runtime-backend store that cannot open does not stop the gateway: the file's backends serve, admin writes are refused, and it recovers. */

let stub: StubBackend;
beforeAll(async () => {
  stub = await startStubBackend();
});
afterAll(() => stub?.close());

describe('an admin store that cannot be opened', () => {
  it('serves the config backends, refuses admin writes with GH_ADMIN_STORE_UNAVAILABLE, shows it in /readyz, and opens once it can', async () => {
    // dataDir under a regular file: admin.sqlite.file cannot be created there.
    const blocker = join(mkdtempSync(join(tmpdir(), 'gatehouse-admin-blocked-')), 'not-a-dir');
    writeFileSync(blocker, 'x');
    const gateway = await startTestGateway(
      `server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: {}\ndataDir: ${join(blocker, 'data')}\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`,
      { STUB_URL: stub.url },
    );
    try {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"1","name":"still served"}');
      });
      const called = await callTool(gateway.url, 'stub_getItem', { itemId: '1' }, 'admin-store-down');
      expect(called.result?.isError).toBeFalsy();

      const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as { status: string; stores: Record<string, string> };
      expect(ready.status).toBe('ready');
      expect(ready.stores['admin']).toMatch(/^unavailable: cannot open .*registry\.db: ENOTDIR/);

      const entry = { name: 'more', spec: parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as unknown, baseUrl: `${stub.url}/api` };
      const post = () => fetch(`${gateway.url}/admin/backends`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(entry) });
      const refused = await post();
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('GH_ADMIN_STORE_UNAVAILABLE');

      // The obstacle gone, the next call opens the store.
      rmSync(blocker);
      const added = await post();
      expect(added.status).toBe(201);
      const again = (await (await fetch(`${gateway.url}/readyz`)).json()) as { stores: Record<string, string> };
      expect(again.stores['admin']).toBe('up');
    } finally {
      await gateway.close(0);
    }
  });
});

describe('an audit store that cannot be opened', () => {
  it('shows in /readyz (and gatehouse_audit_store_up) from the start, before any record fails', async () => {
    const blocker = join(mkdtempSync(join(tmpdir(), 'gatehouse-audit-blocked-')), 'not-a-dir');
    writeFileSync(blocker, 'x');
    const gateway = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\ndataDir: ${join(blocker, 'data')}\nbackends: [{ name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }]\n`, {
      STUB_URL: stub.url,
    });
    try {
      const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as { status: string; stores: Record<string, string> };
      expect(ready).toMatchObject({ status: 'ready', stores: { audit: 'unavailable' } });
      expect(await (await fetch(`${gateway.url}/metrics`)).text()).toMatch(/^gatehouse_audit_store_up 0$/m);
    } finally {
      await gateway.close(0);
    }
  });
});
