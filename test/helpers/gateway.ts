import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseConfig } from '../../src/config/load-config.js';
import type { GatehouseConfig } from '../../src/config/schema.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { refuseFixedPort, refuseFixedPortInFile } from './port.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Options of the gateway helpers. */
export interface TestGatewayOptions {
  disableFastPath?: boolean;
  /**
   * The port to bind. Left out, the gateway binds port 0 (see ./port.ts): a
   * test that is about a fixed port names it here, and only then may its
   * config ask for it.
   */
  port?: number;
}

/**
 * A config as if read from test/fixtures/gatehouse.yaml (specs resolve against
 * fixtures/). Without a `dataDir` of its own, state (the SQLite audit store)
 * goes to a fresh temporary directory, so tests never share or leave files.
 * It binds port 0 (or `options.port`); a config that asks for another port
 * throws.
 */
export function testConfig(yaml: string, env: NodeJS.ProcessEnv = {}, options: Pick<TestGatewayOptions, 'port'> = {}): GatehouseConfig {
  refuseFixedPort(yaml, env, 'testConfig', options.port);
  const config = parseConfig(yaml, `${FIXTURES}gatehouse.yaml`, env);
  if (!/^dataDir:/m.test(yaml)) config.dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  config.server.port = options.port ?? 0;
  return config;
}

export async function startTestGateway(yaml: string, env: NodeJS.ProcessEnv = {}, options: TestGatewayOptions = {}): Promise<Gateway> {
  const { port, ...rest } = options;
  return startGateway(testConfig(yaml, env, { port }), silentLogger(), rest);
}

/**
 * Starts a gateway from a config already loaded (e.g. `loadConfig(file)` of a
 * file the test wrote), on port 0 (or `options.port`) whatever the default;
 * a file that asks for another port throws. Tests start in-process gateways
 * through this or {@link startTestGateway} only (eslint.config.js refuses
 * `startGateway` in tests).
 */
export async function startGatewayFrom(config: GatehouseConfig, log: Logger = silentLogger(), options: TestGatewayOptions = {}): Promise<Gateway> {
  const { port, ...rest } = options;
  refuseFixedPortInFile(config.file, process.env, port);
  return startGateway({ ...config, server: { ...config.server, port: port ?? 0 } }, log, rest);
}

export type Era = 'legacy' | 'modern';

/** A real SDK client connected over Streamable HTTP in the given protocol era. */
export async function connectClient(gatewayUrl: string, era: Era): Promise<Client> {
  const client = new Client(
    { name: 'gatehouse-test', version: '1.0.0' },
    { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gatewayUrl}/mcp`)));
  return client;
}

/** The per-request `_meta` envelope a 2026-07-28 client sends. */
export const MODERN_ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'gatehouse-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** One `tools/list` page fetched by hand: the bytes a client receives and the parsed result. */
export async function rawToolsList(
  gatewayUrl: string,
  era: Era,
  cursor?: string,
): Promise<{ bytes: number; result: { tools: Array<{ name: string }>; nextCursor?: string } }> {
  const params = { ...(cursor !== undefined ? { cursor } : {}), ...(era === 'modern' ? { _meta: MODERN_ENVELOPE } : {}) };
  const res = await fetch(`${gatewayUrl}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': era === 'modern' ? '2026-07-28' : '2025-11-25',
      ...(era === 'modern' ? { 'mcp-method': 'tools/list' } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', ...(Object.keys(params).length > 0 ? { params } : {}) }),
  });
  const body = await res.text();
  // A 2025 answer may be one SSE event; a 2026-07-28 answer is one JSON body.
  const json = body.startsWith('{') ? body : body.split('\n').find((l) => l.startsWith('data: '))!.slice(6);
  return { bytes: Buffer.byteLength(body), result: (JSON.parse(json) as { result: { tools: Array<{ name: string }>; nextCursor?: string } }).result };
}
