import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import type { Client } from '@modelcontextprotocol/client';
import { importBackend, type ImportedBackend } from '../src/openapi/import-backend.js';
import type { JsonSchema } from '../src/openapi/tool-definition.js';
import { ToolRegistry } from '../src/registry/registry.js';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, startTestGateway } from './helpers/gateway.js';

/**
 * The spec corpus (specs/: real public APIs and one-feature edge
 * documents) is a regression suite: every document must import, and every
 * tool it yields must be valid for every client and LLM provider.
 */

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const CORPUS = fileURLToPath(new URL('../specs/', import.meta.url));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const specs = ['real', 'edge'].flatMap((dir) =>
  readdirSync(join(CORPUS, dir))
    .filter((f) => /\.(json|ya?ml)$/.test(f))
    .sort()
    .map((f) => ({ id: `${dir}/${f}`, file: join(CORPUS, dir, f) })),
);

/** Operations in the raw document, counted independently of the importer. */
function countOperations(file: string): number {
  const text = readFileSync(file, 'utf8');
  const doc = (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
  // A path item may be a local $ref (OAS 3.1 §4.8.9): follow it.
  const resolve = (item: Record<string, unknown>): Record<string, unknown> => {
    const ref = item.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return item;
    let node: unknown = doc;
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    return resolve(node as Record<string, unknown>);
  };
  let n = 0;
  for (const item of Object.values((doc.paths ?? {}) as Record<string, Record<string, unknown>>)) {
    if (item === null || typeof item !== 'object') continue;
    const resolved = resolve(item);
    for (const m of METHODS) if (m in resolved) n++;
  }
  return n;
}

/** Every `$ref` in a tool schema must point into the same schema's `$defs`. */
function danglingRefs(schema: JsonSchema): string[] {
  const defs = (schema.$defs ?? {}) as Record<string, unknown>;
  const bad: string[] = [];
  // Under `properties`, `$defs` and `patternProperties` keys are names, not keywords
  // (Kubernetes has a property called "$ref").
  const NAME_MAPS = new Set(['properties', '$defs', 'patternProperties', 'dependentSchemas']);
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (NAME_MAPS.has(k) && v !== null && typeof v === 'object') {
        Object.values(v).forEach(walk);
      } else if (k === '$ref') {
        const m = typeof v === 'string' ? /^#\/\$defs\/([^/]+)$/.exec(v) : null;
        if (!m || !(decodeURIComponent(m[1]!.replace(/~1/g, '/').replace(/~0/g, '~')) in defs)) bad.push(String(v));
      } else walk(v);
    }
  };
  walk(schema);
  return bad;
}

const imported = new Map<string, ImportedBackend>();
const summary: string[] = [];
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
addFormats(ajv);

describe.each(specs)('corpus $id', ({ id, file }) => {
  it('imports with one valid, portable tool per operation', async () => {
    const started = performance.now();
    const result = await importBackend({ name: 'api', spec: file, baseUrl: 'http://127.0.0.1:9' });
    const ms = performance.now() - started;
    imported.set(id, result);

    expect(result.tools).toHaveLength(countOperations(file));
    const names = new Set<string>();
    for (const tool of result.tools) {
      const where = `${id} ${tool.name} (${tool.source.pointer})`;
      expect(tool.name, where).toMatch(NAME);
      expect(names.has(tool.name), `${where}: duplicate name`).toBe(false);
      names.add(tool.name);
      for (const [kind, schema] of [['inputSchema', tool.inputSchema], ['outputSchema', tool.outputSchema]] as const) {
        if (schema === undefined) continue;
        expect(schema.type, `${where} ${kind}`).toBe('object');
        expect(() => JSON.stringify(schema), `${where} ${kind}: not serialisable`).not.toThrow();
        expect(danglingRefs(schema), `${where} ${kind}: dangling $ref`).toEqual([]);
        expect(() => ajv.compile(schema), `${where} ${kind}: does not compile`).not.toThrow();
      }
    }
    const listBytes = Buffer.byteLength(JSON.stringify({ tools: ToolRegistry.build(result.tools).tools.map((t) => t.tool) }));
    summary.push(`${id.padEnd(52)} ${String(result.tools.length).padStart(5)} tools ${(listBytes / 1024).toFixed(0).padStart(7)} KB ${ms.toFixed(0).padStart(6)} ms`);
  });
});

describe('the corpus through a real MCP client', () => {
  let gateway: Gateway;
  let client: Client;
  beforeAll(async () => {
    // tools: all — this test lists every tool; large specs would otherwise be in search mode.
    const backends = specs.map((s, i) => `  - { name: s${i}, spec: ${JSON.stringify(s.file)}, baseUrl: "http://127.0.0.1:9", tools: all }`).join('\n');
    gateway = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\nbackends:\n${backends}\n`);
    client = await connectClient(gateway.url, 'modern');
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.close();
    console.log(`\nspec${' '.repeat(48)} tools  tools/list  import\n${summary.join('\n')}`);
  });

  it('lists every tool of every spec; the SDK client accepts each one', async () => {
    const expected = specs.reduce((n, s) => n + countOperations(s.file), 0);
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(expected);
    expect(gateway.runtime.registry().backends.every((b) => b.state === 'ready')).toBe(true);
  }, 120_000);
});
