import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Obj } from './oas.js';
import { swagger2ToOas3 } from './swagger2-to-oas3.js';

const petstore = JSON.parse(readFileSync(new URL('../../specs/edge/swagger2-petstore.json', import.meta.url), 'utf8')) as Obj;

function op(doc: Obj, path: string, method: string): Obj {
  return ((doc['paths'] as Obj)[path] as Obj)[method] as Obj;
}

describe('swagger2ToOas3: petstore', () => {
  const { document } = swagger2ToOas3(petstore);

  it('keeps every parameter of every operation', () => {
    for (const [path, item] of Object.entries(petstore['paths'] as Obj)) {
      for (const [method, operation] of Object.entries(item as Obj)) {
        const params = ((operation as Obj)['parameters'] ?? []) as Obj[];
        const converted = op(document, path, method);
        for (const p of params) {
          if (p['in'] === 'body') {
            expect(converted['requestBody'], `${method} ${path} body`).toBeDefined();
          } else if (p['in'] === 'formData') {
            const content = (converted['requestBody'] as Obj)['content'] as Obj;
            const schema = (Object.values(content)[0] as Obj)['schema'] as Obj;
            expect(Object.keys(schema['properties'] as Obj), `${method} ${path}`).toContain(p['name']);
          } else {
            const names = ((converted['parameters'] ?? []) as Obj[]).map((q) => `${String(q['in'])}:${String(q['name'])}`);
            expect(names, `${method} ${path}`).toContain(`${String(p['in'])}:${String(p['name'])}`);
          }
        }
      }
    }
  });

  it('turns host, basePath and schemes into servers', () => {
    expect(document.servers).toEqual([{ url: 'http://petstore.swagger.io/v2' }]);
  });

  it('turns a body parameter into a requestBody per consumed media type, with refs rewritten', () => {
    expect(op(document, '/pet', 'post')['requestBody']).toEqual({
      description: 'Pet object that needs to be added to the store',
      required: true,
      content: {
        'application/json': { schema: { $ref: '#/components/schemas/Pet' } },
        'application/xml': { schema: { $ref: '#/components/schemas/Pet' } },
      },
    });
    expect(Object.keys((document.components?.['schemas'] ?? {}) as Obj)).toEqual(Object.keys(petstore['definitions'] as Obj));
  });

  it('turns formData into a urlencoded body, or multipart when a file is sent', () => {
    const form = op(document, '/pet/{petId}', 'post')['requestBody'] as Obj;
    expect(Object.keys(form['content'] as Obj)).toEqual(['application/x-www-form-urlencoded']);
    const upload = op(document, '/pet/{petId}/uploadImage', 'post')['requestBody'] as Obj;
    expect(upload).toEqual({
      required: false,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: {
              additionalMetadata: { type: 'string', description: 'Additional data to pass to server' },
              file: { type: 'string', format: 'binary', description: 'file to upload' },
            },
          },
        },
      },
    });
  });

  it('moves parameter type keywords into schema and maps collectionFormat multi', () => {
    expect(op(document, '/pet/findByStatus', 'get')['parameters']).toEqual([
      {
        name: 'status',
        in: 'query',
        description: 'Status values that need to be considered for filter',
        required: true,
        schema: { type: 'array', items: { type: 'string', enum: ['available', 'pending', 'sold'], default: 'available' } },
        style: 'form',
        explode: true,
      },
    ]);
  });

  it('turns response schemas into content per produced media type', () => {
    const ok = (op(document, '/pet/{petId}', 'get')['responses'] as Obj)['200'] as Obj;
    expect(ok).toEqual({
      description: 'successful operation',
      content: {
        'application/xml': { schema: { $ref: '#/components/schemas/Pet' } },
        'application/json': { schema: { $ref: '#/components/schemas/Pet' } },
      },
    });
  });
});

