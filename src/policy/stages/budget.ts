import { GatehouseError } from '../../errors/catalogue.js';
import type { Middleware } from '../../call/context.js';
import type { Budgets } from '../../ai/policy/budget.js';
import type { Logger } from '../../log/logger.js';
import { conditionInputOf } from '../../conditions/input.js';

/**
 * `budget`: spend in USD per principal and period (ai/policy/budget.ts). A
 * model call is refused once a budget it falls under is spent, and charged
 * its cost when it ends. Tool calls have no price, so budgets pass them.
 */
export function budgetStage(budgets: Budgets, log: Logger): Middleware {
  return async function budget(ctx, next) {
    if (ctx.kind !== 'model') return next();
    const input = conditionInputOf(ctx);
    const b = await budgets.check(ctx.principal.id, ctx.target, input);
    if (!b.allowed) {
      throw new GatehouseError('GH_AI_BUDGET_EXCEEDED', `budget "${b.rule}" of ${b.limitUsd} USD is spent (${b.spentUsd.toFixed(4)} USD); it resets at ${b.resetsAt.toISOString()}`, {
        details: { rule: b.rule, limitUsd: b.limitUsd, spentUsd: b.spentUsd, resetsAt: b.resetsAt.toISOString() },
      });
    }
    (ctx.onFinish ??= []).push((outcome) => {
      const cost = outcome.costUsd;
      if (cost === undefined || cost <= 0) return;
      void Promise.resolve(budgets.charge(ctx.principal.id, ctx.target, cost, input)).catch((err: unknown) => log.warn({ err }, 'ai: budget charge failed'));
    });
    return next();
  };
}
