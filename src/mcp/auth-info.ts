/**
 * How the HTTP edge hands the authenticated principal to the MCP SDK. Kept
 * apart from server-factory.ts so the edge can use it without loading the SDK.
 */
import type { AuthInfo } from '@modelcontextprotocol/server';
import { ANONYMOUS, type Principal, type TraceHeaders } from '../call/context.js';

/**
 * The principal the HTTP edge authenticated, carried through the SDK as
 * `AuthInfo.extra.principal` (the SDK passes `req.auth` through untouched).
 */
export function principalOf(authInfo: AuthInfo | undefined): Principal {
  const p = authInfo?.extra?.['principal'];
  return p !== null && typeof p === 'object' && typeof (p as Principal).id === 'string' ? (p as Principal) : ANONYMOUS;
}

/** What the HTTP edge attaches to a request for the SDK (see principalOf). */
export function authInfoFor(principal: Principal, token: string | undefined, edge: { requestId?: string; protocol?: string; trace?: TraceHeaders } = {}): AuthInfo {
  return { token: token ?? '', clientId: principal.client ?? principal.id, scopes: [...(principal.scopes ?? [])], extra: { principal, ...edge } };
}

/** The caller's W3C trace context the HTTP edge attached (see authInfoFor), for the SDK path's tool calls. */
export function traceOf(authInfo: AuthInfo | undefined): TraceHeaders | undefined {
  const t = authInfo?.extra?.['trace'];
  return t !== null && typeof t === 'object' && typeof (t as TraceHeaders).traceparent === 'string' ? (t as TraceHeaders) : undefined;
}
