import type { ToolDefinition } from '../openapi/tool-definition.js';
import type { MetaAction } from './meta-tools.js';
import type { RegisteredTool } from './registry.js';
import { OperationIndex, type SearchableOperation } from './search-index.js';

/** One search hit as the search meta-tool returns it: enough to pick, not to call. */
export interface OperationSummary {
  name: string;
  method: string;
  path: string;
  summary?: string;
}

/** Longest summary in a search hit: results stay compact whatever the spec says. */
const MAX_SUMMARY = 160;

/**
 * The operations of one backend in search mode: what its three meta-tools
 * search, describe and call. Part of an immutable registry snapshot; the only
 * state is the ranked index, built on the first search (most backends in a
 * large config are never searched, and building costs tens of milliseconds
 * per thousand operations).
 */
export class SearchCatalogue {
  readonly backend: string;
  /** The spec's `info.title`, when it has one. */
  readonly title: string | undefined;
  readonly operations: readonly RegisteredTool[];
  /** Distinct tags, most used first (ties in first-seen order). */
  readonly tags: readonly string[];
  /** `<backend>_` when tool names carry the backend prefix, else ''. */
  readonly prefix: string;
  /** The names of this backend's three meta-tools. */
  readonly names: Readonly<Record<MetaAction, string>>;
  private readonly byName: ReadonlyMap<string, RegisteredTool>;
  private index: OperationIndex | undefined;

  constructor(options: {
    backend: string;
    title?: string | undefined;
    operations: readonly RegisteredTool[];
    prefix: string;
    names: Readonly<Record<MetaAction, string>>;
  }) {
    this.backend = options.backend;
    this.title = options.title;
    this.operations = options.operations;
    this.prefix = options.prefix;
    this.names = options.names;
    this.byName = new Map(options.operations.map((t) => [t.definition.name, t]));
    const counts = new Map<string, number>();
    for (const t of options.operations) for (const tag of operationTags(t.definition)) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    this.tags = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([tag]) => tag);
  }

  /** The spec's title, else the backend name: how descriptions name the API. */
  get label(): string {
    return this.title ?? this.backend;
  }

  /**
   * The operation called `name`. The name without the backend prefix is
   * accepted too (`getItem` for `inventory_getItem`): agents often drop it.
   */
  find(name: string): RegisteredTool | undefined {
    return this.byName.get(name) ?? (this.prefix && !name.startsWith(this.prefix) ? this.byName.get(this.prefix + name) : undefined);
  }

  /**
   * Ranked search over names, summaries, descriptions, tags and paths; with
   * `allow`, over the operations it accepts only (hits and total alike).
   */
  search(query: string, options: { limit: number; tag?: string; allow?: (operation: RegisteredTool) => boolean }): { results: OperationSummary[]; total: number } {
    this.index ??= new OperationIndex(this.operations.map((t) => searchable(t.definition, this.prefix)));
    const { allow, ...rest } = options;
    const hits = this.index.search(query, allow === undefined ? rest : { ...rest, allow: (id) => allow(this.operations[id]!) });
    return { results: hits.ids.map((id) => summarize(this.operations[id]!.definition)), total: hits.total };
  }
}

/**
 * The operation's OpenAPI tags. ToolDefinition does not carry them yet (the
 * importer in openapi/ would add `tags`); until it does, search ranks over
 * names, summaries, descriptions and paths and the `tag` filter is not offered.
 */
export function operationTags(def: ToolDefinition): readonly string[] {
  return def.tags ?? [];
}

function searchable(def: ToolDefinition, prefix: string): SearchableOperation {
  return {
    name: prefix && def.name.startsWith(prefix) ? def.name.slice(prefix.length) : def.name,
    method: def.source.method.toUpperCase(),
    path: def.source.path,
    ...(def.title !== undefined ? { summary: def.title } : {}),
    description: def.description,
    tags: operationTags(def),
  };
}

function summarize(def: ToolDefinition): OperationSummary {
  const summary = def.title ?? def.description.split('\n')[0] ?? '';
  return {
    name: def.name,
    method: def.source.method.toUpperCase(),
    path: def.source.path,
    ...(summary ? { summary: summary.length > MAX_SUMMARY ? `${summary.slice(0, MAX_SUMMARY - 1)}…` : summary } : {}),
  };
}
