import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CLI, gatehouse } from './helpers/cli.js';
import { FIXTURES } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/** The first hour: --help everywhere, `serve --spec`, `init`, logs people can read, one-line failures. */

const SPEC = join(FIXTURES, 'stub-api.yaml');
let stub: StubBackend;
let dir: string;
beforeAll(async () => {
  stub = await startStubBackend();
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-quickstart-'));
});
afterAll(() => stub?.close());

interface Served {
  url: string;
  /** The JSON log lines so far. */
  lines: () => Array<Record<string, unknown>>;
  stop: () => Promise<void>;
}

/** Runs `gatehouse serve ARGS…` (JSON logs: stdout is a pipe) until it says where it serves MCP; `onLine` sees each log line before. */
function serve(args: string[], env: NodeJS.ProcessEnv = {}, onLine?: (line: Record<string, unknown>) => void): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: dir, env: { ...process.env, GATEHOUSE_LOG_FORMAT: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return new Promise((resolve, reject) => {
    let seen = 0;
    const check = () => {
      const all = lines();
      for (const l of all.slice(seen)) onLine?.(l);
      seen = all.length;
      const url = all.find((l) => typeof l['url'] === 'string')?.['url'];
      if (typeof url !== 'string') return;
      child.stdout.off('data', check);
      resolve({
        url: url.replace(/\/mcp$/, ''),
        lines,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`gatehouse serve exited before listening\nstdout:\n${stdout}\nstderr:\n${stderr}`)));
  });
}

async function callGetItem(url: string): Promise<unknown> {
  const client = new Client({ name: 'quickstart-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  try {
    const { tools } = await client.listTools();
    const name = tools.map((t) => t.name).find((n) => n.endsWith('_getItem'))!;
    return { name, result: await client.callTool({ name, arguments: { itemId: '42' } }) };
  } finally {
    await client.close();
  }
}

describe('--help', () => {
  it.each(['serve', 'stdio', 'init', 'tools', 'validate', 'audit'])('gatehouse %s --help prints its synopsis and examples, exit 0', async (command) => {
    for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
      const r = await gatehouse(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: gatehouse ${command} `));
      expect(r.stdout).toMatch(/\nExamples:\n {2}gatehouse /);
    }
  });

  it.each(['list', 'add', 'remove', 'reload', 'tools'])('gatehouse backends %s --help prints its synopsis and examples, exit 0', async (sub) => {
    const r = await gatehouse(['backends', sub, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: gatehouse backends ${sub}`));
    expect(r.stdout).toMatch(/\nExamples:\n {2}gatehouse backends /);
  });

  it('a bad option prints the command’s own help, exit 2', async () => {
    const r = await gatehouse(['init', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/frobnicate/);
    expect(r.stderr).toContain('Usage: gatehouse init');
  });
});

describe('gatehouse serve --spec', () => {
  it('serves one spec with no config file: --base-url and --port 0; a line per import and per call', async () => {
    const served = await serve(['--spec', SPEC, '--base-url', `${stub.url}/api`, '--port', '0']);
    try {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: '42', name: 'from --spec' }));
      });
      const before = stub.received.length;
      const { name, result } = (await callGetItem(served.url)) as { name: string; result: { structuredContent?: unknown } };
      expect(name).toBe('stub-api_getItem');
      expect(result.structuredContent).toEqual({ id: '42', name: 'from --spec' });
      expect(stub.received[before]!.url).toBe('/api/items/42');
      // Nothing written where it runs: no audit trail with --spec.
      expect(existsSync(join(dir, 'data'))).toBe(false);

      const lines = served.lines();
      expect(lines).toContainEqual(expect.objectContaining({ backend: 'stub-api', source: SPEC, msg: `backend stub-api: importing ${SPEC}` }));
      expect(lines).toContainEqual(expect.objectContaining({ backend: 'stub-api', source: SPEC, operations: 6, tools: 6, bytes: readFileSync(SPEC).length, ms: expect.any(Number) }));
      await expect.poll(() => served.lines().find((l) => l['kind'] === 'tool')).toMatchObject({
        level: 30,
        tool: 'stub-api_getItem',
        principal: 'anonymous',
        outcome: 'ok',
        status: 200,
        ms: expect.any(Number),
        msg: expect.stringMatching(/^tool stub-api_getItem ok 200 [\d.]+ ms \(anonymous\)$/),
      });
    } finally {
      await served.stop();
    }
  });

  it('a spec served slowly by URL: the import says it is still waiting, then serves', async () => {
    // The spec server holds its answer until the gateway has said it is waiting: no clock in the test.
    let held: ServerResponse | undefined;
    const specServer = createHttpServer((_req, res) => (held = res));
    await new Promise<void>((resolve) => specServer.listen(0, '127.0.0.1', () => resolve()));
    const specUrl = `http://127.0.0.1:${(specServer.address() as { port: number }).port}/slow.yaml`;
    try {
      const served = await serve(['--spec', specUrl, '--base-url', `${stub.url}/api`, '--port', '0'], {}, (line) => {
        if (typeof line['waitingMs'] === 'number' && held !== undefined) {
          held.writeHead(200, { 'content-type': 'application/yaml' });
          held.end(readFileSync(SPEC));
          held = undefined;
        }
      });
      try {
        const lines = served.lines();
        expect(lines[0]).toMatchObject({ backend: 'slow', source: specUrl, msg: `backend slow: importing ${specUrl}` });
        expect(lines).toContainEqual(expect.objectContaining({ backend: 'slow', waitingMs: expect.any(Number), msg: expect.stringMatching(/^backend slow: still importing http:\S+ \(\d+ s\)$/) }));
        expect(lines).toContainEqual(expect.objectContaining({ backend: 'slow', tools: 6, operations: 6 }));
      } finally {
        await served.stop();
      }
    } finally {
      specServer.closeAllConnections();
      specServer.close();
    }
  });

  it('log.calls: false turns the per-call line off', async () => {
    const config = join(dir, 'quiet.yaml');
    writeFileSync(config, `server: { port: 0 }\naudit: { store: none }\nlog: { calls: false }\nbackends: [{ name: quiet, spec: ${SPEC}, baseUrl: "${stub.url}/api" }]\n`);
    const served = await serve(['--config', config]);
    try {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"42","name":"q"}');
      });
      await callGetItem(served.url);
    } finally {
      // Every line is out once the process has exited (the shutdown flushes the log).
      await served.stop();
    }
    expect(served.lines().find((l) => l['msg'] === 'shutting down')).toBeDefined();
    expect(served.lines().filter((l) => l['kind'] === 'tool')).toEqual([]);
  });

  it('rejects a bad --port, --log-format or GATEHOUSE_LOG_FORMAT, naming it, exit 2', async () => {
    const port = await gatehouse(['serve', '--spec', SPEC, '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be an integer from 0 to 65535 (got "70000")');
    const flag = await gatehouse(['serve', '--spec', SPEC, '--port', '0', '--log-format', 'fancy']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--log-format must be one of pretty, json, auto (got "fancy")');
    const env = await gatehouse(['serve', '--spec', SPEC, '--port', '0'], { GATEHOUSE_LOG_FORMAT: 'fancy' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('GATEHOUSE_LOG_FORMAT must be one of pretty, json, auto (got "fancy")');
  });

  it('pretty logs: human lines, no JSON', async () => {
    // The port is in use, so the command ends after the import lines (pretty, one per line).
    const busy = await listenOnAnyPort();
    try {
      const r = await gatehouse(['serve', '--spec', SPEC, '--base-url', 'http://127.0.0.1:9/api', '--port', String(busy.port), '--log-format', 'pretty']);
      expect(r.stdout).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: backend stub-api: importing /m);
      expect(r.stdout).toMatch(/INFO: backend stub-api: 6 tools from 6 operations in \d+ ms \(.*stub-api\.yaml, 2\.\d KiB\)$/m);
      expect(r.stdout).not.toMatch(/^\{/m);
    } finally {
      busy.server.close();
    }
  });
});

describe('gatehouse stdio --spec', () => {
  it('serves one spec over stdio with no config file', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'stdio', '--spec', SPEC, '--base-url', `${stub.url}/api`, '--name', 'inv'], stderr: 'pipe', cwd: dir });
    const client = new Client({ name: 'quickstart-stdio', version: '1.0.0' });
    await client.connect(transport);
    try {
      stub.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"5","name":"over stdio"}');
      });
      const before = stub.received.length;
      const result = await client.callTool({ name: 'inv_getItem', arguments: { itemId: '5' } });
      expect(result.structuredContent).toEqual({ id: '5', name: 'over stdio' });
      expect(stub.received[before]!.url).toBe('/api/items/5');
    } finally {
      await client.close();
    }
  });
});

function listenOnAnyPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('clear failures', () => {
  it('a busy port is one GH_LISTEN_FAILED line naming the port and the setting, exit 1', async () => {
    const busy = await listenOnAnyPort();
    try {
      const r = await gatehouse(['serve', '--spec', SPEC, '--base-url', 'http://127.0.0.1:9/api', '--port', String(busy.port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`gatehouse: GH_LISTEN_FAILED: port ${busy.port} on 127.0.0.1 is in use; set server.port (or --port) to another port\n`);
    } finally {
      busy.server.close();
    }
  });

  it('a YAML error is one line with its position; an unknown field suggests the known one', async () => {
    const yaml = join(dir, 'broken.yaml');
    writeFileSync(yaml, 'server:\n  port: [1\nbackends: []\n');
    const r = await gatehouse(['validate', '--config', yaml]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^gatehouse: GH_CONFIG_INVALID: \S+broken\.yaml:3:1: YAML syntax error: [^\n]*[^:]\n$/);
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'server:\n  hots: 0.0.0.0\nbackends: []\n');
    const t = await gatehouse(['validate', '--config', typo]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('server.hots: unknown field (did you mean `host`?)');
  });
});

describe('gatehouse init', () => {
  it('writes a commented starter config that validates; refuses to overwrite it without --force', async () => {
    const file = join(dir, 'init', 'gatehouse.yaml');
    mkdirSync(join(dir, 'init'));
    const r = await gatehouse(['init', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${file}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# Gatehouse configuration/);
    expect(text).toContain('# backends:\n#   - name: petstore');
    const v = await gatehouse(['validate', '--config', file]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain('valid (0 tools)');

    const again = await gatehouse(['init', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`gatehouse: ${file} exists; --force overwrites it\n`);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('--spec names the first backend, its path relative to the file; the file validates and serves', async () => {
    const file = join(dir, 'init-spec', 'conf', 'gatehouse.yaml');
    mkdirSync(join(dir, 'init-spec', 'conf'), { recursive: true });
    writeFileSync(join(dir, 'init-spec', 'api.yaml'), readFileSync(SPEC));
    const child = await new Promise<number>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'init', 'conf/gatehouse.yaml', '--spec', './api.yaml', '--base-url', `${stub.url}/api`], { cwd: join(dir, 'init-spec') });
      p.once('exit', (code) => resolve(code ?? -1));
    });
    expect(child).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('  - name: api\n');
    expect(text).toContain('    spec: "../api.yaml"\n');
    const v = await gatehouse(['validate', '--config', file]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/ok\s+api: 6 tools/);
    // --force overwrites.
    expect((await gatehouse(['init', file, '--force'])).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('backends: []');
  });
});
