/**
 * The one catalogue of Gatehouse errors. Codes are API (stable, documented in
 * docs/errors.md); messages are for people. Each protocol edge serialises a
 * `GatehouseError` in exactly one place: MCP tool errors in mcp/tool-result.ts,
 * requests /mcp refuses before any method runs in mcp/jsonrpc-error.ts, OpenAI
 * errors (/v1) in ai/openai-errors.ts, and every other HTTP route's (the admin
 * API, OAuth challenges, edge refusals) in errors/http.ts.
 */
export const ERRORS = {
  GH_CONFIG_INVALID: { status: 500, meaning: 'The configuration file does not match its schema.' },
  GH_CONFIG_NOT_FOUND: { status: 500, meaning: 'The configuration file could not be read.' },
  GH_CONFIG_ENV_MISSING: { status: 500, meaning: 'A ${VAR} in the configuration names an unset environment variable with no default.' },
  GH_SPEC_LOAD_FAILED: { status: 502, meaning: 'An OpenAPI document could not be read or parsed.' },
  GH_SPEC_INVALID: { status: 502, meaning: 'An OpenAPI document is not valid; the message names the JSON pointer.' },
  GH_SPEC_NO_SERVER: { status: 502, meaning: 'No base URL: the backend sets no baseUrl and the spec declares no usable server.' },
  GH_TOOL_NOT_FOUND: { status: 404, meaning: 'The tool named in tools/call does not exist.' },
  GH_TOOL_ARGS_INVALID: { status: 400, meaning: 'The tool arguments do not match the tool input schema.' },
  GH_UPSTREAM_STATUS: { status: 502, meaning: 'The backend answered with a non-2xx status.' },
  GH_UPSTREAM_TIMEOUT: { status: 504, meaning: 'The backend did not answer within the configured timeout.' },
  GH_UPSTREAM_CONNECT: { status: 502, meaning: 'The backend could not be reached (connection refused, DNS, TLS).' },
  GH_UPSTREAM_ABORTED: { status: 499, meaning: 'The caller cancelled the call; the backend request was aborted.' },
  GH_UPSTREAM_FAILED: { status: 502, meaning: 'The backend request failed for another reason.' },
  GH_UPSTREAM_AUTH: { status: 502, meaning: 'Backend credentials could not be obtained: the token endpoint is unreachable or refused.' },
  GH_REQUEST_BUILD_FAILED: { status: 400, meaning: 'The backend request could not be built from the arguments.' },
  GH_HOST_NOT_ALLOWED: { status: 403, meaning: 'The Host or Origin header is not allowed (DNS rebinding protection).' },
  GH_POLICY_DENIED: { status: 403, meaning: 'An authorisation rule does not allow this caller to call this tool or model.' },
  GH_AUTH_REQUIRED: { status: 401, meaning: 'No credentials were presented and anonymous access is off.' },
  GH_AUTH_INVALID: { status: 401, meaning: 'The credentials are not valid (bad, expired or forged token, or unknown API key).' },
  GH_AUTH_FORBIDDEN: { status: 403, meaning: 'The credentials are valid but lack the scope the call needs.' },
  GH_AUTH_UNAVAILABLE: { status: 503, meaning: 'The token could not be checked: the JWKS endpoint is unreachable or broken.' },
  GH_RATE_LIMITED: { status: 429, meaning: 'A rate-limit rule refused the call; details.retryAfterSeconds says when to retry.' },
  GH_RATE_LIMIT_UNAVAILABLE: { status: 503, meaning: 'The rate-limit store is unreachable and rateLimits.onStoreError is "closed".' },
  GH_BACKEND_BUSY: { status: 503, meaning: 'The backend already has its maximum number of calls in flight (backends[].maxConcurrent).' },
  GH_BACKEND_UNAVAILABLE: { status: 503, meaning: 'The backend kept failing; its circuit breaker is open until the cool-down ends.' },
  GH_AUDIT_QUERY_INVALID: { status: 400, meaning: 'An audit query filter is not valid (bad time bound, outcome or cursor).' },
  GH_AUDIT_UNAVAILABLE: { status: 503, meaning: 'The audit store cannot be queried: it is off or unreachable.' },
  GH_AI_REQUEST_INVALID: { status: 400, meaning: 'An ai-proxy request body is not a valid OpenAI request (bad JSON, missing model or messages).' },
  GH_AI_MODEL_NOT_FOUND: { status: 404, meaning: 'No ai.routes entry matches the requested model.' },
  GH_AI_BUDGET_EXCEEDED: { status: 429, meaning: 'A USD budget (ai.budgets) for this principal and model is spent until the period resets.' },
  GH_AI_UPSTREAM: { status: 502, meaning: 'Every target of the route failed; the upstream error is passed on in OpenAI form.' },
  GH_AI_GUARD_MESSAGES: { status: 400, meaning: 'An ai-proxy request has more messages than the request guard allows.' },
  GH_AI_GUARD_SIZE: { status: 413, meaning: 'An ai-proxy request has more message text than the request guard allows.' },
  GH_AI_GUARD_BLOCKED: { status: 400, meaning: 'An ai-proxy request matches a blocked pattern of the request guard.' },
  GH_TOOL_GUARD_BLOCKED: { status: 400, meaning: 'A string in the tool arguments matches a blocked pattern of a guard (policies[].guard).' },
  GH_TOOL_GUARD_SIZE: { status: 413, meaning: "The tool arguments' strings carry more characters than a guard (policies[].guard) allows." },
  GH_ADMIN_INVALID: { status: 400, meaning: 'An admin API request is not valid; the message names each wrong field.' },
  GH_ADMIN_NOT_FOUND: { status: 404, meaning: 'No backend of that name is served or registered.' },
  GH_ADMIN_CONFLICT: { status: 409, meaning: 'The backend exists already (POST), or the config file defines it and only the file can change it.' },
  GH_ADMIN_IMPORT_FAILED: { status: 422, meaning: "The backend's spec could not be imported; nothing changed and the previous version, if any, still serves." },
  GH_ADMIN_STORE_UNAVAILABLE: { status: 503, meaning: 'The store of runtime backends is unreachable; nothing changed.' },
  GH_SHUTTING_DOWN: { status: 503, meaning: 'The gateway is shutting down and takes no new requests; retry on another instance.' },
  GH_INTERNAL: { status: 500, meaning: 'An unexpected error inside Gatehouse.' },
  GH_REQUEST_TOO_LARGE: { status: 413, meaning: 'A request body (/mcp, /v1) is larger than server.maxRequestBytes.' },
  GH_REQUEST_TOO_DEEP: { status: 400, meaning: 'A request body (/mcp, /v1) nests arrays and objects more than 128 levels deep.' },
  GH_MCP_BATCH_REFUSED: { status: 400, meaning: 'A JSON-RPC batch under an MCP revision without batches (2025-06-18 and later); nothing in it ran.' },
  GH_SPEC_URL_REFUSED: { status: 403, meaning: 'An admin-registered spec URL (or a redirect or $ref it leads to) names a host admin.specUrls does not allow.' },
  GH_ADMIN_CROSS_SITE: { status: 403, meaning: "A browser sent this admin request from another site (an Origin not the gateway's own, Origin: null, or Sec-Fetch-Site cross-site/same-site)." },
  GH_ADMIN_CONTENT_TYPE: { status: 415, meaning: 'An admin write (POST, PUT, PATCH) without Content-Type: application/json, which no HTML form can send.' },
  GH_UPSTREAM_RESULT_INVALID: { status: 502, meaning: "A tool with an output schema got a 2xx answer that is not JSON, does not parse, or does not match the schema." },
  GH_UPSTREAM_RESULT_TRUNCATED: { status: 502, meaning: 'A tool with an output schema got a 2xx answer cut at the response size cap, so no structured result can be given.' },
  GH_AUDIT_NOT_DURABLE: { status: 503, meaning: 'audit.durability is "sync" and the audit record of the call could not be committed (the store is down or its queue is full).' },
  GH_LISTEN_FAILED: { status: 500, meaning: 'The gateway could not listen: the port is in use or needs privileges, or the address is not one of this machine\'s.' },
  GH_TOOL_ARGS_TOO_LARGE: { status: 413, meaning: 'The tool arguments exceed a limit of mcp.arguments (size, depth, members, array length); nothing was checked or sent.' },
  GH_REQUEST_CONTENT_TYPE: { status: 415, meaning: 'A POST to /mcp or /v1 without Content-Type: application/json, which no HTML form or simple cross-site request can send; nothing ran.' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** A typed, local error. Edges translate it to their wire format. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Structured details safe to show to the caller (e.g. the list of wrong fields). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = options?.details;
  }
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}
