import type { CallToolResult } from '@modelcontextprotocol/server';
import type { GatehouseError } from '../errors/catalogue.js';

/**
 * The one place a GatehouseError becomes an MCP tool result. Tool errors are
 * results with `isError: true` (not JSON-RPC errors) so the model sees them
 * and can correct itself (MCP 2025-11-25 server/tools#error-handling).
 * The text starts with the stable code.
 */
export function errorResult(err: GatehouseError): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${err.code}: ${err.message}` }],
  };
}
