// Small helpers the benchmarks share.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

/** Starts `server` on a free loopback port and returns the port. */
export async function listen(server) {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server.address().port;
}

/** A loopback port that was free a moment ago (for a child process to bind). */
export async function freePort() {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  return port;
}

/** A process's memory from /proc: resident now and its peak, in MB. */
export function memoryMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/** Runs `gatehouse serve --config FILE` (the built CLI) and resolves once it answers /readyz on `port`. */
export async function startGatewayProcess(configFile, port, name = 'gateway') {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      if (i > 200) throw new Error(`${name} did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url };
}
