/**
 * Probes and scrapes (`/healthz`, `/readyz`, `/metrics`), answered without
 * express: they come every few seconds for the gateway's whole life, and a
 * gateway whose traffic is /mcp or /v1 then never loads express (about 4 MiB
 * resident). GET and HEAD (Node leaves out HEAD's body).
 */
import type { ServerResponse } from 'node:http';
import { plainErrorAnswer } from '../errors/http.js';
import { sendAnswer, sendJson } from '../http/response.js';
import type { Logger } from '../log/logger.js';
import type { Runtime } from './runtime.js';

export interface ProbeOptions {
  runtime: Runtime;
  log: Logger;
  /** True once a shutdown began: /readyz answers 503. */
  isDraining?: () => boolean;
}

/** The answer of each probe path (`/metrics` only when metrics are on). */
export function createProbes({ runtime, log, isDraining }: ProbeOptions): Map<string, (res: ServerResponse) => void> {
  const probes = new Map<string, (res: ServerResponse) => void>([
    ['/healthz', (res) => sendJson(res, 200, { status: 'ok' })],
    ['/readyz', (res) => readiness(runtime, res, isDraining?.() === true)],
  ]);
  const metrics = runtime.metrics;
  if (metrics !== undefined) {
    probes.set('/metrics', (res) => {
      metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        },
        (err: unknown) => {
          log.error({ err }, 'metrics: rendering failed');
          sendAnswer(res, plainErrorAnswer(500, 'internal_error', 'the metrics could not be rendered'));
        },
      );
    });
  }
  return probes;
}

function readiness(runtime: Runtime, res: ServerResponse, draining: boolean): void {
  if (draining) {
    sendJson(res, 503, { status: 'draining' });
    return;
  }
  const registry = runtime.registry();
  // Still ready after a refused or partial reload: the previous tools keep serving; `lastReload` says what happened.
  const lastReload = runtime.lastReload();
  // Not ready while a configured or registered backend cannot be served (its spec failed to load,
  // its stored document could not be fetched): this replica would serve other tools than its peers.
  const unavailable = unservedBackends(runtime);
  const body = { tools: registry.tools.length, backends: registry.backends, stores: storeStates(runtime), ...(lastReload !== undefined ? { lastReload } : {}) };
  if (unavailable.length > 0) sendJson(res, 503, { status: 'not-ready', unavailable, ...body });
  else sendJson(res, 200, { status: 'ready', ...body });
}

/**
 * The stores a gateway keeps serving without: a store that is down degrades
 * its feature, never tool serving, so it shows here and not as unready.
 */
function storeStates(runtime: Runtime): Record<string, string> {
  const out: Record<string, string> = {};
  const writer = runtime.audit.writer;
  out['audit'] = writer === undefined ? 'off' : writer.stats().storeHealthy ? 'up' : 'unavailable';
  if (runtime.admin !== undefined) {
    const problem = runtime.admin.storeProblem();
    out['admin'] = problem === undefined ? 'up' : `unavailable: ${problem}`;
  }
  return out;
}

/** Names of the backends this gateway should serve but cannot (config-file or registered), in order. */
function unservedBackends(runtime: Runtime): string[] {
  const names = runtime
    .registry()
    .backends.filter((b) => b.state === 'failed')
    .map((b) => b.name);
  for (const v of runtime.admin?.list() ?? []) if (v.source === 'admin' && v.state === 'failed' && !names.includes(v.name)) names.push(v.name);
  return names;
}
