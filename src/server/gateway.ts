import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { GatehouseError } from '../errors/catalogue.js';
import { gatehouseErrorAnswer } from '../errors/http.js';
import { isLoopbackHost } from '../http/host-check.js';
import { sendAnswer } from '../http/response.js';
import { createHttpHandler } from './app.js';
import { createRuntime, type Runtime } from './runtime.js';

export interface Gateway {
  /** Base URL the gateway listens on, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  runtime: Runtime;
  /**
   * Graceful: /readyz turns unready, requests are still served for
   * `server.shutdown.readinessDelayMs`, then no new ones are taken, calls in
   * flight get `graceMs` (default `server.shutdown.graceMs`) to finish, and the
   * audit trail is flushed.
   */
  close: (graceMs?: number) => Promise<void>;
}

/** What a request on a kept-alive connection gets once a shutdown stops taking new ones. */
const SHUTTING_DOWN = new GatehouseError('GH_SHUTTING_DOWN', 'Gatehouse is shutting down; retry on another instance');

/**
 * Without credentials every caller is anonymous: allowed on a loopback bind,
 * refused on any other unless explicitly overridden (and then said loudly).
 */
function checkAnonymousExposure(config: GatehouseConfig, log: Logger): void {
  const auth = config.auth;
  if (auth?.jwt !== undefined || (auth?.apiKeys ?? []).length > 0 || isLoopbackHost(config.server.host)) return;
  if (auth?.allowUnauthenticatedPublic !== true) {
    throw new GatehouseError(
      'GH_CONFIG_INVALID',
      `${config.file}: server.host ${config.server.host} is not a loopback address and auth configures no credentials, so anyone who can reach it could call every tool. Configure auth.jwt or auth.apiKeys, or set auth.allowUnauthenticatedPublic: true.`,
    );
  }
  log.warn(`INSECURE: serving MCP on ${config.server.host} without authentication (auth.allowUnauthenticatedPublic is true): anyone who can reach this port can call every tool.`);
}

/** Imports the backends, then listens. Resolves once the port is bound. */
export async function startGateway(config: GatehouseConfig, log: Logger, options: { disableFastPath?: boolean } = {}): Promise<Gateway> {
  checkAnonymousExposure(config, log);
  const runtime = await createRuntime(config, log);
  let draining = false;
  const { handle, ready, close: closeMcp } = createHttpHandler({ config, runtime, log, isDraining: () => draining, ...options });
  await ready;
  const server: Server = createServer();
  const requests = trackRequests(server, handle);
  server.on('request', requests.listener);
  // Keep-alive longer than common load balancers' idle timeout (60 s) to avoid resets.
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.port, config.server.host, () => resolve());
    });
  } catch (err) {
    // Nothing is served: let go of what the start made (stores, worker threads), so the process can exit.
    await closeMcp().catch(() => {});
    await runtime.close().catch(() => {});
    throw listenFailed(err, config);
  }
  // Serving: what the first tools/call needs and start-up did not (undici) loads now, off the path of tools/list.
  runtime.warm();
  const { port } = server.address() as AddressInfo;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  return {
    url,
    port,
    runtime,
    close: async (graceMs = config.server.shutdown.graceMs) => {
      // Unready first, so load balancers stop sending before the gateway stops taking requests.
      draining = true;
      const delay = config.server.shutdown.readinessDelayMs;
      if (delay > 0) {
        log.info({ readinessDelayMs: delay }, `shutting down: /readyz answers 503; still serving for ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      await requests.drain(graceMs);
      await closeMcp();
      // Every finished call has queued its audit record by now: the runtime flushes them.
      await runtime.close();
    },
  };
}

/**
 * The requests in flight, so a shutdown can wait for exactly them (not for idle
 * keep-alive sockets). `drain` stops taking requests, lets those in flight finish
 * (up to `graceMs`), then cuts what is left and resolves once the server is closed.
 */
function trackRequests(server: Server, handle: (req: IncomingMessage, res: ServerResponse) => void): { listener: (req: IncomingMessage, res: ServerResponse) => void; drain: (graceMs: number) => Promise<void> } {
  let inFlight = 0;
  let drained: (() => void) | undefined;
  // Open subscriptions/listen streams (2026-07-28 clients) last as long as the client wants:
  // not calls to wait for. A shutdown ends them, and the clients listen again elsewhere.
  const listening = new Set<ServerResponse>();
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (drained !== undefined) {
      // Shutting down: a new request on a kept-alive connection is refused (and the
      // connection closed), so the drain ends when the calls already in flight do.
      sendAnswer(res, gatehouseErrorAnswer(SHUTTING_DOWN, { connection: 'close', 'retry-after': '1' }));
      return;
    }
    if (req.headers['mcp-method'] === 'subscriptions/listen') {
      listening.add(res);
      res.once('close', () => listening.delete(res));
      handle(req, res);
      return;
    }
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (drained === undefined) return;
      server.closeIdleConnections();
      if (inFlight === 0) drained();
    });
    handle(req, res);
  };
  const drain = async (graceMs: number): Promise<void> => {
    for (const res of listening) res.destroy();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const idle = new Promise<void>((resolve) => {
      drained = resolve;
      if (inFlight === 0) resolve();
    });
    server.closeIdleConnections();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise<void>((resolve) => (grace = setTimeout(resolve, graceMs)))]);
    clearTimeout(grace);
    server.closeAllConnections();
    await closed;
  };
  return { listener, drain };
}

/** A bind that failed, in one line naming the address and the setting that changes it. */
function listenFailed(err: unknown, config: GatehouseConfig): GatehouseError {
  const { host, port } = config.server;
  const code = (err as NodeJS.ErrnoException).code;
  const where = `port ${port} on ${host}`;
  const message =
    code === 'EADDRINUSE'
      ? `${where} is in use; set server.port (or --port) to another port`
      : code === 'EACCES'
        ? `${where} needs privileges this process does not have; set server.port (or --port) to a port above 1023`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `cannot bind ${host}: no such address on this machine; set server.host (or --host) to one of its addresses`
          : `cannot listen on ${where}: ${err instanceof Error ? err.message : String(err)}`;
  return new GatehouseError('GH_LISTEN_FAILED', message, { cause: err, details: { host, port, ...(code !== undefined ? { errno: code } : {}) } });
}
