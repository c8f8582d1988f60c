/**
 * Turns Ajv's errors into one line per wrong field, for people: the field as a
 * path (`backends[0].tools`), the bad value where it helps, what was expected,
 * and for an unknown field the nearest known one ("did you mean `host`?").
 */
import type { ErrorObject } from 'ajv';

/** `/backends/0/name` → `backends[0].name`. */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map(unescapePointer);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

/**
 * One message per problem, each once. `data` is the validated value and `schema`
 * the root schema the errors' `schemaPath`s point into (both read to name the bad
 * value and the known fields: the validators are built without Ajv's `verbose`, so
 * the errors carry neither).
 */
export function describeErrors(errors: readonly ErrorObject[], data: unknown, schema: object): string[] {
  // A oneOf reports every branch's failure at the same field and then its own:
  // said once, as the oneOf's line. Errors deeper inside a branch stay (they name the field to fix).
  const oneOfs = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const branchOf = (e: ErrorObject) => oneOfs.find((o) => o !== e && o.instancePath === e.instancePath && e.schemaPath.startsWith(`${o.schemaPath}/`));
  const messages = new Set<string>();
  for (const e of errors) {
    // An `if` error only repeats that its `then` branch failed; that branch's own errors name the fields.
    if (e.keyword === 'if') continue;
    if (branchOf(e) !== undefined) continue;
    if (e.keyword === 'oneOf' && exactlyOneOf(schemaAt(schema, e.schemaPath)) !== undefined) {
      const names = exactlyOneOf(schemaAt(schema, e.schemaPath))!.map((n) => `\`${n}\``);
      messages.add(`${fieldPath(e.instancePath)}: must have exactly one of ${names.slice(0, -1).join(', ')} and ${names.at(-1)!}`);
      continue;
    }
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') {
      const forms = [...new Set(errors.filter((b) => branchOf(b) === e).map((b) => branchMessage(b)))];
      messages.add(`${fieldPath(e.instancePath)}: ${forms.length ? forms.join(', or ') : (e.message ?? 'is invalid')} (got ${shown(valueAt(data, e.instancePath))})`);
      continue;
    }
    messages.add(describeError(e, data, schema));
  }
  return [...messages];
}

function describeError(e: ErrorObject, data: unknown, schema: object): string {
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = (e.params as { additionalProperty: string }).additionalProperty;
      const parent = schemaAt(schema, e.schemaPath.replace(/\/additionalProperties$/, '')) as { properties?: Record<string, unknown> } | undefined;
      const near = nearest(prop, Object.keys(parent?.properties ?? {}));
      return `${fieldPath(e.instancePath, prop)}: unknown field${near !== undefined ? ` (did you mean \`${near}\`?)` : ' (not allowed here)'}`;
    }
    case 'required':
      return `${fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty)}: is required`;
    case 'enum':
      return `${fieldPath(e.instancePath)}: must be one of ${allowed(e)} (got ${shown(valueAt(data, e.instancePath))})`;
    case 'pattern':
      return `${fieldPath(e.instancePath)}: must match ${(e.params as { pattern: string }).pattern}`;
    case 'discriminator': {
      // The tag (credentials' `type`) is missing, or names no branch: the branches' constants are what it may be.
      const { tag, tagValue } = e.params as { tag: string; tagValue?: unknown };
      if (tagValue === undefined) return `${fieldPath(e.instancePath, tag)}: is required`;
      const parent = schemaAt(schema, e.schemaPath.replace(/\/discriminator$/, '')) as { oneOf?: Array<{ properties?: Record<string, { const?: unknown }> }> } | undefined;
      const kinds = (parent?.oneOf ?? []).map((b) => JSON.stringify(b.properties?.[tag]?.const));
      return `${fieldPath(e.instancePath, tag)}: must be one of ${kinds.join(', ')} (got ${shown(tagValue)})`;
    }
    default:
      return `${fieldPath(e.instancePath)}: ${e.message ?? 'is invalid'}`;
  }
}

/**
 * The property names of a oneOf whose every branch only requires one property
 * (`oneOf: [{ required: [allow] }, { required: [deny] }]`): "exactly one of them".
 */
function exactlyOneOf(oneOf: unknown): string[] | undefined {
  if (!Array.isArray(oneOf) || oneOf.length < 2) return undefined;
  const names: string[] = [];
  for (const branch of oneOf as unknown[]) {
    const b = branch as { required?: unknown } | null;
    if (b === null || typeof b !== 'object' || Object.keys(b).length !== 1 || !Array.isArray(b.required) || b.required.length !== 1) return undefined;
    names.push(String(b.required[0]));
  }
  return names;
}

/** A oneOf branch's failure, without the field (the oneOf's line names it). */
function branchMessage(e: ErrorObject): string {
  if (e.keyword === 'const') return `must be ${shown((e.params as { allowedValue: unknown }).allowedValue)}`;
  if (e.keyword === 'enum') return `must be one of ${allowed(e)}`;
  return e.message ?? 'is invalid';
}

function allowed(e: ErrorObject): string {
  return (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ');
}

function shown(value: unknown): string {
  if (value === undefined) return 'the value';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unescapePointer(p: string): string {
  return p.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** The value at a JSON pointer (RFC 6901) into `data`, or undefined. */
function valueAt(data: unknown, pointer: string): unknown {
  let node = data;
  for (const p of pointer.split('/').slice(1).map(unescapePointer)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

/** The sub-schema at an Ajv schemaPath (`#/properties/server`); the config schema has no $refs. */
function schemaAt(schema: object, schemaPath: string): unknown {
  return valueAt(schema, schemaPath.replace(/^#/, ''));
}

/** The known name closest to `name` by edit distance, when close enough to be a likely typo. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = levenshtein(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // A third of the name (at least 1, at most 3 edits): `hots` → `host`, never `a` → `ai`-like guesses on short names.
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

// Hand-written rather than a dependency: config field names are a few dozen
// characters, compared against a few dozen names once per bad config.
/** Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment). */
export function levenshtein(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(d);
    }
  }
  return rows[a.length]![b.length]!;
}
