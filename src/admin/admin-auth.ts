/**
 * Who may use the `/admin` endpoints: a caller holding the admin scope, or
 * presenting `admin.apiKey`; with no credentials configured at all, any caller
 * of a gateway bound to loopback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../errors/catalogue.js';
import { bearerToken } from '../http/request.js';
import type { Authenticator } from '../policy/authenticate.js';
import { ANONYMOUS, type Principal } from '../call/context.js';
import { insufficientScope, missingScopes } from '../policy/scopes.js';

export interface AdminAuthOptions {
  /** `admin.apiKey`, if set. */
  apiKey: string | undefined;
  /** The header an API key may come in besides `Authorization: Bearer` (`auth.apiKeyHeader`). */
  apiKeyHeader: string;
  /** The scope that grants the admin endpoints. */
  scope: string;
  /** The gateway's authenticator; undefined when no credentials are configured. */
  authenticate: Authenticator | undefined;
  /** The gateway is bound to a loopback address. */
  loopback: boolean;
}

/** Whoever presented `admin.apiKey`. */
export const ADMIN_KEY_PRINCIPAL: Principal = Object.freeze({ id: 'admin-key', kind: 'api-key', scopes: Object.freeze([]) as readonly string[] });

/** The caller of an /admin endpoint, if allowed; else rejects with the error to answer. */
export function createAdminAuth(options: AdminAuthOptions): (req: IncomingMessage) => Promise<Principal> {
  const { authenticate, scope, loopback } = options;
  // Hashed, so the comparison below is of equal lengths whatever was presented (timingSafeEqual needs that).
  const adminKey = options.apiKey === undefined ? undefined : sha256(options.apiKey);
  const apiKeyHeader = options.apiKeyHeader.toLowerCase();
  return async (req) => {
    if (adminKey !== undefined) {
      const header = req.headers[apiKeyHeader];
      const presented = bearerToken(req.headers.authorization) ?? (typeof header === 'string' ? header : undefined);
      if (presented !== undefined && timingSafeEqual(sha256(presented), adminKey)) return ADMIN_KEY_PRINCIPAL;
      // With an admin key and no other credentials configured, the key is the only way in (loopback too).
      if (authenticate === undefined) {
        throw presented === undefined ? new GatehouseError('GH_AUTH_REQUIRED', 'the admin API key is required') : new GatehouseError('GH_AUTH_INVALID', 'not the admin API key');
      }
    }
    if (authenticate === undefined) {
      // No credentials configured: only a loopback bind serves anonymous callers at all,
      // and an exposed anonymous gateway does not hand out its audit trail.
      if (loopback) return ANONYMOUS;
      throw new GatehouseError('GH_AUTH_REQUIRED', 'admin endpoints need auth on a non-loopback bind');
    }
    const principal = await authenticate(req.headers);
    if (principal.kind === 'anonymous') throw new GatehouseError('GH_AUTH_REQUIRED', 'credentials are required');
    const missing = missingScopes(principal, [scope]);
    if (missing.length > 0) throw insufficientScope(missing);
    return principal;
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
