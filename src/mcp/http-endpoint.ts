import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType, type AuthInfo, type McpHttpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { Logger } from '../log/logger.js';
import { DEFAULT_ARGUMENT_LIMITS, type ArgumentLimits } from './argument-limits.js';
import { boundRequest } from './bound-request.js';
import type { FastPlan, FastRequest } from './fast-path.js';
import { planFastPath } from './fast-path.js';
import { callerTrace } from '../tracing/headers.js';
import { OneShotSignal, type Principal } from '../call/context.js';
import { GatehouseError } from '../errors/catalogue.js';
import { MAX_JSON_DEPTH, readJsonBody } from '../http/read-body.js';
import { sendAnswer } from '../http/response.js';
import { INVALID_REQUEST, jsonRpcErrorAnswer, SERVER_ERROR } from './jsonrpc-error.js';

export interface McpEndpointOptions {
  /** The SDK's handler: the authority for everything the fast path does not take. */
  handler: McpHttpHandler;
  /** Answers a planned request, or undefined to hand it to the SDK. Omit to disable the fast path. */
  fastPath?: (plan: FastPlan, request: FastRequest) => Promise<string | undefined>;
  maxRequestBytes: number;
  /** `mcp.arguments`: bounds every JSON-RPC body before it is parsed (default {@link DEFAULT_ARGUMENT_LIMITS}). */
  argumentLimits?: Readonly<ArgumentLimits>;
  log: Logger;
}

/** What the HTTP edge established about a request before the endpoint reads it. */
export interface EdgeRequest {
  principal: Principal;
  requestId: string;
}

/**
 * `/mcp` for node:http. POST bodies are read once; a request the fast path
 * plans is answered directly, any other is replayed into the SDK handler.
 */
export function createMcpEndpoint(options: McpEndpointOptions): (req: IncomingMessage, res: ServerResponse, edge: EdgeRequest) => void {
  const { handler, fastPath, maxRequestBytes, log } = options;
  const limits = options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS;
  // Parsing is what a hostile body makes costly: arguments past the limits are replaced before it.
  const bound = (raw: Buffer) => boundRequest(raw, limits);
  const sdk = toNodeHandler(handler, { maxRequestBodySize: maxRequestBytes, onerror: (err) => log.error({ err }, 'mcp handler failed') });

  return (req, res, edge) => {
    // Every JSON POST is read here, fast path or not: the SDK parses what it is
    // given with zod, at a cost per member, so it is given only bounded bodies.
    // Anything else is the SDK's to answer (405, 415, GET streams).
    if (req.method !== 'POST' || !isJsonContentType(req.headers['content-type'] ?? null)) {
      void sdk(req, res);
      return;
    }
    // The body is read here for both paths, so the limits below hold whichever path answers.
    readJsonBody(req, maxRequestBytes, bound).then(
      (read) => {
        switch (read.kind) {
          case 'too-large':
            refuse(res, SERVER_ERROR, new GatehouseError('GH_REQUEST_TOO_LARGE', `Payload Too Large: the request body exceeds ${maxRequestBytes} bytes`, { details: { maxBytes: maxRequestBytes } }), true);
            return;
          case 'not-json':
            void sdk(replay(req, read.raw), res); // the SDK answers the parse error
            return;
          case 'too-deep':
            // JSON-RPC 2.0 §5.1: valid JSON that is not an acceptable request is -32600 Invalid Request.
            refuse(res, INVALID_REQUEST, new GatehouseError('GH_REQUEST_TOO_DEEP', `Invalid Request: the request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`, { details: { maxDepth: MAX_JSON_DEPTH } }));
            return;
          case 'refused':
            // Bounded before it is parsed (mcp/bound-request.ts): JSON-RPC 2.0 §5.1 Invalid Request, the id unknown.
            refuse(res, INVALID_REQUEST, new GatehouseError('GH_REQUEST_TOO_LARGE', `Request too large: ${read.reason}`, { details: { limit: read.reason } }));
            return;
          case 'json':
            break;
        }
        const body = read.value;
        const batch = batchRefusal(req.headers, body);
        if (batch !== undefined) {
          refuse(res, INVALID_REQUEST, batch);
          return;
        }
        const plan = fastPath === undefined ? undefined : planFastPath(req.headers, body);
        if (plan === undefined) {
          void sdk(req, res, body);
          return;
        }
        serveFast(plan, body, req, res, edge);
      },
      () => res.destroy(),
    );
  };

  function serveFast(plan: FastPlan, body: unknown, req: IncomingMessage, res: ServerResponse, edge: EdgeRequest): void {
    // A client that goes away cancels the call (and so the backend request).
    const gone = new OneShotSignal();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
    });
    // The caller's bearer token, as the SDK path sees it (AuthInfo.token).
    const token = (req as IncomingMessage & { auth?: AuthInfo }).auth?.token;
    fastPath!(plan, { principal: edge.principal, signal: gone, authorization: token ? `Bearer ${token}` : undefined, requestId: edge.requestId, trace: callerTrace(req.headers) }).then(
      (text) => {
        if (text === undefined) {
          void sdk(req, res, body);
          return;
        }
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: unknown) => {
        log.error({ err }, 'fast path failed; answering through the SDK');
        if (!res.headersSent && !res.destroyed) void sdk(req, res, body);
      },
    );
  }
}

