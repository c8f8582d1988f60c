/**
 * Answers the three meta-tools of a backend in search mode (their wire shape
 * is registry/meta-tools.ts):
 *
 * - `<backend>_search_operations {query, limit?, tag?}` → ranked hits (name, method, path, summary);
 * - `<backend>_describe_operation {name}` → the operation's Tool object (schemas, annotations), method and path;
 * - `<backend>_call_operation {name, arguments?}` → the operation's own result, through the very
 *   caller a direct tools/call uses (same validator and GH_TOOL_ARGS_INVALID text, same policy
 *   chain under the operation's name, nothing sent when arguments are wrong).
 *
 * Search and describe read the gateway's own catalogue, like tools/list: they
 * do not reach a backend and are not calls of an operation.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { MetaTool, RegisteredTool } from '../registry/registry.js';
import { SEARCH_LIMIT_DEFAULT } from '../registry/meta-tools.js';
import { operationTags, type SearchCatalogue } from '../registry/search-catalogue.js';
import type { Principal } from '../call/context.js';
import type { OperationCaller, ToolCall } from './call-tool.js';
import { errorResult } from './tool-result.js';

export interface SearchToolsOptions {
  callOperation: OperationCaller;
  log: Logger;
  /**
   * Whether the caller may call an operation (default: all). Search, describe
   * and the names an unknown-operation error suggests show only those, as
   * tools/list does (mcp/visibility.ts).
   */
  mayCall?: (principal: Principal, operation: RegisteredTool) => boolean;
}

/** How many similar names an unknown-operation error suggests. */
const SUGGESTIONS = 3;

export function createSearchTools(options: SearchToolsOptions): (tool: MetaTool, call: ToolCall) => Promise<CallToolResult> {
  const { callOperation, log, mayCall } = options;

  return async function callSearchTool(tool, call) {
    const allow = mayCall === undefined ? undefined : (operation: RegisteredTool) => mayCall(call.principal, operation);
    /** The operation by name, if this caller may see it. */
    const visible = (name: string): RegisteredTool | undefined => {
      const operation = tool.catalogue.find(name);
      return operation === undefined || allow === undefined || allow(operation) ? operation : undefined;
    };
    const problems = tool.validate(call.args);
    if (problems.length > 0) {
      return errorResult(
        new GatehouseError('GH_TOOL_ARGS_INVALID', `Invalid arguments for ${tool.tool.name}:\n- ${problems.join('\n- ')}`, { details: { errors: problems } }),
      );
    }
    const catalogue = tool.catalogue;
    try {
      switch (tool.action) {
        case 'search': {
          // Validated above: query is a string, limit an integer in [1, 50], tag a string.
          const { query, limit, tag } = call.args as { query: string; limit?: number; tag?: string };
          return jsonResult({ ...catalogue.search(query, { limit: limit ?? SEARCH_LIMIT_DEFAULT, ...(tag !== undefined ? { tag } : {}), ...(allow ? { allow } : {}) }) });
        }
        case 'describe': {
          // An operation the caller may not call is described as one that does not exist: tools/list hides it too.
          const name = call.args.name as string;
          const operation = visible(name);
          return operation === undefined ? unknownOperation(catalogue, name, allow) : jsonResult(describe(operation));
        }
        case 'call': {
          // Found whether or not the caller may call it: the policy chain then refuses it with
          // GH_POLICY_DENIED, exactly as a tools/call of a tool hidden from tools/list is refused.
          const name = call.args.name as string;
          const operation = catalogue.find(name);
          if (operation === undefined) return unknownOperation(catalogue, name, allow);
          return await callOperation(operation, { ...call, args: (call.args.arguments ?? {}) as Record<string, unknown> });
        }
      }
    } catch (err) {
      log.error({ err, tool: tool.tool.name, requestId: call.requestId }, 'search tool failed unexpectedly');
      return errorResult(new GatehouseError('GH_INTERNAL', `Internal error in ${tool.tool.name}`, { cause: err }));
    }
  };
}

/** What `<backend>_describe_operation` returns: the Tool object as tools/list would list it, with method, path and tags. */
function describe(operation: RegisteredTool): Record<string, unknown> {
  const { tool, definition } = operation;
  const tags = operationTags(definition);
  return {
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    description: tool.description ?? '',
    method: definition.source.method.toUpperCase(),
    path: definition.source.path,
    ...(tags.length > 0 ? { tags } : {}),
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema !== undefined ? { outputSchema: tool.outputSchema } : {}),
    annotations: tool.annotations ?? {},
  };
}

/** An isError result naming the unknown operation, with the closest names and the search tool to use. */
function unknownOperation(catalogue: SearchCatalogue, name: string, allow: ((operation: RegisteredTool) => boolean) | undefined): CallToolResult {
  const shown = name.length > 100 ? `${name.slice(0, 99)}…` : name;
  const similar = catalogue.search(name.slice(0, 200), { limit: SUGGESTIONS, ...(allow ? { allow } : {}) }).results.map((r) => r.name);
  return errorResult(
    new GatehouseError(
      'GH_TOOL_NOT_FOUND',
      `No operation named "${shown}" in backend "${catalogue.backend}".` +
        (similar.length > 0 ? ` Similar: ${similar.join(', ')}.` : '') +
        ` Find operation names with ${catalogue.names.search}.`,
      { details: { name, similar } },
    ),
  );
}

/** A result whose text is the JSON of its structuredContent (MCP 2025-11-25 server/tools#structured-content). */
function jsonResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}
