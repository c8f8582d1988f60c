import type { CallObserver } from '../call/context.js';
import { outcomeOf } from '../call/outcome.js';
import type { Logger } from './logger.js';

/**
 * The one info line of a finished call (`log.calls`), tool or model; undefined
 * when that line is off or info lines are not logged, so no call builds one.
 */
export function createCallLineObserver(log: Logger, enabled: boolean): CallObserver | undefined {
  if (!enabled || !log.isLevelEnabled('info')) return undefined;
  return (ctx, seconds) => {
    const o = ctx.outcome;
    const outcome = outcomeOf(o.errorCode);
    // The name the client called (a served tool's, with its prefix); a name from a header is cut short.
    const target = o.refusedAtEdge === true ? ctx.target.slice(0, 128) : ctx.kind === 'tool' ? (o.calledAs ?? ctx.target) : ctx.target;
    const principal = o.principalUnknown === true ? undefined : ctx.principal.id;
    const ms = Math.round(seconds * 1e4) / 10;
    const status = o.status === undefined ? '' : ` ${o.status}`;
    const code = o.errorCode;
    // With tracing on, the line names the call's trace (pino leaves an undefined field out).
    const traceId = ctx.trace?.traceId;
    log.info(
      { requestId: ctx.requestId, kind: ctx.kind, [ctx.kind]: target, principal, outcome, status: o.status, code, ms, traceId },
      `${ctx.kind} ${target || '-'} ${outcome}${status}${code !== undefined ? ` ${code}` : ''} ${ms} ms (${principal ?? 'no principal'})`,
    );
  };
}
