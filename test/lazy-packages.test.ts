import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway, writeConfigFile, type GatewayProcess } from './helpers/spawn-gateway.js';

/**
 * Start-up loads only what the configuration uses: jose only with `auth.jwt` (API keys
 * need node:crypto alone), rate-limiter-flexible only with a rate limit rule. Each costs
 * tens of milliseconds before the first tools/list. A preload in the gateway process
 * reports what it loads, both through `require` (rate-limiter-flexible is CommonJS) and
 * through `import` (jose is ESM only); the second gateway, which configures both, shows
 * the report sees them when they do load (the key set is fetched with the first token, not at start).
 */

let dir: string;
const gateways: GatewayProcess[] = [];
const KEY = 'test-key-0123456789';
const SPEC = JSON.stringify({
  openapi: '3.0.3',
  info: { title: 'one', version: '1' },
  paths: { '/ping': { get: { operationId: 'ping', responses: { '200': { description: 'ok' } } } } },
});

function packagesLoaded(log: string): string[] {
  const names = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  return [...new Set(names)].sort();
}

async function start(name: string, yaml: string): Promise<{ g: GatewayProcess; log: string }> {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  const watched = /\/node_modules\/(jose|rate-limiter-flexible)\//;
  writeFileSync(
    join(dir, `${name}-hooks.mjs`),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  const m = ${watched}.exec(url);\n  if (m) appendFileSync(${JSON.stringify(log)}, m[1] + '\\n');\n  return next(url, context);\n}\n`,
  );
  // Module hooks see `import`; a CommonJS `require` goes through Module._load, watched here.
  writeFileSync(
    join(dir, `${name}-preload.cjs`),
    `const { register } = require('node:module');\nregister(${JSON.stringify(pathToFileURL(join(dir, `${name}-hooks.mjs`)).href)});\n` +
      `const M = require('node:module');\nconst load = M._load;\nM._load = function (request, parent, isMain) {\n  const m = /^(jose|rate-limiter-flexible)(\\/|$)/.exec(request);\n  if (m) require('node:fs').appendFileSync(${JSON.stringify(log)}, m[1] + '\\n');\n  return load.apply(this, arguments);\n};\n`,
  );
  const config = writeConfigFile(dir, `${name}.yaml`, yaml);
  const g = await spawnGateway(config, { env: { NODE_OPTIONS: `--require ${join(dir, `${name}-preload.cjs`)}` } });
  gateways.push(g);
  return { g, log };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-lazy-packages-'));
  writeFileSync(join(dir, 'spec.json'), SPEC);
});
afterAll(async () => {
  for (const g of gateways) await g.stop();
});

const backend = (d: string) => `backends:\n  - { name: one, spec: ${join(d, 'spec.json')}, baseUrl: "http://127.0.0.1:9" }\n`;

describe('start-up loads what the configuration uses', () => {
  it('with API keys and no rate limits, answers tools/list without jose or rate-limiter-flexible', async () => {
    const sha = createHash('sha256').update(KEY).digest('hex');
    const { g, log } = await start('keys', `server: { port: 0 }\nlog: { level: info }\ndataDir: ${join(dir, 'data-keys')}\nauth:\n  apiKeys:\n    - { id: agent, sha256: "${sha}" }\n${backend(dir)}`);
    const res = await fetch(`${g.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"one_ping"');
    expect(packagesLoaded(log)).toEqual([]);
  });

  it('with auth.jwt and a rate limit rule, loads both before it serves', async () => {
    const { log } = await start(
      'jwt',
      `server: { port: 0 }\nlog: { level: info }\ndataDir: ${join(dir, 'data-jwt')}\nauth:\n  jwt:\n    issuer: https://issuer.example\n    jwksUrl: http://127.0.0.1:9/jwks\n` +
        `rateLimits:\n  rules:\n    - { name: rpm, limit: 60, window: 1m }\n${backend(dir)}`,
    );
    expect(packagesLoaded(log)).toEqual(['jose', 'rate-limiter-flexible']);
  });
});
