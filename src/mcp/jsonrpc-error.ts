/**
 * A request `/mcp` refuses before any method runs (its Host, its Content-Type,
 * its size, depth or batch), answered in the shape the MCP SDK answers its own
 * refusals: a JSON-RPC error with no id (the body was not read as one request,
 * JSON-RPC 2.0 §5), the stable code and the error's details in `error.data`.
 * Tool errors are results, not JSON-RPC errors: mcp/tool-result.ts.
 */
import type { GatehouseError } from '../errors/catalogue.js';
import type { HttpAnswer } from '../errors/http.js';

/** A server-defined JSON-RPC error (JSON-RPC 2.0 §5.1 reserves -32000 to -32099): the code the SDK's transport refuses requests with. */
export const SERVER_ERROR = -32000;
/** JSON-RPC 2.0 §5.1 Invalid Request: valid JSON that is not an acceptable request. */
export const INVALID_REQUEST = -32600;

/** The answer to a refused request. */
export function jsonRpcErrorAnswer(err: GatehouseError, rpcCode: number = SERVER_ERROR): HttpAnswer {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', error: { code: rpcCode, message: err.message, data: { code: err.code, ...err.details } }, id: null }),
  };
}
