import type { Tool } from '@modelcontextprotocol/server';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { compileArgsValidator, createArgsAjv, type ArgsValidator } from './validate-args.js';

/** The state of one configured backend, for /readyz and logs. */
export type BackendStatus =
  | { name: string; state: 'ready'; tools: number; warnings: string[] }
  | { name: string; state: 'failed'; error: { code: string; message: string } };

/** A tool as served: its definition, its MCP wire shape, and its (lazily compiled) validator. */
export interface RegisteredTool {
  readonly definition: ToolDefinition;
  /** The exact object `tools/list` returns. */
  readonly tool: Tool;
  /** Validates call arguments; returns one message per wrong field. */
  validate(args: unknown): string[];
}

/**
 * An immutable snapshot of every served tool. A reload builds a new snapshot
 * and swaps it atomically; calls in flight keep the one they started with.
 */
export class ToolRegistry {
  readonly tools: readonly RegisteredTool[];
  readonly backends: readonly BackendStatus[];
  private readonly byName: ReadonlyMap<string, RegisteredTool>;

  private constructor(tools: RegisteredTool[], backends: BackendStatus[]) {
    this.tools = tools;
    this.backends = backends;
    this.byName = new Map(tools.map((t) => [t.definition.name, t]));
  }

  /** Builds a snapshot. Names must already be unique across backends (prefixes guarantee it). */
  static build(definitions: readonly ToolDefinition[], backends: readonly BackendStatus[] = []): ToolRegistry {
    const ajv = createArgsAjv();
    const tools = definitions.map((d) => registerTool(d, () => compileArgsValidator(ajv, d.inputSchema)));
    return new ToolRegistry(tools, [...backends]);
  }

  get(name: string): RegisteredTool | undefined {
    return this.byName.get(name);
  }

  /**
   * One page of `tools/list`. The cursor is the opaque index of the next page
   * (MCP server/utilities/pagination: cursors are opaque to clients).
   */
  page(cursor: string | undefined, pageSize: number): { tools: Tool[]; nextCursor?: string } | undefined {
    const start = cursor === undefined ? 0 : decodeCursor(cursor);
    if (start === undefined || start > this.tools.length) return undefined;
    const end = Math.min(start + pageSize, this.tools.length);
    const tools = this.tools.slice(start, end).map((t) => t.tool);
    return end < this.tools.length ? { tools, nextCursor: encodeCursor(end) } : { tools };
  }
}

function registerTool(definition: ToolDefinition, compile: () => ArgsValidator): RegisteredTool {
  const tool: Tool = {
    name: definition.name,
    ...(definition.title !== undefined ? { title: definition.title } : {}),
    description: definition.description,
    inputSchema: definition.inputSchema as Tool['inputSchema'],
    ...(definition.outputSchema !== undefined ? { outputSchema: definition.outputSchema as Tool['outputSchema'] } : {}),
    annotations: definition.annotations,
  };
  // Compiled on first call, then kept: compiling every schema of a large spec
  // at start-up would cost seconds (GitHub: 845 tools) for tools never called.
  let validator: ArgsValidator | undefined;
  return {
    definition,
    tool,
    validate(args) {
      validator ??= compile();
      return validator(args);
    },
  };
}

function encodeCursor(index: number): string {
  return Buffer.from(`o:${index}`).toString('base64url');
}

function decodeCursor(cursor: string): number | undefined {
  const m = /^o:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  return m ? Number(m[1]) : undefined;
}
