/**
 * OpenAPI Schema Object (3.0 or 3.1) → JSON Schema draft 2020-12 that MCP
 * clients and LLM providers accept, and that Ajv compiles.
 *
 * - Local `$ref`s are inlined. A schema on a reference cycle cannot be inlined,
 *   so it becomes `$defs/<Name>` at the root of the tool schema and is referred
 *   to as `{ "$ref": "#/$defs/<Name>" }` (never an object cycle, never `{}`).
 * - `allOf` is merged into one schema at every depth; `oneOf` becomes `anyOf`
 *   (exclusivity cannot be checked without a discriminator, and several
 *   providers reject `oneOf`).
 * - 3.0 `nullable: true` → `"null"` added to `type` (and `enum`), or an `anyOf`
 *   with `{ "type": "null" }` when there is no type to extend.
 * - 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum` → 2020-12 numeric form.
 * - Inputs lose `readOnly` properties, outputs lose `writeOnly` ones, at every
 *   depth, and from `required` too (OAS 3.0.3 §Fixed Fields "readOnly"/"writeOnly").
 * - Only JSON Schema keywords are kept: `discriminator`, `xml`, `externalDocs`,
 *   `example(s)`, `x-*`, `$id`/`$schema`/`$comment`, redundant titles and
 *   `default: null` are dropped; descriptions are cut to whole sentences of
 *   their first paragraph (short-text.ts). Invalid keyword values (a numeric
 *   `pattern`, a regex Ajv's `u` flag rejects, `required: true`...) are dropped
 *   with a warning, so the result always compiles. (The spec check leaves
 *   Schema Objects to this converter: spec-schema.ts.)
 * - Argument validation runs patterns on RE2, in linear time (linear-regexp.ts).
 *   An input `pattern` RE2 cannot compile (lookaround, backreferences) stays in
 *   the schema, for the agent to follow, with a warning that it is not enforced;
 *   such a `patternProperties` key is dropped with a warning.
 * - Output schemas are shapes, not conversions: the top-level properties of a
 *   response with their types ({@link SchemaConverter.outputShape}).
 *
 * Conversions are memoised per schema object and mode, so a component schema
 * used by hundreds of operations is converted once; results are shared between
 * tools and must be treated as immutable.
 */
import { createHash } from 'node:crypto';
import type { JsonSchema, ObjectSchema } from './tool-definition.js';
import { childPointer } from './json-pointer.js';
import { isLinearPattern } from './linear-regexp.js';
import { isObj, put, type Obj } from './oas.js';
import { resolveRef, type Located } from './refs.js';
import { shortText } from './short-text.js';

/** `input`: tool arguments (readOnly removed). `output`: structured results (writeOnly removed). */
export type SchemaMode = 'input' | 'output';

/** A converted schema plus what its parent needs to know about it. */
export interface Converted {
  /** The JSON Schema; shared between tools, do not mutate. */
  schema: JsonSchema;
  /** Names of root `$defs` it refers to (directly; see {@link SchemaConverter.defsFor}). */
  needs?: readonly string[];
  /** The schema is marked readOnly (its property is dropped from inputs). */
  readOnly?: boolean;
  /** The schema is marked writeOnly (its property is dropped from outputs). */
  writeOnly?: boolean;
  /** Properties dropped for readOnly/writeOnly; removed from `required` after allOf merges. */
  removed?: readonly string[];
}

export interface SchemaConverterOptions {
  /** The whole (3.x-shaped) OpenAPI document; `$ref`s resolve against it. */
  document: unknown;
  /** 3.0 and 3.1 differ in `nullable` and exclusive bounds; both forms are accepted either way. */
  version: '3.0' | '3.1';
  /** Names the spec in error messages. */
  source: string;
  /** Longest schema description kept, in characters (default {@link MAX_SCHEMA_DESCRIPTION}). */
  maxDescription?: number;
}

/** Default cap on schema and parameter descriptions, in characters (whole sentences: see short-text.ts). */
export const MAX_SCHEMA_DESCRIPTION = 200;
/**
 * Output shapes serialised longer than this (characters of JSON) become a bare
 * `{ "type": "object" }`: an object with a hundred properties is documentation,
 * not something a client needs in every tools/list.
 */
export const MAX_OUTPUT_SHAPE = 2048;

const EMPTY: Converted = { schema: {} };
const NEVER: Converted = { schema: { not: {} } };
const NULL_TYPE: JsonSchema = { type: 'null' };
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const LOWER_BOUNDS = new Set(['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties', 'minContains']);
const UPPER_BOUNDS = new Set(['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties', 'maxContains']);
/** When schemas are merged, the first value of these wins. */
const FIRST_WINS = new Set(['description', 'title', 'default', 'format', 'deprecated', 'contentMediaType', 'contentEncoding']);

