import type { ErrorCode } from '../errors/catalogue.js';

/** How a call ended, as audit, metrics and the call line name it. Refusals (`unauthenticated`, `denied`, `limited`, `invalid`) count too. */
export type OutcomeKind = 'ok' | 'error' | 'unauthenticated' | 'denied' | 'limited' | 'invalid' | 'unavailable' | 'cancelled';

/** The outcome of an error code (no code: ok). */
export function outcomeOf(code: ErrorCode | undefined): OutcomeKind {
  switch (code) {
    case undefined:
      return 'ok';
    // The caller sent something it should not have: the same outcome whether it was a tool's
    // arguments or the request itself (too large, too deep, not a valid request body).
    case 'GH_TOOL_ARGS_INVALID':
    case 'GH_TOOL_ARGS_TOO_LARGE':
    case 'GH_REQUEST_BUILD_FAILED':
    case 'GH_REQUEST_TOO_LARGE':
    case 'GH_REQUEST_TOO_DEEP':
    case 'GH_AI_REQUEST_INVALID':
    case 'GH_MCP_BATCH_REFUSED':
    case 'GH_AI_GUARD_MESSAGES':
    case 'GH_AI_GUARD_SIZE':
    case 'GH_TOOL_GUARD_SIZE':
      return 'invalid';
    // Refused by policy: a rule, a scope, a guard's blocked pattern, a spent budget.
    case 'GH_POLICY_DENIED':
    case 'GH_AUTH_FORBIDDEN':
    case 'GH_AI_GUARD_BLOCKED':
    case 'GH_TOOL_GUARD_BLOCKED':
      return 'denied';
    case 'GH_RATE_LIMITED':
    case 'GH_AI_BUDGET_EXCEEDED':
      return 'limited';
    case 'GH_RATE_LIMIT_UNAVAILABLE':
    case 'GH_AUDIT_NOT_DURABLE':
    case 'GH_BACKEND_BUSY':
    case 'GH_BACKEND_UNAVAILABLE':
      return 'unavailable';
    case 'GH_UPSTREAM_ABORTED':
      return 'cancelled';
    case 'GH_AUTH_REQUIRED':
    case 'GH_AUTH_INVALID':
    case 'GH_AUTH_UNAVAILABLE':
      return 'unauthenticated';
    default:
      return 'error';
  }
}
