import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import { syntheticSpec } from '../bench/synthetic-spec.mjs';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, rawToolsList, startTestGateway, type Era } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * Search mode end to end: a backend over its tool budget lists three
 * meta-tools instead of its operations; they search, describe and call the
 * operations through the real pipeline, in both protocol eras.
 */

type TextItem = { type: 'text'; text: string };
const text = (r: { content?: unknown }) => ((r.content ?? []) as TextItem[]).map((c) => c.text).join('\n');

let stub: StubBackend;
let gateway: Gateway;
let bigOnly: Gateway;

beforeAll(async () => {
  stub = await startStubBackend();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-search-'));
  const big = join(dir, 'big.json');
  writeFileSync(big, JSON.stringify(syntheticSpec({ operations: 2000, title: 'Synthetic Operations API' })));
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - name: plain          # 6 tools, under the default budget: listed one by one
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
  - name: stub           # forced into search mode
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
    tools: search
  - name: big            # 2,000 tools > toolBudget 128: search mode by default
    spec: ${JSON.stringify(big)}
    baseUrl: \${STUB_URL}/big
`,
    { STUB_URL: stub.url },
  );
  bigOnly = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\nbackends:\n  - { name: big, spec: ${JSON.stringify(big)} }\n`);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await bigOnly?.close();
  await stub?.close();
});

describe.each<Era>(['legacy', 'modern'])('search mode (%s era)', (era) => {
  let client: Client;
  beforeAll(async () => {
    client = await connectClient(gateway.url, era);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('lists three meta-tools for each search-mode backend and every tool of the others', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      ...['getItem', 'deleteItem', 'listItems', 'createItem', 'getStatus', 'slow'].map((n) => `plain_${n}`),
      'stub_search_operations',
      'stub_describe_operation',
      'stub_call_operation',
      'big_search_operations',
      'big_describe_operation',
      'big_call_operation',
    ]);
    const search = tools.find((t) => t.name === 'big_search_operations')!;
    expect(search.description).toContain('Synthetic Operations API');
    expect(search.description).toContain('2000 operations');
    expect(search.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === 'big_describe_operation')!.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === 'big_call_operation')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it('keeps tools/list under 5 KB for a 2,000-operation backend', async () => {
    const {
      bytes,
      result: { tools },
    } = await rawToolsList(bigOnly.url, era);
    expect(tools).toHaveLength(3);
    expect(bytes).toBeLessThanOrEqual(5 * 1024);
  });

  it('searches: the operation the words describe comes first, compact, as text and structuredContent', async () => {
    const r = await client.callTool({ name: 'big_search_operations', arguments: { query: 'remove a fleet vehicle', limit: 3 } });
    expect(r.isError).toBeFalsy();
    const found = r.structuredContent as { results: Array<Record<string, string>>; total: number };
    expect(found.results).toHaveLength(3);
    expect(found.results[0]).toEqual({ name: 'big_deleteFleetVehicle', method: 'DELETE', path: '/v1/fleet/vehicles/{vehicle_id}', summary: 'Delete a vehicle' });
    expect(found.total).toBeGreaterThan(3);
    expect(JSON.parse(text(r))).toEqual(found);
  });

  it('describes an operation with its full input schema', async () => {
    const r = await client.callTool({ name: 'big_describe_operation', arguments: { name: 'big_createBillingInvoice' } });
    const d = r.structuredContent as { name: string; method: string; inputSchema: { properties: Record<string, unknown>; required: string[] }; annotations: object };
    expect(d.name).toBe('big_createBillingInvoice');
    expect(d.method).toBe('POST');
    expect(Object.keys(d.inputSchema.properties)).toEqual(expect.arrayContaining(['name', 'status', 'quantity']));
    expect(d.inputSchema.required).toContain('name');
  });

  it('calls an operation exactly as a direct call would, and the backend sees the same request', async () => {
    stub.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'a/b', name: 'widget' }));
    });
    const before = stub.received.length;
    const args = { itemId: 'a/b', expand: ['owner', 'tags'], 'X-Trace': 't-1' };
    const viaMeta = await client.callTool({ name: 'stub_call_operation', arguments: { name: 'stub_getItem', arguments: args } });
    const direct = await client.callTool({ name: 'plain_getItem', arguments: args });
    expect(viaMeta.isError).toBeFalsy();
    expect(viaMeta.structuredContent).toEqual({ id: 'a/b', name: 'widget' });
    expect(viaMeta.content).toEqual(direct.content);
    const [a, b] = stub.received.slice(before);
    expect(a!.method).toBe('GET');
    expect(a!.url).toBe('/api/items/a%2Fb?expand=owner,tags');
    expect(a!.headers['x-trace']).toBe('t-1');
    expect(b!.url).toBe(a!.url);
  });

  it('validates call_operation arguments with the operation validator, naming every wrong field, sending nothing', async () => {
    const before = stub.received.length;
    const args = { name: '', quantity: 'many' };
    const viaMeta = await client.callTool({ name: 'stub_call_operation', arguments: { name: 'stub_createItem', arguments: args } });
    const direct = await client.callTool({ name: 'stub_createItem', arguments: args });
    expect(viaMeta.isError).toBe(true);
    expect(text(viaMeta)).toBe(text(direct));
    expect(text(viaMeta)).toMatch(/^GH_TOOL_ARGS_INVALID: Invalid arguments for stub_createItem:/);
    expect(text(viaMeta)).toMatch(/- name: must NOT have fewer than 1 characters/);
    expect(text(viaMeta)).toMatch(/- quantity: must be integer/);
    const missing = await client.callTool({ name: 'stub_call_operation', arguments: { name: 'stub_getItem' } });
    expect(text(missing)).toMatch(/itemId: is required/);
    expect(stub.received.length).toBe(before);
  });

  it('answers an unknown operation with a tool error naming it and the search tool', async () => {
    const r = await client.callTool({ name: 'big_call_operation', arguments: { name: 'big_deleteFleetVehicles', arguments: {} } });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^GH_TOOL_NOT_FOUND: No operation named "big_deleteFleetVehicles" in backend "big"\./);
    expect(text(r)).toContain('big_deleteFleetVehicle');
    expect(text(r)).toContain('big_search_operations');
  });

  it('still serves a hidden operation called by its own name (clients that cached it keep working)', async () => {
    stub.handle((req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '42' }));
    });
    const before = stub.received.length;
    const r = await client.callTool({ name: 'big_createFleetVehicle', arguments: { name: 'van' } });
    expect(r.isError).toBeFalsy();
    expect(stub.received[before]!.url).toBe('/big/v1/fleet/vehicles');
    expect(JSON.parse(stub.received[before]!.body.toString())).toEqual({ name: 'van' });
  });
});