export class SchemaConverter {
  readonly warnings: string[] = [];
  private readonly doc: unknown;
  private readonly source: string;
  private readonly maxDescription: number;
  private readonly memo = { input: new WeakMap<object, Converted>(), output: new WeakMap<object, Converted>() };
  private readonly inProgress = { input: new Set<object>(), output: new Set<object>() };
  private readonly cyclic = { input: new Set<object>(), output: new Set<object>() };
  private readonly defs = { input: new Map<string, Converted>(), output: new Map<string, Converted>() };
  private readonly defNames = new Map<object, string>();
  private readonly usedDefNames = new Set<string>();
  private readonly warned = new Set<string>();
  private readonly patternOk = new Map<string, boolean>();
  private readonly linearOk = new Map<string, boolean>();
  private readonly refs = new Map<string, Located>();
  /** Converted schema → the name of the component it was converted from. */
  private readonly names = new WeakMap<object, string>();
  private readonly typeMemo = new WeakMap<object, readonly string[] | null>();
  private readonly shapes = new WeakMap<object, ObjectSchema | null>();

  constructor(opts: SchemaConverterOptions) {
    this.doc = opts.document;
    this.source = opts.source;
    this.maxDescription = opts.maxDescription ?? MAX_SCHEMA_DESCRIPTION;
  }

  /** Converts the schema found at `pointer` (a `#/...` JSON pointer, used in warnings and errors). */
  convert(schema: unknown, mode: SchemaMode, pointer: string): Converted {
    if (schema === undefined || schema === true) return EMPTY;
    if (schema === false) return NEVER;
    if (!isObj(schema)) {
      this.warn(`${pointer}: a schema must be an object; treated as {}`);
      return EMPTY;
    }
    return this.node(schema, mode, pointer, undefined);
  }

  /**
   * When `c` is a bare `{ $ref: "#/$defs/X" }`, the converted body of X (what a
   * root schema needs to see its properties); otherwise `c` itself.
   */
  unwrap(c: Converted, mode: SchemaMode): Converted {
    const name = defRefName(c.schema);
    const body = name === undefined ? undefined : this.defs[mode].get(name);
    // The body's own needs lead back to X: it is on a cycle.
    return body ?? c;
  }

