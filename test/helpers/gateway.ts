import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseConfig } from '../../src/config/load-config.js';
import type { GatehouseConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** A config as if read from test/fixtures/gatehouse.yaml (specs resolve against fixtures/). */
export function testConfig(yaml: string, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  return parseConfig(yaml, `${FIXTURES}gatehouse.yaml`, env);
}

export async function startTestGateway(yaml: string, env: NodeJS.ProcessEnv = {}, options: { disableFastPath?: boolean } = {}): Promise<Gateway> {
  return startGateway(testConfig(yaml, env), silentLogger(), options);
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
