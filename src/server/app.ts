import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { AuthInfo, McpHttpHandler } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import { authInfoFor } from '../mcp/auth-info.js';
import { AUDIT_FILTERS, parseAuditFilters, queryAudit, type AuditFilterName } from '../audit/filters.js';
import { ANONYMOUS, type Principal } from '../policy/compose.js';
import { resourceUrl, type Runtime } from './runtime.js';
import type { EdgeRequest } from './mcp-endpoint.js';
import { hostRefusal, originAllowList, originRefusal, type OwnOrigin } from './host-check.js';
import { jsonContentTypeRefusal } from './content-type-check.js';
import { adminBrowserRefusal } from './admin-browser-check.js';
import { mountAdminRoutes } from '../admin/routes.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

export interface AppOptions {
  config: GatehouseConfig;
  runtime: Runtime;
  log: Logger;
  /** Answer every MCP request through the SDK alone (tests compare both paths). */
  disableFastPath?: boolean;
  /** True once a shutdown began: /readyz answers 503. */
  isDraining?: () => boolean;
}

/**
 * The HTTP edge: `/mcp` (both MCP eras, stateless) and `/v1` go straight to
 * their endpoints, `/healthz`, `/readyz` and `/metrics` are answered here — no
 * framework on those paths; anything else goes to express. Every route but
 * `/healthz` and `/readyz` passes the Host/Origin check first, and `/admin/*`
 * the browser check (admin-browser-check.ts), both in `handle`.
 */
/**
 * The stores a gateway keeps serving without (/readyz): a store that is down
 * degrades its feature, never tool serving, so it shows here and not as unready.
 */
function storeStatesOf(runtime: Runtime): () => Record<string, string> {
  return () => {
    const out: Record<string, string> = {};
    const writer = runtime.audit.writer;
    out['audit'] = writer === undefined ? 'off' : writer.stats().storeHealthy ? 'up' : 'unavailable';
    if (runtime.admin !== undefined) {
      const problem = runtime.admin.storeProblem();
      out['admin'] = problem === undefined ? 'up' : `unavailable: ${problem}`;
    }
    return out;
  };
}

