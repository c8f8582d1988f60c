import { describe, expect, it } from 'vitest';
import { SchemaConverter } from './json-schema.js';
import { toPointer } from './json-pointer.js';
import type { Obj } from './oas.js';
import { operationToTool, pickMediaType, TOOL_DESCRIPTION_BUDGET } from './operation-to-tool.js';
import type { JsonSchema, ToolDefinition } from './tool-definition.js';

function tool(document: Obj, path: string, method: string, warnings: string[] = []): ToolDefinition {
  const pathItem = ((document['paths'] as Obj)[path] ?? {}) as Obj;
  return operationToTool({
    backend: 'inv',
    name: 'inv_tool',
    method,
    path,
    pathItem,
    operation: pathItem[method] as Obj,
    pointer: toPointer(['paths', path, method]),
    baseUrl: 'https://api.example.com/v1',
    schemas: new SchemaConverter({ document, version: '3.0', source: '"t.json"' }),
    document,
    source: '"t.json"',
    warn: (m) => warnings.push(m),
  });
}

const props = (t: ToolDefinition) => t.inputSchema.properties as Record<string, JsonSchema>;

describe('operationToTool: the flat input schema', () => {
  const doc: Obj = {
    openapi: '3.0.3',
    components: {
      parameters: { Trace: { name: 'X-Trace', in: 'header', schema: { type: 'string' } } },
      schemas: { Item: { type: 'object', required: ['name', 'id'], properties: { id: { type: 'string', readOnly: true }, name: { type: 'string' }, 'tag list': { type: 'array', items: { type: 'string' } } } } },
    },
    paths: {
      '/items/{id}': {
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'path-level' },
          { name: 'verbose', in: 'query', schema: { type: 'boolean' } },
        ],
        put: {
          operationId: 'putItem',
          summary: 'Replace an item',
          description: 'Replaces the item.',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, description: 'operation-level' },
            { name: 'id', in: 'query', schema: { type: 'string' } },
            { name: 'name', in: 'header', schema: { type: 'string' } },
            { name: 'id', in: 'cookie', schema: { type: 'string' } },
            { name: 'filter[status]', in: 'query', style: 'deepObject', explode: true, schema: { type: 'object' } },
            { $ref: '#/components/parameters/Trace' },
            { name: 'Accept', in: 'header', schema: { type: 'string' } },
            { name: 'Content-Type', in: 'header', schema: { type: 'string' } },
            { name: 'Authorization', in: 'header', schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Item' } } } },
          responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Item' } } } } },
        },
      },
    },
  };
  const t = tool(doc, '/items/{id}', 'put');

  it('merges path, query, header, cookie parameters and body properties into one object', () => {
    expect(t.inputSchema.type).toBe('object');
    expect(Object.keys(props(t))).toEqual(['id', 'verbose', 'id_query', 'filter_status_', 'name', 'X-Trace', 'id_cookie', 'name_body', 'tag_list']);
  });

  it('gives later owners of a name the _<location> suffix and maps every argument back to its wire name', () => {
    expect(t.binding.parameters.map((p) => [p.arg, p.in, p.name])).toEqual([
      ['id', 'path', 'id'],
      ['verbose', 'query', 'verbose'],
      ['id_query', 'query', 'id'],
      ['filter_status_', 'query', 'filter[status]'],
      ['name', 'header', 'name'],
      ['X-Trace', 'header', 'X-Trace'],
      ['id_cookie', 'cookie', 'id'],
    ]);
    expect(t.binding.body).toEqual({ contentType: 'application/json', required: true, mode: 'properties', args: { name_body: 'name', tag_list: 'tag list' } });
  });

  it('lets an operation parameter replace the path-level one with the same name and location', () => {
    expect(props(t)['id']).toEqual({ type: 'integer', description: 'operation-level' });
  });

  it('requires path parameters and required body properties, without readOnly ones', () => {
    expect(t.inputSchema.required).toEqual(['id', 'name_body']);
  });

  it('ignores Accept, Content-Type and Authorization header parameters (OAS 3 Parameter Object)', () => {
    expect(t.binding.parameters.map((p) => p.name)).not.toContain('Accept');
    expect(t.binding.parameters.map((p) => p.name)).not.toContain('Authorization');
  });

  it('applies the style/explode defaults per location and keeps declared ones', () => {
    const byArg = Object.fromEntries(t.binding.parameters.map((p) => [p.arg, p]));
    expect(byArg['id']).toMatchObject({ style: 'simple', explode: false, allowReserved: false });
    expect(byArg['verbose']).toMatchObject({ style: 'form', explode: true });
    expect(byArg['name']).toMatchObject({ style: 'simple', explode: false });
    expect(byArg['id_cookie']).toMatchObject({ style: 'form', explode: true });
    expect(byArg['filter_status_']).toMatchObject({ style: 'deepObject', explode: true });
  });

  it('describes the tool from summary and description, with annotations and source', () => {
    expect(t.description).toBe('Replace an item\n\nReplaces the item.');
    expect(t.title).toBe('Replace an item');
    expect(t.annotations).toEqual({ title: 'Replace an item', idempotentHint: true });
    expect(t.source).toEqual({ method: 'PUT', path: '/items/{id}', operationId: 'putItem', pointer: '#/paths/~1items~1{id}/put' });
    expect(t.binding).toMatchObject({ method: 'PUT', path: '/items/{id}', baseUrl: 'https://api.example.com/v1' });
  });

  it('derives the output schema from the 2xx JSON object response: top-level property types, readOnly kept', () => {
    expect(t.outputSchema).toEqual({
      type: 'object',
      properties: { id: { type: 'string' }, name: { type: 'string' }, 'tag list': { type: 'array' } },
    });
  });
});

