import type { ApiKeyPlacement } from '../openapi/import-backend.js';
import type { Tool } from '@modelcontextprotocol/server';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { sanitizeName } from '../openapi/tool-name.js';
import { metaToolNames, metaTools, type MetaAction } from './meta-tools.js';
import { SearchCatalogue } from './search-catalogue.js';
import { compileArgsValidator, createArgsAjv, type ArgsValidator } from './validate-args.js';

/** The state of one configured backend, for /readyz and logs. */
export type BackendStatus =
  | {
      name: string;
      state: 'ready';
      tools: number;
      warnings: string[];
      /** How its tools are listed (set by the registry). */
      listing?: 'all' | 'search';
      /** The spec's apiKey security schemes (see upstream/credentials.ts `placeApiKey`). */
      apiKeySchemes?: Record<string, ApiKeyPlacement>;
      /** The last reload could not import this backend's new version: the previous one is still served. */
      reloadError?: { code: string; message: string };
    }
  | { name: string; state: 'failed'; error: { code: string; message: string } };

/** A tool compiled from one operation: its definition, its MCP wire shape, and its (lazily compiled) validator. */
export interface RegisteredTool {
  readonly kind: 'operation';
  readonly definition: ToolDefinition;
  /** The exact object `tools/list` returns. */
  readonly tool: Tool;
  /** Validates call arguments; returns one message per wrong field. */
  validate(args: unknown): string[];
  /** Checks a structured result against the outputSchema (none: always conforms); one message per wrong field. */
  validateOutput(structured: unknown): string[];
}

/** One of the three tools a search-mode backend lists instead of its operations (see meta-tools.ts). */
export interface MetaTool {
  readonly kind: 'meta';
  readonly action: MetaAction;
  /** The backend's operations: what this tool searches, describes or calls. */
  readonly catalogue: SearchCatalogue;
  readonly tool: Tool;
  validate(args: unknown): string[];
}

/** Anything `tools/call` can name. */
export type ServedTool = RegisteredTool | MetaTool;

/** `backends[].tools`: every operation listed, search meta-tools instead, or search above the budget. */
export type ToolsMode = 'all' | 'search' | 'auto';

/** How one backend's tools are listed. */
export interface BackendListing {
  mode: ToolsMode;
  /** `auto` lists the meta-tools when the backend has more tools than this. */
  toolBudget: number;
  /** The spec's `info.title`, named in the meta-tools' descriptions. */
  title?: string | undefined;
  /** Tool names carry the `<backend>_` prefix (default true; `gatehouse tools` without `--prefix` has none). */
  prefixed?: boolean;
}

/** The listing a mode comes to for a backend with `count` tools. */
export function resolveListing(mode: ToolsMode, count: number, toolBudget: number): 'all' | 'search' {
  return mode === 'search' || (mode === 'auto' && count > toolBudget) ? 'search' : 'all';
}

/**
 * An immutable snapshot of every served tool. A reload builds a new snapshot
 * and swaps it atomically; calls in flight keep the one they started with.
 *
 * `tools` holds every operation; `listed` is what `tools/list` returns: a
 * backend in search mode contributes its three meta-tools instead of its
 * operations, so the list's size does not grow with its spec. Every operation
 * stays callable by its own name (clients that cached it keep working).
 */
export class ToolRegistry {
  /** Every operation of every backend, whatever the listing. */
  readonly tools: readonly RegisteredTool[];
  /** The MCP Tool objects `tools/list` pages through. */
  readonly listed: readonly Tool[];
  readonly backends: readonly BackendStatus[];
  private readonly byName: ReadonlyMap<string, ServedTool>;

  private constructor(tools: RegisteredTool[], listed: Tool[], byName: Map<string, ServedTool>, backends: BackendStatus[]) {
    this.tools = tools;
    this.listed = listed;
    this.byName = byName;
    this.backends = backends;
  }

