import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SpecVersion } from './load-spec.js';
import { compileSpecValidator, specJsonSchema, specValidatorModule, type SpecValidator } from './spec-schema.js';

const SPECS = new URL('../../specs/', import.meta.url);
const read = (p: string): unknown => {
  const text = readFileSync(new URL(p, SPECS), 'utf8');
  return p.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
};

/** Imports the standalone module the build writes, from a temp dir (its require() resolves from this package). */
async function standalone(version: SpecVersion): Promise<SpecValidator> {
  const here = fileURLToPath(import.meta.url);
  const code = specValidatorModule(version).replace('createRequire(import.meta.url)', `createRequire(${JSON.stringify(here)})`);
  const file = join(mkdtempSync(join(tmpdir(), 'gh-spec-schema-')), `v${version}.mjs`);
  writeFileSync(file, code);
  return ((await import(pathToFileURL(file).href)) as { default: SpecValidator }).default;
}

const docs: Record<SpecVersion, { valid: string; invalid: unknown }> = {
  '2.0': { valid: 'edge/swagger2-petstore.json', invalid: { swagger: '2.0', info: { title: 't' }, paths: { '/a': { get: { responses: { '200': { description: 1 } } } } } } },
  '3.0': { valid: 'real/stripe.com.json', invalid: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/a': { get: { parameters: [{ $ref: 5 }, { name: 'q', in: 'body' }] } } } } },
  '3.1': { valid: 'edge/oas31-train-travel.yaml', invalid: { openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { '/a': { get: { responses: { '200': { content: 1 } } } } } } },
};

describe('spec validators', () => {
  it.each(['2.0', '3.0', '3.1'] as const)('OAS %s: the precompiled module and an in-process compile give the same verdict and errors', async (version) => {
    const built = await standalone(version);
    const compiled = compileSpecValidator(version);
    const { valid, invalid } = docs[version];
    expect(built(read(valid))).toBe(true);
    expect(compiled(read(valid))).toBe(true);
    expect(built(invalid)).toBe(false);
    expect(compiled(invalid)).toBe(false);
    expect(built.errors).toEqual(compiled.errors);
    expect(built.errors?.length).toBeGreaterThan(0);
  }, 30_000);

  it('leaves the keywords inside Schema Objects to the converter, and still requires an object', () => {
    const check = compileSpecValidator('3.0');
    const doc = (schema: unknown) => ({ openapi: '3.0.3', info: { title: 't', version: '1' }, paths: {}, components: { schemas: { A: schema } } });
    expect(check(doc({ type: 'strnig', pattern: 5, 'x-any': 1 }))).toBe(true);
    expect(check(doc('string'))).toBe(false);
    expect(check(doc({ $ref: 7 }))).toBe(false);
  });

  it('is a copy: the shared official schemas are not modified', () => {
    const a = specJsonSchema('3.0');
    (a['definitions'] as Record<string, unknown>)['Info'] = {};
    expect((specJsonSchema('3.0')['definitions'] as Record<string, unknown>)['Info']).not.toEqual({});
  });
});
