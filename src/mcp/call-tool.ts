import type { CallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { CallContext, CancelSignal, Policy, Principal } from '../policy/compose.js';
import { compose } from '../policy/compose.js';
import type { RegisteredTool, ServedTool } from '../registry/registry.js';
import { buildRequest } from '../upstream/build-request.js';
import type { Forwarder } from '../upstream/forward.js';
import { toCallToolResult } from '../upstream/map-result.js';
import { withRetryOn401, type Credentials } from '../upstream/credentials.js';
import { createSearchTools } from './search-tools.js';
import { errorResult } from './tool-result.js';

export interface ToolCallerOptions {
  forwarder: Forwarder;
  policies: readonly Policy<CallToolResult>[];
  log: Logger;
  /** Per-backend total timeout overrides (ms). */
  backendTimeouts?: ReadonlyMap<string, number>;
  /** Per-backend outbound credentials (absent: none). */
  credentials?: ReadonlyMap<string, Credentials>;
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
}

/** Runs one operation: what a tools/call of it and `<backend>_call_operation` share. */
export type OperationCaller = (tool: RegisteredTool, call: ToolCall) => Promise<CallToolResult>;

/**
 * The protocol-neutral tool call: validate → policy chain → build request →
 * forward → map the response. Never throws for expected failures: they become
 * `isError` results the agent can read (DESIGN.md decision 3).
 */
export function createToolCaller(options: ToolCallerOptions): (call: ToolCall) => Promise<CallToolResult> {
  const { forwarder, log } = options;
  const chain = compose(options.policies);
  const timeouts = options.backendTimeouts ?? new Map<string, number>();
  const credentials = options.credentials ?? new Map<string, Credentials>();

  const callOperation: OperationCaller = async (tool, call) => {
    const { args, signal } = call;
    const def = tool.definition;
    const problems = tool.validate(args);
    if (problems.length > 0) {
      return errorResult(
        new GatehouseError('GH_TOOL_ARGS_INVALID', `Invalid arguments for ${def.name}:\n- ${problems.join('\n- ')}`, { details: { errors: problems } }),
      );
    }
    const ctx: CallContext = {
      kind: 'tool',
      target: def.name,
      backend: def.backend,
      principal: call.principal,
      args,
      requestId: call.requestId,
      log,
      signal,
    };
    try {
      return await chain(ctx, async () => {
        const request = buildRequest(def.binding, args);
        const timeoutMs = timeouts.get(def.backend);
        const forwardOptions = timeoutMs === undefined ? { signal } : { signal, timeoutMs };
        const backendCredentials = credentials.get(def.backend);
        const response =
          backendCredentials === undefined
            ? await forwarder.forward(request, forwardOptions)
            : await withRetryOn401(backendCredentials, request, call.authorization === undefined ? {} : { authorization: call.authorization }, (req) =>
                forwarder.forward(req, forwardOptions),
              );
        return toCallToolResult(response, { hasOutputSchema: def.outputSchema !== undefined });
      });
    } catch (err) {
      if (isGatehouseError(err)) {
        if (err.code !== 'GH_UPSTREAM_ABORTED') log.warn({ tool: def.name, code: err.code, requestId: call.requestId }, err.message);
        return errorResult(err);
      }
      log.error({ err, tool: def.name, requestId: call.requestId }, 'tool call failed unexpectedly');
      return errorResult(new GatehouseError('GH_INTERNAL', `Internal error while calling ${def.name}`, { cause: err }));
    }
  };
  // `<backend>_call_operation` runs the named operation through callOperation itself:
  // same validator, same policy chain (under the operation's own name), same forwarder.
  const callSearchTool = createSearchTools({ callOperation, log });

  return function callTool(call) {
    const { tool } = call;
    return tool.kind === 'operation' ? callOperation(tool, call) : callSearchTool(tool, call);
  };
}
