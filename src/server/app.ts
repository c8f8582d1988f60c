import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import { adminErrorAnswer, bearerChallengeAnswer, jsonErrorAnswer } from '../errors/http.js';
import { refusal } from '../ai/openai-errors.js';
import { jsonRpcErrorAnswer } from '../mcp/jsonrpc-error.js';
import { createAdminAuth } from '../admin/admin-auth.js';
import { adminBrowserRefusal } from '../admin/browser-check.js';
import { jsonContentTypeRefusal } from '../http/content-type-check.js';
import { createRebindingCheck, isLoopbackHost, type RebindingCheck } from '../http/host-check.js';
import { requestIdOf } from '../http/request.js';
import { sendAnswer } from '../http/response.js';
import { lazy, withLoaded } from './lazy.js';
import { createMcpRoute } from './mcp-route.js';
import { createProbes } from './probes.js';
import { resourceMetadataUrl } from './resource-metadata.js';
import type { Runtime } from './runtime.js';
import { loadWebApp } from './web.js';

export interface AppOptions {
  config: GatehouseConfig;
  runtime: Runtime;
  log: Logger;
  /** Answer every MCP request through the SDK alone (tests compare both paths). */
  disableFastPath?: boolean;
  /** True once a shutdown began: /readyz answers 503. */
  isDraining?: () => boolean;
}

type Send = (req: IncomingMessage, res: ServerResponse, err: unknown) => void;

/**
 * The HTTP edge: `/mcp` (both MCP eras, stateless) and `/v1` go straight to
 * their endpoints, `/healthz`, `/readyz` and `/metrics` are answered without a
 * framework (probes.ts); anything else goes to express (web.ts). Every route but
 * `/healthz` and `/readyz` passes the Host/Origin check first, and `/admin/*`
 * the browser check (admin/browser-check.ts), both in `route`.
 */
export function createHttpHandler(options: AppOptions): {
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Resolves once what the first requests need is loaded. */
  ready: Promise<void>;
  close: () => Promise<void>;
} {
  const { config, runtime, log } = options;
  const { sendAdminError, sendAuthError } = errorSenders(config, log);
  const authorize = createAdminAuth({
    apiKey: config.admin?.apiKey,
    apiKeyHeader: config.auth?.apiKeyHeader ?? 'x-api-key',
    scope: config.admin?.scope ?? config.audit.adminScope,
    authenticate: runtime.authenticate,
    loopback: isLoopbackHost(config.server.host),
  });
  const mcp = createMcpRoute({ config, runtime, log, sendAuthError, ...(options.disableFastPath !== undefined ? { disableFastPath: options.disableFastPath } : {}) });
  const web = lazy(() => loadWebApp({ config, runtime, authorize, sendAdminError }));
  // The ai-proxy's endpoints, when configured: loaded with the engine.
  const ai = lazy(async () => {
    const { createAiEndpoint } = await import('../ai/endpoint.js');
    return createAiEndpoint({
      config: config.ai!,
      proxy: runtime.ai!,
      chain: runtime.chain,
      durable: runtime.audit.durable,
      authenticate: runtime.authenticate,
      authorizer: runtime.authorizer,
      maxRequestBytes: config.server.maxRequestBytes,
      log,
    });
  });
  const handle = route({
    probes: createProbes({ runtime, log, ...(options.isDraining ? { isDraining: options.isDraining } : {}) }),
    // DNS rebinding protection (MCP 2025-11-25 basic/transports#security-warning).
    rebinding: createRebindingCheck(config.server),
    aiServed: runtime.ai !== undefined,
    sendAdminError,
    ai: (req, res) => {
      const requestId = requestIdOf(req);
      withLoaded(ai, 'ai endpoint', log, res, (serve) => serve(req, res, requestId));
    },
    mcp: mcp.serve,
    web: (req, res) => withLoaded(web, 'http app', log, res, (express) => express(req, res)),
  });
  return { handle, ready: mcp.ready, close: mcp.close };
}

