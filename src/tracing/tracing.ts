/**
 * OpenTelemetry tracing: one span per call, tool or model. Loaded only when
 * tracing is on (server/call-services.ts imports this module dynamically), so
 * with tracing off no OpenTelemetry package is loaded and no call pays for it.
 *
 * The span starts when the chain starts running the call (`start`, from
 * policy/chain.ts), at the call's start time, as a child of the caller's
 * `traceparent`; the call's own trace context is then left on the context for
 * the backend or provider request (`ctx.trace.send`). It ends in the tracing
 * observer, told of every finished call like audit and metrics: a call refused
 * before the chain ran (at the edge, or for its arguments' size) gets its span
 * there, started and ended at once.
 *
 * Attribute names come from @opentelemetry/semantic-conventions (the MCP and
 * GenAI conventions are in its incubating entry point). Prompts, completions
 * and tool arguments are never recorded.
 */
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_MCP_METHOD_NAME,
  ATTR_MCP_PROTOCOL_VERSION,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  MCP_METHOD_NAME_VALUE_TOOLS_CALL,
} from '@opentelemetry/semantic-conventions/incubating';
import type { CallContext, CallObserver, TraceHeaders } from '../call/context.js';
import type { Logger } from '../log/logger.js';
import { VERSION } from '../version.js';
import type { TracingSettings } from './settings.js';

/** What the chain and the observers need of tracing. */
export interface CallTracing {
  /** Starts the call's span (once per call); called as the chain starts running it. */
  start(ctx: CallContext): void;
  /** Ends the call's span with its outcome. */
  observer: CallObserver;
  /** Exports what is still buffered, then stops. */
  close(): Promise<void>;
}

/** Gatehouse's own attributes, for what the conventions have no name for. */
const ATTR_BACKEND = 'gatehouse.backend';
const ATTR_REQUEST_ID = 'gatehouse.request_id';
const ATTR_ROUTE = 'gatehouse.ai.route';
const ATTR_AI_TARGET = 'gatehouse.ai.target';

export async function createCallTracing(settings: TracingSettings, log: Logger): Promise<CallTracing> {
  const exporter = await exporterFor(settings);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'gatehouse', [ATTR_SERVICE_VERSION]: VERSION })
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, as every SDK reads them; the config's serviceName wins.
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(settings.serviceName === undefined ? null : resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }));
  const provider = new BasicTracerProvider({
    resource,
    // Without a ratio the provider reads OTEL_TRACES_SAMPLER(_ARG) itself (default: parent-based, always on).
    ...(settings.sampleRatio === undefined ? {} : { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }) }),
    // Batched (OTEL_BSP_* tune it): the call's answer never waits for an export.
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // The provider is used directly, not registered as the process's global one:
  // Gatehouse's spans are its own, and a test can run several gateways in one process.
  const tracer: Tracer = provider.getTracer('gatehouse', VERSION);
  const propagator = new W3CTraceContextPropagator();
  log.info({ protocol: settings.protocol, ...(settings.url !== undefined ? { endpoint: settings.url } : {}) }, 'tracing: exporting spans over OTLP');

  const start = (ctx: CallContext): void => {
    const t = (ctx.trace ??= {});
    if (t.span !== undefined) return;
    // An invalid traceparent extracts to nothing: the call then starts a trace of its own (W3C Trace Context §4.3).
    const parent = t.caller === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, t.caller, defaultTextMapGetter);
    const model = ctx.kind === 'model';
    const span = tracer.startSpan(spanName(ctx), { kind: model ? SpanKind.CLIENT : SpanKind.SERVER, startTime: ctx.startedAt }, parent);
    t.span = span;
    t.traceId = span.spanContext().traceId;
    const send: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), send, defaultTextMapSetter);
    if (send.traceparent !== undefined) t.send = send as unknown as TraceHeaders;
  };

  const observer: CallObserver = (ctx, seconds) => {
    start(ctx);
    const span = ctx.trace!.span as Span;
    if (span.isRecording()) {
      // A span named at its start may not know the tool yet (a refusal at the edge): named again with what the call came to.
      span.updateName(spanName(ctx));
      span.setAttributes(ctx.kind === 'model' ? modelAttributes(ctx) : toolAttributes(ctx));
      const code = ctx.outcome.errorCode;
      if (code !== undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      }
    }
    // The duration the audit record and the metrics have, from the call's start.
    span.end(ctx.startedAt + seconds * 1000);
  };

  return {
    start,
    observer,
    async close() {
      try {
        await provider.shutdown();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'tracing: the last spans could not be exported');
      }
    },
  };
}

