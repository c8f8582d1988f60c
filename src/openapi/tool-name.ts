/**
 * Tool names: portable (`^[a-zA-Z0-9_-]{1,64}$`, the strictest rule among MCP
 * clients and LLM providers), unique within a backend, and stable across
 * re-imports (DESIGN.md decision 2).
 *
 * - The base is the operationId, else `<method>_<path>` (`GET /items/{id}` → `get_items_id`).
 * - With a prefix, `<backend>_<base>` (`inventory_getItem`).
 * - Characters outside `[a-zA-Z0-9_-]` become `_`.
 * - A name over 64 characters, or one that several operations share, is cut and
 *   given a suffix `_<hash>`: the first hex digits of SHA-256("<METHOD> <path>").
 *   When exactly one operation of a clashing group uses its operationId verbatim,
 *   it keeps the plain name. The outcome depends only on the set of operations,
 *   never on their order, so re-importing a reordered spec gives the same names.
 */
import { createHash } from 'node:crypto';

export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX = 64;
const HASH_LENGTH = 6;

export interface NamedOperation {
  /** HTTP method, any case. */
  method: string;
  /** Path template as in the spec. */
  path: string;
  operationId?: string | undefined;
}

/** Replaces every character outside `[a-zA-Z0-9_-]` with `_`. */
export function sanitizeName(s: string): string {
  return s.replace(/[^a-zA-Z0-9_-]/g, '_');
}

/** The unprefixed name of an operation, and whether it is the operationId verbatim. */
export function baseToolName(op: NamedOperation): { name: string; exact: boolean } {
  const id = op.operationId?.trim();
  if (id) {
    const name = sanitizeName(id);
    return { name, exact: name === op.operationId };
  }
  const path = op.path.replace(/[{}]/g, '');
  const name = sanitizeName(`${op.method.toLowerCase()}_${path}`).replace(/_+/g, '_').replace(/^_|_$/g, '');
  return { name, exact: false };
}

/** The suffix that identifies an operation: hex digits of SHA-256 over "METHOD path". */
export function operationHash(op: NamedOperation, length = HASH_LENGTH): string {
  return createHash('sha256').update(`${op.method.toUpperCase()} ${op.path}`).digest('hex').slice(0, length);
}

function withHash(name: string, hash: string): string {
  return `${name.slice(0, MAX - 1 - hash.length)}_${hash}`;
}

/**
 * Names for `ops` (same order). `prefix` (the backend name) is prepended with
 * `_` when given. Every result matches {@link TOOL_NAME_PATTERN} and is unique.
 */
export function assignToolNames(ops: readonly NamedOperation[], prefix?: string): string[] {
  const head = prefix ? sanitizeName(prefix) + '_' : '';
  const candidates = ops.map((op) => {
    const base = baseToolName(op);
    const name = head + (base.name || 'op');
    return { name, exact: base.exact && name.length <= MAX };
  });

  const groups = new Map<string, number[]>();
  candidates.forEach((c, i) => {
    const g = groups.get(c.name);
    if (g) g.push(i);
    else groups.set(c.name, [i]);
  });

  const names: string[] = new Array<string>(ops.length);
  const hashed = new Set<number>();
  for (const [name, members] of groups) {
    const exact = members.filter((i) => candidates[i]?.exact);
    const keeper = members.length === 1 ? (name.length <= MAX ? members[0] : undefined) : exact.length === 1 ? exact[0] : undefined;
    for (const i of members) {
      if (i === keeper) {
        names[i] = name;
      } else {
        names[i] = withHash(name, operationHash(ops[i] as NamedOperation));
        hashed.add(i);
      }
    }
  }

  // A hashed name can still meet another name (a spec may literally contain
  // `foo_1a2b3c`, or two hashes may share their first digits): lengthen the
  // hashes of the names involved until every name is unique.
  for (let length = HASH_LENGTH + 2; length <= 40; length += 2) {
    const seen = new Map<string, number[]>();
    names.forEach((n, i) => {
      const list = seen.get(n);
      if (list) list.push(i);
      else seen.set(n, [i]);
    });
    let clash = false;
    for (const list of seen.values()) {
      if (list.length < 2) continue;
      clash = true;
      for (const i of list) {
        if (hashed.has(i)) names[i] = withHash(candidates[i]?.name ?? '', operationHash(ops[i] as NamedOperation, length));
      }
    }
    if (!clash) break;
  }
  return names;
}
