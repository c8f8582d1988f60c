/**
 * Makes a tool's input schema compact for tools/list, which every client
 * fetches in every session (and many put in front of the model whole).
 *
 * The rules, in order of what a model needs most:
 * 1. Every argument stays, with its constraints: `type`, `enum`, `const`,
 *    `default`, `format`, `pattern`, bounds, `required`, nested structure.
 *    Validation never changes; only prose is shortened or left out, and
 *    repeats are shared.
 * 2. Top-level arguments keep their description: whole sentences of its first
 *    paragraph, up to 200 characters (the converter and operation-to-tool cut
 *    them; short-text.ts).
 * 3. Nested properties (inside an object argument, at any depth) keep only
 *    the first sentence of their description, up to 120 characters. Only an
 *    argument's own schema keeps a `title` (the converter keeps one only when
 *    there is no description); those of nested schemas and of alternatives
 *    (Stripe's `anyOf: [{ title: "optional_fields_address", ... }]`) go.
 * 4. A tool whose schema is still longer than 16 KB of JSON (Kubernetes'
 *    workloads, Stripe's richest bodies; GitHub has none) is reduced step by
 *    step until it fits, or until nothing is left to take:
 *    a. a subschema of 256+ characters used more than once in the tool (a
 *       Kubernetes Container appears in `containers` and `initContainers`, a
 *       Probe three times in each) moves to `$defs`, once, named after its
 *       component (`Container`) or the property it is first found under, and
 *       each use becomes a local `$ref`;
 *    b. nested descriptions are kept only down to the deepest level that
 *       fits (the 4th at most; level 1 is the arguments), else all of them
 *       go; top-level ones always stay.
 *    Tools under the budget get no new `$ref`s: some clients follow refs badly.
 *
 * Everything is memoised by object identity: the converter shares converted
 * component schemas between tools, and so does this (a shared schema is
 * compacted once per level, not once per tool).
 */
import type { JsonSchema, ObjectSchema } from './tool-definition.js';
import { isObj as isSchemaObject, put } from './oas.js';
import { shortText } from './short-text.js';

/** Characters of a nested property's description (first sentence only). */
export const MAX_NESTED_DESCRIPTION = 120;
/** Characters of JSON above which a tool's input schema is reduced (rule 4). */
export const INPUT_SCHEMA_BUDGET = 16 * 1024;
/** Smallest subschema (characters of JSON) worth moving to `$defs` (rule 4a). */
const MIN_SHARED = 256;
/** Rule 4b: the deepest level whose nested descriptions may be kept when a tool is over budget (1 = top level only). */
const MAX_DESCRIPTION_LEVEL = 4;

/** Schema keywords whose values are maps of subschemas; one level deeper for the property ones. */
const SCHEMA_MAPS = { properties: 1, patternProperties: 1, dependentSchemas: 0, $defs: 0 } as const;
/** Keywords whose value is one subschema, with the level step into it. */
const SCHEMA_SLOTS = {
  additionalProperties: 1,
  items: 0,
  contains: 0,
  not: 0,
  if: 0,
  then: 0,
  else: 0,
  propertyNames: 0,
  unevaluatedProperties: 1,
  unevaluatedItems: 0,
} as const;
const SCHEMA_LISTS = new Set(['anyOf', 'allOf', 'oneOf', 'prefixItems']);

type Schema = JsonSchema;

export class InputCompactor {
  private readonly nameOf: (schema: object) => string | undefined;
  /** Per description level and node level: compacted copies. */
  private readonly memo = new Map<string, WeakMap<object, Schema>>();
  private readonly sizes = new WeakMap<object, number>();
  private readonly names = new WeakMap<object, string>();
  private readonly descriptions = new Map<string, string>();
  private readonly shapeIds = new WeakMap<object, number>();
  private readonly argSizes = new WeakMap<object, number>();
  private readonly shapes = new Map<string, number>();

  /** @param nameOf the component name a (converted) schema came from, to name its `$defs` entry. */
  constructor(nameOf: (schema: object) => string | undefined) {
    this.nameOf = nameOf;
  }

