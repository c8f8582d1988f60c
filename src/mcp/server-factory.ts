import { randomUUID } from 'node:crypto';
import { ProtocolError, ProtocolErrorCode, Server, type AuthInfo, type CallToolResult, type Implementation, type McpServerFactory, type Tool } from '@modelcontextprotocol/server';
import type { Principal } from '../call/context.js';
import { refusalOf } from './argument-limits.js';
import { principalOf, traceOf } from './auth-info.js';
import type { ToolRegistry } from '../registry/registry.js';
import { VERSION } from '../version.js';
import type { ToolCall } from './call-tool.js';
import { clientInfoOf } from './fast-path.js';

export interface ServerFactoryOptions {
  /** The current registry snapshot (read per request so a reload takes effect at once). */
  registry: () => ToolRegistry;
  callTool: (call: ToolCall) => Promise<CallToolResult>;
  pageSize: number;
  instructions?: string;
  /** The listed tools a principal may see (default: all). */
  visibleTools?: (registry: ToolRegistry, principal: Principal) => readonly Tool[];
  /**
   * Whether instances of this era can be told that the tool list changed
   * (`tools.listChanged`). Default: the 2026-07-28 era only, whose clients
   * hold a `subscriptions/listen` stream; a stateless 2025-era HTTP instance
   * lives for one request and has no session to notify. Over stdio both eras
   * keep their connection, so both can.
   */
  listChanged?: (era: 'legacy' | 'modern') => boolean;
  /** Told about each instance made (stdio: the connection's, to notify on changes). */
  onServer?: (server: Server, era: 'legacy' | 'modern') => void;
}

/** Who Gatehouse says it is, in both eras. */
export const SERVER_INFO: Implementation = { name: 'gatehouse', title: 'Gatehouse', version: VERSION };


/** An `AuthInfo.extra` string the edge set (request id, protocol version). */
function edgeValue(authInfo: AuthInfo | undefined, key: 'requestId' | 'protocol'): string | undefined {
  const v = authInfo?.extra?.[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The MCP surface: a tools-only low-level `Server`. The same factory serves
 * both protocol eras (2026-07-28 per-request, 2025 stateless fallback) and stdio.
 * The low-level Server is used instead of McpServer because tools come from
 * data (JSON Schema), not from Standard Schema objects, and must not be
 * re-registered on every request.
 */
export function createServerFactory(options: ServerFactoryOptions): McpServerFactory {
  const { registry, callTool, pageSize } = options;
  return (context) => {
    const principal = principalOf(context.authInfo);
    const listChanged = options.listChanged?.(context.era) ?? context.era === 'modern';
    const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged } }, ...(options.instructions ? { instructions: options.instructions } : {}) });
    options.onServer?.(server, context.era);
    server.setRequestHandler('tools/list', (request) => {
      const snapshot = registry();
      const page = snapshot.page(request.params?.cursor, pageSize, options.visibleTools?.(snapshot, principal));
      if (page === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Invalid cursor');
      return page;
    });
    server.setRequestHandler('tools/call', async (request, ctx) => {
      const { name } = request.params;
      const tool = registry().get(name);
      // MCP 2025-11-25 server/tools#error-handling: an unknown tool is a protocol error.
      if (tool === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      const result = await callTool({
        tool,
        args,
        argumentsRefused: refusalOf(args),
        principal,
        requestId: edgeValue(context.authInfo, 'requestId') ?? randomUUID(),
        signal: ctx.mcpReq.signal,
        authorization: ctx.http?.authInfo?.token ? `Bearer ${ctx.http.authInfo.token}` : undefined,
        protocol: edgeValue(context.authInfo, 'protocol'),
        trace: traceOf(context.authInfo),
        // The SDK lifts the 2026-07-28 envelope keys out of `_meta` into ctx.mcpReq.envelope.
        client: clientInfoOf(ctx.mcpReq.envelope ?? request.params._meta),
      });
      return server.projectCallToolResult(result, tool.tool.outputSchema);
    });
    return server;
  };
}
