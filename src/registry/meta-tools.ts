/**
 * The three tools a backend in search mode lists instead of its operations:
 * `<backend>_search_operations`, `<backend>_describe_operation` and
 * `<backend>_call_operation`. This module is their wire shape (name, title,
 * description, schemas, annotations); mcp/search-tools.ts answers them.
 *
 * Their size is bounded whatever the spec: a title is cut, the tag list is cut,
 * nothing else depends on the spec. Three of them cost about 3.5 KB of tools/list
 * (4.2 KB at worst: a 32-character backend name, a long title, hundreds of tags).
 */
import type { Tool } from '@modelcontextprotocol/server';
import { sanitizeName } from '../openapi/tool-name.js';
import type { SearchCatalogue } from './search-catalogue.js';

export type MetaAction = 'search' | 'describe' | 'call';

const SUFFIX: Record<MetaAction, string> = { search: 'search_operations', describe: 'describe_operation', call: 'call_operation' };
const MAX_NAME = 64;
const MAX_LABEL = 60;
const MAX_TAG_LIST = 300;
/** Search results per call: default and ceiling. */
export const SEARCH_LIMIT_DEFAULT = 10;
export const SEARCH_LIMIT_MAX = 50;
const MAX_QUERY = 500;

/**
 * The meta-tool names of a backend. Backend names are at most 32 characters
 * (config schema), so `<backend>_describe_operation` fits in 64; a longer
 * prefix (`gatehouse tools --prefix`) is cut to fit.
 */
export function metaToolNames(backend: string, prefixed: boolean): Record<MetaAction, string> {
  const name = (action: MetaAction) => {
    if (!prefixed) return SUFFIX[action];
    const head = sanitizeName(backend).slice(0, MAX_NAME - 1 - SUFFIX[action].length);
    return `${head}_${SUFFIX[action]}`;
  };
  return { search: name('search'), describe: name('describe'), call: name('call') };
}

/** The MCP Tool objects of the three meta-tools, in the order they are listed. */
export function metaTools(catalogue: SearchCatalogue): Array<{ action: MetaAction; tool: Tool }> {
  const { names } = catalogue;
  const label = oneLine(catalogue.label, MAX_LABEL);
  // Without a prefix (`gatehouse tools` without --prefix) the backend name is a placeholder: not worth naming.
  const backend = catalogue.prefix ? ` (backend "${catalogue.backend}")` : '';
  const api = catalogue.title === undefined ? (catalogue.prefix ? `the "${catalogue.backend}" API` : 'this API') : `${label}${backend}`;
  const count = catalogue.operations.length;
  const tags = tagList(catalogue.tags);
  const destructive = catalogue.operations.some((t) => t.definition.annotations.destructiveHint === true);

  const search: Tool = {
    name: names.search,
    title: `Search ${label} operations`,
    description:
      `Search the ${count} operations of ${api}. They are not listed as tools, to keep the tool list short: find one here, ` +
      `read its input schema with ${names.describe}, then run it with ${names.call}. ` +
      `Ranks operation names, summaries, descriptions${tags ? ', tags' : ''} and paths; matches word prefixes and small typos. ` +
      `Each result has the tool name, HTTP method, path and summary; total counts every match.` +
      (tags ? `\nTags: ${tags}` : ''),
    inputSchema: {
      type: 'object',
      properties: {
        query: {
          type: 'string',
          maxLength: MAX_QUERY,
          description: 'What you want to do, in a few words (e.g. "list open pull requests"). An empty string lists operations in spec order.',
        },
        limit: { type: 'integer', minimum: 1, maximum: SEARCH_LIMIT_MAX, default: SEARCH_LIMIT_DEFAULT, description: `Most results to return (default ${SEARCH_LIMIT_DEFAULT}).` },
        // Offered only when the spec tags its operations: a filter that can never match would mislead.
        ...(tags ? { tag: { type: 'string', description: 'Only operations with this tag (case-insensitive).' } } : {}),
      },
      required: ['query'],
      additionalProperties: false,
    },
    outputSchema: {
      type: 'object',
      properties: {
        results: {
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, method: { type: 'string' }, path: { type: 'string' }, summary: { type: 'string' } },
            required: ['name', 'method', 'path'],
          },
        },
        total: { type: 'integer' },
      },
      required: ['results', 'total'],
    },
    // Tool.title is the display name (MCP 2025-06-18); annotations.title would only repeat it.
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  };

  const describe: Tool = {
    name: names.describe,
    title: `Describe a ${label} operation`,
    description:
      `Describe one ${label} operation found with ${names.search}: its full input schema (the arguments ${names.call} expects), ` +
      `output schema, description and annotations (readOnlyHint, destructiveHint).`,
    inputSchema: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1, description: `The operation's tool name, as ${names.search} returns it.` } },
      required: ['name'],
      additionalProperties: false,
    },
    outputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        title: { type: 'string' },
        description: { type: 'string' },
        method: { type: 'string' },
        path: { type: 'string' },
        tags: { type: 'array', items: { type: 'string' } },
        inputSchema: { type: 'object' },
        outputSchema: { type: 'object' },
        annotations: { type: 'object' },
      },
      required: ['name', 'description', 'method', 'path', 'inputSchema', 'annotations'],
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  };

  const call: Tool = {
    name: names.call,
    title: `Call a ${label} operation`,
    description:
      `Call one ${label} operation by its tool name, exactly as if it were a listed tool. ` +
      `arguments must match the input schema from ${names.describe}; wrong arguments come back as an error naming each wrong field, and nothing is sent. ` +
      `Returns the operation's own result.` +
      (destructive ? ` Some operations change or delete data: check their annotations first.` : ''),
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, description: `The operation's tool name, as ${names.search} returns it.` },
        arguments: { type: 'object', description: `The operation's arguments (its input schema: ${names.describe}).` },
      },
      required: ['name'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: destructive, idempotentHint: false },
  };

  return [
    { action: 'search', tool: search },
    { action: 'describe', tool: describe },
    { action: 'call', tool: call },
  ];
}

function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The most used tags, comma-separated, cut to a fixed budget (GitHub has 40, some specs hundreds). */
function tagList(tags: readonly string[]): string {
  let out = '';
  for (const [i, raw] of tags.entries()) {
    const tag = oneLine(raw, 40);
    const next = out ? `${out}, ${tag}` : tag;
    if (next.length > MAX_TAG_LIST) return `${out}, … (${tags.length - i} more)`;
    out = next;
  }
  return out;
}