  /**
   * The compact input schema of a tool with these top-level properties,
   * required names and `$defs` (the converter's, for recursive schemas).
   */
  compact(properties: Record<string, Schema>, required: readonly string[], defs: Record<string, Schema> | undefined): ObjectSchema {
    const full = this.withLevels(properties, required, defs, Infinity);
    if (this.argsSize(full) <= INPUT_SCHEMA_BUDGET) return full;
    const shared = this.share(full);
    if (this.size(shared) <= INPUT_SCHEMA_BUDGET) return shared;
    // Rule 4b: the most description levels that fit (levels only ever cost bytes,
    // so the smallest is tried first and the rest by bisection).
    const attempt = (keep: number) => this.share(this.withLevels(properties, required, defs, keep));
    let best = attempt(1);
    if (this.size(best) > INPUT_SCHEMA_BUDGET) return best;
    let lo = 1;
    let hi = MAX_DESCRIPTION_LEVEL + 1; // deeper levels are not tried
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const candidate = attempt(mid);
      if (this.size(candidate) <= INPUT_SCHEMA_BUDGET) {
        best = candidate;
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return best;
  }

  private withLevels(properties: Record<string, Schema>, required: readonly string[], defs: Record<string, Schema> | undefined, keep: number): ObjectSchema {
    const props: Record<string, Schema> = {};
    for (const [name, p] of Object.entries(properties)) put(props, name, this.node(p, 1, keep, true));
    const schema: ObjectSchema = { type: 'object', properties: props };
    if (required.length > 0) schema.required = [...required];
    if (defs) {
      const out: Record<string, Schema> = {};
      // A def is used from anywhere, so it is nested (level 2) wherever it is used.
      for (const [name, d] of Object.entries(defs)) put(out, name, this.node(d, 2, keep));
      schema['$defs'] = out;
    }
    return schema;
  }

  /**
   * `s` at `level` (1 = a top-level argument, and the alternatives and items
   * of one), keeping nested descriptions down to level `keep`; `arg` when `s`
   * is the argument's own schema.
   */
  private node(s: Schema, level: number, keep: number, arg = false): Schema {
    // What a nested node becomes depends only on how many levels below it keep
    // descriptions, so tools and attempts share one memo per distance.
    const key = level === 1 ? `${arg ? 'arg' : 'top'}:${keep}` : keep === Infinity ? 'all' : String(Math.max(-1, keep - level));
    let memo = this.memo.get(key);
    if (!memo) this.memo.set(key, (memo = new WeakMap()));
    const hit = memo.get(s);
    if (hit) return hit;

    let out: Schema | undefined;
    const change = (k: string, v: unknown) => {
      out ??= { ...s };
      if (v === undefined) delete out[k];
      else out[k] = v;
    };
    // A title names a schema; only an argument's own one can say more than its name.
    if (!arg && s['title'] !== undefined) change('title', undefined);
    if (level > 1) {
      const d = s['description'];
      if (d !== undefined) change('description', level <= keep ? this.nestedDescription(d) : undefined);
    }
    for (const k in s) {
      const v = s[k];
      if (v === null || typeof v !== 'object') continue;
      if (Object.hasOwn(SCHEMA_MAPS, k)) {
        const step = SCHEMA_MAPS[k as keyof typeof SCHEMA_MAPS];
        let map: Record<string, Schema> | undefined;
        for (const [name, child] of Object.entries(v as Record<string, Schema>)) {
          if (!isSchemaObject(child)) continue;
          const c = this.node(child, level + step, keep);
          if (c !== child) put((map ??= { ...(v as Record<string, Schema>) }), name, c);
        }
        if (map) change(k, map);
      } else if (Object.hasOwn(SCHEMA_SLOTS, k)) {
        if (!isSchemaObject(v)) continue;
        const c = this.node(v, level + SCHEMA_SLOTS[k as keyof typeof SCHEMA_SLOTS], keep);
        if (c !== v) change(k, c);
      } else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) {
        const list = v.map((x: unknown) => (isSchemaObject(x) ? this.node(x, level, keep) : x));
        if (list.some((x, i) => x !== v[i])) change(k, list);
      }
    }
    const result: Schema = out ?? s;
    const name = this.names.get(s) ?? this.nameOf(s);
    if (name !== undefined && result !== s) this.names.set(result, name);
    memo.set(s, result);
    return result;
  }

