// `npm start`: runs the demo inventory backend and Gatehouse in front of it,
// then says how to connect an MCP client. `prestart` (scripts/ensure-built.mjs)
// has built dist/ already.
//
// Ports: GATEHOUSE_PORT (default 8080), DEMO_BACKEND_PORT (default 4010).
// Ctrl-C (SIGINT) or SIGTERM stops both; we exit when the gateway exits.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { URL, fileURLToPath } from 'node:url';
import process from 'node:process';
import console from 'node:console';
import { startDemoBackend } from './demo-backend/server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = 'dist/cli/main.js';
const CONFIG = 'examples/gatehouse.yaml';
const HOST = '127.0.0.1';

function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`start-demo: ${name} must be an integer from 1 to 65535, got '${raw}'`);
    process.exit(1);
  }
  return port;
}

const gatewayPort = portFromEnv('GATEHOUSE_PORT', 8080);
const backendPort = portFromEnv('DEMO_BACKEND_PORT', 4010);
const gatewayUrl = `http://${HOST}:${gatewayPort}`;
const mcpUrl = `${gatewayUrl}/mcp`;

if (!existsSync(new URL(`../${CLI}`, import.meta.url))) {
  console.error(`start-demo: ${CLI} is missing; run \`npm run build\` (or \`npm start\`, which builds first).`);
  process.exit(1);
}

let backend;
try {
  backend = await startDemoBackend({ port: backendPort, host: HOST });
} catch (err) {
  console.error(`start-demo: cannot start the demo backend on ${HOST}:${backendPort}: ${err.message}`);
  console.error('start-demo: set DEMO_BACKEND_PORT to a free port.');
  process.exit(1);
}
console.log(`start-demo: demo inventory backend on ${backend.url}`);

// Own process group (detached), so a terminal Ctrl-C reaches the gateway once,
// through us, rather than twice (directly and forwarded).
// An IPC channel: the gateway says when it listens (see cli/main.ts). Its /healthz
// is no proof: another gateway already on the port would answer it.
const gateway = spawn(process.execPath, [CLI, 'serve', '--config', CONFIG], {
  cwd: ROOT,
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  detached: true,
  env: { ...process.env, GATEHOUSE_PORT: String(gatewayPort), DEMO_BACKEND_PORT: String(backendPort) },
});

let gatewayExited = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!gatewayExited) gateway.kill(signal);
  });
}
// Never leave an orphaned gateway behind if this process dies first.
process.on('exit', () => {
  if (!gatewayExited) gateway.kill('SIGTERM');
});

gateway.on('error', async (err) => {
  gatewayExited = true;
  console.error(`start-demo: cannot start the gateway: ${err.message}`);
  await backend.close();
  process.exit(1);
});

gateway.on('exit', async (code, signal) => {
  gatewayExited = true;
  await backend.close().catch(() => {});
  if (signal) {
    // A signal we forwarded is a normal stop.
    process.exit(signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1);
  }
  process.exit(code ?? 1);
});

/** Resolves true once the gateway says it listens, false if it exits first. */
function waitUntilListening() {
  return new Promise((resolve) => {
    gateway.on('message', (m) => {
      if (m?.gatehouse === 'listening') resolve(true);
    });
    gateway.once('exit', () => resolve(false));
  });
}

if (await waitUntilListening()) {
  console.log(`
Gatehouse is serving the inventory backend as MCP tools at:

    ${mcpUrl}

List the tools with the MCP Inspector CLI (Node.js >= 22.19):

    npx @modelcontextprotocol/inspector@2.12.0 --cli ${mcpUrl} --transport http --method tools/list

Call one:

    npx @modelcontextprotocol/inspector@2.12.0 --cli ${mcpUrl} --transport http \\
        --method tools/call --tool-name inventory_getItem --tool-arg itemId=item-1

Add it to Claude Code:

    claude mcp add --transport http gatehouse ${mcpUrl}

Press Ctrl-C to stop.
`);
}
