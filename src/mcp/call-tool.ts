import type { CallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { CallContext, CancelSignal, Principal, Redactor, TraceHeaders } from '../call/context.js';
import { addTraceHeaders } from '../tracing/headers.js';
import { redactStrings } from '../ai/policy/guards.js';
import type { Chain } from '../policy/chain.js';
import type { RegisteredTool, ServedTool } from '../registry/registry.js';
import { buildRequest } from '../upstream/build-request.js';
import type { Forwarder } from '../upstream/forward.js';
import { toCallToolResult } from '../upstream/map-result.js';
import { withRetryOn401, type Credentials } from '../upstream/credentials.js';
import { checkArgumentLimits, DEFAULT_ARGUMENT_LIMITS, type ArgumentLimits } from './argument-limits.js';
import { createSearchTools } from './search-tools.js';
import { errorCodeOf, errorResult, withErrorCode } from './tool-result.js';

export interface ToolCallerOptions {
  forwarder: Forwarder;
  /** The call chain (policy/chain.ts): its stages run before the backend request; `finish` ends each call. */
  chain: Pick<Chain, 'run' | 'finish'>;
  log: Logger;
  /** Per-backend total timeout overrides (ms). */
  backendTimeouts?: ReadonlyMap<string, number>;
  /** Per-backend outbound credentials (absent: none). */
  credentials?: ReadonlyMap<string, Credentials>;
  /** Longest header value a call's arguments may make (`upstream.maxHeaderValueBytes`). */
  maxHeaderValueBytes?: number;
  /** Whether a principal may call an operation: what search-mode meta-tools show (default: all; see mcp/visibility.ts). */
  mayCall?: (principal: Principal, operation: RegisteredTool) => boolean;
  /** Bounds on the arguments' shape, checked before anything else (default {@link DEFAULT_ARGUMENT_LIMITS}). */
  argumentLimits?: Readonly<ArgumentLimits>;
}

export interface ToolCall {
  /** An operation, or a search meta-tool of a backend in search mode. */
  tool: ServedTool;
  args: Record<string, unknown>;
  principal: Principal;
  requestId: string;
  signal: CancelSignal;
  /** The caller's own Authorization header: sent on only to passthrough backends or as a token-exchange subject. */
  authorization?: string | undefined;
  /**
   * Set by an edge that already found the arguments past `mcp.arguments` and
   * did not pass them on (mcp/http-endpoint.ts, for the SDK path): the message to refuse with.
   */
  argumentsRefused?: string | undefined;
  /** The MCP protocol version the request came in (e.g. 2026-07-28, 2025-11-25). */
  protocol?: string | undefined;
  /** The client's name and version, when the request carries them (2026-07-28 `_meta`). */
  client?: { name?: string; version?: string } | undefined;
  /** The caller's W3C trace context (`traceparent`), when the request carries one: the call's span is its child. */
  trace?: TraceHeaders | undefined;
  /** The call's context, made by the tool caller; an operation run by `<backend>_call_operation` runs under it. */
  ctx?: CallContext;
}

/** Runs one operation: what a tools/call of it and `<backend>_call_operation` share. */
export type OperationCaller = (tool: RegisteredTool, call: ToolCall) => Promise<CallToolResult>;

/**
 * A tool call through the chain (policy/chain.ts): argument limits first,
 * then the chain's stages (authorise, rate-limit, validate, guard, …,
 * protect), then forward — build the request, send it, map the response.
 * Never throws for expected failures: they become `isError` results the agent
 * can read (DESIGN.md decision 3). Every call, whatever its outcome, ends in
 * `chain.finish` once (audit, metrics, the call line).
 */
export function createToolCaller(options: ToolCallerOptions): (call: ToolCall) => Promise<CallToolResult> {
  const { forwarder, log, chain } = options;
  const timeouts = options.backendTimeouts ?? new Map<string, number>();
  const credentials = options.credentials ?? new Map<string, Credentials>();
  const buildOptions = options.maxHeaderValueBytes === undefined ? undefined : { maxHeaderValueBytes: options.maxHeaderValueBytes };

  const callOperation: OperationCaller = async (tool, call) => {
    const { args, signal } = call;
    const def = tool.definition;
    const ctx = call.ctx ?? contextOf(call, log);
    // The call is the operation's from here on (for `<backend>_call_operation`, the one it named).
    ctx.target = def.name;
    ctx.backend = def.backend;
    ctx.method = def.source.method.toUpperCase();
    ctx.readOnly = def.annotations.readOnlyHint === true;
    ctx.args = args;
    ctx.validate = () => {
      const problems = tool.validate(args);
      return problems.length === 0 ? undefined : new GatehouseError('GH_TOOL_ARGS_INVALID', `Invalid arguments for ${def.name}:\n- ${problems.join('\n- ')}`, { details: { errors: problems } });
    };
    const facts = ctx.outcome;
    facts.args = args;
    facts.urlTemplate = def.source.path;
    // The backend's state is read once, as the call starts: a reload that swaps it
    // meanwhile (new credentials, a removed backend) never reaches a call in flight.
    const timeoutMs = timeouts.get(def.backend);
    const backendCredentials = credentials.get(def.backend);
    try {
      const result = await chain.run(ctx, async () => {
        const request = buildRequest(def.binding, args, buildOptions);
        // Tracing on: the backend's request carries the call's span as its parent.
        addTraceHeaders(request.headers, ctx.trace?.send);
        const forwardOptions = timeoutMs === undefined ? { signal } : { signal, timeoutMs };
        // Bytes and backend time are counted once the protect stage lets the request go: a call the
        // circuit breaker or the bulkhead refuses sent nothing, and time queued for a slot is not the backend's.
        const sent = performance.now();
        facts.sent = true;
        if (request.body !== undefined) facts.bytesIn = typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.byteLength;
        let response;
        try {
          response =
            backendCredentials === undefined
              ? await forwarder.forward(request, forwardOptions)
              : await withRetryOn401(backendCredentials, request, call.authorization === undefined ? {} : { authorization: call.authorization }, (req) => forwarder.forward(req, forwardOptions));
        } finally {
          facts.backendSeconds = (performance.now() - sent) / 1000;
        }
        facts.status = response.status;
        facts.bytesOut = response.body.length;
        // A 2xx answer that cannot be a tool's structured result throws (GH_UPSTREAM_RESULT_*): answered below as a tool error.
        const mapped =
          def.outputSchema === undefined
            ? toCallToolResult(response, { hasOutputSchema: false })
            : toCallToolResult(response, { hasOutputSchema: true, checkOutput: (structured) => tool.validateOutput(structured) });
        if (response.status >= 200 && response.status <= 299) return mapped;
        facts.errorCode = 'GH_UPSTREAM_STATUS';
        return withErrorCode(mapped, 'GH_UPSTREAM_STATUS', { status: response.status });
      });
      return ctx.redactor === undefined ? result : redactResult(result, ctx.redactor);
    } catch (err) {
      if (isGatehouseError(err)) {
        facts.errorCode = err.code;
        if (err.code !== 'GH_UPSTREAM_ABORTED' && err.code !== 'GH_TOOL_ARGS_INVALID') ctx.log.warn({ tool: def.name, code: err.code }, err.message);
        return errorResult(err);
      }
      facts.errorCode = 'GH_INTERNAL';
      ctx.log.error({ err, tool: def.name }, 'tool call failed unexpectedly');
      return errorResult(new GatehouseError('GH_INTERNAL', `Internal error while calling ${def.name}`, { cause: err }));
    }
  };
  // `<backend>_call_operation` runs the named operation through callOperation itself:
  // same validator, same chain (under the operation's own name), same forwarder.
  const callSearchTool = createSearchTools({ callOperation, log, ...(options.mayCall ? { mayCall: options.mayCall } : {}) });

  const limits = options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS;
  const dispatch = async (call: ToolCall, ctx: CallContext): Promise<CallToolResult> => {
    // First of all, before the chain: everything after it (rule conditions,
    // validation, the request body, audit redaction) costs time per argument,
    // so it may only see arguments of a bounded shape.
    const refused = call.argumentsRefused ?? checkArgumentLimits(call.args, limits)?.message;
    if (refused !== undefined) {
      ctx.outcome.errorCode = 'GH_TOOL_ARGS_TOO_LARGE';
      return errorResult(new GatehouseError('GH_TOOL_ARGS_TOO_LARGE', `Arguments for ${call.tool.tool.name} are too large: ${refused}`));
    }
    return call.tool.kind === 'operation' ? callOperation(call.tool, call) : callSearchTool(call.tool, call);
  };

  return async function callTool(call) {
    // Each edge builds a fresh ToolCall per request, so its context is attached in place (no copy per call).
    const ctx = (call.ctx = contextOf(call, log));
    const result = await dispatch(call, ctx);
    // A meta-tool's own refusal (bad arguments, unknown operation) carries its code in `_meta`.
    if (result.isError === true && ctx.outcome.errorCode === undefined) ctx.outcome.errorCode = errorCodeOf(result);
    let durable: void | Promise<void> = undefined;
    try {
      durable = chain.finish(ctx);
    } catch (err) {
      log.error({ err, requestId: call.requestId }, 'finishing a call failed');
    }
    if (durable === undefined) return result;
    try {
      await durable;
    } catch (err) {
      log.warn({ requestId: call.requestId, tool: call.tool.tool.name, err: (err as Error).message }, 'audit record not committed: the answer is withheld');
      return errorResult(new GatehouseError('GH_AUDIT_NOT_DURABLE', `the call to ${call.tool.tool.name} ran, but ${(err as Error).message}; its result is withheld (audit.durability: sync)`, { cause: err }));
    }
    return result;
  };
}

/**
 * A tool call's context, before it reaches an operation: named after the tool
 * served (a meta-tool of a backend in search mode is that backend's).
 */
function contextOf(call: ToolCall, log: Logger): CallContext {
  const served = call.tool;
  const operation = served.kind === 'operation' ? served.definition : undefined;
  // The call's own logger, carrying its request id: made on first use, as
  // most calls log nothing (a pino child costs a few µs).
  let callLog: Logger | undefined;
  const ctx: CallContext = {
    kind: 'tool',
    target: operation?.name ?? served.tool.name,
    backend: operation?.backend ?? (served.kind === 'meta' ? served.catalogue.backend : ''),
    method: '',
    readOnly: false,
    principal: call.principal,
    args: call.args,
    requestId: call.requestId,
    get log() {
      return (callLog ??= log.child({ requestId: call.requestId }));
    },
    signal: call.signal,
    startedAt: Date.now(),
    started: performance.now(),
    outcome: {
      calledAs: served.tool.name,
      ...(call.protocol !== undefined ? { protocol: call.protocol } : {}),
      ...(call.client !== undefined ? { client: call.client } : {}),
    },
  };
  if (call.trace !== undefined) ctx.trace = { caller: call.trace };
  return ctx;
}

/** A tool result with the redactor applied to its text and structured content (strings stay strings, so the output schema still holds). */
function redactResult(result: CallToolResult, redactor: Redactor): CallToolResult {
  return {
    ...result,
    content: result.content.map((c) => (c.type === 'text' ? { ...c, text: redactor.text(c.text) } : c)),
    ...(result.structuredContent !== undefined ? { structuredContent: redactStrings(result.structuredContent, redactor) as Record<string, unknown> } : {}),
  };
}