export function createHttpHandler(options: AppOptions): {
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Resolves once what the first requests need is loaded. */
  ready: Promise<void>;
  close: () => Promise<void>;
} {
  const { config, runtime, log } = options;
  const storeStates = storeStatesOf(runtime);

  // MCP: the SDK's handler and Gatehouse's endpoint, loaded with the first /mcp
  // request (the SDK is ~30 MB: a gateway that only proxies LLM calls never loads
  // it), or at start when backends or the admin API make MCP traffic certain.
  interface McpEdge {
    handler: McpHttpHandler;
    endpoint: (req: IncomingMessage, res: ServerResponse, edge: EdgeRequest) => void;
  }
  const mcp = lazy(async (): Promise<McpEdge> => {
    const [{ createMcpHandler }, { createMcpEndpoint }, surface] = await Promise.all([import('@modelcontextprotocol/server'), import('./mcp-endpoint.js'), runtime.mcp()]);
    const handler = createMcpHandler(surface.factory, {
      maxRequestBodySize: config.server.maxRequestBytes,
      onerror: (err) => log.debug({ err: err.message }, 'mcp request rejected'),
    });
    const endpoint = createMcpEndpoint({
      handler,
      ...(options.disableFastPath ? {} : { fastPath: surface.fastPath }),
      maxRequestBytes: config.server.maxRequestBytes,
      argumentLimits: config.mcp.arguments,
      log,
    });
    return { handler, endpoint };
  });
  // With backends or the admin API, MCP is what the gateway is for: loaded before it listens.
  const ready = config.backends.length > 0 || config.admin !== undefined ? mcp.load().then(() => undefined) : Promise.resolve();
  // A change to the tools reaches the 2026-07-28 clients holding a subscriptions/listen stream (none before /mcp is loaded).
  const unsubscribe = runtime.onToolsChanged(() => mcp.loaded?.handler.notify.toolsChanged());

  const publicHost = config.server.publicUrl ? new URL(config.server.publicUrl).hostname : undefined;
  const loopback = isLoopbackHost(config.server.host);
  // DNS rebinding protection (MCP 2025-11-25 basic/transports#security-warning):
  // bound to loopback, only loopback Host names are accepted unless configured.
  const hosts = new Set([...(loopback ? LOOPBACK_NAMES : []), ...config.server.allowedHosts, ...(publicHost ? [publicHost] : [])]);
  // A browser's Origin must be allowed too, whenever one is sent: the gateway's own origin, or one
  // server.allowedOrigins names (compared whole: another port of localhost is another site).
  const own: OwnOrigin = { publicOrigin: config.server.publicUrl ? new URL(config.server.publicUrl).origin : undefined, hostChecked: hosts.size > 0 };
  const origins = originAllowList(config.server.allowedOrigins);
  /** Why this request's Host or Origin is refused (undefined: allowed). */
  const rebindingRefusal = (req: IncomingMessage): string | undefined => {
    const origin = req.headers.origin;
    return (hosts.size > 0 ? hostRefusal(req.headers.host, hosts) : undefined) ?? originRefusal(typeof origin === 'string' ? origin : undefined, req.headers.host, own, origins);
  };

  // express serves everything but /mcp, /v1 and the probes. It is loaded on the first
  // such request, not at start: about 70 modules that the first tools/list does not need.
  const web = lazy(async (): Promise<Express> => {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    if (runtime.authenticate !== undefined) {
      // RFC 9728 §3: protected resource metadata, at the path-suffixed and the root well-known URL.
      const metadata = (req: IncomingMessage) => ({
        resource: resourceUrl(config, req.headers.host),
        ...(config.auth?.jwt ? { authorization_servers: [config.auth.jwt.issuer] } : {}),
        ...(config.auth?.scopesSupported ? { scopes_supported: config.auth.scopesSupported } : {}),
        bearer_methods_supported: ['header'],
        resource_name: 'Gatehouse',
      });
      app.get(['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource'], (req, res) => {
        res.json(metadata(req));
      });
    }
    // The audit trail, for holders of the admin scope (loopback callers when there is no auth).
    app.get('/admin/audit', (req, res) => {
      adminPrincipal(req)
        .then(async () => {
          const filters: Partial<Record<AuditFilterName, string>> = {};
          for (const name of AUDIT_FILTERS) {
            const v = req.query[name];
            if (typeof v === 'string') filters[name] = v;
          }
          const page = await queryAudit(runtime.audit.store, parseAuditFilters(filters));
          res.json(page);
        })
        .catch((err: unknown) => sendAdminError(req, res, err));
    });
    mountAdminRoutes(app, (limit) => express.json({ limit }), {
      runtime,
      authorize: adminPrincipal,
      sendError: sendAdminError,
      // An inline spec can be much larger than an MCP request (the GitHub API's is over 10 MB).
      maxBodyBytes: Math.max(config.server.maxRequestBytes, ADMIN_MAX_BODY_BYTES),
    });
    // Anything else: a JSON 404 (clients probing for OAuth endpoints read it too), not express's HTML page.
    app.use((req, res) => {
      res.status(404).json({ error: 'not_found', error_description: `no such endpoint: ${req.method} ${req.path}` });
    });
    return app;
  });

  /**
   * Probes and scrapes, answered without express: they come every few seconds for the
   * gateway's whole life, and a gateway whose traffic is /mcp or /v1 then never loads
   * express (about 4 MiB resident). GET and HEAD (Node leaves out HEAD's body).
   */
  const probes = new Map<string, (res: ServerResponse) => void>([
    ['/healthz', (res) => sendJson(res, 200, { status: 'ok' })],
    [
      '/readyz',
      (res) => {
        if (options.isDraining?.() === true) {
          sendJson(res, 503, { status: 'draining' });
          return;
        }
        const registry = runtime.registry();
        // Still ready after a refused or partial reload: the previous tools keep serving; `lastReload` says what happened.
        const lastReload = runtime.lastReload();
        // Not ready while a configured or registered backend cannot be served (its spec failed to load,
        // its stored document could not be fetched): this replica would serve other tools than its peers.
        const unavailable = unservedBackends(runtime);
        const body = { tools: registry.tools.length, backends: registry.backends, stores: storeStates(), ...(lastReload !== undefined ? { lastReload } : {}) };
        if (unavailable.length > 0) sendJson(res, 503, { status: 'not-ready', unavailable, ...body });
        else sendJson(res, 200, { status: 'ready', ...body });
      },
    ],
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
          sendJson(res, 500, { error: 'internal_error', error_description: 'the metrics could not be rendered' });
        },
      );
    });
  }

  const adminScope = config.admin?.scope ?? config.audit.adminScope;
  const adminKey = config.admin?.apiKey === undefined ? undefined : sha256(config.admin.apiKey);
  const apiKeyHeader = (config.auth?.apiKeyHeader ?? 'x-api-key').toLowerCase();
  /** The caller of an /admin endpoint, if it holds the admin scope or the admin API key; else the error to answer. */
  async function adminPrincipal(req: IncomingMessage): Promise<Principal> {
    if (adminKey !== undefined) {
      const header = req.headers[apiKeyHeader];
      const presented = bearerToken(req.headers.authorization) ?? (typeof header === 'string' ? header : undefined);
      if (presented !== undefined && timingSafeEqual(sha256(presented), adminKey)) return ADMIN_KEY_PRINCIPAL;
      // With an admin key and no other credentials configured, the key is the only way in (loopback too).
      if (runtime.authenticate === undefined) {
        throw presented === undefined ? new GatehouseError('GH_AUTH_REQUIRED', 'the admin API key is required') : new GatehouseError('GH_AUTH_INVALID', 'not the admin API key');
      }
    }
    if (runtime.authenticate === undefined) {
      // No credentials configured: only a loopback bind serves anonymous callers at all,
      // and an exposed anonymous gateway does not hand out its audit trail.
      if (loopback) return ANONYMOUS;
      throw new GatehouseError('GH_AUTH_REQUIRED', 'admin endpoints need auth on a non-loopback bind');
    }
    const principal = await runtime.authenticate(req.headers);
    if (principal.kind === 'anonymous') throw new GatehouseError('GH_AUTH_REQUIRED', 'credentials are required');
    const missing = missingScopes(principal, [adminScope]);
    if (missing.length > 0) throw insufficientScope(missing);
    return principal;
  }
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
  /** Serves with what `module` loads: at once when it has loaded, else once it has (a 500 if it cannot). */
  const withLoaded = <T>(module: Lazy<T>, what: string, res: ServerResponse, serve: (loaded: T) => void): void => {
    if (module.loaded !== undefined) {
      serve(module.loaded);
      return;
    }
    module.load().then(serve, (err: unknown) => {
      log.error({ err }, `${what} failed to load`);
      res.statusCode = 500;
      res.end();
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
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
    // DNS rebinding protection, once, in front of every other route (MCP 2025-11-25
    // basic/transports#security-warning): a page whose name was rebound to this
    // address must not reach /admin, /metrics or anything else either.
    const refused = rebindingRefusal(req);
    if (refused !== undefined) {
      sendEdgeRefusal(path, req, res, new GatehouseError('GH_HOST_NOT_ALLOWED', refused));
      return;
    }
    const isAi = runtime.ai !== undefined && path.startsWith('/v1/');
    // No simple cross-site request (a form, a no-preflight fetch) reaches /mcp or /v1: their bodies must be JSON.
    if (req.method === 'POST' && (isAi || path === '/mcp')) {
      const type = jsonContentTypeRefusal(req.headers['content-type'], `a POST to ${isAi ? '/v1' : '/mcp'}`);
      if (type !== undefined) {
        sendEdgeRefusal(path, req, res, new GatehouseError('GH_REQUEST_CONTENT_TYPE', type));
        return;
      }
    }
    if (path === '/admin' || path.startsWith('/admin/')) {
      const browser = adminBrowserRefusal(req.method, req.headers, own);
      if (browser !== undefined) {
        sendAdminError(req, res, new GatehouseError(browser.code, browser.message));
        return;
      }
    }
    if (isAi) {
      const requestId = requestIdOf(req);
      withLoaded(ai, 'ai endpoint', res, (serve) => serve(req, res, requestId));
      return;
    }
    if (path === '/mcp') {
      withLoaded(mcp, 'mcp endpoint', res, (edge) => serveMcp(edge, req, res));
      return;
    }
    const probe = safe ? probes.get(path) : undefined;
    if (probe !== undefined) {
      probe(res);
      return;
    }
    withLoaded(web, 'http app', res, (express) => express(req, res));
  };
  /** A refusal at the edge (GH_HOST_NOT_ALLOWED, GH_REQUEST_CONTENT_TYPE) in the shape each route family's clients read. */
  function sendEdgeRefusal(path: string, req: IncomingMessage, res: ServerResponse, err: GatehouseError): void {
    if (runtime.ai !== undefined && path.startsWith('/v1/')) {
      sendJson(res, err.status, { error: { message: err.message, type: err.status === 403 ? 'permission_error' : 'invalid_request_error', code: err.code, param: null } });
    } else if (path === '/mcp') {
      // As the MCP SDK answers it: a JSON-RPC error with no id; the stable code in `data`, as mcp-endpoint.ts sends it.
      sendJson(res, err.status, { jsonrpc: '2.0', error: { code: -32000, message: err.message, data: { code: err.code } }, id: null });
    } else if (path === '/admin' || path.startsWith('/admin/')) {
      sendAdminError(req, res, err);
    } else {
      sendJson(res, err.status, { error: 'host_not_allowed', error_description: err.message, code: err.code });
    }
  }
  /** /mcp after the Host check: authenticate, check scopes, hand the request to the endpoint. */
  function serveMcp({ endpoint }: McpEdge, req: IncomingMessage, res: ServerResponse): void {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const protocol = headerValue(req, 'mcp-protocol-version');
    const { authenticate } = runtime;
    if (authenticate === undefined) {
      // No inbound auth: the caller's bearer (if any) only matters to passthrough backends.
      (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoFor(ANONYMOUS, bearerToken(req.headers.authorization), { requestId, ...(protocol ? { protocol } : {}) });
      endpoint(req, res, { principal: ANONYMOUS, requestId });
      return;
    }
    // MCP 2025-11-25 basic/authorization: every request is authenticated, tools/list included.
    const startedAt = Date.now();
    const started = performance.now();
    const refuse = (err: unknown, principal?: Principal) => {
      const code = isGatehouseError(err) ? err.code : 'GH_INTERNAL';
      if (req.method === 'POST') {
        runtime.chain.refused({
          kind: 'tool',
          requestId,
          errorCode: code,
          ...(principal !== undefined ? { principal } : {}),
          ...(headerValue(req, 'mcp-name') !== undefined ? { tool: headerValue(req, 'mcp-name')! } : {}),
          ...(protocol !== undefined ? { protocol } : {}),
          startedAt,
          started,
        });
      }
      sendAuthError(req, res, err);
    };
    authenticate(req.headers).then(
      (principal) => {
        const missing = missingScopes(principal, config.auth?.requiredScopes);
        if (missing.length > 0) {
          refuse(principal.kind === 'anonymous' ? new GatehouseError('GH_AUTH_REQUIRED', 'credentials are required') : insufficientScope(missing), principal);
          return;
        }
        (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoFor(principal, bearerToken(req.headers.authorization), { requestId, ...(protocol ? { protocol } : {}) });
        endpoint(req, res, { principal, requestId });
      },
      (err: unknown) => refuse(err),
    );
  }
  /** An /admin endpoint's error: auth errors as challenges, the rest as `{ code, message, details }`. */
  function sendAdminError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const e = isGatehouseError(err) ? err : new GatehouseError('GH_INTERNAL', 'admin request failed', { cause: err });
    if (e.status === 401 || e.code === 'GH_AUTH_FORBIDDEN' || e.code === 'GH_AUTH_UNAVAILABLE') {
      sendAuthError(req, res, e);
      return;
    }
    if (e.code === 'GH_INTERNAL') log.error({ err }, e.message);
    const body = JSON.stringify({ code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) });
    res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
  /**
   * 401 with the RFC 9728 pointer to the metadata (RFC 6750 §3), 403
   * `insufficient_scope` naming the scope needed (MCP basic/authorization
   * "Scope challenge"), or 503 when keys cannot be fetched.
   */
  function sendAuthError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const e = isGatehouseError(err) ? err : new GatehouseError('GH_INTERNAL', 'authentication failed unexpectedly', { cause: err });
    if (e.code === 'GH_INTERNAL') log.error({ err }, e.message);
    const base = resourceUrl(config, req.headers.host).replace(/\/mcp$/, '');
    const error = e.code === 'GH_AUTH_INVALID' ? 'invalid_token' : e.code === 'GH_AUTH_FORBIDDEN' ? 'insufficient_scope' : undefined;
    const scope = typeof e.details?.['scope'] === 'string' ? e.details['scope'] : undefined;
    const challenge = [
      `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
      ...(error ? [`error="${error}"`] : []),
      ...(scope ? [`scope="${scope}"`] : []),
    ].join(', ');
    const body = JSON.stringify({ error: error ?? (e.code === 'GH_AUTH_REQUIRED' ? 'unauthorized' : 'server_error'), error_description: e.message, code: e.code });
    res.writeHead(e.status, { 'content-type': 'application/json', 'www-authenticate': challenge, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  return {
    handle,
    ready,
    close: async () => {
      unsubscribe();
      const edge = await mcp.loading?.catch(() => undefined);
      await edge?.handler.close();
    },
  };
}

/** A module loaded on first use; `loaded` is set once it has, so later requests need no promise. */
interface Lazy<T> {
  readonly loaded: T | undefined;
  /** The load in progress or done (undefined before the first `load`). */
  readonly loading: Promise<T> | undefined;
  load(): Promise<T>;
}

function lazy<T>(make: () => Promise<T>): Lazy<T> {
  let loaded: T | undefined;
  let loading: Promise<T> | undefined;
  return {
    get loaded() {
      return loaded;
    },
    get loading() {
      return loading;
    },
    load: () =>
      (loading ??= make().then((value) => {
        loaded = value;
        return value;
      })),
  };
}

/** Largest admin request body, at least: an inline spec. */
const ADMIN_MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Whoever presented `admin.apiKey`. */
const ADMIN_KEY_PRINCIPAL: Principal = Object.freeze({ id: 'admin-key', kind: 'api-key', scopes: Object.freeze([]) as readonly string[] });

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane token, else a new UUID. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The scopes in `required` that the principal does not hold. */
export function missingScopes(principal: Principal, required: readonly string[] | undefined): string[] {
  if (required === undefined || required.length === 0) return [];
  const held = new Set(principal.scopes ?? []);
  return required.filter((s) => !held.has(s));
}

/** GH_AUTH_FORBIDDEN carrying the RFC 6750 `scope` a retry needs. */
export function insufficientScope(missing: readonly string[]): GatehouseError {
  return new GatehouseError('GH_AUTH_FORBIDDEN', `the token lacks the scope this endpoint needs: ${missing.join(' ')}`, {
    details: { error: 'insufficient_scope', scope: missing.join(' ') },
  });
}

/** The token of an `Authorization: Bearer …` header, if any. */
function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +(\S+)/i.exec(header);
  return m?.[1];
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
