import { describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { silentLogger } from '../log/logger.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { ToolRegistry, type MetaTool, type RegisteredTool } from '../registry/registry.js';
import type { ToolCall } from './call-tool.js';
import { createSearchTools } from './search-tools.js';

function def(op: string, method: string, path: string, summary: string): ToolDefinition {
  return {
    name: `pets_${op}`,
    title: summary,
    description: summary,
    inputSchema: { type: 'object', properties: { petId: { type: 'string' } }, required: ['petId'], additionalProperties: false },
    outputSchema: { type: 'object', properties: { id: { type: 'string' } } },
    annotations: method === 'get' ? { readOnlyHint: true } : {},
    backend: 'pets',
    source: { method, path, pointer: `#/paths/${path}/${method}` },
    binding: { method: method.toUpperCase(), path, baseUrl: 'http://127.0.0.1:9', parameters: [] },
  };
}

const registry = ToolRegistry.build(
  [def('getPet', 'get', '/pets/{petId}', 'Find a pet by id'), def('deletePet', 'delete', '/pets/{petId}', 'Delete a pet'), def('listStores', 'get', '/stores', 'List stores')],
  [],
  new Map([['pets', { mode: 'search' as const, toolBudget: 128, title: 'Pet Store' }]]),
);
const meta = (name: string) => registry.get(name) as MetaTool;

const forwarded: Array<{ tool: RegisteredTool; args: Record<string, unknown> }> = [];
const answer = createSearchTools({
  log: silentLogger(),
  callOperation: async (tool, call) => {
    forwarded.push({ tool, args: call.args });
    return { content: [{ type: 'text', text: 'called' }] };
  },
});
const call = (name: string, args: Record<string, unknown>): Promise<CallToolResult> => {
  const c: ToolCall = { tool: meta(name), args, principal: { id: 'anonymous', kind: 'anonymous' }, requestId: 'r', signal: new AbortController().signal };
  return answer(meta(name), c);
};
const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

describe('search meta-tool', () => {
  it('returns ranked hits as JSON text and the same structuredContent', async () => {
    const r = await call('pets_search_operations', { query: 'find pet' });
    expect(r.isError).toBeUndefined();
    const { results } = r.structuredContent as { results: unknown[] };
    expect(results[0]).toEqual({ name: 'pets_getPet', method: 'GET', path: '/pets/{petId}', summary: 'Find a pet by id' });
    expect(JSON.parse(text(r))).toEqual(r.structuredContent);
  });

  it('applies limit (default 10) and reports the total', async () => {
    const all = await call('pets_search_operations', { query: '' });
    expect(all.structuredContent).toMatchObject({ total: 3 });
    const one = await call('pets_search_operations', { query: '', limit: 1 });
    expect(one.structuredContent).toEqual({ results: [expect.objectContaining({ name: 'pets_getPet' })], total: 3 });
  });

  it('rejects invalid arguments naming each field', async () => {
    const r = await call('pets_search_operations', { limit: 0, tag: 'dogs' });
    expect(r.isError).toBe(true);
    expect(text(r)).toBe(
      'GH_TOOL_ARGS_INVALID: Invalid arguments for pets_search_operations:\n- query: is required\n- tag: is not an allowed field\n- limit: must be >= 1',
    );
  });
});

describe('describe meta-tool', () => {
  it('returns the Tool object with method and path; the backend prefix may be left out', async () => {
    for (const name of ['pets_getPet', 'getPet']) {
      const r = await call('pets_describe_operation', { name });
      expect(r.structuredContent).toEqual({
        name: 'pets_getPet',
        title: 'Find a pet by id',
        description: 'Find a pet by id',
        method: 'GET',
        path: '/pets/{petId}',
        inputSchema: registry.get('pets_getPet')!.tool.inputSchema,
        outputSchema: { type: 'object', properties: { id: { type: 'string' } } },
        annotations: { readOnlyHint: true },
      });
    }
  });

  it('names an unknown operation, suggests similar ones and the search tool', async () => {
    const r = await call('pets_describe_operation', { name: 'pets_getPets' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^GH_TOOL_NOT_FOUND: No operation named "pets_getPets" in backend "pets"\. Similar: pets_getPet[,.]/);
    expect(text(r)).toContain('Find operation names with pets_search_operations.');
  });
});

describe('call meta-tool', () => {
  it('hands the operation and its own arguments to the operation caller', async () => {
    forwarded.length = 0;
    const r = await call('pets_call_operation', { name: 'pets_deletePet', arguments: { petId: '7' } });
    expect(text(r)).toBe('called');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]!.tool).toBe(registry.get('pets_deletePet'));
    expect(forwarded[0]!.args).toEqual({ petId: '7' });
    await call('pets_call_operation', { name: 'listStores' });
    expect(forwarded[1]!.args).toEqual({});
  });

  it('calls nothing for an unknown operation or invalid call arguments', async () => {
    forwarded.length = 0;
    const unknown = await call('pets_call_operation', { name: 'pets_nope', arguments: {} });
    expect(text(unknown)).toMatch(/^GH_TOOL_NOT_FOUND: No operation named "pets_nope"/);
    const invalid = await call('pets_call_operation', { name: 'pets_getPet', arguments: 'petId=7' });
    expect(text(invalid)).toBe('GH_TOOL_ARGS_INVALID: Invalid arguments for pets_call_operation:\n- arguments: must be object');
    expect(forwarded).toHaveLength(0);
  });
});
