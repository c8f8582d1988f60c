import { GatehouseError } from '../../errors/catalogue.js';
import type { Middleware } from '../../call/context.js';
import type { Authorizer, AuthzTarget } from '../rules.js';

/**
 * `authorize`: the call goes on only when the rules allow it; otherwise
 * GH_POLICY_DENIED (with the scope that would allow it, when one would). The
 * same rules decide what tools/list shows (mcp/visibility.ts), from the same
 * facts: name, backend, method and read-only hint of the tool, or the model.
 */
export function authorizeStage(authorizer: Authorizer): Middleware {
  return async function authorize(ctx, next) {
    const target: AuthzTarget =
      ctx.kind === 'model' ? { kind: 'model', name: ctx.target } : { kind: 'tool', name: ctx.target, backend: ctx.backend, method: ctx.method, readOnly: ctx.readOnly };
    const decision = authorizer.decide(ctx.principal, target);
    if (!decision.allowed) {
      throw new GatehouseError('GH_POLICY_DENIED', `${target.kind} "${target.name}" is not allowed for this caller: ${decision.reason}`, {
        details: {
          kind: target.kind,
          target: target.name,
          ...(decision.rule === undefined ? {} : { rule: decision.rule }),
          ...(decision.scopes === undefined ? {} : { error: 'insufficient_scope', scope: decision.scopes.join(' ') }),
        },
      });
    }
    return next();
  };
}
