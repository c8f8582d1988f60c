import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../errors/catalogue.js';
import { SchemaConverter, type SchemaMode } from './json-schema.js';
import type { JsonSchema } from './tool-definition.js';

function converter(schemas: Record<string, unknown>, version: '3.0' | '3.1' = '3.0') {
  return new SchemaConverter({ document: { components: { schemas } }, version, source: '"test.json"' });
}

/** Converts `schema` as a tool root would: with the `$defs` it needs. */
function rootOf(c: SchemaConverter, schema: unknown, mode: SchemaMode = 'input'): JsonSchema {
  const conv = c.unwrap(c.convert(schema, mode, '#/x'), mode);
  const defs = conv.needs ? c.defsFor(conv.needs, mode) : undefined;
  return defs ? { ...conv.schema, $defs: defs } : conv.schema;
}

function compile(schema: JsonSchema) {
  return new Ajv2020({ strict: false, logger: false }).compile(schema);
}

describe('SchemaConverter: refs and cycles', () => {
  it('inlines non-cyclic local refs', () => {
    const c = converter({ Tag: { type: 'object', properties: { name: { type: 'string' } } } });
    const root = rootOf(c, { type: 'object', properties: { tag: { $ref: '#/components/schemas/Tag' } } });
    expect(root).toEqual({ type: 'object', properties: { tag: { type: 'object', properties: { name: { type: 'string' } } } } });
  });

  it('turns a self-referencing schema into $defs + local $ref, never an object cycle', () => {
    const c = converter({
      Node: { type: 'object', properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } } },
    });
    const root = rootOf(c, { $ref: '#/components/schemas/Node' });
    expect(root['$defs']).toEqual({
      Node: { type: 'object', properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/Node' } } } },
    });
    expect((root['properties'] as Record<string, JsonSchema>)['children']).toEqual({ type: 'array', items: { $ref: '#/$defs/Node' } });
    expect(() => JSON.stringify(root)).not.toThrow();
    const validate = compile(root);
    expect(validate({ value: 'a', children: [{ value: 'b', children: [] }] })).toBe(true);
    expect(validate({ children: [{ value: 1 }] })).toBe(false);
  });

  it('handles mutual recursion and includes every def the root needs', () => {
    const c = converter({
      A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } },
      B: { type: 'object', properties: { a: { $ref: '#/components/schemas/A' }, n: { type: 'integer' } } },
    });
    const root = rootOf(c, { type: 'object', properties: { first: { $ref: '#/components/schemas/A' } } });
    const text = JSON.stringify(root);
    for (const ref of text.match(/"\$ref":"[^"]+"/g) ?? []) {
      const name = ref.slice('"$ref":"#/$defs/'.length, -1);
      expect(Object.keys(root['$defs'] as object)).toContain(name);
    }
    const validate = compile(root);
    expect(validate({ first: { b: { n: 1, a: { b: { n: 2 } } } } })).toBe(true);
    expect(validate({ first: { b: { n: 'x' } } })).toBe(false);
  });

  it('gives defs from different pointers with the same last token distinct names', () => {
    const c = converter({
      X: { type: 'object', properties: { node: { type: 'object', properties: { next: { $ref: '#/components/schemas/X/properties/node' } } } } },
      node: { type: 'object', properties: { self: { $ref: '#/components/schemas/node' } } },
    });
    const root = rootOf(c, {
      type: 'object',
      properties: { x: { $ref: '#/components/schemas/X' }, n: { $ref: '#/components/schemas/node' } },
    });
    expect(Object.keys(root['$defs'] as object)).toHaveLength(2);
    expect(compile(root)).toBeTypeOf('function');
  });

  it('memoises a component: converted once, the same object for every use', () => {
    const c = converter({ Pet: { type: 'object', properties: { id: { type: 'integer' } } } });
    const a = c.convert({ $ref: '#/components/schemas/Pet' }, 'input', '#/a');
    const b = c.convert({ $ref: '#/components/schemas/Pet' }, 'input', '#/b');
    expect(a.schema).toBe(b.schema);
  });

  it('refuses an external $ref, naming where it is and how to allow it', () => {
    const c = converter({});
    let err: unknown;
    try {
      c.convert({ type: 'object', properties: { p: { $ref: 'other.yaml#/Pet' } } }, 'input', '#/paths/~1pets/post/requestBody/content/application~1json/schema');
    } catch (e) {
      err = e;
    }
    expect(isGatehouseError(err) && err.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(String((err as Error).message)).toContain('#/paths/~1pets/post/requestBody/content/application~1json/schema/properties/p');
    expect(String((err as Error).message)).toContain('allowExternalRefs');
  });

  it('reports a dangling local $ref with its pointer', () => {
    const c = converter({});
    expect(() => c.convert({ $ref: '#/components/schemas/Nope' }, 'input', '#/paths/~1x/get/parameters/0/schema')).toThrow(
      /"#\/components\/schemas\/Nope" at #\/paths\/~1x\/get\/parameters\/0\/schema does not resolve/,
    );
  });
});