  private nestedDescription(d: unknown): string | undefined {
    if (typeof d !== 'string') return undefined;
    let short = this.descriptions.get(d);
    if (short === undefined) {
      short = shortText(d, MAX_NESTED_DESCRIPTION, { firstSentence: true }) ?? '';
      this.descriptions.set(d, short);
    }
    return short || undefined;
  }

  /**
   * Rule 4a: every subschema of at least {@link MIN_SHARED} characters that
   * occurs twice or more in the tool (the same object, or an equal one: Stripe
   * repeats big inline enums) becomes a `$defs` entry.
   */
  private share(root: ObjectSchema): ObjectSchema {
    const defs = (root['$defs'] ?? {}) as Record<string, Schema>;
    const defBodies = new Set<number>(Object.values(defs).map((d) => this.shapeId(d)));
    const uses = new Map<number, number>();
    const first = new Map<number, { schema: Schema; key: string | undefined }>();
    const count = (s: Schema, key?: string) => {
      // What is smaller than MIN_SHARED holds nothing that big either.
      if (this.size(s) < MIN_SHARED) return;
      const id = this.shapeId(s);
      const n = uses.get(id) ?? 0;
      uses.set(id, n + 1);
      if (n > 0) return;
      first.set(id, { schema: s, key });
      eachSubschema(s, count);
    };
    eachSubschema(root, count);

    const shared = new Map<number, string>();
    const taken = new Set(Object.keys(defs));
    for (const [id, n] of uses) {
      const seen = first.get(id);
      if (n < 2 || !seen || defBodies.has(id) || isBareRef(seen.schema)) continue;
      // Named after its component (`io.k8s.api.core.v1.Container` → `Container`), else the property it is first found under.
      const component = this.names.get(seen.schema) ?? this.nameOf(seen.schema);
      shared.set(id, uniqueName(component?.slice(component.lastIndexOf('.') + 1) || seen.key || 'shared', taken));
    }
    if (shared.size === 0) return root;

    const containsShared = new Map<object, boolean>();
    const contains = (s: Schema): boolean => {
      let c = containsShared.get(s);
      if (c === undefined) {
        c = false;
        if (this.size(s) >= MIN_SHARED) {
          eachSubschema(s, (x) => {
            c ||= (this.size(x) >= MIN_SHARED && shared.has(this.shapeId(x))) || contains(x);
          });
        }
        containsShared.set(s, c);
      }
      return c;
    };
    const rewrite = (s: Schema, self: boolean): Schema => {
      const name = self || this.size(s) < MIN_SHARED ? undefined : shared.get(this.shapeId(s));
      if (name !== undefined) return { $ref: `#/$defs/${name}` };
      return contains(s) ? mapSubschemas(s, (x) => rewrite(x, false)) : s;
    };
    const out = rewrite(root, true) as ObjectSchema;
    const allDefs: Record<string, Schema> = { ...((out['$defs'] ?? {}) as Record<string, Schema>) };
    for (const [id, name] of shared) put(allDefs, name, rewrite((first.get(id) as { schema: Schema }).schema, true));
    out['$defs'] = Object.fromEntries(Object.keys(allDefs).sort().map((k) => [k, allDefs[k] as Schema]));
    return out;
  }

