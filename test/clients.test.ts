import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, startTestGateway } from './helpers/gateway.js';
import { writeConfigFile } from './helpers/spawn-gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * The client snippets of README.md's "Connecting clients", run as written: the
 * `claude_desktop_config.json` entries are read from the README, their
 * placeholders filled in, and started the way Claude Desktop starts them (command,
 * args, env), then driven over stdio by the real SDK client. A snippet edited
 * into something that no longer works fails here.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The endpoint the snippets are written for (the demo's, `npm start`). */
const README_URL = 'http://127.0.0.1:8080/mcp';
const API_KEY = 'gh-clients-test-key-0123456789';

interface ServerEntry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** Every `mcpServers` entry in the JSON code blocks of the README's "## Connecting clients" section. */
function desktopEntries(): ServerEntry[] {
  const start = README.indexOf('\n## Connecting clients\n');
  const end = README.indexOf('\n## ', start + 1);
  expect(start, 'README.md has a "## Connecting clients" section').toBeGreaterThanOrEqual(0);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((block) => block.includes('"mcpServers"'))
    // Strict JSON.parse: the block must paste into claude_desktop_config.json as it is.
    .flatMap((block) => Object.values((JSON.parse(block) as { mcpServers: Record<string, ServerEntry> }).mcpServers));
}

function desktopEntry(what: string, match: (e: ServerEntry) => boolean): ServerEntry {
  const found = desktopEntries().filter(match);
  expect(found, `one claude_desktop_config.json entry for ${what} in README.md`).toHaveLength(1);
  return found[0]!;
}

const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `gatehouse-clients-${prefix}-`));

let stub: StubBackend;

beforeAll(async () => {
  stub = await startStubBackend();
});

beforeEach(() => {
  stub.handle((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: req.url.split('/').pop(), name: 'from the stub' }));
  });
});

afterAll(async () => {
  await stub?.close();
});

/** Lists the tools, calls `stub_getItem` and checks what reached the backend. */
async function listAndCall(client: Client, itemId: string): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain('stub_getItem');
  const before = stub.received.length;
  const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId } });
  expect(result.isError ?? false).toBe(false);
  expect(result.structuredContent).toEqual({ id: itemId, name: 'from the stub' });
  expect(stub.received.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([`GET /api/items/${itemId}`]);
}

describe('Claude Desktop through mcp-remote (README claude_desktop_config.json entry)', () => {
  let gateway: Gateway;
  const entry = () => desktopEntry('mcp-remote', (e) => e.args.includes('mcp-remote'));

  beforeAll(async () => {
    // Every /mcp request needs the key: a listed tool proves the header arrived.
    gateway = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
auth:
  apiKeys:
    - { id: desktop, sha256: "${createHash('sha256').update(API_KEY).digest('hex')}" }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
      { STUB_URL: stub.url },
    );
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /**
   * The entry as Claude Desktop would start it, with the gateway's URL and `key`
   * in place of the README's. `npx` runs from the repository with
   * npm_config_offline, so it can only find the mcp-remote devDependency, never
   * the registry. HOME is a fresh directory: mcp-remote keeps OAuth state under
   * ~/.mcp-auth.
   */
  function transport(key: string, extraArgs: string[] = []): { transport: StdioClientTransport; stderr: () => string } {
    const { command, args, env = {} } = entry();
    expect(args).toContain(README_URL);
    expect(Object.values(env).join('\n')).toContain('YOUR_API_KEY');
    const home = tempDir('home');
    const t = new StdioClientTransport({
      command,
      args: [...args.map((a) => (a === README_URL ? `${gateway.url}/mcp` : a)), ...extraArgs],
      env: {
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace('YOUR_API_KEY', key)])),
        HOME: home,
        MCP_REMOTE_CONFIG_DIR: join(home, '.mcp-auth'),
        npm_config_offline: 'true',
      },
      cwd: ROOT,
      stderr: 'pipe',
    });
    let stderr = '';
    t.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    return { transport: t, stderr: () => stderr };
  }

  it.each([
    ['as written (2025 handshake)', [], /Connected to remote server/],
    ['with --protocol auto (bridged to 2026-07-28)', ['--protocol', 'auto'], /speaks MCP 2026-07-28/],
  ] as const)('lists and calls a tool %s; the bearer key from env reaches Gatehouse', { timeout: 15_000 }, async (_how, extraArgs, logged) => {
    const { transport: t, stderr } = transport(API_KEY, [...extraArgs]);
    const client = new Client({ name: 'clients-test', version: '1.0.0' });
    await client.connect(t);
    try {
      expect(client.getServerVersion()?.name).toBe('gatehouse');
      await listAndCall(client, 'd-1');
      // Gatehouse authenticated the caller and kept its key to itself (no passthrough).
      expect(stub.received.at(-1)!.headers.authorization).toBeUndefined();
      // mcp-remote substituted ${GATEHOUSE_AUTH} itself (no shell between it and the config).
      expect(stderr()).toMatch(/Replacing \$\{GATEHOUSE_AUTH\} with environment value in header 'Authorization'/);
      expect(stderr()).toMatch(logged);
    } finally {
      await client.close();
    }
  });

  it('fails at start-up with a wrong key; nothing reaches the backend', { timeout: 15_000 }, async () => {
    const { transport: t, stderr } = transport('not-the-key');
    const client = new Client({ name: 'clients-test', version: '1.0.0' });
    const before = stub.received.length;
    try {
      await expect(client.connect(t)).rejects.toThrow();
    } finally {
      await client.close();
    }
    expect(stub.received.length).toBe(before);
    // Gatehouse's 401 sent it looking for an OAuth server; an API-key-only config names none.
    expect(stderr()).toMatch(/Dynamic Client Registration rejected \(HTTP 404\)/);
  });
});

describe('Claude Desktop, locally (README claude_desktop_config.json stdio entry)', () => {
  it('starts gatehouse stdio from the entry and lists and calls a tool', { timeout: 15_000 }, async () => {
    const { command, args, env } = desktopEntry('gatehouse stdio', (e) => e.args.includes('stdio'));
    expect(command).toBe('node');
    // The config names its spec relative to itself and keeps its state in ./data beside it.
    const dir = tempDir('stdio');
    const config = writeConfigFile(
      dir,
      'gatehouse.yaml',
      `backends:\n  - name: stub\n    spec: ${relative(dir, join(FIXTURES, 'stub-api.yaml'))}\n    baseUrl: ${stub.url}/api\n`,
    );
    const filled = args.map((a) =>
      a === '/absolute/path/to/gatehouse.yaml' ? config : a.startsWith('/absolute/path/to/gatehouse/') ? join(ROOT, a.slice('/absolute/path/to/gatehouse/'.length)) : a,
    );
    expect(filled.join(' ')).not.toContain('/absolute/path');
    // Claude Desktop starts it from a working directory of its own choosing.
    const elsewhere = tempDir('cwd');
    const t = new StdioClientTransport({ command: process.execPath, args: filled, ...(env ? { env } : {}), cwd: elsewhere, stderr: 'pipe' });
    const client = new Client({ name: 'clients-test', version: '1.0.0' });
    await client.connect(t);
    try {
      expect(client.getServerVersion()?.name).toBe('gatehouse');
      await listAndCall(client, 'local-7');
    } finally {
      await client.close();
    }
  });
});
