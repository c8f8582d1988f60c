import type { Middleware } from '../../call/context.js';
import type { Condition } from '../../conditions/cel.js';
import { conditionInputOf } from '../../conditions/input.js';

/**
 * `validate`: the protocol's own check of the call's input — a tool's
 * arguments against its operation's schema, a model request's messages —
 * after authorisation (a caller that may not call a tool learns nothing of
 * its schema) and rate limiting (invalid calls are not free).
 *
 * `policies[]` can scope tool argument checks (`validate: { when }`) or turn
 * them off (`validate: false`: the backend checks its own input). A model
 * request's shape is always checked: the gateway itself relies on it.
 */
export function validateStage(tools: { when?: Condition | undefined; off?: boolean }): Middleware {
  const { when, off } = tools;
  return async function validate(ctx, next) {
    const check = ctx.validate;
    if (check !== undefined && (ctx.kind === 'model' || (off !== true && (when === undefined || when(conditionInputOf(ctx)))))) {
      const refused = check();
      if (refused !== undefined) throw refused;
    }
    return next();
  };
}
