/**
 * W3C Trace Context as it crosses the gateway's HTTP edges. No OpenTelemetry
 * here: the edges run this on every request, tracing on or off, and it costs
 * a header lookup. Whether a header is a valid `traceparent` is the tracing
 * module's to decide (an invalid one starts a new trace, as the W3C spec says).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CallContext, TraceHeaders } from '../call/context.js';

/** The caller's trace context, when its request carries a `traceparent`. */
export function callerTrace(headers: IncomingHttpHeaders): TraceHeaders | undefined {
  const traceparent = headers.traceparent;
  if (typeof traceparent !== 'string') return undefined;
  const tracestate = headers.tracestate;
  // Node joins repeated tracestate headers with ", ", which is how the spec combines them too.
  return typeof tracestate === 'string' ? { traceparent, tracestate } : { traceparent };
}

/** The call's context for a backend or provider request, when tracing is on and the call is traced. */
export function addTraceHeaders(headers: Record<string, string>, send: TraceHeaders | undefined): void {
  if (send === undefined) return;
  headers.traceparent = send.traceparent;
  if (send.tracestate !== undefined) headers.tracestate = send.tracestate;
  else delete headers.tracestate;
}

/** The context's caller trace, set in place (a request without a `traceparent` leaves the context as it was). */
export function acceptCallerTrace(ctx: CallContext, headers: IncomingHttpHeaders): void {
  const caller = callerTrace(headers);
  if (caller !== undefined) ctx.trace = { caller };
}
