import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePortZeroInFile } from './port.js';

/** The built CLI (test/global-setup.ts builds dist/ before the suite). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A `gatehouse serve` process, listening. */
export interface GatewayProcess {
  /** Base URL, e.g. `http://127.0.0.1:40123` (the port the process bound, from its start-up log line). */
  url: string;
  child: ChildProcess;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when the process has exited. */
  exited: Promise<ProcessExit>;
  /** Sends `signal` and waits for the exit; SIGKILLs after `timeoutMs` (then the exit shows the signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ProcessExit>;
}

/** Writes `yaml` to `dir/name` and returns the path. */
export function writeConfigFile(dir: string, name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/**
 * Spawns `node dist/cli/main.js serve --config FILE` and resolves once it
 * listens. The config must say `server.port: 0` (it throws otherwise, before
 * spawning: see ./port.ts) and `log.level: info` (or lower): the port is read
 * from the "serving MCP at" log line, so there is no race on a port picked in
 * advance. Rejects (and kills the process) if it exits or does not listen
 * within `timeoutMs`.
 */
export async function spawnGateway(configFile: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<GatewayProcess> {
  requirePortZeroInFile(configFile, { ...process.env, ...options.env });
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const url = await new Promise<string>((resolve, reject) => {
    let scanned = 0;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`gatehouse serve --config ${configFile}: ${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`not listening after ${options.timeoutMs ?? 10_000} ms`), options.timeoutMs ?? 10_000);
    child.stdout.on('data', (s: string) => {
      stdout += s;
      // pino writes one JSON object per line; the start-up line carries `url`.
      let nl: number;
      while ((nl = stdout.indexOf('\n', scanned)) >= 0) {
        const line = stdout.slice(scanned, nl);
        scanned = nl + 1;
        const found = mcpUrlOf(line);
        if (found !== undefined && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
    void exited.then(({ code, signal }) => fail(`exited before listening (code ${code}, signal ${signal})`));
  });

  return {
    url,
    child,
    output: () => ({ stdout, stderr }),
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function mcpUrlOf(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { url?: unknown };
    return typeof entry.url === 'string' && entry.url.endsWith('/mcp') ? entry.url.slice(0, -'/mcp'.length) : undefined;
  } catch {
    return undefined;
  }
}
