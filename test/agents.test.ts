import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDemoApp } from '../examples/demo-backend/server.mjs';
import type { Gateway } from '../src/server/gateway.js';
import { defaultOpenAIScript, openai, startFakeOpenAI, type FakeLLM, type FakeReceived } from './helpers/fake-llm.js';
import { startTestGateway } from './helpers/gateway.js';

/**
 * The agent-framework examples (examples/agents/) end to end, each run as the
 * user would run it: `node examples/agents/<name>/agent.mjs "question"`. The
 * agent gets its tools from the gateway's /mcp and its model from the gateway's
 * /v1/chat/completions, which routes to a fake OpenAI-compatible upstream. The
 * fake model asks for a real tool, the gateway calls the demo inventory backend,
 * and the fake model's final answer is built from the tool result it received
 * back, so the answer on stdout exists only if every hop of the loop worked.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SPEC = fileURLToPath(new URL('../examples/demo-backend/openapi.yaml', import.meta.url));
const TOKEN = 'gh-agent-key-0123456789';
const MODEL = 'agent-model';
const TOOL = 'inventory_listItems';
const QUESTION = 'Which items tagged tools are in stock?';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
}
interface ChatRequest {
  model: string;
  stream?: boolean;
  messages: ChatMessage[];
  tools?: Array<{ type: string; function: { name: string } }>;
}

/** The demo backend (real handlers, seed data) behind a server that records every request line. */
async function startRecordingDemoBackend(): Promise<{ url: string; received: Array<{ method: string; url: string }>; close(): Promise<void> }> {
  const app = createDemoApp();
  const received: Array<{ method: string; url: string }> = [];
  const server: Server = createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '' });
    app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every `{name, quantity}` object in a value, looking inside strings that hold JSON at any depth of escaping. */
function itemsIn(value: unknown, found: Array<{ name: string; quantity: number }> = []): Array<{ name: string; quantity: number }> {
  if (typeof value === 'string') {
    try {
      itemsIn(JSON.parse(value) as unknown, found);
    } catch {
      // plain text: no items here
    }
  } else if (Array.isArray(value)) {
    for (const v of value) itemsIn(v, found);
  } else if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (typeof o['name'] === 'string' && typeof o['quantity'] === 'number') found.push({ name: o['name'], quantity: o['quantity'] });
    for (const v of Object.values(o)) itemsIn(v, found);
  }
  return found;
}

/**
 * The fake model: with no tool result yet it calls TOOL (if the request offers it);
 * given the tool result it answers with the items it read there. JSON or SSE, as asked.
 */
function agentScript(req: FakeReceived) {
  if (req.method !== 'POST' || req.path !== '/v1/chat/completions') return defaultOpenAIScript(req);
  const body = req.body as ChatRequest;
  const reply = body.stream === true ? openai.stream.bind(openai) : openai.completion.bind(openai);
  const result = body.messages.find((m) => m.role === 'tool');
  if (result === undefined) {
    if (!body.tools?.some((t) => t.function.name === TOOL)) return openai.error(400, `the request offers no tool ${TOOL}`);
    return reply({ model: body.model, toolCalls: [{ id: 'call_inventory_1', name: TOOL, args: ['{"tag":["tools"],', '"limit":5}'] }] });
  }
  const items = itemsIn(result.content);
  const text = items.length === 0 ? 'The tool result held no items.' : `In stock: ${items.map((i) => `${i.name} (${i.quantity})`).join(', ')}.`;
  return reply({ model: body.model, text: [text] });
}

interface ExampleRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runExample(name: string, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`examples/agents/${name}/agent.mjs`, QUESTION], {
      cwd: ROOT,
      env: { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let backend: Awaited<ReturnType<typeof startRecordingDemoBackend>>;
let llm: FakeLLM;
let gateway: Gateway;

beforeAll(async () => {
  backend = await startRecordingDemoBackend();
  llm = await startFakeOpenAI();
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - { name: inventory, spec: "\${SPEC}", baseUrl: "\${BACKEND}" }
auth:
  apiKeys:
    - { id: agent, sha256: "${sha(TOKEN)}", scopes: [tools:read, llm] }
rules:
  - allow: { principals: { scopes: [tools:read] }, readOnly: true }
  - allow: { principals: { scopes: [llm] }, models: [${MODEL}] }
ai:
  targets:
    fake: { provider: openai-compatible, baseUrl: "\${LLM}/v1", apiKey: upstream-key }
  routes:
    - { model: ${MODEL}, targets: [fake] }
  retry: { attempts: 1, backoffMs: 1, deadlineMs: 10000 }
`,
    { SPEC, BACKEND: backend.url, LLM: llm.url },
  );
});

afterAll(async () => {
  await gateway?.close();
  await llm?.close();
  await backend?.close();
});

beforeEach(() => {
  llm.script = agentScript;
  llm.received.length = 0;
  backend.received.length = 0;
});

describe.each([['openai-agents'], ['vercel-ai']])('examples/agents/%s', (name) => {
  it('lists the gateway tools, calls one through the gateway, and answers from its result via the ai-proxy', async () => {
    const run = await runExample(name, { GATEHOUSE_URL: gateway.url, GATEHOUSE_TOKEN: TOKEN, GATEHOUSE_MODEL: MODEL });
    const diagnostics = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    expect(run.code, diagnostics).toBe(0);

    // The backend got the one request the tool call describes.
    expect(backend.received).toEqual([{ method: 'GET', url: '/items?tag=tools&limit=5' }]);

    // The model was asked twice through the gateway: once with the MCP tools on offer, once with the tool's result.
    const chats = llm.received.filter((r) => r.path === '/v1/chat/completions');
    expect(chats, diagnostics).toHaveLength(2);
    for (const chat of chats) {
      expect(chat.headers.authorization).toBe('Bearer upstream-key');
      expect((chat.body as ChatRequest).model).toBe(MODEL);
    }
    const [first, second] = chats.map((c) => c.body as ChatRequest);
    const offered = first!.tools?.map((t) => t.function.name) ?? [];
    expect(offered).toContain(TOOL);
    expect(offered).not.toContain('inventory_deleteItem'); // the rules show this caller read-only tools
    expect(first!.messages.some((m) => m.role === 'tool')).toBe(false);
    expect(JSON.stringify(first!.messages)).toContain(QUESTION);

    const call = second!.messages.find((m) => m.role === 'assistant' && m.tool_calls !== undefined);
    expect(call?.tool_calls?.[0]).toMatchObject({ id: 'call_inventory_1', function: { name: TOOL } });
    const result = second!.messages.find((m) => m.role === 'tool');
    expect(result?.tool_call_id).toBe('call_inventory_1');
    // The demo's seed items tagged "tools", as the backend returned them; nothing else.
    const items = itemsIn(result?.content);
    expect(items.map((i) => i.name)).toContain('Claw hammer');
    expect(new Set(items.map((i) => `${i.name} (${i.quantity})`))).toEqual(new Set(['Claw hammer (12)', 'Tape measure (30)']));

    // The final answer, built by the model from that result, is what the example prints.
    expect(run.stdout).toContain('In stock: Claw hammer (12), Tape measure (30).');
  });
});
