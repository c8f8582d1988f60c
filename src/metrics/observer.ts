import type { CallObserver } from '../call/context.js';
import { outcomeOf } from '../call/outcome.js';
import type { ErrorCode } from '../errors/catalogue.js';
import type { GatewayMetrics } from './metrics.js';

const AUTH_FAILURES: ReadonlySet<ErrorCode> = new Set(['GH_AUTH_REQUIRED', 'GH_AUTH_INVALID', 'GH_AUTH_UNAVAILABLE']);

/**
 * The metrics' observer: every call's count and latency by kind, backend,
 * target and outcome; backend responses; a model call's tokens, cost and
 * time to first token; authentication failures. Labels are names from the
 * config or the registry, never ones a caller made up.
 */
export function createMetricsObserver(metrics: GatewayMetrics): CallObserver {
  return (ctx, seconds) => {
    const o = ctx.outcome;
    const outcome = outcomeOf(o.errorCode);
    if (o.errorCode !== undefined && (o.refusedAtEdge === true || AUTH_FAILURES.has(o.errorCode))) metrics.authFailure(o.errorCode);
    if (o.refusedAtEdge === true) {
      metrics.call({ kind: ctx.kind, backend: '', target: '', outcome, seconds });
      return;
    }
    if (ctx.kind === 'tool') {
      metrics.call({ kind: 'tool', backend: ctx.backend, target: ctx.target, outcome, seconds });
      if (o.backendSeconds !== undefined) metrics.backendResponse(ctx.backend, o.status ?? 0, o.backendSeconds);
      return;
    }
    const model = o.metricsTarget ?? ctx.target;
    metrics.call({ kind: 'model', backend: o.aiTarget ?? ctx.backend, target: model, outcome, seconds });
    const usage = o.usage;
    if (usage !== undefined) {
      metrics.llm({
        model,
        promptTokens: usage.input,
        completionTokens: usage.output,
        cachedTokens: usage.cached ?? 0,
        costUsd: o.costUsd ?? 0,
        ...(o.ttftMs !== undefined ? { ttftSeconds: o.ttftMs / 1000 } : {}),
      });
    }
  };
}
