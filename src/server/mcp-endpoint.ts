import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType, type AuthInfo, type McpHttpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { Logger } from '../log/logger.js';
import { DEFAULT_ARGUMENT_LIMITS, type ArgumentLimits } from '../mcp/argument-limits.js';
import { boundRequest } from '../mcp/bound-request.js';
import type { FastPlan, FastRequest } from '../mcp/fast-path.js';
import { planFastPath } from '../mcp/fast-path.js';
import { OneShotSignal, type Principal } from '../policy/compose.js';

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


/**
 * `/mcp` for node:http. POST bodies are read once; a request the fast path
 * plans is answered directly, any other is replayed into the SDK handler.
 */
/** What the HTTP edge established about a request before the endpoint reads it. */
export interface EdgeRequest {
  principal: Principal;
  requestId: string;
}

export function createMcpEndpoint(options: McpEndpointOptions): (req: IncomingMessage, res: ServerResponse, edge: EdgeRequest) => void {
  const { handler, fastPath, maxRequestBytes, log } = options;
  const limits = options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS;
  const sdk = toNodeHandler(handler, { maxRequestBodySize: maxRequestBytes, onerror: (err) => log.error({ err }, 'mcp handler failed') });

  return (req, res, edge) => {
    // Every JSON POST is read here, fast path or not: the SDK parses what it is
    // given with zod, at a cost per member, so it is given only bounded bodies.
    if (req.method !== 'POST' || !isJsonContentType(req.headers['content-type'] ?? null)) {
      void sdk(req, res);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxRequestBytes) {
      void sdk(req, res); // the SDK answers 413
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxRequestBytes) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (size > maxRequestBytes) {
        // A chunked body over the limit: answered as the SDK answers a declared one.
        const text = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: `Payload Too Large: the request body exceeds ${maxRequestBytes} bytes` }, id: null });
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
        res.end(text);
        return;
      }
      // Bounded before it is parsed: parsing is what a hostile body makes costly (bound-request.ts).
      const bounded = boundRequest(raw, limits);
      if (bounded.refused !== undefined) {
        // JSON-RPC 2.0 §5.1: -32600 Invalid Request; the id is unknown, as nothing was parsed.
        const text = JSON.stringify({ jsonrpc: '2.0', error: { code: -32600, message: `Request too large: ${bounded.refused}` }, id: null });
        res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(bounded.body.toString('utf8'));
      } catch {
        void sdk(replay(req, raw), res); // the SDK answers the parse error
        return;
      }
      const plan = fastPath === undefined ? undefined : planFastPath(req.headers, body);
      if (plan === undefined) {
        void sdk(req, res, body);
        return;
      }
      serveFast(plan, body, req, res, edge);
    });
  };

  function serveFast(plan: FastPlan, body: unknown, req: IncomingMessage, res: ServerResponse, edge: EdgeRequest): void {
    // A client that goes away cancels the call (and so the backend request).
    const gone = new OneShotSignal();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
    });
    // The caller's bearer token, as the SDK path sees it (AuthInfo.token).
    const token = (req as IncomingMessage & { auth?: AuthInfo }).auth?.token;
    fastPath!(plan, { principal: edge.principal, signal: gone, authorization: token ? `Bearer ${token}` : undefined, requestId: edge.requestId }).then(
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
