import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDemoBackend } from '../examples/demo-backend/server.mjs';
import type { Gateway } from '../src/server/gateway.js';
import { defaultOpenAIScript, openai, startFakeOpenAI, type FakeLLM, type FakeReceived } from './helpers/fake-llm.js';
import { startTestGateway } from './helpers/gateway.js';

/**
 * The README's JavaScript snippets for the ai-proxy and the agent frameworks,
 * run as written: each is cut out of README.md, its `http://127.0.0.1:8080` is
 * pointed at a test gateway, and it runs with `node` from a folder that sees
 * this project's node_modules, without a credential (a gateway with no `auth`)
 * and with one. The gateway routes models to a fake OpenAI upstream and tools
 * to the demo inventory backend. Also: `/v1/models`, read through the openai
 * SDK, lists glob routes, and the Inspector version the README names is the
 * one CI runs and the demo's banner prints.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SPEC = join(ROOT, 'examples/demo-backend/openapi.yaml');
const KEY = 'gh-snippet-key-0123456789';
const TOOL = 'inventory_listItems';

/** The one ```js block of README.md that contains `marker`. */
function snippet(marker: string): string {
  const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes(marker));
  expect(blocks, `README.md has one js block with ${marker}`).toHaveLength(1);
  return blocks[0]!;
}

/** Calls TOOL while no tool result is in the conversation (and the request offers it), then answers with a fixed text. */
function script(req: FakeReceived) {
  if (req.path !== '/v1/chat/completions') return defaultOpenAIScript(req);
  const body = req.body as { model: string; stream?: boolean; tools?: Array<{ function: { name: string } }>; messages: Array<{ role: string }> };
  const reply = body.stream === true ? openai.stream.bind(openai) : openai.completion.bind(openai);
  if (body.tools === undefined) return defaultOpenAIScript(req);
  if (!body.messages.some((m) => m.role === 'tool')) return reply({ model: body.model, toolCalls: [{ id: 'call_1', name: TOOL, args: ['{"tag":["tools"]}'] }] });
  return reply({ model: body.model, text: ['Claw hammer and Tape measure.'] });
}

let dir: string;
let backend: { url: string; close(): Promise<void> };
let llm: FakeLLM;
let open: Gateway;
let keyed: Gateway;

const aiSection = `ai:
  targets:
    fake: { provider: openai-compatible, baseUrl: "\${LLM}/v1", apiKey: upstream-key }
  routes:
    - { model: claude-sonnet, aliases: [default], targets: [fake] }
    - { model: "gpt-*", targets: [fake] }
    - { model: "llama*", targets: [fake] }
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-readme-'));
  // Bare imports in the snippets resolve from the folder they run in.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  backend = await startDemoBackend({ port: 0, host: '127.0.0.1' });
  llm = await startFakeOpenAI();
  const env = { SPEC, BACKEND: backend.url, LLM: llm.url };
  const backends = 'backends:\n  - { name: inventory, spec: "${SPEC}", baseUrl: "${BACKEND}" }\n';
  open = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\n${backends}${aiSection}`, env);
  keyed = await startTestGateway(
    `server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\n${backends}${aiSection}auth:\n  apiKeys:\n    - { id: readme, sha256: "${createHash('sha256').update(KEY).digest('hex')}", scopes: [llm, tools] }\nrules:\n  - allow: { principals: { scopes: [tools] } }\n  - allow: { principals: { scopes: [llm] }, models: ["*"] }\n`,
    env,
  );
});
afterAll(async () => {
  await open?.close(0);
  await keyed?.close(0);
  await llm?.close();
  await backend?.close();
});
beforeEach(() => {
  llm.script = script;
  llm.received.length = 0;
});

/** Runs a snippet as `node snippet.mjs` against `gateway`, with `env` (and no provider variables of the machine's). */
function run(code: string, gateway: Gateway, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(dir, `snippet-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, code.replaceAll('http://127.0.0.1:8080', gateway.url));
  const clean: NodeJS.ProcessEnv = { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' };
  delete clean.GATEHOUSE_TOKEN;
  delete clean.GATEHOUSE_KEY;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('exit', (c) => resolve({ code: c, stdout, stderr }));
  });
}

const chats = () => llm.received.filter((r) => r.path === '/v1/chat/completions');

describe('README snippets run as written', () => {
  describe.each([
    ['without a credential (no auth)', () => open, {}],
    ['with a Gatehouse key', () => keyed, { token: KEY }],
  ] as const)('%s', (_label, gateway, { token }: { token?: string }) => {
    it('the ai-proxy snippet lists the models, asks one, and streams from a glob route', async () => {
      const r = await run(snippet('client.chat.completions.create'), gateway(), token ? { GATEHOUSE_KEY: token } : {});
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("[ 'claude-sonnet', 'default', 'gpt-*', 'llama*' ]");
      expect(r.stdout).toContain('Hello\nHello');
      expect(chats().map((c) => (c.body as { model: string }).model)).toEqual(['claude-sonnet', 'gpt-4o']);
    });

    it.each([['OpenAI Agents SDK', 'MCPServerStreamableHttp'], ['Vercel AI SDK', 'createOpenAICompatible']])(
      'the %s snippet calls a gateway tool and prints the answer',
      async (_name, marker) => {
        const r = await run(snippet(marker), gateway(), token ? { GATEHOUSE_TOKEN: token } : {});
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain('Claw hammer and Tape measure.');
        const [first, second] = chats();
        expect((first?.body as { model: string }).model).toBe('gpt-4o-mini');
        expect(JSON.stringify(second?.body)).toContain('Claw hammer');
      },
    );
  });
});

describe('GET /v1/models', () => {
  it('lists names and aliases, then glob routes as their patterns, through the openai SDK', async () => {
    const client = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: KEY });
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['claude-sonnet', 'default', 'gpt-*', 'llama*']);
    // A pattern is what the route serves: a name it matches is routed, and the name is sent on.
    await client.chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'Hi' }] });
    expect((chats()[0]?.body as { model: string }).model).toBe('gpt-4.1-nano');
  });
});

describe('the Inspector the README names', () => {
  it('is the version CI runs and the demo banner prints', () => {
    const conformance = readFileSync(join(ROOT, 'scripts/conformance.sh'), 'utf8');
    const ci = /@modelcontextprotocol\/inspector@\$\{INSPECTOR_VERSION:-([^}]+)\}/.exec(conformance)?.[1];
    expect(ci).toMatch(/^\d+\.\d+\.\d+$/);
    const named = [...README.matchAll(/@modelcontextprotocol\/inspector(@[^\s`]*)?/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(0);
    expect(new Set(named)).toEqual(new Set([`@${ci}`]));
    expect([...README.matchAll(/Tried with Inspector ([\d.]+)/g)].map((m) => m[1])).toEqual(expect.arrayContaining([ci]));
    const banner = readFileSync(join(ROOT, 'examples/start-demo.mjs'), 'utf8');
    expect([...banner.matchAll(/@modelcontextprotocol\/inspector(@[^\s`]*)?/g)].map((m) => m[1])).toEqual([`@${ci}`, `@${ci}`]);
    expect(banner).toContain('--tool-arg itemId=item-1');
  });
});
