import type { CallToolResult } from '@modelcontextprotocol/server';
import type { ErrorCode, GatehouseError } from '../errors/catalogue.js';

/**
 * Where a tool error's stable code and details travel as data: a `_meta` key
 * of the result. `_meta` keys are namespaced by a reverse-DNS prefix (MCP
 * 2025-11-25 basic#meta); `structuredContent` is not used because a tool with
 * an `outputSchema` must return structured content that conforms to it
 * (server/tools#output-schema), which an error does not.
 */
export const ERROR_META_KEY = 'io.gatehouse/error';

/** What `_meta["io.gatehouse/error"]` holds. */
export interface ToolErrorMeta {
  code: ErrorCode;
  details?: Record<string, unknown>;
}

/**
 * The one place a GatehouseError becomes an MCP tool result. Tool errors are
 * results with `isError: true` (not JSON-RPC errors) so the model sees them
 * and can correct itself (MCP 2025-11-25 server/tools#error-handling).
 * The text, which the model reads, starts with the stable code; the code and
 * details, for the client program, are in `_meta` (see ERROR_META_KEY).
 */
export function errorResult(err: GatehouseError): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${err.code}: ${err.message}` }],
    _meta: { [ERROR_META_KEY]: errorMeta(err.code, err.details) },
  };
}

/** A result the backend made an error (a non-2xx answer), marked with its code like any other. */
export function withErrorCode(result: CallToolResult, code: ErrorCode, details?: Record<string, unknown>): CallToolResult {
  return { ...result, _meta: { ...result._meta, [ERROR_META_KEY]: errorMeta(code, details) } };
}

/** The code an error result carries in `_meta`, if any. */
export function errorCodeOf(result: CallToolResult): ErrorCode | undefined {
  const meta = result._meta?.[ERROR_META_KEY] as Partial<ToolErrorMeta> | undefined;
  return typeof meta?.code === 'string' ? meta.code : undefined;
}

function errorMeta(code: ErrorCode, details: Record<string, unknown> | undefined): ToolErrorMeta {
  if (details === undefined) return { code };
  // `headers` are the RateLimit fields an HTTP edge sends; a tool result has no headers.
  const { headers: _headers, ...rest } = details;
  return Object.keys(rest).length > 0 ? { code, details: rest } : { code };
}