describe('operationToTool: path parameters are never empty', () => {
  const doc: Obj = {
    openapi: '3.1.0',
    components: { schemas: { Id: { type: 'string', description: 'An id.' } } },
    paths: {
      '/p/{plain}/{long}/{zero}/{pat}/{nullable}/{multi}/{ref}/{int}/{choice}/{withEmpty}/{untyped}': {
        get: {
          parameters: [
            { name: 'plain', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'long', in: 'path', required: true, schema: { type: 'string', minLength: 5 } },
            { name: 'zero', in: 'path', required: true, schema: { type: 'string', minLength: 0 } },
            { name: 'pat', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z]+$' } },
            { name: 'nullable', in: 'path', required: true, schema: { type: ['string', 'null'] } },
            { name: 'multi', in: 'path', required: true, schema: { type: ['string', 'integer'] } },
            { name: 'ref', in: 'path', required: true, schema: { $ref: '#/components/schemas/Id' } },
            { name: 'int', in: 'path', required: true, schema: { type: 'integer' } },
            { name: 'choice', in: 'path', required: true, schema: { type: 'string', enum: ['a', 'b'] } },
            { name: 'withEmpty', in: 'path', required: true, schema: { type: 'string', enum: ['', 'b'] } },
            { name: 'untyped', in: 'path', required: true, schema: {} },
            { name: 'q', in: 'query', schema: { $ref: '#/components/schemas/Id' } },
          ],
          responses: {},
        },
      },
    },
  };
  const path = Object.keys(doc['paths'] as Obj)[0]!;
  const p = props(tool(doc, path, 'get'));

  it('says minLength: 1 on string path parameters', () => {
    expect(p['plain']).toEqual({ type: 'string', minLength: 1 });
    expect(p['pat']).toEqual({ type: 'string', pattern: '^[a-z]+$', minLength: 1 });
    expect(p['ref']).toEqual({ type: 'string', description: 'An id.', minLength: 1 });
    expect(p['untyped']).toEqual({ minLength: 1 });
    expect(p['withEmpty']).toEqual({ type: 'string', enum: ['', 'b'], minLength: 1 });
  });

  it('keeps a stricter minLength, raises minLength: 0', () => {
    expect(p['long']).toEqual({ type: 'string', minLength: 5 });
    expect(p['zero']).toEqual({ type: 'string', minLength: 1 });
  });

  it('puts it on the string branch of a type array', () => {
    expect(p['nullable']).toEqual({ anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }] });
    expect(p['multi']).toEqual({ anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer' }] });
  });

  it('leaves integers and enums without "" alone, and a shared schema used by a query parameter', () => {
    expect(p['int']).toEqual({ type: 'integer' });
    expect(p['choice']).toEqual({ type: 'string', enum: ['a', 'b'] });
    expect(p['q']).toEqual({ type: 'string', description: 'An id.' });
  });

  it('declares no argument for a placeholder inside a fragment', () => {
    const warnings: string[] = [];
    const fragDoc: Obj = { openapi: '3.0.3', paths: { '/tags/{arn}#{key}': { get: { responses: {} } } } };
    const t = tool(fragDoc, '/tags/{arn}#{key}', 'get', warnings);
    expect(Object.keys(props(t))).toEqual(['arn']);
    expect(t.binding.path).toBe('/tags/{arn}#{key}');
  });
});