/** A request-shaped object that yields an already-read body again, for the SDK's node adapter. */
function replay(req: IncomingMessage, raw: Buffer) {
  return {
    method: req.method,
    url: req.url,
    headers: req.headers,
    auth: (req as IncomingMessage & { auth?: AuthInfo }).auth,
    async *[Symbol.asyncIterator]() {
      yield raw;
    },
  };
}

/**
 * Why a JSON-RPC batch is refused, or undefined to serve it. MCP 2025-03-26
 * basic/transports allowed a POST to carry a batch; 2025-06-18 removed
 * batching ("Remove support for JSON-RPC batching", changelog), and neither
 * 2025-11-25 nor 2026-07-28 has it. The revision is the request's
 * MCP-Protocol-Version header; without one a server assumes 2025-03-26
 * (MCP 2025-06-18 basic/transports#protocol-version-header). A header naming
 * no revision at all is left to the SDK, which answers that it is unsupported.
 * An `initialize` request is never part of a batch (MCP 2025-03-26 basic/lifecycle).
 */
export function batchRefusal(headers: IncomingHttpHeaders, body: unknown): GatehouseError | undefined {
  if (!Array.isArray(body)) return undefined;
  const header = headers['mcp-protocol-version'];
  const revision = typeof header === 'string' ? header.trim() : undefined;
  if (revision !== undefined && REVISION.test(revision) && revision > BATCHES_LAST_REVISION) {
    return new GatehouseError('GH_MCP_BATCH_REFUSED', `Invalid Request: MCP ${revision} has no JSON-RPC batches (removed in 2025-06-18); send one message per request`, {
      details: { protocolVersion: revision },
    });
  }
  if (body.some((m) => m !== null && typeof m === 'object' && (m as { method?: unknown }).method === 'initialize')) {
    return new GatehouseError('GH_MCP_BATCH_REFUSED', 'Invalid Request: the initialize request must not be part of a JSON-RPC batch', { details: { protocolVersion: revision ?? BATCHES_LAST_REVISION } });
  }
  return undefined;
}

/** The last MCP revision with JSON-RPC batches. */
const BATCHES_LAST_REVISION = '2025-03-26';
/** MCP revisions are dates, so later revisions compare greater as strings. */
const REVISION = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A refusal by the endpoint itself (mcp/jsonrpc-error.ts), unless an answer has begun;
 * `close`: the body was not read to its end, so the connection is closed after it.
 */
function refuse(res: ServerResponse, rpcCode: number, err: GatehouseError, close = false): void {
  if (res.headersSent || res.destroyed) return;
  sendAnswer(res, jsonRpcErrorAnswer(err, rpcCode), close ? { connection: 'close' } : undefined);
}
