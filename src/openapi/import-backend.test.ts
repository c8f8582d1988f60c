import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { importBackend, type ImportBackendOptions } from './import-backend.js';
import { getAt, parseLocalRef } from './json-pointer.js';
import { HTTP_METHODS, isObj, type Obj } from './oas.js';
import type { JsonSchema, ToolDefinition } from './tool-definition.js';
import { TOOL_NAME_PATTERN } from './tool-name.js';

const SPECS = new URL('../../specs/', import.meta.url).pathname;
const EDGE = readdirSync(join(SPECS, 'edge')).sort();
const REAL = readdirSync(join(SPECS, 'real')).sort();
/** Specs whose servers are unusable from a file (relative or scheme-relative URLs): they need a baseUrl. */
const NEEDS_BASE_URL = new Set(['oas30-server-path-level.json', 'kubernetes.io.json']);

function readSpec(path: string): Obj {
  const text = readFileSync(path, 'utf8');
  return (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Obj;
}

/** Operations in the spec as written: one per method of every path item (following path item refs). */
function operations(doc: Obj): string[] {
  const out: string[] = [];
  for (const [path, raw] of Object.entries((doc['paths'] ?? {}) as Obj)) {
    let item = raw as Obj;
    if (typeof item['$ref'] === 'string') item = getAt(doc, parseLocalRef(item['$ref']) ?? []) as Obj;
    for (const m of HTTP_METHODS) if (isObj(item[m])) out.push(`${m.toUpperCase()} ${path}`);
  }
  return out.sort();
}

function refsOf(schema: unknown, out: string[] = [], seen = new Set<object>()): string[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return out;
  seen.add(schema);
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref' && typeof v === 'string') out.push(v);
    else refsOf(v, out, seen);
  }
  return out;
}

function newAjv() {
  const ajv = new Ajv2020({ strict: false, logger: false });
  // ajv-formats is CommonJS: under NodeNext the default import is module.exports,
  // whose `default` is the plugin.
  addFormats.default(ajv);
  return ajv;
}

/** What every imported tool list must satisfy, whatever the spec. */
function checkTools(doc: Obj, tools: ToolDefinition[]): void {
  expect(tools.map((t) => `${t.source.method} ${t.source.path}`).sort()).toEqual(operations(doc));
  const names = tools.map((t) => t.name);
  expect(new Set(names).size).toBe(names.length);
  const ajv = newAjv();
  for (const t of tools) {
    expect(t.name).toMatch(TOOL_NAME_PATTERN);
    expect(t.inputSchema.type).toBe('object');
    expect(t.binding.baseUrl).toMatch(/^https?:\/\/[^/]+(\/.*[^/])?$/);
    expect(t.description.length).toBeGreaterThan(0);
    expect(t.description.length).toBeLessThanOrEqual(1024);
    const schemas: JsonSchema[] = [t.inputSchema];
    if (t.outputSchema) {
      expect(t.outputSchema.type).toBe('object');
      schemas.push(t.outputSchema);
    }
    for (const schema of schemas) {
      expect(() => JSON.stringify(schema)).not.toThrow();
      const defs = Object.keys((schema['$defs'] ?? {}) as object);
      for (const ref of refsOf(schema)) {
        expect(ref.startsWith('#/$defs/'), `${t.name}: ${ref}`).toBe(true);
        expect(defs, `${t.name}: ${ref}`).toContain(ref.slice('#/$defs/'.length));
      }
      expect(() => ajv.compile(schema), t.name).not.toThrow();
    }
    // Every argument the binding reads is declared, and every path placeholder is bound.
    const props = Object.keys(t.inputSchema.properties ?? {});
    const args = [...t.binding.parameters.map((p) => p.arg), ...Object.keys(t.binding.body?.args ?? {}), ...(t.binding.body?.arg ? [t.binding.body.arg] : [])];
    expect(new Set(args).size).toBe(args.length);
    expect(props.sort()).toEqual([...args].sort());
    for (const m of t.binding.path.matchAll(/\{([^}]+)\}/g)) {
      expect(t.binding.parameters.some((p) => p.in === 'path' && p.name === m[1]), `${t.name} {${m[1]}}`).toBe(true);
    }
  }
}

