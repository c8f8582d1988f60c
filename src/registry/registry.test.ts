import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { metaToolNames } from './meta-tools.js';
import { resolveListing, ToolRegistry, type BackendListing, type BackendStatus } from './registry.js';

/** A minimal operation tool; `tags` is what the importer would add (see search-catalogue.ts). */
function def(backend: string, op: string, method = 'get', path = `/${op}`, extra: Partial<ToolDefinition> & { tags?: string[] } = {}): ToolDefinition {
  return {
    name: `${backend}_${op}`,
    description: `Does ${op}`,
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'], additionalProperties: false },
    annotations: method === 'get' ? { readOnlyHint: true } : method === 'delete' ? { destructiveHint: true } : {},
    backend,
    source: { method, path, pointer: `#/paths/${path}/${method}` },
    binding: { method: method.toUpperCase(), path, baseUrl: 'http://127.0.0.1:9', parameters: [] },
    ...extra,
  };
}

const ops = (backend: string, n: number) => Array.from({ length: n }, (_, i) => def(backend, `op${i}`));
const ready = (name: string, tools: number): BackendStatus => ({ name, state: 'ready', tools, warnings: [] });
const listing = (mode: BackendListing['mode'], toolBudget = 3, title?: string): BackendListing => ({ mode, toolBudget, title });

describe('resolveListing', () => {
  it.each([
    ['all', 1000, 10, 'all'],
    ['search', 1, 10, 'search'],
    ['auto', 10, 10, 'all'],
    ['auto', 11, 10, 'search'],
  ] as const)('%s with %i tools, budget %i → %s', (mode, count, budget, expected) => {
    expect(resolveListing(mode, count, budget)).toBe(expected);
  });
});

