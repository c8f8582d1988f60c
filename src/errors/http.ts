/**
 * The one place a GatehouseError becomes an HTTP answer on the routes that
 * speak no protocol of their own: the admin API, the probes and metadata,
 * the OAuth challenges in front of `/mcp` and `/admin`, and the refusals every
 * route shares. (`/mcp` answers JSON-RPC errors, mcp/jsonrpc-error.ts, and tool
 * errors, mcp/tool-result.ts; `/v1` answers OpenAI errors, ai/openai-errors.ts.)
 *
 * Three shapes, each carrying the stable code as data:
 * - `{ code, message, details }`: the admin API's errors (and the refusal of a
 *   gateway that is shutting down, which any route may get);
 * - `{ error, error_description, code }`: OAuth 2.0's error members (RFC 6749
 *   §5.2) with the code beside them, for the other routes;
 * - the bearer challenge (RFC 6750 §3) of a request without valid credentials.
 */
import type { GatehouseError } from './catalogue.js';

/** An answer ready to write (http/response.ts `sendAnswer`): what the error serialisers here and in mcp/jsonrpc-error.ts return. */
export interface HttpAnswer {
  status: number;
  /** Content-Length is added when written. */
  headers: Record<string, string>;
  body: string;
}

/** `{ code, message, details }`; `headers` adds to the answer's (a shutdown's Retry-After). */
export function gatehouseErrorAnswer(err: GatehouseError, headers: Record<string, string> = {}): HttpAnswer {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify({ code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }),
  };
}

/** An admin API error: credentials errors as bearer challenges, the rest as `{ code, message, details }`. */
export function adminErrorAnswer(err: GatehouseError, resourceMetadata: string): HttpAnswer {
  if (err.status === 401 || err.code === 'GH_AUTH_FORBIDDEN' || err.code === 'GH_AUTH_UNAVAILABLE') return bearerChallengeAnswer(err, resourceMetadata);
  return gatehouseErrorAnswer(err);
}

/** `{ error, error_description, code }`, `error` being the OAuth-style name of what went wrong. */
export function jsonErrorAnswer(err: GatehouseError, error: string): HttpAnswer {
  return plain(err.status, { error, error_description: err.message, code: err.code });
}

/** `{ error, error_description }` for an answer that is no Gatehouse error and so has no code (a path nothing serves). */
export function plainErrorAnswer(status: number, error: string, description: string): HttpAnswer {
  return plain(status, { error, error_description: description });
}

/**
 * 401 with the RFC 9728 pointer to the metadata (RFC 6750 §3), 403
 * `insufficient_scope` naming the scope needed (MCP basic/authorization
 * "Scope challenge"), or 503 when keys cannot be fetched.
 * `resourceMetadata` is the URL of the RFC 9728 document.
 */
export function bearerChallengeAnswer(err: GatehouseError, resourceMetadata: string): HttpAnswer {
  const error = err.code === 'GH_AUTH_INVALID' ? 'invalid_token' : err.code === 'GH_AUTH_FORBIDDEN' ? 'insufficient_scope' : undefined;
  const scope = typeof err.details?.['scope'] === 'string' ? err.details['scope'] : undefined;
  const challenge = [`Bearer resource_metadata="${resourceMetadata}"`, ...(error ? [`error="${error}"`] : []), ...(scope ? [`scope="${scope}"`] : [])].join(', ');
  const body = { error: error ?? (err.code === 'GH_AUTH_REQUIRED' ? 'unauthorized' : 'server_error'), error_description: err.message, code: err.code };
  return { status: err.status, headers: { 'content-type': 'application/json', 'www-authenticate': challenge }, body: JSON.stringify(body) };
}

function plain(status: number, body: Record<string, unknown>): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
