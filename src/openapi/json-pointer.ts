/**
 * JSON Pointer helpers (RFC 6901) for `#/...` references and error locations.
 */

/** Escapes one reference token (RFC 6901 §3: `~` → `~0`, `/` → `~1`). */
export function escapeToken(token: string): string {
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Builds a URI-fragment pointer (`#/paths/~1pets/get`) from reference tokens. */
export function toPointer(tokens: readonly (string | number)[]): string {
  let out = '#';
  for (const t of tokens) out += '/' + escapeToken(String(t));
  return out;
}

/** Appends one token to a `#/...` pointer. */
export function childPointer(pointer: string, token: string | number): string {
  return pointer + '/' + escapeToken(String(token));
}

/**
 * Splits a local reference (`#/components/schemas/Pet`) into tokens, or returns
 * undefined when it is not a local JSON-pointer reference. The fragment is
 * percent-decoded first (RFC 6901 §6: pointers in URI fragments are URI-encoded).
 */
export function parseLocalRef(ref: string): string[] | undefined {
  if (!ref.startsWith('#')) return undefined;
  let fragment = ref.slice(1);
  if (fragment === '') return [];
  if (!fragment.startsWith('/')) return undefined;
  if (fragment.includes('%')) {
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
  }
  return fragment
    .slice(1)
    .split('/')
    .map((t) => (t.includes('~') ? t.replaceAll('~1', '/').replaceAll('~0', '~') : t));
}

/** Reads the value at `tokens` inside `root`, or undefined when any step is missing. */
export function getAt(root: unknown, tokens: readonly string[]): unknown {
  let cur: unknown = root;
  for (const t of tokens) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(t)) return undefined;
      cur = cur[Number(t)];
    } else {
      if (!Object.hasOwn(cur, t)) return undefined;
      cur = (cur as Record<string, unknown>)[t];
    }
  }
  return cur;
}