describe('operationToTool: bodies', () => {
  const body = (content: Obj, required = false): Obj => ({
    openapi: '3.0.3',
    paths: { '/b': { post: { requestBody: { required, description: 'The payload', content }, responses: { '204': { description: 'none' } } } } },
  });

  it('wraps a non-object body in one `body` argument', () => {
    for (const schema of [{ type: 'array', items: { type: 'string' } }, { type: 'string' }, { type: 'string', format: 'binary' }]) {
      const t = tool(body({ 'application/json': { schema } }, true), '/b', 'post');
      expect(t.binding.body).toEqual({ contentType: 'application/json', required: true, mode: 'wrapped', arg: 'body' });
      expect(props(t)['body']).toEqual({ ...schema, description: 'The payload' });
      expect(t.inputSchema.required).toEqual(['body']);
    }
  });

  it('wraps an object without declared properties, and a body whose top level is a union', () => {
    const free = tool(body({ 'application/json': { schema: { type: 'object', additionalProperties: { type: 'string' } } } }), '/b', 'post');
    expect(free.binding.body?.mode).toBe('wrapped');
    expect(free.inputSchema.required).toBeUndefined();
    const union = tool(body({ 'application/json': { schema: { oneOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { type: 'object', properties: { b: { type: 'string' } } }] } } }), '/b', 'post');
    expect(union.binding.body?.mode).toBe('wrapped');
  });

  it('names a wrapped body body_body when a parameter already took `body`', () => {
    const doc = body({ 'text/plain': { schema: { type: 'string' } } });
    ((doc['paths'] as Obj)['/b'] as Obj)['parameters'] = [{ name: 'body', in: 'query', schema: { type: 'string' } }];
    const t = tool(doc, '/b', 'post');
    expect(t.binding.body).toMatchObject({ mode: 'wrapped', arg: 'body_body', contentType: 'text/plain' });
  });

  it('picks the body media type by preference and records encodings', () => {
    expect(pickMediaType(['application/xml', 'application/vnd.api+json', 'application/json; charset=utf-8'])).toBe('application/json; charset=utf-8');
    expect(pickMediaType(['application/xml', 'application/vnd.api+json'])).toBe('application/vnd.api+json');
    expect(pickMediaType(['multipart/form-data', 'application/x-www-form-urlencoded'])).toBe('application/x-www-form-urlencoded');
    expect(pickMediaType(['application/octet-stream', 'text/plain'])).toBe('text/plain');
    expect(pickMediaType(['application/xml', 'image/png'])).toBe('application/xml');
    const t = tool(
      body({
        'multipart/form-data': {
          schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' }, meta: { type: 'object' } } },
          encoding: { meta: { contentType: 'application/json' }, file: { contentType: 'image/png', style: 'form', explode: false, headers: {} } },
        },
      }),
      '/b',
      'post',
    );
    expect(t.binding.body).toEqual({
      contentType: 'multipart/form-data',
      required: false,
      mode: 'properties',
      args: { file: 'file', meta: 'meta' },
      encoding: { meta: { contentType: 'application/json' }, file: { contentType: 'image/png', style: 'form', explode: false } },
    });
  });
});

