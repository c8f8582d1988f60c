import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { interpolateEnv } from '../../src/config/interpolate.js';

/**
 * Every server a test starts binds port 0 (the kernel picks a free port).
 * A fixed port — the schema's default 8080 included — collides with
 * `npm start` running beside `npm test`, and with a second test run on the
 * same machine. The gateway helpers call these checks, so a test cannot
 * forget: a config without `server.port` gets 0, and one that asks for any
 * other port fails at once, unless the test names that port itself.
 */

/** The `server.port` a config text asks for (after `${VAR:-default}` interpolation), or undefined when it names none. */
export function askedPort(yaml: string, env: NodeJS.ProcessEnv = {}): number | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(yaml);
  } catch {
    // A config that does not parse is the loader's to report, with its line and column.
    return undefined;
  }
  const server = (doc as { server?: { port?: unknown } } | null)?.server;
  if (server === null || typeof server !== 'object' || server.port === undefined) return undefined;
  let port: unknown;
  try {
    port = interpolateEnv(server.port, env, 'server.port');
  } catch {
    return undefined;
  }
  return Number(port);
}

/** Throws unless `yaml` leaves the port unset, asks for 0, or asks for exactly `allowed`. */
export function refuseFixedPort(yaml: string, env: NodeJS.ProcessEnv, where: string, allowed?: number): void {
  const port = askedPort(yaml, env);
  if (port === undefined || port === 0 || port === allowed) return;
  throw new Error(
    `${where}: the test config asks for server.port ${port}; tests bind port 0, so that \`npm start\` (8080) and other test runs can run beside them. ` +
      'Say `port: 0`, or name the port with the helper\'s `port` option if the test is about a fixed port.',
  );
}

/** {@link refuseFixedPort} for a config file, when the file exists (configs built in memory have no file to read). */
export function refuseFixedPortInFile(file: string, env: NodeJS.ProcessEnv, allowed?: number): void {
  if (existsSync(file)) refuseFixedPort(readFileSync(file, 'utf8'), env, file, allowed);
}

/**
 * For a `gatehouse serve` process: its config file must say `server.port: 0`
 * (a process cannot be given another port from outside, and leaving it out
 * means the default, 8080).
 */
export function requirePortZeroInFile(file: string, env: NodeJS.ProcessEnv): void {
  const port = askedPort(readFileSync(file, 'utf8'), env);
  if (port === 0) return;
  throw new Error(
    `${file}: a gateway process started by a test must bind port 0 (say \`server: { port: 0 }\`); ` +
      `${port === undefined ? 'without server.port it takes the default, 8080' : `it asks for ${port}`}, which collides with \`npm start\` and with other test runs.`,
  );
}
