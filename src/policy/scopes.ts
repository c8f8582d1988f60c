/** OAuth scopes a request must hold (`auth.requiredScopes`, the admin scope). */
import { GatehouseError } from '../errors/catalogue.js';
import type { Principal } from '../call/context.js';

/** The scopes in `required` that the principal does not hold. */
export function missingScopes(principal: Principal, required: readonly string[] | undefined): string[] {
  if (required === undefined || required.length === 0) return [];
  const held = new Set(principal.scopes ?? []);
  return required.filter((s) => !held.has(s));
}

/** GH_AUTH_FORBIDDEN carrying the RFC 6750 `scope` a retry needs. */
export function insufficientScope(missing: readonly string[]): GatehouseError {
  return new GatehouseError('GH_AUTH_FORBIDDEN', `the token lacks the scope this endpoint needs: ${missing.join(' ')}`, {
    details: { error: 'insufficient_scope', scope: missing.join(' ') },
  });
}
