/**
 * The one place a refusal becomes an OpenAI error: `{ error: { message, type,
 * code, param } }` with the HTTP status OpenAI would answer, `code` being the
 * GH_* code of a refusal by Gatehouse itself. An upstream provider's error is
 * passed on as the provider sent it (its body already in OpenAI form).
 */
import type { ErrorCode, GatehouseError } from '../errors/catalogue.js';
import type { OpenAIErrorBody, ProviderError } from './openai-types.js';

/** What a refusal or failure looks like to an OpenAI client. */
export interface Refusal {
  status: number;
  body: OpenAIErrorBody;
  code: ErrorCode;
  headers?: Record<string, string>;
}

/** OpenAI's error `type` by HTTP status (any other status: `server_error`). */
export const ERROR_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  // A body that is not JSON (GH_REQUEST_CONTENT_TYPE, refused at the edge): the request is at fault.
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** A refusal by Gatehouse itself; a rate-limit refusal carries its RateLimit headers in details. */
export function refusal(err: GatehouseError): Refusal {
  const headers = err.details?.['headers'] as Record<string, string> | undefined;
  const type = err.code === 'GH_AI_BUDGET_EXCEEDED' ? 'insufficient_quota' : (ERROR_TYPE[err.status] ?? 'server_error');
  const param = typeof err.details?.['param'] === 'string' ? err.details['param'] : null;
  return { status: err.status, body: { error: { message: err.message, type, code: err.code, param } }, code: err.code, ...(headers ? { headers } : {}) };
}

/** Every target failed: the last provider's error, as it sent it. */
export function upstreamRefusal(err: ProviderError): Refusal {
  return { status: err.status, body: err.body, code: 'GH_AI_UPSTREAM' };
}
