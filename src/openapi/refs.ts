/**
 * Local `$ref` resolution for Parameter, Request Body, Response and Path Item
 * objects (Schema Object refs are handled by json-schema.ts, which also
 * memoises them). Only `#/...` refs resolve: external ones are bundled by
 * loadSpec when allowed, so one that is left here was refused.
 */
import { GatehouseError } from '../errors/catalogue.js';
import { getAt, parseLocalRef } from './json-pointer.js';
import { isObj } from './oas.js';

export interface Located {
  value: unknown;
  /** JSON pointer of `value` (the ref target when it came through a `$ref`). */
  pointer: string;
}

/** Follows `$ref` chains from `value` (found at `pointer`) to a non-ref value. */
export function deref(document: unknown, value: unknown, pointer: string, source: string): Located {
  let cur: Located = { value, pointer };
  for (let hops = 0; isObj(cur.value) && typeof cur.value['$ref'] === 'string'; hops++) {
    if (hops >= 32) {
      throw new GatehouseError('GH_SPEC_INVALID', `OpenAPI spec ${source}: $ref chain at ${pointer} does not end (a ref cycle)`, {
        details: { pointer },
      });
    }
    cur = resolveRef(document, cur.value['$ref'], cur.pointer, source);
  }
  return cur;
}

/** Resolved refs per document: a big spec has thousands of refs to the same few hundred components. */
const resolved = new WeakMap<object, Map<string, Located>>();

/** Resolves one local `$ref` string found at `at`. */
export function resolveRef(document: unknown, ref: string, at: string, source: string): Located {
  const cache = typeof document === 'object' && document !== null ? resolved.get(document) : undefined;
  const hit = cache?.get(ref);
  if (hit) return hit;
  const found = resolveUncached(document, ref, at, source);
  if (typeof document === 'object' && document !== null) {
    if (cache) cache.set(ref, found);
    else resolved.set(document, new Map([[ref, found]]));
  }
  return found;
}

function resolveUncached(document: unknown, ref: string, at: string, source: string): Located {
  const tokens = parseLocalRef(ref);
  if (tokens === undefined) {
    throw new GatehouseError(
      'GH_SPEC_LOAD_FAILED',
      `OpenAPI spec ${source}: external $ref "${ref}" at ${at} was not fetched; set allowExternalRefs on the backend to allow reading other files and URLs`,
      { details: { pointer: at, ref } },
    );
  }
  const value = getAt(document, tokens);
  if (value === undefined) {
    throw new GatehouseError('GH_SPEC_INVALID', `OpenAPI spec ${source}: $ref "${ref}" at ${at} does not resolve`, {
      details: { pointer: at, ref },
    });
  }
  return { value, pointer: ref };
}
