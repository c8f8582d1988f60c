import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway, writeConfigFile, type GatewayProcess } from './helpers/spawn-gateway.js';
import { rawToolsList } from './helpers/gateway.js';

/**
 * A gateway loads what its configuration and its traffic use, because every module is
 * resident memory: one that only proxies LLM calls never loads the MCP SDK (about 30 MB),
 * express (probes and scrapes are answered without it), ioredis (no Redis configured) or
 * pg (no PostgreSQL). A module hook in the gateway process reports what it loads.
 *
 * The hook appends each load to a file, synchronously, before the module it loads can
 * run: whatever a response needed is in the file by the time the response arrives. (It
 * used to write to stderr, whose lines reach this process whenever the pipe delivers
 * them, so on a busy machine a response could arrive first and the check fail.)
 */

let dir: string;
let g: GatewayProcess;
let log: string;
const loaded = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('LOADED '));
const sdkLoads = () => loaded().filter((l) => l.includes('/@modelcontextprotocol/'));
const packageLoads = () => loaded().filter((l) => /\/node_modules\/(express|ioredis|pg)\//.test(l));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-lazy-mcp-'));
  log = join(dir, 'loaded.log');
  writeFileSync(log, '');
  // Module customisation hooks run on their own thread; the main thread waits for each load's answer.
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (/\\/node_modules\\/(@modelcontextprotocol|express|ioredis|pg)\\//.test(url)) appendFileSync(${JSON.stringify(log)}, 'LOADED ' + url + '\\n');\n  return next(url, context);\n}\n`,
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
    expect(sdkLoads()).toEqual([]);

    const list = await rawToolsList(g.url, 'legacy');
    expect(list.result.tools).toEqual([]);
    expect(sdkLoads().some((l) => l.includes('/@modelcontextprotocol/server/'))).toBe(true);
  });

  it('answers probes and scrapes without express, and loads it for the first other route', async () => {
    const ready = await fetch(`${g.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toEqual({ status: 'ready', tools: 0, backends: [], stores: { audit: 'up' } });
    expect(await (await fetch(`${g.url}/healthz?probe=1`)).json()).toEqual({ status: 'ok' });
    const head = await fetch(`${g.url}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const metrics = await fetch(`${g.url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toMatch(/^# TYPE gatehouse_calls_total counter$/m);
    expect(packageLoads()).toEqual([]);

    // Anything else is express's, loaded on first use: a JSON 404 here.
    const other = await fetch(`${g.url}/no-such-route`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: string }).error).toBe('not_found');
    expect(packageLoads().map((l) => /\/node_modules\/([^/]+)\//.exec(l)?.[1])).toEqual(['express']);
  });

  it('refuses a foreign Host on /v1 in the OpenAI error shape', async () => {
    const { request } = await import('undici');
    const res = await request(`${g.url}/v1/models`, { headers: { host: 'evil.example' } });
    expect(res.statusCode).toBe(403);
    expect(await res.body.json()).toEqual({ error: { message: 'Invalid Host: evil.example', type: 'permission_error', code: 'GH_HOST_NOT_ALLOWED', param: null } });
  });
});
