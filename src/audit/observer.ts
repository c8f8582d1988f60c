import type { CallObserver } from '../call/context.js';
import { auditRecordOf } from './record-of.js';
import type { ArgumentRedactor } from './redact.js';
import type { AuditWriter } from './writer.js';

/**
 * The audit trail's observer: one record per finished call. With `durable`
 * (`audit.durability: sync` with a store), a call's answer waits for its
 * record's commit — except a call refused for durability itself, whose
 * record is queued like any other (there is no answer to hold), and a
 * request refused at the edge.
 */
export function createAuditObserver(writer: AuditWriter, redact: ArgumentRedactor, durable: boolean): CallObserver {
  return (ctx, seconds) => {
    const record = auditRecordOf(ctx, seconds, redact);
    const o = ctx.outcome;
    if (durable && o.refusedAtEdge !== true && o.errorCode !== 'GH_AUDIT_NOT_DURABLE') return writer.recordDurable(record);
    writer.record(record);
    return undefined;
  };
}
