import { GatehouseError } from '../../errors/catalogue.js';
import type { CallContext, Middleware } from '../../call/context.js';
import { rateLimitHeaders, type LimitSubject, type RateLimiter } from '../../limits/rate-limit.js';
import { conditionInputOf } from '../../conditions/input.js';

/**
 * `rateLimit`: every instance (`rateLimits.rules`, `policies[].rateLimit`) is
 * a rule of one limiter, asked once per call, so a call refused by one rule
 * costs nothing in the others (limits/rate-limit.ts). `cost: requests` rules
 * take one point here. `cost: tokens` rules refuse a spent bucket here, and a
 * model call reserves its estimate (`ctx.tokens`) until it ends, when the
 * reservation is settled with the tokens the provider reported.
 */
export function rateLimitStage(limiter: RateLimiter, onLimited?: (rule: string) => void): Middleware {
  const tokenRules = limiter.rules.some((r) => r.cost === 'tokens');
  return async function rateLimit(ctx, next) {
    const subject = subjectOf(ctx);
    const decision = await limiter.check(subject);
    if (!decision.allowed) {
      onLimited?.(decision.rule);
      const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new GatehouseError('GH_RATE_LIMITED', `rate limit "${decision.rule}" reached; retry after ${retryAfterSeconds} s`, {
        details: { rule: decision.rule, retryAfterSeconds, headers: rateLimitHeaders(decision) },
      });
    }
    const reserved = ctx.tokens ?? 0;
    if (tokenRules && reserved > 0) {
      await limiter.charge(subject, reserved);
      (ctx.onFinish ??= []).push((outcome) => {
        // Refused before the provider was asked: the reservation goes back whole. Otherwise the
        // real usage replaces it; a call whose usage is unknown keeps the estimate.
        const used = outcome.sent !== true ? 0 : outcome.usage === undefined ? reserved : outcome.usage.input + outcome.usage.output;
        if (used !== reserved) void limiter.charge(subject, used - reserved);
      });
    }
    return next();
  };
}

function subjectOf(ctx: CallContext): LimitSubject {
  const input = () => conditionInputOf(ctx);
  return ctx.kind === 'tool'
    ? { principal: ctx.principal.id, backend: ctx.backend, tool: ctx.target, input }
    : { principal: ctx.principal.id, backend: ctx.backend, model: ctx.target, input };
}
