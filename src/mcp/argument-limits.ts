/**
 * Bounds on the shape of tool arguments, checked before any work per
 * argument (policy conditions, validation, request building, audit
 * redaction). Arguments come from an agent, or from whoever holds its
 * credentials: without these bounds the cost of one call grows with whatever
 * the request body holds (450,000 argument names cost seconds of event loop in
 * audit redaction alone; a million-element array, seconds of validation
 * errors; nesting 200,000 deep, a stack overflow while the body is built).
 *
 * The check visits at most `maxKeys` members and `maxArrayLength` elements per
 * array before it stops, so its own cost is bounded by the limits, not by the
 * input. JSON Schema has no bound of its own that applies before validation
 * runs (`maxProperties`, `maxItems` are evaluated by the validator, per schema).
 */

import { randomUUID } from 'node:crypto';

/** `mcp.arguments` in the config. */
export interface ArgumentLimits {
  /** Characters of the arguments' JSON, about (strings count their length). */
  maxBytes: number;
  /** Nesting of objects and arrays; the arguments object itself is depth 1. */
  maxDepth: number;
  /** Object members, counted over every object at every depth. */
  maxKeys: number;
  /** Elements of any one array. */
  maxArrayLength: number;
}

/**
 * Far above what a model writes in one call (a large model's output of 64k
 * tokens is about 256 KiB of JSON), far below what costs the event loop more
 * than a few milliseconds to validate, redact and serialise.
 */
export const DEFAULT_ARGUMENT_LIMITS: Readonly<ArgumentLimits> = { maxBytes: 1_048_576, maxDepth: 32, maxKeys: 10_000, maxArrayLength: 10_000 };

/** Which limit arguments exceed, where, and the message an agent reads. */
export interface ArgumentLimitExceeded {
  limit: keyof ArgumentLimits;
  /** The argument where the limit was reached (`items[3].tags`), or `(arguments)`. */
  at: string;
  message: string;
}

const WHAT: Record<keyof ArgumentLimits, (n: number) => string> = {
  maxBytes: (n) => `more than ${n} characters of JSON in all`,
  maxDepth: (n) => `nested deeper than ${n} levels`,
  maxKeys: (n) => `more than ${n} object members in all`,
  maxArrayLength: (n) => `an array of more than ${n} elements`,
};

class Exceeded {
  constructor(
    readonly limit: keyof ArgumentLimits,
    readonly path: readonly (string | number)[],
  ) {}
}

/**
 * Undefined when `args` is within `limits`; otherwise the first limit found
 * exceeded. Visits no more of `args` than the limits allow.
 */
export function checkArgumentLimits(args: unknown, limits: Readonly<ArgumentLimits> = DEFAULT_ARGUMENT_LIMITS, root = '(arguments)'): ArgumentLimitExceeded | undefined {
  let keys = 0;
  let bytes = 0;
  const path: (string | number)[] = [];
  const over = (limit: keyof ArgumentLimits): never => {
    throw new Exceeded(limit, [...path]);
  };
  const add = (n: number): void => {
    bytes += n;
    if (bytes > limits.maxBytes) over('maxBytes');
  };
  // Recursion is bounded by maxDepth: a deeper value is refused before it is entered.
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') return add(value.length + 2);
    if (value === null || typeof value !== 'object') return add(typeof value === 'number' ? String(value).length : 5);
    if (depth > limits.maxDepth) over('maxDepth');
    add(2);
    if (Array.isArray(value)) {
      if (value.length > limits.maxArrayLength) over('maxArrayLength');
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        add(1);
        visit(value[i], depth + 1);
        path.pop();
      }
      return;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (++keys > limits.maxKeys) over('maxKeys');
      path.push(key);
      add(key.length + 4);
      visit((value as Record<string, unknown>)[key], depth + 1);
      path.pop();
    }
  };
  try {
    visit(args, 1);
    return undefined;
  } catch (err) {
    if (!(err instanceof Exceeded)) throw err;
    const at = formatPath(err.path, root);
    return { limit: err.limit, at, message: limitMessage(err.limit, at, limits) };
  }
}

/** What an agent reads when `at` passes `limit`. */
export function limitMessage(limit: keyof ArgumentLimits, at: string, limits: Readonly<ArgumentLimits>): string {
  return `${at}: ${WHAT[limit](limits[limit])} (mcp.arguments.${limit})`;
}

/** `['items', 3, 'tags']` → `items[3].tags`, as argument errors name fields (validate-args.ts). */
export function formatPath(path: readonly (string | number)[], root: string): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  // A path 32 levels deep is long; its start and end say where it is.
  if (out.length > 200) out = `${out.slice(0, 96)}…${out.slice(-96)}`;
  return out || root;
}

/**
 * The member that stands for arguments an edge refused (see bound-request.ts).
 * Random per process, so no request can forge a refusal.
 */
export const REFUSED_ARGUMENTS_KEY = `gatehouse/refused-${randomUUID()}`;

/** The refusal an edge put in place of `args` (see bound-request.ts), if it did. */
export function refusalOf(args: Record<string, unknown>): string | undefined {
  const refused = args[REFUSED_ARGUMENTS_KEY];
  return typeof refused === 'string' ? refused : undefined;
}
