import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/schema.js';
import { startGatewayFrom, startTestGateway, testConfig } from './helpers/gateway.js';
import { spawnGateway, writeConfigFile } from './helpers/spawn-gateway.js';

/**
 * Tests never bind a fixed port, so `npm test` runs beside `npm start` (8080)
 * and beside another test run: the gateway helpers give every config port 0,
 * and refuse one that asks for another port unless the test names it.
 */
const DEFAULT_PORT = configSchema.properties.server.properties.port.default;

describe('test gateways bind port 0', () => {
  it('a config that names no port binds port 0, not the default', async () => {
    expect(DEFAULT_PORT).toBe(8080);
    expect(testConfig('backends: []\n').server.port).toBe(0);
    const g = await startTestGateway('audit: { store: none }\nbackends: []\n');
    try {
      expect(Number(new URL(g.url).port)).not.toBe(DEFAULT_PORT);
      expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
    } finally {
      await g.close(0);
    }
  });

  it('a config that asks for a fixed port is refused unless the test names that port', () => {
    expect(() => testConfig('server: { port: 8080 }\nbackends: []\n')).toThrow(/asks for server\.port 8080; tests bind port 0/);
    expect(() => testConfig('server: { port: "${P:-8081}" }\nbackends: []\n')).toThrow(/asks for server\.port 8081/);
    expect(testConfig('server: { port: "${P:-8081}" }\nbackends: []\n', { P: '0' }).server.port).toBe(0);
    expect(testConfig('server: { port: 8080 }\nbackends: []\n', {}, { port: 8080 }).server.port).toBe(8080);
  });

  it('a config file loaded by the test gets port 0, and one asking for a fixed port is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-port-zero-'));
    const { loadConfig } = await import('../src/config/load-config.js');
    const fixed = writeConfigFile(dir, 'fixed.yaml', `server: { port: 8080 }\ndataDir: ${join(dir, 'a')}\naudit: { store: none }\nbackends: []\n`);
    await expect(startGatewayFrom(loadConfig(fixed))).rejects.toThrow(/asks for server\.port 8080/);
    const unset = writeConfigFile(dir, 'unset.yaml', `dataDir: ${join(dir, 'b')}\naudit: { store: none }\nbackends: []\n`);
    const g = await startGatewayFrom(loadConfig(unset));
    try {
      expect(Number(new URL(g.url).port)).not.toBe(DEFAULT_PORT);
    } finally {
      await g.close(0);
    }
  });

  it('a gateway process must be told port 0: a config without it is refused before anything is spawned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-port-zero-'));
    const unset = writeConfigFile(dir, 'gatehouse.yaml', `dataDir: ${join(dir, 'data')}\nbackends: []\n`);
    await expect(spawnGateway(unset)).rejects.toThrow(/must bind port 0 .*without server\.port it takes the default, 8080/);
    const fromEnv = writeConfigFile(dir, 'env.yaml', 'server: { port: "${GATEHOUSE_PORT:-8080}" }\nbackends: []\n');
    await expect(spawnGateway(fromEnv, { env: { GATEHOUSE_PORT: '' } })).rejects.toThrow(/asks for 8080/);
  });
});
