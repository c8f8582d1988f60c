import type { CallContext } from '../call/context.js';
import { outcomeOf } from '../call/outcome.js';
import type { AuditRecord } from './record.js';
import type { ArgumentRedactor } from './redact.js';

/**
 * The one audit record builder: a call's context and outcome → its record,
 * for every call kind (tool, model, refused at the edge). Built field by
 * field — it runs once per call, and absent fields stay absent.
 */
export function auditRecordOf(ctx: CallContext, seconds: number, redact: ArgumentRedactor): AuditRecord {
  const o = ctx.outcome;
  const record: AuditRecord = { time: ctx.startedAt, requestId: ctx.requestId, kind: ctx.kind, outcome: outcomeOf(o.errorCode), latencyMs: Math.round(seconds * 1e6) / 1e3 };
  if (o.principalUnknown !== true) {
    const p = ctx.principal;
    record.principalId = p.id;
    record.principalKind = p.kind;
    if (p.client !== undefined) record.clientId = p.client;
    if (p.kind === 'api-key') record.keyId = p.id;
  }
  if (o.client?.name !== undefined) record.clientName = o.client.name;
  if (o.client?.version !== undefined) record.clientVersion = o.client.version;
  if (o.protocol !== undefined) record.protocol = o.protocol;
  if (o.refusedAtEdge === true) {
    // The tool named in a header is not checked against the registry: recorded, never used as a label.
    if (ctx.target !== '') record.tool = ctx.target.slice(0, 128);
  } else if (ctx.kind === 'tool') {
    record.backend = ctx.backend;
    record.tool = ctx.target;
    if (ctx.method !== '') record.httpMethod = ctx.method;
    if (o.urlTemplate !== undefined) record.urlTemplate = o.urlTemplate;
    // Arguments refused for their size are not read again, not even to redact them.
    if (o.errorCode !== 'GH_TOOL_ARGS_TOO_LARGE') Object.assign(record, redact(o.args ?? ctx.args));
  } else {
    record.model = ctx.target;
    const backend = o.aiTarget ?? ctx.backend;
    if (backend !== '') record.backend = backend;
    if (ctx.backend !== '') record.route = ctx.backend;
    if (o.provider !== undefined) record.provider = o.provider;
    if (o.attempts !== undefined && o.attempts.length > 0) record.attempts = o.attempts;
  }
  if (o.errorCode !== undefined) record.errorCode = o.errorCode;
  if (o.status !== undefined) record.status = o.status;
  if (o.usage !== undefined) {
    record.tokensIn = o.usage.input;
    record.tokensOut = o.usage.output;
  }
  if (o.costUsd !== undefined) record.costUsd = o.costUsd;
  if (o.ttftMs !== undefined) record.ttftMs = o.ttftMs;
  if (o.bytesIn !== undefined) record.bytesIn = o.bytesIn;
  if (o.bytesOut !== undefined) record.bytesOut = o.bytesOut;
  if (ctx.trace?.traceId !== undefined) record.traceId = ctx.trace.traceId;
  return record;
}
