import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { silentLogger } from '../src/log/logger.js';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, startGatewayFrom, testConfig } from './helpers/gateway.js';
import { CLI, writeConfigFile } from './helpers/spawn-gateway.js';

/**
 * `gatehouse stdio` follows runtime backends and tells its client when the
 * tools change, in both protocol eras. The stdio process and an HTTP gateway
 * share one SQLite registry (the same dataDir); a backend registered over HTTP
 * reaches the stdio process by its resync, which notifies its client.
 */

const KEY = 'stdio-admin-key-0123456789';
const SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;
let dir: string;
let http: Gateway;
let configFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-stdio-changed-'));
  const yaml = `server: { host: 127.0.0.1, port: 0 }\ndataDir: ${join(dir, 'data')}\naudit: { store: none }\nlog: { level: warn }\nadmin: { apiKey: ${KEY}, resyncSeconds: 1 }\n`;
  configFile = writeConfigFile(dir, 'gatehouse.yaml', yaml);
  http = await startGatewayFrom(testConfig(yaml), silentLogger());
});
afterAll(async () => {
  await http?.close(0);
});

async function register(name: string, operations: string[]): Promise<void> {
  const res = await fetch(`${http.url}/admin/backends/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ spec: SPEC, baseUrl: 'http://127.0.0.1:9/api', include: { operations } }),
  });
  expect(res.ok).toBe(true);
}

describe.each(['legacy', 'modern'] as const)('gatehouse stdio, %s era', (era) => {
  it('sends notifications/tools/list_changed when a backend registered elsewhere arrives', async () => {
    const lists: string[][] = [];
    let heard: () => void = () => undefined;
    const client = new Client(
      { name: 'gatehouse-test', version: '1.0.0' },
      {
        versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' },
        listChanged: {
          tools: {
            onChanged: (_err, tools) => {
              lists.push((tools ?? []).map((t) => t.name).sort());
              heard();
            },
          },
        },
      },
    );
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'stdio', '--config', configFile], stderr: 'pipe' }));
    try {
      expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
      const before = (await client.listTools()).tools.map((t) => t.name);
      const notified = new Promise<void>((resolve) => (heard = resolve));
      const name = `s${era}`;
      await register(name, ['getItem']);
      await notified;
      expect(lists.at(-1)).toEqual([...before, `${name}_getItem`].sort());
    } finally {
      await client.close();
    }
  });
});
