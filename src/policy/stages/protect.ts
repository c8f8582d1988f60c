import type { Middleware } from '../../call/context.js';
import { backendFailed, type BackendGuards } from '../../limits/backend-guards.js';

/**
 * `protect`: a tool call's forward step runs inside its backend's bulkhead and
 * circuit breaker (limits/backend-guards.ts), last, so a call refused earlier
 * never takes a slot. Connection errors, timeouts and 5xx answers count
 * towards opening the circuit. Model calls are protected inside the engine
 * (ai/engine: retries, fallback, a cooldown per target), which knows targets.
 */
export function protectStage(guards: BackendGuards): Middleware {
  return async function protect(ctx, next) {
    const guard = ctx.kind === 'tool' ? guards.get(ctx.backend) : undefined;
    if (guard === undefined) return next();
    return guard(next, (error) => backendFailed(error, ctx.outcome.status));
  };
}
