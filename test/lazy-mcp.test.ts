import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway, writeConfigFile, type GatewayProcess } from './helpers/spawn-gateway.js';
import { rawToolsList } from './helpers/gateway.js';

/**
 * A gateway that only proxies LLM calls never loads the MCP SDK (about 30 MB):
 * a module hook in the gateway process reports every SDK module it loads, and
 * none is loaded until the first /mcp request.
 */

let dir: string;
let g: GatewayProcess;
const sdkLoads = () => g.output().stderr.split('\n').filter((l) => l.startsWith('SDK-LOADED '));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-lazy-mcp-'));
  // Module customisation hooks run on their own thread; writing to stderr reaches the parent.
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function load(url, context, next) {\n  if (url.includes('/@modelcontextprotocol/')) process.stderr.write('SDK-LOADED ' + url + '\\n');\n  return next(url, context);\n}\n`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  const config = writeConfigFile(
    dir,
    'gatehouse.yaml',
    `server: { port: 0 }\nlog: { level: info }\ndataDir: ${join(dir, 'data')}\nai:\n  targets:\n    local: { provider: openai-compatible, baseUrl: "http://127.0.0.1:9/v1" }\n  routes:\n    - { model: small, targets: [local] }\n`,
  );
  g = await spawnGateway(config, { env: { NODE_OPTIONS: `--import ${pathToFileURL(join(dir, 'register.mjs')).href}` } });
});
afterAll(async () => {
  await g?.stop();
});

describe('an ai-proxy-only gateway', () => {
  it('serves /v1 without loading the MCP SDK, and loads it with the first /mcp request', async () => {
    const models = await fetch(`${g.url}/v1/models`);
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toEqual(['small']);
    expect((await fetch(`${g.url}/readyz`)).status).toBe(200);
    // The hook did run (node:module loads are not reported, but our own dist modules were loaded through it).
    expect(sdkLoads()).toEqual([]);

    const list = await rawToolsList(g.url, 'legacy');
    expect(list.result.tools).toEqual([]);
    expect(sdkLoads().some((l) => l.includes('/@modelcontextprotocol/server/'))).toBe(true);
  });

  it('refuses a foreign Host on /v1 in the OpenAI error shape', async () => {
    const { request } = await import('undici');
    const res = await request(`${g.url}/v1/models`, { headers: { host: 'evil.example' } });
    expect(res.statusCode).toBe(403);
    expect(await res.body.json()).toEqual({ error: { message: 'Invalid Host: evil.example', type: 'permission_error', code: 'GH_HOST_NOT_ALLOWED', param: null } });
  });
});
