import type { CallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { CallContext, CancelSignal, Policy, Principal } from '../policy/compose.js';
import { compose } from '../policy/compose.js';
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
  policies: readonly Policy<CallToolResult>[];
  log: Logger;
  /** Per-backend total timeout overrides (ms). */
  backendTimeouts?: ReadonlyMap<string, number>;
  /** Per-backend outbound credentials (absent: none). */
  credentials?: ReadonlyMap<string, Credentials>;
  /**
   * Per-backend protection around the backend request (bulkhead, circuit
   * breaker): runs `send` or refuses with a GatehouseError.
   */
  guards?: ReadonlyMap<string, BackendGuard>;
  /**
   * Told once about every finished call, allowed or refused (audit, metrics). A
   * promise (`audit.durability: sync`) holds the answer until it settles; a
   * rejection answers GH_AUDIT_NOT_DURABLE instead of the result.
   */
  observe?: (observed: ObservedCall) => void | Promise<void>;
  /** Longest header value a call's arguments may make (`upstream.maxHeaderValueBytes`). */
  maxHeaderValueBytes?: number;
  /** Whether a principal may call an operation: what search-mode meta-tools show (default: all; see mcp/visibility.ts). */
  mayCall?: (principal: Principal, operation: RegisteredTool) => boolean;
  /** Bounds on the arguments' shape, checked before anything else (default {@link DEFAULT_ARGUMENT_LIMITS}). */
  argumentLimits?: Readonly<ArgumentLimits>;
}

/** Wraps the backend request of one call; see limits/. */
export type BackendGuard = <T extends { status: number }>(send: () => Promise<T>) => Promise<T>;

/** What one call did, filled in as it runs: the audit record and metrics read it. */
export interface CallFacts {
  /** The operation that ran (for `<backend>_call_operation`, the one it named). */
  operation?: RegisteredTool;
  /** The arguments of that operation. */
  args?: Record<string, unknown>;
  /** The backend's HTTP status, when it answered. */
  status?: number;
  /** Request body bytes sent to the backend. */
  bytesIn?: number;
  /** Response body bytes received from the backend. */
  bytesOut?: number;
  /** How long the backend request took (seconds), when one was sent. */
  backendSeconds?: number;
  /** The code of the error the call ended with. */
  errorCode?: ErrorCode;
}

export interface ObservedCall {
  call: ToolCall;
  facts: CallFacts;
  result: CallToolResult;
  /** Epoch ms when the call started. */
  startedAt: number;
  seconds: number;
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
   * did not pass them on (mcp-endpoint.ts, for the SDK path): the message to refuse with.
   */
  argumentsRefused?: string | undefined;
  /** The MCP protocol version the request came in (e.g. 2026-07-28, 2025-11-25). */
  protocol?: string | undefined;
  /** The client's name and version, when the request carries them (2026-07-28 `_meta`). */
  client?: { name?: string; version?: string } | undefined;
  /** Filled in while the call runs (see {@link CallFacts}); set by the caller. */
  facts?: CallFacts;
}

/** Runs one operation: what a tools/call of it and `<backend>_call_operation` share. */
export type OperationCaller = (tool: RegisteredTool, call: ToolCall) => Promise<CallToolResult>;

/**
 * The protocol-neutral tool call: policy chain (authorise → rate-limit) →
 * validate → build request → backend guard (circuit breaker, bulkhead) →
 * forward → map the response. Never throws for expected failures: they become
 * `isError` results the agent can read (DESIGN.md decision 3). Every call,
 * whatever its outcome, is reported once to `observe`.
 */