describe('SchemaConverter: keywords', () => {
  it('merges allOf at every depth (properties, required, own description first)', () => {
    const c = converter({
      Base: { type: 'object', required: ['id'], properties: { id: { type: 'integer' }, name: { type: 'string' } } },
    });
    const root = rootOf(c, {
      type: 'object',
      properties: {
        pet: {
          description: 'The pet',
          allOf: [
            { $ref: '#/components/schemas/Base' },
            { type: 'object', required: ['kind'], properties: { kind: { type: 'string' }, owner: { allOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { properties: { b: { type: 'number' } } }] } } },
          ],
        },
      },
    });
    expect(JSON.stringify(root)).not.toContain('allOf');
    const pet = (root['properties'] as Record<string, JsonSchema>)['pet'] as JsonSchema;
    expect(pet['description']).toBe('The pet');
    expect(pet['type']).toBe('object');
    expect(pet['required']).toEqual(['id', 'kind']);
    expect(Object.keys(pet['properties'] as object)).toEqual(['id', 'name', 'kind', 'owner']);
    expect((pet['properties'] as Record<string, JsonSchema>)['owner']).toEqual({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'number' } },
    });
  });

  it('keeps allOf members that cannot be merged exactly (two different patterns)', () => {
    const c = converter({});
    const root = rootOf(c, { allOf: [{ type: 'string', pattern: '^a' }, { pattern: 'b$' }] });
    expect(root).toEqual({ type: 'string', pattern: '^a', allOf: [{ pattern: 'b$' }] });
  });

  it('turns oneOf into anyOf and drops discriminator, xml, externalDocs, examples and x-*', () => {
    const c = converter({});
    const root = rootOf(c, {
      oneOf: [{ type: 'string' }, { type: 'integer' }],
      discriminator: { propertyName: 'kind' },
      xml: { name: 'x' },
      externalDocs: { url: 'https://example.com' },
      example: 'a',
      examples: ['a'],
      'x-internal': true,
    });
    expect(root).toEqual({ anyOf: [{ type: 'string' }, { type: 'integer' }] });
  });

  it('tags discriminated alternatives with their discriminator value', () => {
    const c = converter({
      Cat: { type: 'object', properties: { kind: { type: 'string' }, meows: { type: 'boolean' } } },
      Dog: { type: 'object', required: ['kind'], properties: { kind: { type: 'string' } } },
    });
    const root = rootOf(c, {
      oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }],
      discriminator: { propertyName: 'kind', mapping: { cat: '#/components/schemas/Cat' } },
    });
    const [cat, dog] = root['anyOf'] as JsonSchema[];
    expect((cat?.['properties'] as Record<string, JsonSchema>)['kind']).toEqual({ type: 'string', enum: ['cat'] });
    expect(cat?.['required']).toEqual(['kind']);
    expect((dog?.['properties'] as Record<string, JsonSchema>)['kind']).toEqual({ type: 'string', enum: ['Dog'] });
  });

  it('maps 3.0 nullable to anyOf with {type: "null"}, keeping enums on their branch, and wraps refs in anyOf', () => {
    const c = converter({ Tag: { type: 'object', properties: { n: { type: 'string' } } } });
    const root = rootOf(c, {
      type: 'object',
      properties: {
        s: { type: 'string', nullable: true },
        e: { type: 'string', enum: ['a', 'b'], nullable: true },
        r: { allOf: [{ $ref: '#/components/schemas/Tag' }], nullable: true },
        u: { anyOf: [{ type: 'string' }, { type: 'integer' }], nullable: true },
      },
    });
    const p = root['properties'] as Record<string, JsonSchema>;
    expect(p['s']).toEqual({ anyOf: [{ type: 'string' }, { type: 'null' }] });
    expect(p['e']).toEqual({ anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] });
    expect(p['r']).toEqual({ anyOf: [{ type: 'object', properties: { n: { type: 'string' } } }, { type: 'null' }] });
    expect(p['u']).toEqual({ anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] });
    const validate = compile(root);
    expect(validate({ s: null, e: null, r: null, u: null })).toBe(true);
    expect(validate({ e: 'c' })).toBe(false);
  });

  it('splits 3.1 type arrays into single-type anyOf branches and converts 3.0 boolean exclusive bounds', () => {
    const c = converter({}, '3.1');
    expect(rootOf(c, { type: ['string', 'null'], maxLength: 3, description: 'd' })).toEqual({ anyOf: [{ type: 'string', maxLength: 3 }, { type: 'null' }], description: 'd' });
    expect(rootOf(c, { type: ['integer', 'string'], minimum: 1, pattern: '^x', enum: [1, 'x'] })).toEqual({
      anyOf: [
        { type: 'integer', minimum: 1, enum: [1] },
        { type: 'string', pattern: '^x', enum: ['x'] },
      ],
    });
    expect(rootOf(c, { type: ['string'] })).toEqual({ type: 'string' });
    expect(rootOf(c, { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 9 })).toEqual({ type: 'number', exclusiveMinimum: 0, maximum: 9 });
    expect(rootOf(c, { type: 'number', exclusiveMaximum: 5 })).toEqual({ type: 'number', exclusiveMaximum: 5 });
  });

  it('gives every array items, and keeps enum, default, format, pattern and bounds', () => {
    const c = converter({});
    expect(rootOf(c, { type: 'array' })).toEqual({ type: 'array', items: {} });
    const s = { type: 'string', enum: ['a'], default: 'a', format: 'email', pattern: '^a$', minLength: 1, maxLength: 9, description: 'd' };
    expect(rootOf(c, s)).toEqual(s);
  });

  it('removes readOnly properties from inputs and writeOnly ones from outputs, at every depth and from required', () => {
    const c = converter({
      Id: { type: 'string', readOnly: true },
      User: {
        type: 'object',
        required: ['id', 'name', 'password'],
        properties: {
          id: { $ref: '#/components/schemas/Id' },
          name: { type: 'string' },
          password: { type: 'string', writeOnly: true },
          address: { type: 'object', required: ['created'], properties: { created: { type: 'string', readOnly: true }, street: { type: 'string' } } },
        },
      },
    });
    const input = rootOf(c, { $ref: '#/components/schemas/User' }, 'input');
    expect(input).toEqual({
      type: 'object',
      required: ['name', 'password'],
      properties: { name: { type: 'string' }, password: { type: 'string' }, address: { type: 'object', properties: { street: { type: 'string' } } } },
    });
    const output = rootOf(c, { $ref: '#/components/schemas/User' }, 'output');
    expect(Object.keys(output['properties'] as object)).toEqual(['id', 'name', 'address']);
    expect(output['required']).toEqual(['id', 'name']);
    expect(JSON.stringify(input) + JSON.stringify(output)).not.toMatch(/readOnly|writeOnly/);
  });

  it('removes readOnly properties inherited through allOf from the merged required list', () => {
    const c = converter({ Base: { type: 'object', properties: { id: { type: 'integer', readOnly: true } } } });
    const root = rootOf(c, { allOf: [{ $ref: '#/components/schemas/Base' }, { required: ['id', 'name'], properties: { name: { type: 'string' } } }] });
    expect(root).toEqual({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] });
  });

  it('drops redundant titles and shortens long descriptions', () => {
    const c = converter({ PetName: { type: 'string', title: 'Pet name' } });
    const long = 'word '.repeat(200);
    const root = rootOf(c, {
      type: 'object',
      title: 'Body',
      description: long,
      properties: { petName: { $ref: '#/components/schemas/PetName' }, status: { type: 'string', title: 'Status' }, other: { type: 'string', title: 'A useful label' } },
    });
    expect(root['title']).toBeUndefined();
    expect((root['description'] as string).length).toBeLessThanOrEqual(300);
    expect((root['description'] as string).endsWith('…')).toBe(true);
    const p = root['properties'] as Record<string, JsonSchema>;
    expect(p['petName']).toEqual({ type: 'string' });
    expect(p['status']).toEqual({ type: 'string' });
    expect(p['other']).toEqual({ type: 'string', title: 'A useful label' });
  });

  it('drops invalid keyword values with a warning so the schema always compiles', () => {
    const c = converter({});
    const root = rootOf(c, {
      type: 'object',
      required: true,
      properties: {
        a: { type: 'string', pattern: 0 },
        b: { type: 'string', pattern: '^[\\w-.]+$' },
        c: { type: 'any' },
        d: { type: 'integer', minimum: '5', maxLength: -1 },
        e: { enum: [] },
      },
    });
    expect(root).toEqual({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' }, c: {}, d: { type: 'integer', minimum: 5 }, e: {} } });
    expect(c.warnings.join('\n')).toContain('#/x/properties/a/pattern');
    expect(c.warnings.join('\n')).toContain('#/x/properties/b/pattern');
    expect(c.warnings.join('\n')).toContain('#/x/required');
    expect(compile(root)).toBeTypeOf('function');
  });
});