  /**
   * Builds a snapshot. Names must already be unique across backends (prefixes
   * guarantee it). A backend without a `listings` entry lists every tool.
   *
   * With `previous` (a reload), a definition that is the very object `previous`
   * served keeps its RegisteredTool: the same `tools/list` object and the
   * validator it may already have compiled. Only new definitions are registered.
   */
  static build(
    definitions: readonly ToolDefinition[],
    backends: readonly BackendStatus[] = [],
    listings: ReadonlyMap<string, BackendListing> = new Map(),
    previous?: ToolRegistry,
  ): ToolRegistry {
    // One ajv for the snapshot, made with its first validator: a start-up that answers tools/list never loads ajv.
    let ajv: ReturnType<typeof createArgsAjv> | undefined;
    const compile = (schema: ToolDefinition['inputSchema']) => () => compileArgsValidator((ajv ??= createArgsAjv()), schema);
    const reuse = (d: ToolDefinition): RegisteredTool | undefined => {
      const t = previous?.byName.get(d.name);
      return t?.kind === 'operation' && t.definition === d ? t : undefined;
    };
    const tools = definitions.map((d) => reuse(d) ?? registerTool(d, compile(d.inputSchema), d.outputSchema === undefined ? undefined : compile(d.outputSchema)));
    const byName = new Map<string, ServedTool>(tools.map((t) => [t.definition.name, t]));

    const perBackend = new Map<string, RegisteredTool[]>();
    for (const t of tools) {
      const list = perBackend.get(t.definition.backend);
      if (list) list.push(t);
      else perBackend.set(t.definition.backend, [t]);
    }
    const searchMode = new Map<string, MetaTool[]>();
    const warnings = new Map<string, string[]>();
    for (const [backend, operations] of perBackend) {
      const listing = listings.get(backend);
      if (listing === undefined || resolveListing(listing.mode, operations.length, listing.toolBudget) === 'all') continue;
      const prefixed = listing.prefixed ?? true;
      const catalogue = new SearchCatalogue({ backend, title: listing.title, operations, prefix: prefixed ? `${sanitizeName(backend)}_` : '', names: metaToolNames(backend, prefixed) });
      const metas = metaTools(catalogue).map(({ action, tool }) => registerMeta(action, catalogue, tool, compile));
      for (const m of metas) {
        // The listed meta-tool wins its name; the operation stays reachable through <backend>_call_operation.
        if (byName.has(m.tool.name)) {
          const w = warnings.get(backend) ?? [];
          w.push(`operation ${m.tool.name} has the name of a search meta-tool: call it through ${catalogue.names.call}`);
          warnings.set(backend, w);
        }
        byName.set(m.tool.name, m);
      }
      searchMode.set(backend, metas);
    }

    // Listed in definition order; a search-mode backend's meta-tools take the place of its first operation.
    const listed: Tool[] = [];
    for (const t of tools) {
      const metas = searchMode.get(t.definition.backend);
      if (metas === undefined) listed.push(t.tool);
      else if (t === perBackend.get(t.definition.backend)![0]) listed.push(...metas.map((m) => m.tool));
    }
    const statuses = backends.map((s): BackendStatus => {
      if (s.state !== 'ready') return s;
      const extra = warnings.get(s.name) ?? [];
      return { ...s, listing: searchMode.has(s.name) ? 'search' : 'all', warnings: extra.length ? [...s.warnings, ...extra] : s.warnings };
    });
    return new ToolRegistry(tools, listed, byName, statuses);
  }

  /** The tool or search meta-tool called `name` (hidden operations included). */
  get(name: string): ServedTool | undefined {
    return this.byName.get(name);
  }

  /**
   * One page of `tools/list` (of `list`: the listed tools a caller may see, by default all). The cursor is the opaque index of the next page
   * (MCP server/utilities/pagination: cursors are opaque to clients).
   */
  page(cursor: string | undefined, pageSize: number, list: readonly Tool[] = this.listed): { tools: Tool[]; nextCursor?: string } | undefined {
    const start = cursor === undefined ? 0 : decodeCursor(cursor);
    if (start === undefined || start > list.length) return undefined;
    const end = Math.min(start + pageSize, list.length);
    const tools = list.slice(start, end);
    return end < list.length ? { tools, nextCursor: encodeCursor(end) } : { tools };
  }
}

function registerTool(definition: ToolDefinition, compile: () => ArgsValidator, compileOutput: (() => ArgsValidator) | undefined): RegisteredTool {
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
  let outputValidator: ArgsValidator | undefined;
  return {
    kind: 'operation',
    definition,
    tool,
    validate(args) {
      validator ??= compile();
      return validator(args);
    },
    validateOutput(structured) {
      if (compileOutput === undefined) return [];
      outputValidator ??= compileOutput();
      return outputValidator(structured);
    },
  };
}

function registerMeta(
  action: MetaAction,
  catalogue: SearchCatalogue,
  tool: Tool,
  compile: (schema: ToolDefinition['inputSchema']) => () => ArgsValidator,
): MetaTool {
  const compileOnce = compile(tool.inputSchema as ToolDefinition['inputSchema']);
  let validator: ArgsValidator | undefined;
  return {
    kind: 'meta',
    action,
    catalogue,
    tool,
    validate(args) {
      validator ??= compileOnce();
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