export function createToolCaller(options: ToolCallerOptions): (call: ToolCall) => Promise<CallToolResult> {
  const { forwarder, log } = options;
  const chain = compose(options.policies);
  const timeouts = options.backendTimeouts ?? new Map<string, number>();
  const credentials = options.credentials ?? new Map<string, Credentials>();

  const buildOptions = options.maxHeaderValueBytes === undefined ? undefined : { maxHeaderValueBytes: options.maxHeaderValueBytes };
  const guards = options.guards ?? new Map<string, BackendGuard>();
  const unguarded: BackendGuard = (send) => send();

  const callOperation: OperationCaller = async (tool, call) => {
    const { args, signal } = call;
    const def = tool.definition;
    const facts = call.facts ?? {};
    facts.operation = tool;
    facts.args = args;
    // The call's own logger, carrying its request id: made on first use, as
    // most calls log nothing (a pino child costs a few µs).
    let callLog: Logger | undefined;
    const logOf = (): Logger => (callLog ??= log.child({ requestId: call.requestId }));
    const ctx: CallContext = {
      kind: 'tool',
      target: def.name,
      backend: def.backend,
      principal: call.principal,
      args,
      requestId: call.requestId,
      get log() {
        return logOf();
      },
      signal,
    };
    // The backend's state is read once, as the call starts: a reload that swaps it
    // meanwhile (new credentials, a removed backend) never reaches a call in flight.
    const guard = guards.get(def.backend) ?? unguarded;
    const timeoutMs = timeouts.get(def.backend);
    const backendCredentials = credentials.get(def.backend);
    try {
      return await chain(ctx, async () => {
        const problems = tool.validate(args);
        if (problems.length > 0) {
          throw new GatehouseError('GH_TOOL_ARGS_INVALID', `Invalid arguments for ${def.name}:\n- ${problems.join('\n- ')}`, { details: { errors: problems } });
        }
        const request = buildRequest(def.binding, args, buildOptions);
        const forwardOptions = timeoutMs === undefined ? { signal } : { signal, timeoutMs };
        // Bytes and backend time are counted once the guard lets the request go: a call the
        // circuit breaker or the bulkhead refuses sent nothing, and time queued for a slot is not the backend's.
        let sent: number | undefined;
        const send = () => {
          sent = performance.now();
          if (request.body !== undefined) facts.bytesIn = typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.byteLength;
          return backendCredentials === undefined
            ? forwarder.forward(request, forwardOptions)
            : withRetryOn401(backendCredentials, request, call.authorization === undefined ? {} : { authorization: call.authorization }, (req) =>
                forwarder.forward(req, forwardOptions),
              );
        };
        let response;
        try {
          response = await guard(send);
        } finally {
          if (sent !== undefined) facts.backendSeconds = (performance.now() - sent) / 1000;
        }
        facts.status = response.status;
        facts.bytesOut = response.body.length;
        // A 2xx answer that cannot be a tool's structured result throws (GH_UPSTREAM_RESULT_*): answered below as a tool error.
        const result =
          def.outputSchema === undefined
            ? toCallToolResult(response, { hasOutputSchema: false })
            : toCallToolResult(response, { hasOutputSchema: true, checkOutput: (structured) => tool.validateOutput(structured) });
        if (response.status >= 200 && response.status <= 299) return result;
        facts.errorCode = 'GH_UPSTREAM_STATUS';
        return withErrorCode(result, 'GH_UPSTREAM_STATUS', { status: response.status });
      });
    } catch (err) {
      if (isGatehouseError(err)) {
        facts.errorCode = err.code;
        if (err.code !== 'GH_UPSTREAM_ABORTED' && err.code !== 'GH_TOOL_ARGS_INVALID') logOf().warn({ tool: def.name, code: err.code }, err.message);
        return errorResult(err);
      }
      facts.errorCode = 'GH_INTERNAL';
      logOf().error({ err, tool: def.name }, 'tool call failed unexpectedly');
      return errorResult(new GatehouseError('GH_INTERNAL', `Internal error while calling ${def.name}`, { cause: err }));
    }
  };
  // `<backend>_call_operation` runs the named operation through callOperation itself:
  // same validator, same policy chain (under the operation's own name), same forwarder.
  const callSearchTool = createSearchTools({ callOperation, log, ...(options.mayCall ? { mayCall: options.mayCall } : {}) });

  const limits = options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS;
  const dispatch = async (call: ToolCall): Promise<CallToolResult> => {
    // First of all, before the policy chain: everything after it (rule
    // conditions, validation, the request body, audit redaction) costs time per
    // argument, so it may only see arguments of a bounded shape.
    const refused = call.argumentsRefused ?? checkArgumentLimits(call.args, limits)?.message;
    if (refused !== undefined) {
      if (call.facts) call.facts.errorCode = 'GH_TOOL_ARGS_TOO_LARGE';
      return errorResult(new GatehouseError('GH_TOOL_ARGS_TOO_LARGE', `Arguments for ${call.tool.tool.name} are too large: ${refused}`));
    }
    return call.tool.kind === 'operation' ? callOperation(call.tool, call) : callSearchTool(call.tool, call);
  };
  const observe = options.observe;
  if (observe === undefined) return dispatch;

  return async function callTool(call) {
    const startedAt = Date.now();
    const started = performance.now();
    const facts: CallFacts = {};
    // Each edge builds a fresh ToolCall per request, so it is filled in place (no copy per call).
    call.facts = facts;
    const result = await dispatch(call);
    // A meta-tool's own refusal (bad arguments, unknown operation) carries its code in `_meta`.
    if (result.isError === true && facts.errorCode === undefined) facts.errorCode = errorCodeOf(result);
    let durable: void | Promise<void> = undefined;
    try {
      durable = observe({ call, facts, result, startedAt, seconds: (performance.now() - started) / 1000 });
    } catch (err) {
      log.error({ err, requestId: call.requestId }, 'call observer failed');
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
