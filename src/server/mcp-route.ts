/**
 * `/mcp` after the edge checks: authenticate, check the required scopes, and
 * hand the request to the MCP endpoint (mcp/http-endpoint.ts). The SDK and the
 * endpoint are loaded with the first /mcp request (the SDK is ~30 MB: a gateway
 * that only proxies LLM calls never loads it), or at start when backends or the
 * admin API make MCP traffic certain.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo, McpHttpHandler } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import { bearerToken, headerValue, requestIdOf } from '../http/request.js';
import type { Logger } from '../log/logger.js';
import { authInfoFor } from '../mcp/auth-info.js';
import type { EdgeRequest } from '../mcp/http-endpoint.js';
import { ANONYMOUS, type Principal, type TraceHeaders } from '../call/context.js';
import { callerTrace } from '../tracing/headers.js';
import { insufficientScope, missingScopes } from '../policy/scopes.js';
import { lazy, withLoaded } from './lazy.js';
import type { Runtime } from './runtime.js';

export interface McpRouteOptions {
  config: GatehouseConfig;
  runtime: Runtime;
  log: Logger;
  /** Answer every MCP request through the SDK alone (tests compare both paths). */
  disableFastPath?: boolean;
  /** Answers a credentials error (the bearer challenge). */
  sendAuthError: (req: IncomingMessage, res: ServerResponse, err: unknown) => void;
}

export interface McpRoute {
  serve(req: IncomingMessage, res: ServerResponse): void;
  /** Resolves once what the first requests need is loaded. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** The SDK's handler and Gatehouse's endpoint in front of it. */
interface McpEdge {
  handler: McpHttpHandler;
  endpoint: (req: IncomingMessage, res: ServerResponse, edge: EdgeRequest) => void;
}

export function createMcpRoute(options: McpRouteOptions): McpRoute {
  const { config, runtime, log } = options;
  const mcp = lazy(async (): Promise<McpEdge> => {
    const [{ createMcpHandler }, { createMcpEndpoint }, surface] = await Promise.all([import('@modelcontextprotocol/server'), import('../mcp/http-endpoint.js'), runtime.mcp()]);
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
  const authenticated = authenticatedServe(options);
  return {
    serve: (req, res) => withLoaded(mcp, 'mcp endpoint', log, res, (edge) => authenticated(edge, req, res)),
    ready,
    close: async () => {
      unsubscribe();
      const edge = await mcp.loading?.catch(() => undefined);
      await edge?.handler.close();
    },
  };
}

/** Authenticates, checks scopes, and hands the request to the endpoint; a refused POST is recorded. */
function authenticatedServe({ config, runtime, sendAuthError }: McpRouteOptions): (edge: McpEdge, req: IncomingMessage, res: ServerResponse) => void {
  const { chain } = runtime;
  return ({ endpoint }, req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const protocol = headerValue(req, 'mcp-protocol-version');
    const { authenticate } = runtime;
    if (authenticate === undefined) {
      // No inbound auth: the caller's bearer (if any) only matters to passthrough backends.
      (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoFor(ANONYMOUS, bearerToken(req.headers.authorization), edgeFacts(req, requestId, protocol));
      endpoint(req, res, { principal: ANONYMOUS, requestId });
      return;
    }
    // MCP 2025-11-25 basic/authorization: every request is authenticated, tools/list included.
    const startedAt = Date.now();
    const started = performance.now();
    const refuse = (err: unknown, principal?: Principal) => {
      const code = isGatehouseError(err) ? err.code : 'GH_INTERNAL';
      if (req.method === 'POST') {
        chain.refused({
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
        (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoFor(principal, bearerToken(req.headers.authorization), edgeFacts(req, requestId, protocol));
        endpoint(req, res, { principal, requestId });
      },
      (err: unknown) => refuse(err),
    );
  };
}

/** What the SDK path's tool calls learn of the HTTP request: its id, protocol version and the caller's trace context. */
function edgeFacts(req: IncomingMessage, requestId: string, protocol: string | undefined): { requestId: string; protocol?: string; trace?: TraceHeaders } {
  const trace = callerTrace(req.headers);
  return { requestId, ...(protocol ? { protocol } : {}), ...(trace !== undefined ? { trace } : {}) };
}