  /** The `$defs` a root schema needs for `needs` (transitively), or undefined if none. */
  defsFor(needs: Iterable<string>, mode: SchemaMode): Record<string, JsonSchema> | undefined {
    const defs = this.defs[mode];
    const out: Record<string, JsonSchema> = {};
    const queue = [...needs];
    let any = false;
    for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
      if (Object.hasOwn(out, name)) continue;
      const body = defs.get(name);
      out[name] = body?.schema ?? {};
      any = true;
      if (body?.needs) queue.push(...body.needs);
    }
    if (!any) return undefined;
    // Stable key order: the same spec gives byte-identical schemas.
    return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k] as JsonSchema]));
  }

  /** The name of the component schema `schema` (a converted schema) was converted from, if any. */
  nameOf(schema: object): string | undefined {
    return this.names.get(schema);
  }

  /**
   * The output schema of a response whose schema is `schema`: an object with
   * the response's top-level properties, each with its type(s) only, or
   * undefined when the response is not a JSON object. Longer than
   * {@link MAX_OUTPUT_SHAPE}, just `{ "type": "object" }`.
   *
   * Why so little: response schemas are big and highly connected (Stripe's
   * expandable objects reach most of the API from any response), tools/list
   * must stay small, a model reads result values rather than the output
   * schema, and deep structure is where specs most often disagree with real
   * responses, which a client validating structuredContent would reject. So
   * nothing narrows what is accepted below the top level: no `required`, no
   * `enum`, no `format`, `writeOnly` properties left out (OAS 3.0.3 "writeOnly").
   * Only the top level is read, never converted: the rest of a response schema
   * costs nothing at import.
   */
  outputShape(schema: unknown, pointer: string): ObjectSchema | undefined {
    // Responses are mostly refs to shared components: one shape per component.
    const key = this.target(schema, pointer)?.schema;
    if (key === undefined) return undefined;
    let shape = this.shapes.get(key);
    if (shape === undefined) {
      shape = this.buildShape(schema, pointer) ?? null;
      this.shapes.set(key, shape);
    }
    return shape ?? undefined;
  }

  private buildShape(schema: unknown, pointer: string): ObjectSchema | undefined {
    const rootTypes = this.typesOf(schema, pointer, 0);
    if (rootTypes === null || rootTypes.length !== 1 || rootTypes[0] !== 'object') return undefined;
    // Each property costs at least `"name":{"type":"x"},`: too many names, no need to type them.
    let least = 0;
    this.eachProperty(schema, pointer, 0, (name) => {
      least += name.length + 17;
    });
    if (least > MAX_OUTPUT_SHAPE) return { type: 'object' };
    const properties: Record<string, JsonSchema> = {};
    let size = 0;
    this.eachProperty(schema, pointer, 0, (name, prop, propPointer) => {
      if (Object.hasOwn(properties, name) || this.isWriteOnly(prop, propPointer(), 0)) return;
      const types = this.typesOf(prop, propPointer(), 0);
      const shape: JsonSchema = types === null ? {} : types.length === 1 ? { type: types[0] } : { anyOf: types.map((type) => ({ type })) };
      put(properties, name, shape);
      size += name.length + (types === null ? 6 : 12 + types.join('","').length + (types.length > 1 ? 2 : 0));
    });
    if (size > MAX_OUTPUT_SHAPE) return { type: 'object' };
    return Object.keys(properties).length > 0 ? { type: 'object', properties } : { type: 'object' };
  }

  /** Follows `$ref`s to a schema object (or undefined for `true`, a non-object, or a ref loop). */
  private target(schema: unknown, pointer: string): { schema: Obj; pointer: string } | undefined {
    let cur = schema;
    let at = pointer;
    for (let hops = 0; isObj(cur) && typeof cur['$ref'] === 'string'; hops++) {
      if (hops >= 16) return undefined;
      // Keywords beside a $ref apply too (see convertRef): callers read such a
      // schema, then its target (members, typesOf).
      if (Object.keys(cur).length > 1) return { schema: cur, pointer: at };
      const ref = cur['$ref'];
      let t = this.refs.get(ref);
      if (!t) {
        t = resolveRef(this.doc, ref, at, this.source);
        this.refs.set(ref, t);
      }
      cur = t.value;
      at = t.pointer;
    }
    return isObj(cur) ? { schema: cur, pointer: at } : undefined;
  }

  /** `schema` itself and, through `allOf` and `$ref` siblings, every schema merged into it. */
  private members(schema: unknown, pointer: string, depth: number, fn: (s: Obj, at: string) => void): void {
    const t = this.target(schema, pointer);
    if (!t || depth > 16) return;
    fn(t.schema, t.pointer);
    const { schema: s, pointer: at } = t;
    // A $ref with siblings: `s` (seen above) holds the siblings; now the target.
    if (typeof s['$ref'] === 'string') this.members({ $ref: s['$ref'] }, at, depth + 1, fn);
    if (Array.isArray(s['allOf'])) s['allOf'].forEach((m, i) => this.members(m, childPointer(childPointer(at, 'allOf'), i), depth + 1, fn));
  }

  private eachProperty(schema: unknown, pointer: string, depth: number, fn: (name: string, prop: unknown, pointer: () => string) => void): void {
    this.members(schema, pointer, depth, (s, at) => {
      const props = s['properties'];
      if (!isObj(props)) return;
      for (const name in props) fn(name, props[name], () => childPointer(childPointer(at, 'properties'), name));
    });
  }

  private isWriteOnly(schema: unknown, pointer: string, depth: number): boolean {
    let writeOnly = false;
    this.members(schema, pointer, depth, (s) => {
      writeOnly ||= s['writeOnly'] === true;
    });
    return writeOnly;
  }

  /**
   * The JSON types a schema allows, as the converter would type it, or null
   * for "any" (no type, or an alternative without one). Always at least as wide
   * as the converted schema.
   */
  private typesOf(schema: unknown, pointer: string, depth: number): readonly string[] | null {
    const t = this.target(schema, pointer);
    if (!t || depth > 16) return null;
    const hit = this.typeMemo.get(t.schema);
    if (hit !== undefined) return hit;
    this.typeMemo.set(t.schema, null); // a loop through allOf/anyOf reads as "any"
    const s = t.schema;
    let types: string[] | null = null;
    const declared = s['type'];
    if (declared !== undefined) {
      const list = (Array.isArray(declared) ? declared : [declared]).map((x) => (x === 'file' ? 'string' : x));
      const ok = list.filter((x): x is string => typeof x === 'string' && TYPES.has(x));
      if (ok.length > 0) types = [...new Set(ok)];
    }
    const narrow = (more: readonly string[] | null) => {
      if (more === null) return;
      if (types === null) types = [...more];
      else {
        const both = intersectTypes(types.length === 1 ? types[0] : types, more.length === 1 ? more[0] : more);
        types = Array.isArray(both) ? (both as string[]) : [both as string];
      }
    };
    if (typeof s['$ref'] === 'string') {
      const { $ref: ref, ...siblings } = s;
      narrow(this.typesOf({ $ref: ref }, t.pointer, depth + 1));
      if (Object.keys(siblings).length > 0) narrow(this.typesOf(siblings, t.pointer, depth + 1));
    }
    if (Array.isArray(s['allOf'])) s['allOf'].forEach((m, i) => narrow(this.typesOf(m, childPointer(childPointer(t.pointer, 'allOf'), i), depth + 1)));
    const alternatives = Array.isArray(s['anyOf']) ? s['anyOf'] : Array.isArray(s['oneOf']) ? s['oneOf'] : undefined;
    if (types === null && alternatives) {
      const union = new Set<string>();
      let any = false;
      alternatives.forEach((a, i) => {
        const at = this.typesOf(a, childPointer(childPointer(t.pointer, Array.isArray(s['anyOf']) ? 'anyOf' : 'oneOf'), i), depth + 1);
        if (at === null) any = true;
        else at.forEach((x) => union.add(x));
      });
      if (!any && union.size > 0) types = [...union];
    }
    if (types === null && isObj(s['properties']) && !alternatives) types = ['object'];
    const finalTypes: string[] | null = types;
    if (finalTypes !== null && s['nullable'] === true && !finalTypes.includes('null')) finalTypes.push('null');
    this.typeMemo.set(t.schema, finalTypes);
    return finalTypes;
  }

  private node(schema: Obj, mode: SchemaMode, pointer: string, name: string | undefined): Converted {
    const hit = this.memo[mode].get(schema);
    if (hit) return hit;
    const progress = this.inProgress[mode];
    if (progress.has(schema)) {
      // A back edge: this schema contains itself. Refer to it through $defs.
      this.cyclic[mode].add(schema);
      const defName = this.defName(schema, pointer);
      return { schema: { $ref: `#/$defs/${defName}` }, needs: [defName], readOnly: schema['readOnly'] === true, writeOnly: schema['writeOnly'] === true };
    }
    // (No try/finally: a throw abandons the whole import, and this converter with it.)
    progress.add(schema);
    let body = typeof schema['$ref'] === 'string' ? this.convertRef(schema, mode, pointer) : this.convertPlain(schema, mode, pointer, name, []);
    progress.delete(schema);
    let result = body;
    if (this.cyclic[mode].has(schema)) {
      const defName = this.defName(schema, pointer);
      if (defRefName(body.schema) === defName) {
        this.warn(`${pointer}: $ref cycle with no schema in between; treated as {}`);
        body = EMPTY;
      }
      this.defs[mode].set(defName, body);
      result = { schema: { $ref: `#/$defs/${defName}` }, needs: [defName], readOnly: body.readOnly, writeOnly: body.writeOnly };
    }
    if (name !== undefined && result.schema !== EMPTY.schema && !this.names.has(result.schema)) this.names.set(result.schema, name);
    this.memo[mode].set(schema, result);
    return result;
  }

  /**
   * A subschema inside a schema being converted. Only `$ref` targets (and the
   * entry points, see {@link convert}) are memoised and tracked for cycles:
   * every cycle in a JSON document passes through a `$ref`.
   */
  private child(v: unknown, mode: SchemaMode, pointer: string): Converted {
    if (v === undefined || v === true) return EMPTY;
    if (v === false) return NEVER;
    if (!isObj(v)) {
      this.warn(`${pointer}: a schema must be an object; treated as {}`);
      return EMPTY;
    }
    return typeof v['$ref'] === 'string' ? this.convertRef(v, mode, pointer) : this.convertPlain(v, mode, pointer, undefined, []);
  }

  private convertRef(schema: Obj, mode: SchemaMode, pointer: string): Converted {
    const ref = schema['$ref'] as string;
    let target = this.refs.get(ref);
    if (!target) {
      target = resolveRef(this.doc, ref, pointer, this.source);
      this.refs.set(ref, target);
    }
    let resolved: Converted;
    if (isObj(target.value)) {
      const last = ref.slice(ref.lastIndexOf('/') + 1);
      resolved = this.node(target.value, mode, target.pointer, last);
    } else {
      resolved = this.child(target.value, mode, target.pointer);
    }
    // Keywords beside $ref apply too (OAS 3.1 / 2020-12; in 3.0 they are
    // officially ignored, but `description`/`nullable`/`readOnly` next to a $ref
    // are common and meant): merge them as if the ref were an allOf member.
    let siblings: Obj | undefined;
    for (const k of Object.keys(schema)) {
      if (k === '$ref' || k === 'summary' || k.startsWith('x-') || IGNORED.has(k)) continue;
      siblings ??= {};
      siblings[k] = schema[k];
    }
    return siblings ? this.convertPlain(siblings, mode, pointer, undefined, [resolved]) : resolved;
  }

  private convertPlain(s: Obj, mode: SchemaMode, pointer: string, name: string | undefined, members: Converted[]): Converted {
    const out: JsonSchema = {};
    let needs: string[] | undefined;
    let removed: string[] | undefined;
    const use = (c: Converted): JsonSchema => {
      if (c.needs) needs = union(needs, c.needs) as string[];
      return c.schema;
    };
    const input = mode === 'input';
    let readOnly = false;
    let writeOnly = false;
    let nullable = false;
    let title: string | undefined;
    let exclusiveMin: unknown;
    let exclusiveMax: unknown;
    let items: unknown;
    let prefix: unknown;
    // allOf (and $ref siblings, passed in as `members`) are merged into this
    // schema; anyOf/oneOf are alternatives, a single one merged like allOf.
    let all: Converted[] | undefined = members.length > 0 ? members.slice() : undefined;
    let alternatives: Converted[][] | undefined;

    // One pass over the keys present (schemas have a few keys each; probing
    // every known keyword on every node is what made this slow).
    for (const k in s) {
      const v = s[k];
      switch (k) {
        case 'type': {
          const t = this.type(v, pointer);
          if (t !== undefined) out['type'] = t;
          if (v === 'file' && s['format'] === undefined) out['format'] = 'binary';
          break;
        }
        // Prose and defaults help a model write arguments. Outputs keep
        // structure only: a model reads result values, not the output schema.
        case 'description':
          if (input) {
            const d = shortText(v, this.maxDescription);
            if (d) out['description'] = d;
          }
          break;
        case 'title':
          if (input) title = shortText(v, 120);
          break;
        case 'default':
          // `default: null` says nothing a model can use (the argument is optional either way).
          if (input && v !== null) out['default'] = v;
          break;
        case 'deprecated':
          if (input && v === true) out['deprecated'] = true;
          break;
        case 'const':
          out['const'] = v;
          break;
        case 'enum':
          if (Array.isArray(v) && v.length > 0) out['enum'] = v;
          else this.warn(`${pointer}/enum: must be a non-empty array; dropped`);
          break;
        case 'format':
        case 'contentMediaType':
        case 'contentEncoding':
          if (typeof v === 'string') out[k] = v;
          break;
        case 'pattern':
          if (typeof v === 'string' && this.validPattern(v)) {
            out['pattern'] = v;
            // Kept for the agent to read, but the validator (RE2) cannot run it: say so once, here.
            if (input && !this.linearPattern(v)) this.warn(`${pointer}/pattern: ${JSON.stringify(v)} uses lookaround or backreferences, which cannot be matched in linear time; shown to agents but not enforced`);
          } else this.warn(`${pointer}/pattern: ${JSON.stringify(v)} is not a valid ECMAScript (unicode) regular expression; dropped`);
          break;
        case 'multipleOf':
        case 'minimum':
        case 'maximum':
          this.number(v, k, out, pointer, false);
          break;
        case 'minLength':
        case 'maxLength':
        case 'minItems':
        case 'maxItems':
        case 'minProperties':
        case 'maxProperties':
        case 'minContains':
        case 'maxContains':
          this.number(v, k, out, pointer, true);
          break;
        case 'exclusiveMinimum':
          exclusiveMin = v;
          break;
        case 'exclusiveMaximum':
          exclusiveMax = v;
          break;
        case 'uniqueItems':
          if (v === true) out['uniqueItems'] = true;
          break;
        case 'readOnly':
          readOnly = v === true;
          break;
        case 'writeOnly':
          writeOnly = v === true;
          break;
        case 'nullable':
          nullable = v === true;
          break;
        case 'properties': {
          if (!isObj(v)) {
            this.warn(`${pointer}/properties: must be an object; dropped`);
            break;
          }
          const props: Record<string, JsonSchema> = {};
          const base = childPointer(pointer, 'properties');
          for (const key in v) {
            const c = this.child(v[key], mode, childPointer(base, key));
            if (input ? c.readOnly : c.writeOnly) (removed ??= []).push(key);
            else put(props, key, withoutRedundantTitle(use(c), key));
          }
          out['properties'] = props;
          break;
        }
        case 'required':
          if (Array.isArray(v)) {
            const req = [...new Set(v.filter((r): r is string => typeof r === 'string'))];
            if (req.length > 0) out['required'] = req;
          } else {
            this.warn(`${pointer}/required: must be an array of property names; dropped`);
          }
          break;
        case 'additionalProperties':
          out[k] = typeof v === 'boolean' ? v : use(this.child(v, mode, childPointer(pointer, k)));
          break;
        case 'patternProperties':
        case 'dependentSchemas': {
          if (!isObj(v)) break;
          const conv: Record<string, JsonSchema> = {};
          for (const key in v) {
            if (k === 'patternProperties' && !this.validPattern(key)) {
              this.warn(`${pointer}/patternProperties: ${JSON.stringify(key)} is not a valid ECMAScript (unicode) regular expression; dropped`);
              continue;
            }
            // A property-name pattern the validator cannot run would match every name (linear-regexp.ts): dropped instead.
            if (k === 'patternProperties' && input && !this.linearPattern(key)) {
              this.warn(`${pointer}/patternProperties: ${JSON.stringify(key)} uses lookaround or backreferences, which cannot be matched in linear time; dropped`);
              continue;
            }
            put(conv, key, use(this.child(v[key], mode, childPointer(childPointer(pointer, k), key))));
          }
          out[k] = conv;
          break;
        }
        case 'dependentRequired':
          if (isObj(v)) out[k] = v;
          break;
        case 'propertyNames':
        case 'contains':
        case 'not':
        case 'if':
        case 'then':
        case 'else':
        case 'unevaluatedProperties':
        case 'unevaluatedItems':
          out[k] = use(this.child(v, mode, childPointer(pointer, k)));
          break;
        case 'items':
          items = v;
          break;
        case 'prefixItems':
          prefix = v;
          break;
        case 'allOf':
          if (Array.isArray(v)) v.forEach((m, i) => (all ??= []).push(this.child(m, mode, childPointer(childPointer(pointer, k), i))));
          break;
        case 'anyOf':
        case 'oneOf': {
          if (!Array.isArray(v)) break;
          let conv = v.map((m, i) => this.child(m, mode, childPointer(childPointer(pointer, k), i)));
          if (isObj(s['discriminator'])) conv = this.tagAlternatives(s['discriminator'], v, conv, mode);
          if (conv.length === 1) (all ??= []).push(conv[0] as Converted);
          else if (conv.length > 1) (alternatives ??= []).push(conv);
          break;
        }
        default:
        // Not JSON Schema (discriminator, xml, example, x-*...): dropped.
      }
    }

    if (title && out['description'] === undefined && !(name && sameWords(title, name))) out['title'] = title;
    this.exclusive(exclusiveMin, 'exclusiveMinimum', 'minimum', out, pointer);
    this.exclusive(exclusiveMax, 'exclusiveMaximum', 'maximum', out, pointer);
    // Draft-04 tuple form `items: [..]` is 2020-12 `prefixItems`.
    if (Array.isArray(items)) prefix = items;
    if (Array.isArray(prefix)) out['prefixItems'] = prefix.map((v, i) => use(this.child(v, mode, childPointer(childPointer(pointer, 'prefixItems'), i))));
    if (items !== undefined && !Array.isArray(items)) out['items'] = use(this.child(items, mode, childPointer(pointer, 'items')));

    for (const m of all ?? []) {
      const c = this.unwrap(m, mode);
      readOnly ||= c.readOnly === true;
      writeOnly ||= c.writeOnly === true;
      if (c.removed) removed = union(removed, c.removed) as string[];
      mergeInto(out, use(c));
    }
    for (const alts of alternatives ?? []) {
      const anyOf = alts.map(use);
      if (out['anyOf'] === undefined) out['anyOf'] = anyOf;
      else residual(out, { anyOf });
    }

    if (removed && Array.isArray(out['required'])) {
      const gone = new Set(removed);
      const req = (out['required'] as string[]).filter((r) => !gone.has(r));
      if (req.length > 0) out['required'] = req;
      else delete out['required'];
    }
    if (out['type'] === undefined && out['properties'] !== undefined && out['anyOf'] === undefined && out['$ref'] === undefined) out['type'] = 'object';
    const typeNow = out['type'];
    if ((typeNow === 'array' || (Array.isArray(typeNow) && typeNow.includes('array'))) && out['items'] === undefined) out['items'] = {};

    const result: Converted = { schema: splitTypeArray(nullable ? makeNullable(out) : out) };
    if (needs) result.needs = needs;
    if (readOnly) result.readOnly = true;
    if (writeOnly) result.writeOnly = true;
    if (removed) result.removed = removed;
    return result;
  }

  /**
   * The discriminator itself is dropped, but what it says is kept: each `$ref`
   * alternative gets its discriminator value(s) as an `enum` on the
   * discriminating property (OAS 3.1 §4.8.25: from `mapping`, else the schema
   * name), so a model can tell the alternatives apart.
   */
  private tagAlternatives(discriminator: Obj, raw: unknown[], conv: Converted[], mode: SchemaMode): Converted[] {
    const prop = discriminator['propertyName'];
    if (typeof prop !== 'string') return conv;
    const mapping = isObj(discriminator['mapping']) ? discriminator['mapping'] : {};
    return conv.map((c, i) => {
      const r = raw[i];
      if (!isObj(r) || typeof r['$ref'] !== 'string') return c;
      const ref = r['$ref'];
      const schemaName = ref.slice(ref.lastIndexOf('/') + 1);
      let values = Object.keys(mapping).filter((key) => mapping[key] === ref || mapping[key] === schemaName);
      if (values.length === 0) values = [schemaName];
      const body = this.unwrap(c, mode);
      const props = body.schema['properties'];
      if (!isObj(props)) return c;
      const current = isObj(props[prop]) ? props[prop] : {};
      if (current['enum'] !== undefined || current['const'] !== undefined) return body;
      const required = Array.isArray(body.schema['required']) ? (body.schema['required'] as string[]) : [];
      const schema: JsonSchema = { ...body.schema, properties: { ...props, [prop]: { ...current, enum: values } } };
      if (!required.includes(prop)) schema['required'] = [...required, prop];
      return { ...body, schema };
    });
  }

  private type(t: unknown, pointer: string): string | string[] | undefined {
    if (t === undefined) return undefined;
    const list = Array.isArray(t) ? t : [t];
    const ok: string[] = [];
    for (const x of list) {
      const v = x === 'file' ? 'string' : x;
      if (typeof v === 'string' && TYPES.has(v)) {
        if (!ok.includes(v)) ok.push(v);
      } else {
        this.warn(`${pointer}/type: ${JSON.stringify(x)} is not a JSON Schema type; dropped`);
      }
    }
    if (ok.length === 0) return undefined;
    return ok.length === 1 ? ok[0] : ok;
  }

  private number(raw: unknown, key: string, out: JsonSchema, pointer: string, count: boolean): void {
    // Numbers written as strings ("10") are a common slip; read them as numbers.
    const v = typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    const ok = typeof v === 'number' && Number.isFinite(v) && (count ? Number.isInteger(v) && v >= 0 : key !== 'multipleOf' || v > 0);
    if (ok) out[key] = v;
    else this.warn(`${pointer}/${key}: ${JSON.stringify(raw)} is not a valid value; dropped`);
  }

  /** 3.0 `exclusiveMinimum: true` + `minimum: n` → 2020-12 `exclusiveMinimum: n`; 3.1 numbers stay. */
  private exclusive(v: unknown, key: 'exclusiveMinimum' | 'exclusiveMaximum', bound: 'minimum' | 'maximum', out: JsonSchema, pointer: string): void {
    if (v === undefined || v === false) return;
    if (typeof v === 'number' && Number.isFinite(v)) {
      out[key] = v;
    } else if (v === true) {
      if (typeof out[bound] === 'number') {
        out[key] = out[bound];
        delete out[bound];
      }
    } else {
      this.warn(`${pointer}/${key}: ${JSON.stringify(v)} is not a valid value; dropped`);
    }
  }

  private validPattern(p: string): boolean {
    let ok = this.patternOk.get(p);
    if (ok === undefined) {
      try {
        // Ajv compiles patterns with the `u` flag (its default unicodeRegExp).
        new RegExp(p, 'u');
        ok = true;
      } catch {
        ok = false;
      }
      this.patternOk.set(p, ok);
    }
    return ok;
  }

  private linearPattern(p: string): boolean {
    let ok = this.linearOk.get(p);
    if (ok === undefined) {
      ok = isLinearPattern(p);
      this.linearOk.set(p, ok);
    }
    return ok;
  }

  private defName(schema: object, pointer: string): string {
    const known = this.defNames.get(schema);
    if (known) return known;
    const last = pointer.slice(pointer.lastIndexOf('/') + 1).replaceAll('~1', '/').replaceAll('~0', '~');
    const base = last.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48) || 'schema';
    let name = base;
    if (this.usedDefNames.has(name)) name = `${base}_${createHash('sha256').update(pointer).digest('hex').slice(0, 6)}`;
    for (let i = 2; this.usedDefNames.has(name); i++) name = `${base}_${i}`;
    this.usedDefNames.add(name);
    this.defNames.set(schema, name);
    return name;
  }

  private warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warnings.push(message);
  }
}