async function importFile(dir: 'edge' | 'real', file: string, extra: Partial<ImportBackendOptions> = {}) {
  return importBackend({ name: 'svc', spec: `${dir}/${file}`, baseDir: SPECS, ...(NEEDS_BASE_URL.has(file) ? { baseUrl: 'https://gateway.test/api' } : {}), ...extra });
}

describe('importBackend on the spec corpus', () => {
  it.each(EDGE)('edge/%s', async (file) => {
    const { tools } = await importFile('edge', file);
    checkTools(readSpec(join(SPECS, 'edge', file)), tools);
  });

  it.each(REAL)('real/%s', { timeout: 120_000 }, async (file) => {
    const { tools } = await importFile('real', file);
    checkTools(readSpec(join(SPECS, 'real', file)), tools);
  });
});

describe('importBackend', () => {
  let server: Server;
  let origin = '';
  beforeAll(async () => {
    const body = readFileSync(join(SPECS, 'edge/oas30-server-path-level.json'));
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('resolves relative server URLs against the URL the spec came from, at operation, path and document level', async () => {
    const { tools } = await importBackend({ name: 'srv', spec: `${origin}/docs/openapi.json` });
    const base = Object.fromEntries(tools.map((t) => [t.source.path, t.binding.baseUrl]));
    expect(base).toEqual({
      '/relative-path-server': `${origin}/v2`,
      '/relative-operation-server': `${origin}/v3`,
      '/operation-server-variables': 'https://operation.example.com/v3',
      '/path-item-ref-server': 'https://path-item-ref.example.com',
      '/path-item-server-source': 'https://path-item-ref.example.com',
      '/empty-operation-servers': 'https://empty-operation-path.example.com',
      '/empty-path-item-servers': 'https://demo.example.com/v2',
    });
  });

  it('fails with GH_SPEC_NO_SERVER, naming the operation, when a file spec has only relative servers', async () => {
    const err = await importFile('edge', 'oas30-server-path-level.json', { baseUrl: undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_SPEC_NO_SERVER');
    expect((err as GatehouseError).message).toContain('#/paths/~1relative-path-server/get');
    expect((err as GatehouseError).message).toContain('baseUrl');
    // Listing tools does not need a server.
    const listed = await importFile('edge', 'oas30-server-path-level.json', { baseUrl: undefined, requireBaseUrl: false });
    expect(listed.tools).toHaveLength(7);
  });

  it('uses a configured baseUrl as given for every operation, and checks it', async () => {
    const { tools } = await importFile('real', 'cisco.com.json', { baseUrl: 'http://10.0.0.1:8080/cisco/' });
    expect(new Set(tools.map((t) => t.binding.baseUrl))).toEqual(new Set(['http://10.0.0.1:8080/cisco']));
    const err = await importFile('real', 'cisco.com.json', { baseUrl: 'cisco.local' }).catch((e: unknown) => e);
    expect((err as GatehouseError).code).toBe('GH_CONFIG_INVALID');
  });

  it('prefixes tool names with the backend name unless told not to, and reports title and version', async () => {
    const prefixed = await importFile('edge', 'swagger2-petstore.json');
    expect(prefixed.tools.map((t) => t.name)).toContain('svc_getPetById');
    expect(prefixed).toMatchObject({ title: 'Swagger Petstore', version: '1.0.0', specVersion: '2.0' });
    const bare = await importFile('edge', 'swagger2-petstore.json', { prefix: false });
    expect(bare.tools.map((t) => t.name)).toContain('getPetById');
    expect(bare.tools.every((t) => t.backend === 'svc')).toBe(true);
  });

  it("keeps each operation's tags (search mode filters by them)", async () => {
    const { tools } = await importFile('edge', 'swagger2-petstore.json');
    expect(tools.find((t) => t.name === 'svc_getPetById')!.tags).toEqual(['pet']);
    expect(tools.find((t) => t.name === 'svc_getInventory')!.tags).toEqual(['store']);
  });

  it('keeps every Swagger 2.0 parameter as an argument (body, formData, collectionFormat)', async () => {
    const doc = readSpec(join(SPECS, 'edge/swagger2-petstore.json'));
    const { tools } = await importFile('edge', 'swagger2-petstore.json');
    for (const t of tools) {
      const op = ((doc['paths'] as Obj)[t.source.path] as Obj)[t.source.method.toLowerCase()] as Obj;
      const params = (op['parameters'] ?? []) as Obj[];
      const nonBody = params.filter((p) => p['in'] !== 'body' && p['in'] !== 'formData').map((p) => `${String(p['in'])}:${String(p['name'])}`);
      expect(t.binding.parameters.map((p) => `${p.in}:${p.name}`).sort(), t.name).toEqual(nonBody.sort());
      const form = params.filter((p) => p['in'] === 'formData').map((p) => p['name']);
      if (form.length > 0) expect(Object.values(t.binding.body?.args ?? {}).sort(), t.name).toEqual(form.sort());
      if (params.some((p) => p['in'] === 'body')) expect(t.binding.body, t.name).toBeDefined();
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName['svc_findPetsByStatus']?.binding.parameters[0]).toMatchObject({ name: 'status', style: 'form', explode: true });
    expect(byName['svc_uploadFile']?.binding.body).toMatchObject({ contentType: 'multipart/form-data', mode: 'properties' });
    expect(byName['svc_updatePetWithForm']?.binding.body).toMatchObject({ contentType: 'application/x-www-form-urlencoded' });
    expect(byName['svc_addPet']?.binding.body).toMatchObject({ contentType: 'application/json', mode: 'properties', required: true });
  });

  it('gives an operation the same name when the spec is re-imported in another order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-import-'));
    const doc = readSpec(join(SPECS, 'real/rbaskets.in.json'));
    // Make names clash, so that the hash suffixes are exercised too.
    const paths = doc['paths'] as Record<string, Obj>;
    for (const item of Object.values(paths)) for (const m of HTTP_METHODS) if (isObj(item[m])) (item[m] as Obj)['operationId'] = 'same';
    writeFileSync(join(dir, 'a.json'), JSON.stringify(doc));
    const reversed: Obj = { ...doc, paths: Object.fromEntries(Object.entries(paths).reverse().map(([p, item]) => [p, Object.fromEntries(Object.entries(item).reverse())])) };
    writeFileSync(join(dir, 'b.json'), JSON.stringify(reversed));
    const key = (t: ToolDefinition) => `${t.source.method} ${t.source.path}`;
    const a = new Map((await importBackend({ name: 'rb', spec: join(dir, 'a.json') })).tools.map((t) => [key(t), t.name]));
    const b = new Map((await importBackend({ name: 'rb', spec: join(dir, 'b.json') })).tools.map((t) => [key(t), t.name]));
    expect(a.size).toBe(20);
    expect(new Set(a.values()).size).toBe(20);
    expect(b).toEqual(a);
  });

  it('turns a circular schema into $defs in the tool schema', async () => {
    const { tools } = await importFile('edge', 'swagger2-schema-circular.json');
    expect(tools[0]?.inputSchema).toEqual({
      type: 'object',
      properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } },
      $defs: { node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } } } },
    });
  });

  it('fails with GH_SPEC_INVALID naming the pointer of a bad spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-import-'));
    writeFileSync(join(dir, 'bad.yaml'), 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n  /pets:\n    get:\n      responses: []\n');
    const err = await importBackend({ name: 'bad', spec: 'bad.yaml', baseDir: dir }).catch((e: unknown) => e);
    expect((err as GatehouseError).code).toBe('GH_SPEC_INVALID');
    expect((err as GatehouseError).message).toContain('"bad.yaml"');
    expect((err as GatehouseError).message).toContain('#/paths/~1pets/get/responses');
  });
});

describe('apiKey security schemes', () => {
  it('reads OpenAPI 3 components.securitySchemes of type apiKey only', async () => {
    const imported = await importBackend({ name: 'adyen', spec: join(SPECS, 'real', 'adyen.com_TfmAPIService.json') });
    expect(imported.apiKeySchemes).toEqual({ ApiKeyAuth: { in: 'header', name: 'X-API-Key' } });
  });

  it('reads Swagger 2.0 securityDefinitions through the conversion', async () => {
    const imported = await importBackend({ name: 'pets', spec: join(SPECS, 'edge', 'swagger2-petstore.json') });
    expect(imported.apiKeySchemes).toEqual({ api_key: { in: 'header', name: 'api_key' } });
  });
});
