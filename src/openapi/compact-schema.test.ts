import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { INPUT_SCHEMA_BUDGET, InputCompactor, MAX_NESTED_DESCRIPTION } from './compact-schema.js';
import type { JsonSchema } from './tool-definition.js';

const LONG = 'This sentence says what the field is. ' + 'It then goes on about details nobody needs in a tool list. '.repeat(4);

function compactor(names: Map<object, string> = new Map()): InputCompactor {
  return new InputCompactor((s) => names.get(s));
}

/** An object schema with `n` string properties, each with a long description. */
function wide(n: number, prefix = 'field'): JsonSchema {
  return { type: 'object', properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}_${i}`, { type: 'string', maxLength: 64, description: LONG }])) };
}

describe('InputCompactor', () => {
  it('keeps top-level descriptions and titles; nested ones get the first sentence and no title', () => {
    const nested: JsonSchema = { type: 'object', title: 'Address', description: LONG, properties: { city: { type: 'string', title: 'City', description: LONG, pattern: '^[A-Z]', default: 'X' } } };
    const alternatives = { anyOf: [{ type: 'object', title: 'optional_fields_shipping', properties: { name: { type: 'string' } } }, { type: 'string', enum: [''] }] };
    const out = compactor().compact({ address: { ...nested, description: 'Where it goes.' }, q: { type: 'string', title: 'Query' }, shipping: alternatives }, ['q'], undefined);
    expect(out).toEqual({
      type: 'object',
      properties: {
        address: { type: 'object', title: 'Address', description: 'Where it goes.', properties: { city: { type: 'string', description: 'This sentence says what the field is.', pattern: '^[A-Z]', default: 'X' } } },
        q: { type: 'string', title: 'Query' },
        shipping: { anyOf: [{ type: 'object', properties: { name: { type: 'string' } } }, { type: 'string', enum: [''] }] },
      },
      required: ['q'],
    });
  });

  it('leaves a schema under the budget alone: no $defs, shared subschemas stay inline', () => {
    const shared: JsonSchema = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer' } } };
    const props = { one: shared, two: { type: 'array', items: shared } };
    const out = compactor().compact(props, [], undefined);
    expect(out['$defs']).toBeUndefined();
    expect(JSON.stringify(out)).not.toContain('$ref');
    // Nothing to change: the very same objects are served.
    expect(out.properties?.['one']).toBe(shared);
  });

  it('over the budget, moves a subschema used twice to $defs under its component name, validating the same', () => {
    const container = wide(120, 'c');
    const names = new Map<object, string>([[container, 'io.k8s.api.core.v1.Container']]);
    const props = { spec: { type: 'object', properties: { containers: { type: 'array', items: container }, initContainers: { type: 'array', maxItems: 9, items: container } } } };
    const before = JSON.stringify(props).length;
    expect(before).toBeGreaterThan(INPUT_SCHEMA_BUDGET);
    const out = compactor(names).compact(props, [], undefined);
    const text = JSON.stringify(out);
    expect(text.length).toBeLessThanOrEqual(INPUT_SCHEMA_BUDGET);
    expect(Object.keys(out['$defs'] as object)).toEqual(['Container']);
    expect(text.match(/"\$ref":"#\/\$defs\/Container"/g)).toHaveLength(2);
    // Descriptions survive when sharing alone is enough.
    expect(text).toContain('This sentence says what the field is.');
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(out);
    expect(validate({ spec: { containers: [{ c_1: 'x' }], initContainers: [] } })).toBe(true);
    expect(validate({ spec: { initContainers: [{ c_1: 7 }] } })).toBe(false);
  });

  it('shares equal inline subschemas too, named after the property they are first found under', () => {
    const categories = () => ({ type: 'array', items: { type: 'string', enum: Array.from({ length: 400 }, (_, i) => `merchant_category_${i}`) } });
    const out = compactor().compact({ controls: { type: 'object', properties: { allowed_categories: categories(), blocked_categories: categories() } } }, [], undefined);
    expect(Object.keys(out['$defs'] as object)).toEqual(['allowed_categories']);
    expect(JSON.stringify(out).length).toBeLessThan(JSON.stringify(categories()).length + 300);
  });

  it('then drops nested descriptions level by level, never the top-level ones', () => {
    const deep = { type: 'object', description: 'Top.', properties: { inner: { ...wide(250), description: LONG } } };
    const out = compactor().compact({ deep, other: { type: 'string', description: 'Other.' } }, [], undefined);
    const text = JSON.stringify(out);
    expect(text.length).toBeLessThanOrEqual(INPUT_SCHEMA_BUDGET);
    expect(out.properties?.['deep']?.['description']).toBe('Top.');
    expect(out.properties?.['other']?.['description']).toBe('Other.');
    // Level 2 (`inner`) keeps its sentence, level 3 (its fields) lost theirs.
    const inner = (out.properties?.['deep']?.['properties'] as Record<string, JsonSchema>)['inner'] as JsonSchema;
    expect(inner['description']).toBe('This sentence says what the field is.');
    expect((inner['properties'] as Record<string, JsonSchema>)['field_0']).toEqual({ type: 'string', maxLength: 64 });
  });

  it('cuts nested descriptions to one sentence of at most MAX_NESTED_DESCRIPTION characters', () => {
    const out = compactor().compact({ o: { type: 'object', properties: { x: { type: 'string', description: 'word '.repeat(80) } } } }, [], undefined);
    const d = ((out.properties?.['o']?.['properties'] as Record<string, JsonSchema>)['x'] as JsonSchema)['description'] as string;
    expect(d.length).toBeLessThanOrEqual(MAX_NESTED_DESCRIPTION);
    expect(d.endsWith('…')).toBe(true);
  });

  it('keeps property names such as __proto__ and $ref as properties', () => {
    const props = JSON.parse('{"o":{"type":"object","properties":{"__proto__":{"type":"string","title":"T"},"$ref":{"type":"string"}}}}') as Record<string, JsonSchema>;
    const out = compactor().compact(props, [], undefined);
    const inner = out.properties?.['o']?.['properties'] as Record<string, JsonSchema>;
    expect(Object.keys(inner)).toEqual(['__proto__', '$ref']);
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
  });
});