/** Keywords that carry no meaning for validation or for a model; never copied. */
const IGNORED = new Set(['discriminator', 'xml', 'externalDocs', 'example', 'examples', '$id', '$schema', '$comment', '$anchor', '$defs', 'definitions', '$dynamicAnchor', '$dynamicRef', '$vocabulary']);

function defRefName(schema: JsonSchema): string | undefined {
  const ref = schema['$ref'];
  if (typeof ref !== 'string' || !ref.startsWith('#/$defs/')) return undefined;
  for (const k in schema) if (k !== '$ref') return undefined;
  return ref.slice('#/$defs/'.length);
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): readonly string[] | undefined {
  if (!b || b.length === 0) return a;
  if (!a || a.length === 0) return b;
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

/**
 * Merges `src` (an allOf member, shared: not mutated) into `target` (fresh).
 * Keywords that cannot be combined into one value go to a residual `allOf`,
 * which keeps the result exact.
 */
function mergeInto(target: JsonSchema, src: JsonSchema): void {
  for (const [k, v] of Object.entries(src)) {
    const cur = target[k];
    if (cur === undefined) {
      target[k] = v;
      continue;
    }
    if (cur === v || FIRST_WINS.has(k)) continue;
    if (k === 'properties' && isObj(cur) && isObj(v)) {
      const merged: Record<string, unknown> = { ...cur };
      for (const [name, schema] of Object.entries(v)) {
        const mine = merged[name];
        put(merged, name, mine === undefined || mine === schema ? schema : mergeTwo(mine as JsonSchema, schema as JsonSchema));
      }
      target[k] = merged;
    } else if (k === 'required' && Array.isArray(cur) && Array.isArray(v)) {
      target[k] = [...new Set([...(cur as string[]), ...(v as string[])])];
    } else if (k === 'type') {
      target[k] = intersectTypes(cur, v);
    } else if (k === 'enum' && Array.isArray(cur) && Array.isArray(v)) {
      const keep = cur.filter((x) => v.some((y) => JSON.stringify(x) === JSON.stringify(y)));
      if (keep.length > 0) target[k] = keep;
      else residual(target, { enum: v });
    } else if (LOWER_BOUNDS.has(k) && typeof cur === 'number' && typeof v === 'number') {
      target[k] = Math.max(cur, v);
    } else if (UPPER_BOUNDS.has(k) && typeof cur === 'number' && typeof v === 'number') {
      target[k] = Math.min(cur, v);
    } else if (k === 'items' && isObj(cur) && isObj(v)) {
      target[k] = mergeTwo(cur, v);
    } else if (k === 'additionalProperties') {
      // allOf-composed objects mean "the union of the members' properties":
      // keep a closing `false` from any member.
      if (v === false) target[k] = false;
    } else if (k === 'allOf' && Array.isArray(cur) && Array.isArray(v)) {
      target[k] = [...cur, ...v];
    } else if (JSON.stringify(cur) !== JSON.stringify(v)) {
      residual(target, { [k]: v });
    }
  }
}

function mergeTwo(a: JsonSchema, b: JsonSchema): JsonSchema {
  const t = { ...a };
  mergeInto(t, b);
  return t;
}

function residual(target: JsonSchema, part: JsonSchema): void {
  const list = Array.isArray(target['allOf']) ? [...(target['allOf'] as JsonSchema[])] : [];
  list.push(part);
  target['allOf'] = list;
}

function intersectTypes(a: unknown, b: unknown): unknown {
  const A = Array.isArray(a) ? (a as string[]) : [a as string];
  const B = Array.isArray(b) ? (b as string[]) : [b as string];
  const out: string[] = [];
  for (const t of A) {
    if (B.includes(t)) out.push(t);
    else if (t === 'integer' && B.includes('number')) out.push('integer');
  }
  for (const t of B) if (t === 'integer' && A.includes('number') && !out.includes('integer')) out.push('integer');
  // Contradictory types: keep the first member's, a model can still follow it.
  if (out.length === 0) return a;
  return out.length === 1 ? out[0] : out;
}

/** Keywords that constrain only values of one JSON type (draft 2020-12 validation vocabulary). */
const KEYWORDS_BY_TYPE: Record<string, readonly string[]> = {
  string: ['minLength', 'maxLength', 'pattern', 'format', 'contentEncoding', 'contentMediaType'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'format'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'format'],
  array: ['items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems', 'contains', 'minContains', 'maxContains'],
  object: ['properties', 'required', 'additionalProperties', 'patternProperties', 'minProperties', 'maxProperties', 'propertyNames', 'dependentRequired', 'dependentSchemas'],
};
const ANNOTATION_KEYWORDS = ['description', 'title', 'default', 'deprecated', 'examples'];

function hasJsonType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

/**
 * `type: [A, B]` → `anyOf: [{type: A, …A's keywords}, {type: B, …}]`. A type
 * array is valid JSON Schema, but clients that map tool schemas onto a
 * single-`type` dialect (e.g. the OpenAPI subset of Gemini function
 * declarations) reject the tool or drop the constraint; `anyOf` branches with
 * one type each are understood everywhere. This is also how OAS 3.0
 * `nullable: true` ends up: `anyOf: [{type: T, …}, {type: "null"}]`.
 */
export function splitTypeArray(s: JsonSchema): JsonSchema {
  const types = s['type'];
  if (!Array.isArray(types)) return s;
  if (types.length === 1) return { ...s, type: types[0] };
  // Schemas that already compose keep their type array (rare; still valid).
  if (s['anyOf'] !== undefined || s['oneOf'] !== undefined || s['allOf'] !== undefined || s['$ref'] !== undefined || s['not'] !== undefined) return s;
  const values = Array.isArray(s['enum']) ? (s['enum'] as unknown[]) : s['const'] !== undefined ? [s['const']] : undefined;
  const branches: JsonSchema[] = [];
  for (const type of types as string[]) {
    const branch: JsonSchema = { type };
    for (const k of KEYWORDS_BY_TYPE[type] ?? []) if (s[k] !== undefined) branch[k] = s[k];
    if (values !== undefined) {
      const own = values.filter((v) => hasJsonType(v, type));
      if (own.length === 0) continue;
      if (type !== 'null') branch['enum'] = own;
    }
    branches.push(branch);
  }
  if (branches.length === 1) return { ...stripTyped(s), ...branches[0] };
  const out: JsonSchema = { anyOf: branches };
  for (const k of ANNOTATION_KEYWORDS) if (s[k] !== undefined) out[k] = s[k];
  return out;
}

function stripTyped(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const k of ANNOTATION_KEYWORDS) if (s[k] !== undefined) out[k] = s[k];
  return out;
}