  /**
   * A number that is the same for equal JSON values (same keys in the same
   * order, same values), memoised per object: equality of whole subtrees in
   * one lookup each.
   */
  private shapeId(v: object): number {
    let id = this.shapeIds.get(v);
    if (id !== undefined) return id;
    let key: string;
    if (Array.isArray(v)) {
      key = '[';
      for (const x of v) key += (x !== null && typeof x === 'object' ? `#${this.shapeId(x)}` : JSON.stringify(x) ?? 'null') + ',';
    } else {
      key = '{';
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        key += `${JSON.stringify(k)}:${x !== null && typeof x === 'object' ? `#${this.shapeId(x)}` : JSON.stringify(x)},`;
      }
    }
    id = this.shapes.get(key);
    if (id === undefined) {
      id = this.shapes.size;
      this.shapes.set(key, id);
    }
    this.shapeIds.set(v, id);
    return id;
  }

  /**
   * Characters of `JSON.stringify(schema)` for a schema fresh from
   * withLevels: argument schemas are measured natively, once each (many are
   * shared by several tools); the rest of the tree is seldom looked at.
   */
  private argsSize(schema: ObjectSchema): number {
    let n = 0;
    for (const [k, v] of Object.entries(schema)) {
      let size: number;
      if (k === 'properties') {
        size = 2;
        for (const [name, p] of Object.entries(v as Record<string, Schema>)) {
          let arg = this.argSizes.get(p);
          if (arg === undefined) this.argSizes.set(p, (arg = JSON.stringify(p).length));
          size += jsonStringLength(name) + 1 + arg + 1;
        }
        if (size > 2) size -= 1;
      } else {
        size = JSON.stringify(v).length;
      }
      n += jsonStringLength(k) + 1 + size + 1;
    }
    return n + 1;
  }

  /** Characters of `JSON.stringify(s)`, memoised per object. */
  size(s: unknown): number {
    if (typeof s === 'string') return jsonStringLength(s);
    if (s === null || typeof s !== 'object') return s === undefined ? 0 : String(s).length;
    const hit = this.sizes.get(s);
    if (hit !== undefined) return hit;
    let n = 2;
    if (Array.isArray(s)) {
      for (const x of s) n += this.size(x) + 1;
      if (s.length > 0) n -= 1;
    } else {
      let first = true;
      for (const k in s) {
        const v = (s as Record<string, unknown>)[k];
        if (v === undefined) continue;
        n += jsonStringLength(k) + 1 + this.size(v) + (first ? 0 : 1);
        first = false;
      }
    }
    this.sizes.set(s, n);
    return n;
  }
}

/** `JSON.stringify(s).length`, without building the string when nothing needs escaping. */
function jsonStringLength(s: string): number {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s).length : s.length + 2;
}
// Control characters are exactly what JSON escapes.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function isBareRef(s: Schema): boolean {
  return typeof s['$ref'] === 'string' && Object.keys(s).length === 1;
}

/** Calls `fn` on each direct subschema of `s` (objects only; booleans are not shared), with its name in a map of subschemas. */
function eachSubschema(s: Schema, fn: (sub: Schema, name?: string) => void): void {
  for (const k in s) {
    const v = s[k];
    if (v === null || typeof v !== 'object') continue;
    if (Object.hasOwn(SCHEMA_MAPS, k)) {
      for (const [name, child] of Object.entries(v as Record<string, unknown>)) if (isSchemaObject(child)) fn(child, name);
    } else if (Object.hasOwn(SCHEMA_SLOTS, k)) {
      if (isSchemaObject(v)) fn(v);
    } else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) {
      for (const x of v) if (isSchemaObject(x)) fn(x);
    }
  }
}

/** A copy of `s` with each direct subschema replaced by `fn(sub)`. */
function mapSubschemas(s: Schema, fn: (sub: Schema) => Schema): Schema {
  const out: Schema = { ...s };
  for (const k in s) {
    const v = s[k];
    if (v === null || typeof v !== 'object') continue;
    if (Object.hasOwn(SCHEMA_MAPS, k)) {
      const map: Record<string, unknown> = {};
      for (const [name, child] of Object.entries(v as Record<string, unknown>)) put(map, name, isSchemaObject(child) ? fn(child) : child);
      out[k] = map;
    } else if (Object.hasOwn(SCHEMA_SLOTS, k)) {
      if (isSchemaObject(v)) out[k] = fn(v);
    } else if (SCHEMA_LISTS.has(k) && Array.isArray(v)) {
      out[k] = v.map((x: unknown) => (isSchemaObject(x) ? fn(x) : x));
    }
  }
  return out;
}

/** A `$defs` key: the component's name, made pointer-safe, then `_2`, `_3`... when taken. */
function uniqueName(wanted: string, taken: Set<string>): string {
  const base = wanted.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48) || 'shared';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}