describe('swagger2ToOas3: the rest of 2.0', () => {
  const doc: Obj = {
    swagger: '2.0',
    info: { title: 't', version: '1' },
    host: 'api.example.com:8443',
    basePath: '/base',
    schemes: ['http', 'https'],
    consumes: ['application/json'],
    parameters: {
      limit: { name: 'limit', in: 'query', type: 'integer', minimum: 1, maximum: 100, default: 10 },
      payload: { name: 'payload', in: 'body', required: true, schema: { $ref: '#/definitions/Item' } },
    },
    responses: { NotFound: { description: 'nope', schema: { $ref: '#/definitions/Error' } } },
    definitions: {
      Item: { type: 'object', properties: { tags: { type: 'array', items: { $ref: '#/definitions/Tag' } }, note: { type: 'string', 'x-nullable': true } } },
      Tag: { type: 'string' },
      Error: { type: 'object', discriminator: 'kind', properties: { kind: { type: 'string' } } },
    },
    paths: {
      '/items/{id}': {
        parameters: [
          { name: 'id', in: 'path', required: true, type: 'string' },
          { name: 'v', in: 'query', type: 'string' },
        ],
        put: {
          parameters: [
            { $ref: '#/parameters/limit' },
            { $ref: '#/parameters/payload' },
            { name: 'v', in: 'query', type: 'integer' },
            { name: 'csv', in: 'query', type: 'array', items: { type: 'string' } },
            { name: 'ssv', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'ssv' },
            { name: 'tsv', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'tsv' },
            { name: 'pipes', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'pipes' },
            { name: 'X-Ids', in: 'header', type: 'array', items: { type: 'integer' } },
          ],
          responses: { '200': { description: 'ok', schema: { type: 'file' } }, '404': { $ref: '#/responses/NotFound' } },
        },
        post: {
          consumes: ['multipart/form-data'],
          parameters: [
            { name: 'name', in: 'formData', type: 'string', required: true },
            { name: 'tags', in: 'formData', type: 'array', items: { type: 'string' }, collectionFormat: 'multi' },
          ],
          responses: { '201': { description: 'created' } },
        },
      },
    },
  };
  const { document, warnings } = swagger2ToOas3(doc);

  it('lists https first and keeps the port and base path', () => {
    expect(document.servers).toEqual([{ url: 'https://api.example.com:8443/base' }, { url: 'http://api.example.com:8443/base' }]);
  });

  it('merges path-level parameters (operation wins), inlines parameter refs, and maps every collectionFormat', () => {
    const put = op(document, '/items/{id}', 'put');
    const params = put['parameters'] as Obj[];
    const byName = Object.fromEntries(params.map((p) => [p['name'], p]));
    expect(params.map((p) => p['name'])).toEqual(['id', 'v', 'limit', 'csv', 'ssv', 'tsv', 'pipes', 'X-Ids']);
    expect(byName['id']).toEqual({ name: 'id', in: 'path', required: true, schema: { type: 'string' } });
    expect(byName['v']).toMatchObject({ in: 'query', schema: { type: 'integer' } });
    expect(byName['limit']).toEqual({ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 } });
    expect(byName['csv']).toMatchObject({ style: 'form', explode: false });
    expect(byName['ssv']).toMatchObject({ style: 'spaceDelimited', explode: false });
    expect(byName['tsv']).toMatchObject({ style: 'form', explode: false });
    expect(byName['pipes']).toMatchObject({ style: 'pipeDelimited', explode: false });
    expect(byName['X-Ids']).toMatchObject({ in: 'header', style: 'simple', explode: false });
    expect(warnings.join('\n')).toMatch(/tsv/);
    expect(put['requestBody']).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Item' } } } });
  });

  it('records formData collectionFormat as an encoding and keeps path-level parameters', () => {
    const post = op(document, '/items/{id}', 'post');
    expect((post['parameters'] as Obj[]).map((p) => p['name'])).toEqual(['id', 'v']);
    expect(post['requestBody']).toEqual({
      required: true,
      content: {
        'multipart/form-data': {
          schema: { type: 'object', properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['name'] },
          encoding: { tags: { style: 'form', explode: true } },
        },
      },
    });
  });

  it('rewrites schema refs at every depth, x-nullable, file responses and response refs', () => {
    const schemas = document.components?.['schemas'] as Obj;
    expect(schemas['Item']).toEqual({
      type: 'object',
      properties: { tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } }, note: { type: 'string', nullable: true } },
    });
    expect(schemas['Error']).toMatchObject({ discriminator: { propertyName: 'kind' } });
    const responses = op(document, '/items/{id}', 'put')['responses'] as Obj;
    expect(responses['200']).toEqual({ description: 'ok', content: { 'application/json': { schema: { type: 'string', format: 'binary' } } } });
    expect(responses['404']).toEqual({ $ref: '#/components/responses/NotFound' });
    expect((document.components?.['responses'] as Obj)['NotFound']).toEqual({
      description: 'nope',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    });
  });

  it('uses a scheme-relative server when schemes are absent, and a relative one without host', () => {
    expect(swagger2ToOas3({ swagger: '2.0', host: 'h.example', paths: {} }).document.servers).toEqual([{ url: '//h.example' }]);
    expect(swagger2ToOas3({ swagger: '2.0', basePath: '/api', paths: {} }).document.servers).toEqual([{ url: '/api' }]);
  });
});