/**
 * Makes `s` accept null (OAS 3.0 `nullable: true`). Only `type`, `enum`,
 * `const` and composition keywords can reject null; extend or wrap those.
 */
function makeNullable(s: JsonSchema): JsonSchema {
  const t = s['type'];
  if (typeof t === 'string') {
    if (t !== 'null') s['type'] = [t, 'null'];
  } else if (Array.isArray(t)) {
    if (!t.includes('null')) s['type'] = [...t, 'null'];
  }
  if (Array.isArray(s['enum']) && !s['enum'].includes(null)) s['enum'] = [...s['enum'], null];
  if (s['const'] !== undefined && s['const'] !== null) {
    s['enum'] = [s['const'], null];
    delete s['const'];
  }
  if (t === undefined && Array.isArray(s['anyOf']) && s['allOf'] === undefined && s['$ref'] === undefined && s['not'] === undefined) {
    const alts = s['anyOf'] as JsonSchema[];
    if (!alts.some((a) => a['type'] === 'null')) s['anyOf'] = [...alts, NULL_TYPE];
    return s;
  }
  if (t === undefined && (s['$ref'] !== undefined || s['allOf'] !== undefined || s['anyOf'] !== undefined || s['not'] !== undefined)) {
    const { description, title, default: dflt, deprecated, ...rest } = s;
    const wrapped: JsonSchema = { anyOf: [rest, NULL_TYPE] };
    if (description !== undefined) wrapped['description'] = description;
    if (title !== undefined) wrapped['title'] = title;
    if (dflt !== undefined) wrapped['default'] = dflt;
    if (deprecated !== undefined) wrapped['deprecated'] = deprecated;
    return wrapped;
  }
  return s;
}

/** Trims and shortens a description to `max` characters (cut at a word boundary, with "…"). */
export function shorten(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  if (t === '') return undefined;
  if (t.length <= max) return t;
  const cut = t.slice(0, max - 1);
  const space = cut.search(/\s\S*$/);
  return (space > max * 0.6 ? cut.slice(0, space) : cut).trimEnd() + '…';
}

function sameWords(a: string, b: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  return norm(a) === norm(b);
}

function withoutRedundantTitle(schema: JsonSchema, key: string): JsonSchema {
  const title = schema['title'];
  if (typeof title !== 'string' || !sameWords(title, key)) return schema;
  const { title: _drop, ...rest } = schema;
  return rest;
}