/** MCP semantic conventions: `{mcp.method.name} {target}`; GenAI: `{gen_ai.operation.name} {gen_ai.request.model}`. */
function spanName(ctx: CallContext): string {
  if (ctx.kind === 'model') {
    const op = operationOf(ctx);
    return ctx.target === '' ? op : `${op} ${ctx.target}`;
  }
  const tool = toolName(ctx);
  return tool === '' ? MCP_METHOD_NAME_VALUE_TOOLS_CALL : `${MCP_METHOD_NAME_VALUE_TOOLS_CALL} ${tool}`;
}

/** The name the client called (a served tool's, with its prefix); a name from a header is cut short, as the audit record cuts it. */
function toolName(ctx: CallContext): string {
  return ctx.outcome.refusedAtEdge === true ? ctx.target.slice(0, 128) : (ctx.outcome.calledAs ?? ctx.target);
}

/** An embeddings request has `input` and no `messages`; every other model call is a chat completion. */
function operationOf(ctx: CallContext): string {
  const r = ctx.request as { messages?: unknown; input?: unknown } | undefined;
  return r !== undefined && r.messages === undefined && r.input !== undefined ? GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS : GEN_AI_OPERATION_NAME_VALUE_CHAT;
}

function toolAttributes(ctx: CallContext): Attributes {
  const o = ctx.outcome;
  const a: Attributes = {
    [ATTR_MCP_METHOD_NAME]: MCP_METHOD_NAME_VALUE_TOOLS_CALL,
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
    [ATTR_REQUEST_ID]: ctx.requestId,
  };
  const tool = toolName(ctx);
  if (tool !== '') a[ATTR_GEN_AI_TOOL_NAME] = tool;
  if (o.protocol !== undefined) a[ATTR_MCP_PROTOCOL_VERSION] = o.protocol;
  if (ctx.backend !== '') a[ATTR_BACKEND] = ctx.backend;
  return a;
}

function modelAttributes(ctx: CallContext): Attributes {
  const o = ctx.outcome;
  const a: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: operationOf(ctx), [ATTR_REQUEST_ID]: ctx.requestId };
  if (ctx.target !== '') a[ATTR_GEN_AI_REQUEST_MODEL] = ctx.target;
  if (o.provider !== undefined) a[ATTR_GEN_AI_PROVIDER_NAME] = o.provider;
  if (o.upstreamModel !== undefined) a[ATTR_GEN_AI_RESPONSE_MODEL] = o.upstreamModel;
  if (o.usage !== undefined) {
    a[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = o.usage.input;
    a[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = o.usage.output;
  }
  if (ctx.backend !== '') a[ATTR_ROUTE] = ctx.backend;
  if (o.aiTarget !== undefined) a[ATTR_AI_TARGET] = o.aiTarget;
  return a;
}

/** The OTLP exporter of the protocol; each is loaded only when chosen (grpc brings its own stack). */
async function exporterFor(s: TracingSettings): Promise<SpanExporter> {
  const common = s.url === undefined ? {} : { url: s.url };
  switch (s.protocol) {
    case 'http/protobuf': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter({ ...common, ...(s.headers !== undefined ? { headers: s.headers } : {}) });
    }
    case 'http/json': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter({ ...common, ...(s.headers !== undefined ? { headers: s.headers } : {}) });
    }
    case 'grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      if (s.headers === undefined) return new OTLPTraceExporter(common);
      // gRPC carries headers as metadata.
      const { Metadata } = await import('@grpc/grpc-js');
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(s.headers)) metadata.set(k, v);
      return new OTLPTraceExporter({ ...common, metadata });
    }
  }
}
