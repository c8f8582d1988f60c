import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { silentLogger } from '../src/log/logger.js';
import { gatehouse } from './helpers/cli.js';
import { FIXTURES, startGatewayFrom } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * `gatehouse audit` reads the trail a gateway wrote (SQLite under dataDir):
 * filters, JSON output, paging, and clear refusals.
 */

let stub: StubBackend;
let dir: string;
let config: string;

const post = (url: string, id: string, args: Record<string, unknown>) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'x-request-id': id },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'stub_getItem', arguments: args } }),
  }).then((r) => r.text());

beforeAll(async () => {
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-audit-'));
  config = join(dir, 'gatehouse.yaml');
  writeFileSync(config, `server: { host: 127.0.0.1, port: 0 }\nbackends:\n  - { name: stub, spec: ${join(FIXTURES, 'stub-api.yaml')}, baseUrl: "${stub.url}/api" }\n`);
  const gateway = await startGatewayFrom(loadConfig(config), silentLogger());
  await post(gateway.url, 'cli-ok-1', { itemId: '1' });
  await post(gateway.url, 'cli-ok-2', { itemId: '2' });
  await post(gateway.url, 'cli-bad', { itemId: 5 });
  await gateway.close();
});
afterAll(() => stub?.close());

describe('gatehouse audit', () => {
  it('prints the trail newest first as a table', async () => {
    const { code, stdout } = await gatehouse(['audit', '--config', config]);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+OUTCOME\s+PRINCIPAL\s+TOOL\s+STATUS\s+LATENCY\s+CODE\s+REQUEST ID$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).at(-1))).toEqual(['cli-bad', 'cli-ok-2', 'cli-ok-1']);
    expect(lines[1]).toMatch(/invalid\s+anonymous\s+stub_getItem\s+-\s+[\d.]+ ms\s+GH_TOOL_ARGS_INVALID/);
  });

  it('filters and pages, with --json in the shape GET /admin/audit answers', async () => {
    const invalid = JSON.parse((await gatehouse(['audit', '--config', config, '--outcome', 'invalid', '--json'])).stdout);
    expect(invalid.records.map((r: { requestId: string }) => r.requestId)).toEqual(['cli-bad']);
    const first = JSON.parse((await gatehouse(['audit', '-c', config, '--outcome', 'ok', '--since', '1h', '--limit', '1', '--json'])).stdout);
    expect(first.records).toHaveLength(1);
    expect(first.records[0]).toMatchObject({ requestId: 'cli-ok-2', backend: 'stub', tool: 'stub_getItem', httpMethod: 'GET', status: 200, arguments: { itemId: '2' } });
    const second = JSON.parse((await gatehouse(['audit', '-c', config, '--outcome', 'ok', '--limit', '1', '--cursor', first.nextCursor, '--json'])).stdout);
    expect(second.records.map((r: { requestId: string }) => r.requestId)).toEqual(['cli-ok-1']);
    const none = JSON.parse((await gatehouse(['audit', '-c', config, '--until', '1h', '--json'])).stdout);
    expect(none.records).toEqual([]);
  });

  it('refuses bad filters with exit 2 naming the filter', async () => {
    const since = await gatehouse(['audit', '--config', config, '--since', 'yesterday']);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/since: Invalid time "yesterday"/);
    const outcome = await gatehouse(['audit', '--config', config, '--outcome', 'fine']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/outcome: must be one of ok, error/);
  });

  it('says so when there is no trail', async () => {
    const other = join(dir, 'empty.yaml');
    writeFileSync(other, `dataDir: ./nothing-here\nbackends: []\n`);
    const missing = await gatehouse(['audit', '--config', other]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no audit trail yet at .*nothing-here/);
    writeFileSync(other, `audit: { store: none }\nbackends: []\n`);
    const off = await gatehouse(['audit', '--config', other]);
    expect(off.code).toBe(2);
    expect(off.stderr).toMatch(/audit.store is "none"/);
  });
});