describe('SchemaConverter.outputShape', () => {
  const c = converter({
    Node: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', description: 'Not in outputs.', enum: ['a'] },
        parent: { $ref: '#/components/schemas/Node' },
        tags: { type: 'array', items: { type: 'object', properties: { t: { type: 'string' } } } },
        secret: { type: 'string', writeOnly: true },
        when: { type: 'string', format: 'date-time', nullable: true },
        either: { oneOf: [{ type: 'integer' }, { type: 'string' }] },
        anything: { description: 'no type' },
      },
    },
    Extended: { allOf: [{ $ref: '#/components/schemas/Node' }, { properties: { extra: { type: 'boolean' } } }] },
    List: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
    Big: { type: 'object', properties: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`property_${i}`, { type: 'string' }])) },
  });
  const shape = (name: string) => c.outputShape({ $ref: `#/components/schemas/${name}` }, '#/x');

  it('keeps the top-level properties with their types only, without writeOnly ones, through $ref and allOf', () => {
    const node = { name: { type: 'string' }, parent: { type: 'object' }, tags: { type: 'array' }, when: { anyOf: [{ type: 'string' }, { type: 'null' }] }, either: { anyOf: [{ type: 'integer' }, { type: 'string' }] }, anything: {} };
    expect(shape('Node')).toEqual({ type: 'object', properties: node });
    expect(shape('Extended')).toEqual({ type: 'object', properties: { ...node, extra: { type: 'boolean' } } });
  });

  it('is undefined for a response that is not an object, and a bare object when the shape would be long', () => {
    expect(shape('List')).toBeUndefined();
    expect(c.outputShape({ type: 'object', nullable: true, properties: { a: { type: 'string' } } }, '#/y')).toBeUndefined();
    expect(shape('Big')).toEqual({ type: 'object' });
    expect(c.outputShape({ type: 'object', additionalProperties: { type: 'integer' } }, '#/z')).toEqual({ type: 'object' });
  });
});