describe('ToolRegistry listing', () => {
  const definitions = [...ops('small', 2), ...ops('big', 5), ...ops('forced', 1)];
  const registry = ToolRegistry.build(
    definitions,
    [ready('small', 2), ready('big', 5), ready('forced', 1)],
    new Map([
      ['small', listing('auto')],
      ['big', listing('auto', 3, 'Big API')],
      ['forced', listing('search', 128)],
    ]),
  );

  it('lists three meta-tools in place of a search-mode backend, in backend order', () => {
    expect(registry.listed.map((t) => t.name)).toEqual([
      'small_op0',
      'small_op1',
      'big_search_operations',
      'big_describe_operation',
      'big_call_operation',
      'forced_search_operations',
      'forced_describe_operation',
      'forced_call_operation',
    ]);
    expect(registry.backends.map((b) => (b.state === 'ready' ? b.listing : undefined))).toEqual(['all', 'search', 'search']);
  });

  it('keeps every operation in tools and callable by name', () => {
    expect(registry.tools).toHaveLength(8);
    expect(registry.get('big_op4')?.kind).toBe('operation');
    const meta = registry.get('big_call_operation');
    expect(meta?.kind === 'meta' && meta.action).toBe('call');
  });

  it('pages over the listed tools', () => {
    const first = registry.page(undefined, 5)!;
    expect(first.tools.map((t) => t.name)).toEqual(registry.listed.slice(0, 5).map((t) => t.name));
    const second = registry.page(first.nextCursor, 5)!;
    expect(second.tools.map((t) => t.name)).toEqual(registry.listed.slice(5).map((t) => t.name));
    expect(second.nextCursor).toBeUndefined();
    expect(registry.page(Buffer.from('o:99').toString('base64url'), 5)).toBeUndefined();
  });

  it('lists everything when a backend has no listing (the CLI default)', () => {
    expect(ToolRegistry.build(definitions).listed).toHaveLength(8);
  });

  it('gives meta-tools annotations, schemas and a description naming the API', () => {
    const [search, describeOp, call] = registry.listed.slice(2, 5);
    expect(search!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(describeOp!.annotations).toMatchObject({ readOnlyHint: true });
    expect(call!.annotations).toMatchObject({ readOnlyHint: false });
    expect(search!.description).toContain('Big API');
    expect(search!.description).toContain('5 operations');
    expect(search!.description).toContain('big_describe_operation');
    expect(search!.inputSchema.required).toEqual(['query']);
    // No operation of this backend has tags: a tag filter would never match, so it is not offered.
    expect(Object.keys(search!.inputSchema.properties ?? {})).toEqual(['query', 'limit']);
    expect(call!.inputSchema.required).toEqual(['name']);
    expect(Object.keys(call!.inputSchema.properties ?? {})).toEqual(['name', 'arguments']);
    for (const t of registry.listed) expect(t.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
  });

  it('validates meta-tool arguments with the same validator as operations', () => {
    const search = registry.get('big_search_operations')!;
    expect(search.validate({ query: 'x', limit: 51, colour: 1 })).toEqual(['colour: is not an allowed field', 'limit: must be <= 50']);
    expect(registry.get('big_call_operation')!.validate({ arguments: [] })).toEqual(['name: is required', 'arguments: must be object']);
  });

  it('marks call_operation destructive only when an operation is', () => {
    const r = ToolRegistry.build([def('a', 'x'), def('b', 'y'), def('b', 'z', 'delete')], [], new Map([['a', listing('search')], ['b', listing('search')]]));
    expect(r.get('a_call_operation')!.tool.annotations?.destructiveHint).toBe(false);
    expect(r.get('b_call_operation')!.tool.annotations?.destructiveHint).toBe(true);
  });

  it('offers the tag filter and lists tags when operations are tagged', () => {
    const r = ToolRegistry.build([def('a', 'x', 'get', '/x', { tags: ['pets'] }), def('a', 'y', 'get', '/y', { tags: ['pets', 'store'] })], [], new Map([['a', listing('search')]]));
    const search = r.get('a_search_operations')!.tool;
    expect(Object.keys(search.inputSchema.properties ?? {})).toEqual(['query', 'limit', 'tag']);
    expect(search.description).toContain('Tags: pets, store');
  });

  it('lets a meta-tool win its name over an operation, which stays reachable through call_operation', () => {
    const r = ToolRegistry.build([def('a', 'search_operations'), def('a', 'x')], [ready('a', 2)], new Map([['a', listing('search')]]));
    const served = r.get('a_search_operations')!;
    expect(served.kind).toBe('meta');
    expect(served.kind === 'meta' && served.catalogue.find('a_search_operations')?.kind).toBe('operation');
    const status = r.backends[0]!;
    expect(status.state === 'ready' && status.warnings).toEqual(['operation a_search_operations has the name of a search meta-tool: call it through a_call_operation']);
  });
});

describe('meta-tool names', () => {
  it('are prefixed like other tools, or bare without a prefix', () => {
    expect(metaToolNames('github', true)).toEqual({ search: 'github_search_operations', describe: 'github_describe_operation', call: 'github_call_operation' });
    expect(metaToolNames('github', false)).toEqual({ search: 'search_operations', describe: 'describe_operation', call: 'call_operation' });
  });

  it('stay portable for any prefix', () => {
    for (const name of Object.values(metaToolNames('a.very.long.prefix.given.on.the.command.line.by.someone', true))) {
      expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    }
  });
});

describe('search-mode tools/list size', () => {
  it('stays under 4.5 KB for the longest backend name, a long title and hundreds of long tags', () => {
    const backend = `b${'x'.repeat(31)}`;
    const definitions = Array.from({ length: 2000 }, (_, i) =>
      def(backend, `operation${i}`, i % 5 === 0 ? 'delete' : 'post', `/things/${i}`, { tags: [`a-rather-long-tag-name-number-${i % 300}`] }),
    );
    const r = ToolRegistry.build(definitions, [], new Map([[backend, listing('auto', 128, 'The '.repeat(100))]]));
    expect(r.listed).toHaveLength(3);
    // The JSON-RPC envelope and 2026 _meta add about 200 bytes on the wire: 5 KB holds.
    expect(Buffer.byteLength(JSON.stringify({ tools: r.listed }))).toBeLessThan(4608);
  });
});
