import { describe, expect, it } from 'vitest';
import { compileArgsValidator, createArgsAjv } from '../registry/validate-args.js';
import { SchemaConverter } from './json-schema.js';
import { globToRegExp as modelGlob } from '../ai/engine/router.js';
import { compileLinear, linearRegExpEngine } from './linear-regexp.js';
import { globToRegExp } from './select-operations.js';
import type { ObjectSchema } from './tool-definition.js';

/** A tool's input schema as the importer makes it, and the warnings it gave. */
function importSchema(schema: unknown): { schema: ObjectSchema; warnings: string[] } {
  const c = new SchemaConverter({ document: {}, version: '3.1', source: '"test.json"' });
  const conv = c.convert(schema, 'input', '#/paths/~1items/post/requestBody');
  return { schema: conv.schema as ObjectSchema, warnings: c.warnings };
}

describe('spec patterns run in linear time', () => {
  it('validates a catastrophic pattern against a 40-character argument, and names the field', () => {
    const { schema, warnings } = importSchema({ type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } });
    expect(warnings).toEqual([]);
    const validate = compileArgsValidator(createArgsAjv(), schema);
    // With a backtracking engine this call takes hours (2^40 paths).
    expect(validate({ name: `${'a'.repeat(39)}!` })).toEqual(['name: must match pattern "^(a+)+$"']);
    expect(validate({ name: 'a'.repeat(40) })).toEqual([]);
  });

  it('keeps a lookahead pattern in the schema for the agent, warns with its JSON pointer, and does not enforce it', () => {
    const pattern = '^(?!-)[a-z-]+$';
    const { schema, warnings } = importSchema({ type: 'object', properties: { host: { type: 'string', pattern } } });
    expect(schema).toEqual({ type: 'object', properties: { host: { type: 'string', pattern } } });
    expect(warnings).toEqual([`#/paths/~1items/post/requestBody/properties/host/pattern: "${pattern}" uses lookaround or backreferences, which cannot be matched in linear time; shown to agents but not enforced`]);
    const validate = compileArgsValidator(createArgsAjv(), schema);
    expect(validate({ host: '-not-checked' })).toEqual([]);
  });

  it('drops a patternProperties key RE2 cannot compile, with a warning, and enforces the others', () => {
    const { schema, warnings } = importSchema({
      type: 'object',
      patternProperties: { '^(x)\\1$': { type: 'integer' }, '^n_': { type: 'integer' } },
    });
    expect(schema).toEqual({ type: 'object', patternProperties: { '^n_': { type: 'integer' } } });
    expect(warnings.join('\n')).toContain('#/paths/~1items/post/requestBody/patternProperties: "^(x)\\\\1$" uses lookaround or backreferences');
    expect(compileArgsValidator(createArgsAjv(), schema)({ n_a: 'x', xx: 'y' })).toEqual(['n_a: must be integer']);
  });

  it('gives each pattern its own matcher within one Ajv instance', () => {
    const ajv = createArgsAjv();
    const a = compileArgsValidator(ajv, { type: 'object', properties: { v: { type: 'string', pattern: '^a$' } } });
    const b = compileArgsValidator(ajv, { type: 'object', properties: { v: { type: 'string', pattern: '^b$' } } });
    expect([a({ v: 'a' }), b({ v: 'b' }), b({ v: 'a' })]).toEqual([[], [], ['v: must match pattern "^b$"']]);
  });

  it('reads ECMAScript spellings RE2 writes differently, and searches unanchored', () => {
    const re = compileLinear('^\\u00e9\\/(?<n>\\d+)');
    expect(re).not.toBeInstanceOf(Error);
    expect((re as { test(s: string): boolean }).test('é/12x')).toBe(true);
    expect(linearRegExpEngine()('b', '').test('abc')).toBe(true);
    expect(linearRegExpEngine()('^b', '').test('abc')).toBe(false);
  });
});

describe('format: regex', () => {
  it('refuses a 1 MiB "regular expression" argument without compiling it, and accepts a real one', () => {
    const validate = compileArgsValidator(createArgsAjv(), { type: 'object', properties: { re: { type: 'string', format: 'regex' } } });
    expect(validate({ re: 'a.'.repeat(524_288) })).toEqual(['re: must match format "regex"']);
    expect(validate({ re: '^[a-z]+$' })).toEqual([]);
    expect(validate({ re: '(' })).toEqual(['re: must match format "regex"']);
  });
});

describe('globs run in linear time', () => {
  // Rules, rate limits and ai routes match globs against what requests carry
  // (model names, principals); `^.*a.*a.*a.*b$` backtracks in time n^4.
  const hostile = 'a'.repeat(200_000);

  it('matches a many-star glob against a long name at once (rules, rate limits, filters)', () => {
    expect(globToRegExp('*a*a*a*b', 'operationId').test(hostile)).toBe(false);
    expect(globToRegExp('*a*a*a*b', 'operationId').test(`${hostile}b`)).toBe(true);
    expect(globToRegExp('/**/a/*', 'path').test(`/${'x/'.repeat(50_000)}a/b`)).toBe(true);
  });

  it('matches a many-star model route against a long model name at once', () => {
    expect(modelGlob('*a*a*a*b').test(hostile)).toBe(false);
    expect(modelGlob('gpt-4*').test('gpt-4o\nmini')).toBe(true);
  });
});