describe('operationToTool: the rest', () => {
  it('sets annotations from the method', () => {
    const ops: Obj = {};
    for (const m of ['get', 'head', 'post', 'put', 'patch', 'delete']) ops[m] = { responses: {} };
    const doc: Obj = { openapi: '3.0.3', paths: { '/x': ops } };
    expect(tool(doc, '/x', 'get').annotations).toEqual({ readOnlyHint: true });
    expect(tool(doc, '/x', 'head').annotations).toEqual({ readOnlyHint: true });
    expect(tool(doc, '/x', 'post').annotations).toEqual({});
    expect(tool(doc, '/x', 'patch').annotations).toEqual({});
    expect(tool(doc, '/x', 'put').annotations).toEqual({ idempotentHint: true });
    expect(tool(doc, '/x', 'delete').annotations).toEqual({ destructiveHint: true, idempotentHint: true });
    expect(tool(doc, '/x', 'get').description).toBe('GET /x');
  });

  it('describes a tool with its summary and the first paragraph of its description, in 512 characters', () => {
    const op = (summary: string | undefined, description: string) => tool({ openapi: '3.0.3', paths: { '/x': { get: { summary, description, responses: {} } } } }, '/x', 'get').description;
    expect(op('List pets', 'Lists the pets of the store.\n\nYou must authenticate, see [auth](https://example.com/auth).')).toBe('List pets\n\nLists the pets of the store.');
    expect(op('List pets', 'List pets in [the store](https://example.com).')).toBe('List pets in the store.');
    expect(op(undefined, '<p>Retrieves a <code>Review</code> object.</p><p>More.</p>')).toBe('Retrieves a Review object.');
    const long = op('Summary', `${'A sentence of some length here. '.repeat(30)}`);
    expect(long.length).toBeLessThanOrEqual(TOOL_DESCRIPTION_BUDGET);
    expect(long).toMatch(/^Summary\n\nA sentence .*here\.$/);
  });

  it('cuts long descriptions and never includes response schemas', () => {
    const doc: Obj = {
      openapi: '3.0.3',
      paths: { '/x': { get: { summary: 'S', description: 'lorem ipsum '.repeat(200), responses: { '200': { description: 'secret-response-text', content: { 'application/json': { schema: { type: 'array', items: { type: 'string' } } } } } } } } },
    };
    const t = tool(doc, '/x', 'get');
    expect(t.description.length).toBeLessThanOrEqual(TOOL_DESCRIPTION_BUDGET);
    expect(t.description.startsWith('S\n\nlorem ipsum')).toBe(true);
    expect(JSON.stringify(t)).not.toContain('secret-response-text');
    expect(t.outputSchema).toBeUndefined();
  });

  it('takes the output schema from the first 2xx response that has JSON', () => {
    const doc: Obj = {
      openapi: '3.0.3',
      paths: {
        '/x': {
          get: {
            responses: {
              '2XX': { description: 'any', content: { 'application/json': { schema: { type: 'object', properties: { wild: { type: 'string' } } } } } },
              '204': { description: 'none' },
              '201': { description: 'c', content: { 'application/problem+json': { schema: { type: 'object', properties: { created: { type: 'string' } } } } } },
              '200': { description: 'xml only', content: { 'application/xml': { schema: { type: 'object' } } } },
            },
          },
        },
      },
    };
    expect(tool(doc, '/x', 'get').outputSchema).toEqual({ type: 'object', properties: { created: { type: 'string' } } });
  });

  it('declares a path placeholder that has no parameter, and drops a path parameter the path lacks', () => {
    const warnings: string[] = [];
    const doc: Obj = {
      openapi: '3.0.3',
      paths: { '/a/{x}/{y}': { get: { parameters: [{ name: 'x', in: 'path', required: true, schema: { type: 'integer' } }, { name: 'z', in: 'path', required: true, schema: { type: 'string' } }], responses: {} } } },
    };
    const t = tool(doc, '/a/{x}/{y}', 'get', warnings);
    expect(t.binding.parameters.map((p) => p.name)).toEqual(['x', 'y']);
    expect(props(t)['y']).toEqual({ type: 'string', minLength: 1 });
    expect(t.inputSchema.required).toEqual(['x', 'y']);
    expect(warnings.join('\n')).toContain('{y}');
    expect(warnings.join('\n')).toContain('"z"');
  });

  it('keeps a property a spec names __proto__ as a plain property', () => {
    const schema = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"},"a":{"type":"object","properties":{"__proto__":{"type":"integer"}}}}}') as Obj;
    const doc: Obj = { openapi: '3.0.3', paths: { '/x': { post: { requestBody: { content: { 'application/json': { schema } } }, responses: {} } } } };
    const t = tool(doc, '/x', 'post');
    expect(Object.getPrototypeOf(t.inputSchema.properties)).toBe(Object.prototype);
    expect(Object.keys(props(t))).toEqual(['__proto__', 'a']);
    expect(t.binding.body?.args).toEqual(JSON.parse('{"__proto__":"__proto__","a":"a"}'));
    expect(JSON.stringify(props(t)['a'])).toBe('{"type":"object","properties":{"__proto__":{"type":"integer"}}}');
  });

  it('serialises a content parameter with its media type', () => {
    const doc: Obj = {
      openapi: '3.0.3',
      paths: { '/x': { get: { parameters: [{ name: 'q', in: 'query', content: { 'application/json': { schema: { type: 'object', properties: { a: { type: 'integer' } } } } } }], responses: {} } } },
    };
    const t = tool(doc, '/x', 'get');
    expect(t.binding.parameters[0]).toMatchObject({ arg: 'q', contentType: 'application/json', style: 'form', explode: true });
    expect(props(t)['q']).toEqual({ type: 'object', properties: { a: { type: 'integer' } } });
  });
});