interface Routes {
  probes: ReadonlyMap<string, (res: ServerResponse) => void>;
  rebinding: RebindingCheck;
  /** `/v1/*` is the ai-proxy's (`ai` is configured). */
  aiServed: boolean;
  sendAdminError: Send;
  ai: (req: IncomingMessage, res: ServerResponse) => void;
  mcp: (req: IncomingMessage, res: ServerResponse) => void;
  web: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Chooses the route of a request, once the edge checks in front of it have passed. */
function route(routes: Routes): (req: IncomingMessage, res: ServerResponse) => void {
  const { probes, rebinding, aiServed, sendAdminError } = routes;
  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const safe = req.method === 'GET' || req.method === 'HEAD';
    // Liveness and readiness answer whatever the Host: orchestrators probe by IP
    // (`Host: 10.0.3.7:8080`), and the answers say nothing a page could use.
    if (safe && (path === '/healthz' || path === '/readyz')) {
      probes.get(path)!(res);
      return;
    }
    const isAi = aiServed && path.startsWith('/v1/');
    // DNS rebinding protection, once, in front of every other route (MCP 2025-11-25
    // basic/transports#security-warning): a page whose name was rebound to this
    // address must not reach /admin, /metrics or anything else either.
    const refused = rebinding.refusal(req);
    if (refused !== undefined) {
      sendEdgeRefusal(path, isAi, req, res, new GatehouseError('GH_HOST_NOT_ALLOWED', refused), sendAdminError);
      return;
    }
    // No simple cross-site request (a form, a no-preflight fetch) reaches /mcp or /v1: their bodies must be JSON.
    if (req.method === 'POST' && (isAi || path === '/mcp')) {
      const type = jsonContentTypeRefusal(req.headers['content-type'], `a POST to ${isAi ? '/v1' : '/mcp'}`);
      if (type !== undefined) {
        sendEdgeRefusal(path, isAi, req, res, new GatehouseError('GH_REQUEST_CONTENT_TYPE', type), sendAdminError);
        return;
      }
    }
    if (isAdminPath(path)) {
      const browser = adminBrowserRefusal(req.method, req.headers, rebinding.own);
      if (browser !== undefined) {
        sendAdminError(req, res, new GatehouseError(browser.code, browser.message));
        return;
      }
    }
    if (isAi) routes.ai(req, res);
    else if (path === '/mcp') routes.mcp(req, res);
    else if (safe && probes.has(path)) probes.get(path)!(res);
    else routes.web(req, res);
  };
}

function isAdminPath(path: string): boolean {
  return path === '/admin' || path.startsWith('/admin/');
}

/** A refusal at the edge (GH_HOST_NOT_ALLOWED, GH_REQUEST_CONTENT_TYPE) in the shape each route family's clients read. */
function sendEdgeRefusal(path: string, isAi: boolean, req: IncomingMessage, res: ServerResponse, err: GatehouseError, sendAdminError: Send): void {
  if (isAi) {
    const r = refusal(err);
    sendAnswer(res, { status: r.status, headers: { 'content-type': 'application/json', ...r.headers }, body: JSON.stringify(r.body) });
  } else if (path === '/mcp') {
    sendAnswer(res, jsonRpcErrorAnswer(err));
  } else if (isAdminPath(path)) {
    sendAdminError(req, res, err);
  } else {
    sendAnswer(res, jsonErrorAnswer(err, 'host_not_allowed'));
  }
}

/** The answers to an /admin endpoint's error and to a credentials error; anything not a GatehouseError is logged and answered GH_INTERNAL. */
function errorSenders(config: GatehouseConfig, log: Logger): { sendAdminError: Send; sendAuthError: Send } {
  const asGatehouseError = (err: unknown, what: string): GatehouseError => {
    const e = isGatehouseError(err) ? err : new GatehouseError('GH_INTERNAL', what, { cause: err });
    if (e.code === 'GH_INTERNAL') log.error({ err }, e.message);
    return e;
  };
  return {
    sendAdminError: (req, res, err) => sendAnswer(res, adminErrorAnswer(asGatehouseError(err, 'admin request failed'), resourceMetadataUrl(config, req.headers.host))),
    sendAuthError: (req, res, err) => sendAnswer(res, bearerChallengeAnswer(asGatehouseError(err, 'authentication failed unexpectedly'), resourceMetadataUrl(config, req.headers.host))),
  };
}
