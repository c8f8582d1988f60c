import { createHash } from 'node:crypto';

/** How tool arguments enter the audit trail. */
export interface ArgumentRedactorOptions {
  /**
   * `redact` (default): a copy with the values of sensitive names replaced by
   * "[REDACTED]"; `hash`: only a sha256 of the canonical JSON of that redacted
   * copy (equal arguments hash equal; secrets cannot be guessed back from it);
   * `omit`: nothing.
   */
  mode?: 'redact' | 'hash' | 'omit';
  /** More sensitive names, matched like the built-in ones that match anywhere in a name. */
  names?: readonly string[];
  /**
   * A redacted copy whose JSON would be larger than this is replaced by
   * `{ _truncated: true, maxBytes }`. Default 8192. The copy stops as soon as
   * it passes the limit, so redacting costs at most about this much work,
   * whatever the arguments hold.
   */
  maxBytes?: number;
}

export type ArgumentRedactor = (args: Record<string, unknown>) => { arguments?: unknown; argumentsHash?: string };

export const REDACTED = '[REDACTED]';

/**
 * Names matched anywhere in an argument name, once it is lower-cased and
 * stripped of everything but letters and digits (`X-Api-Key` → `xapikey`,
 * `client_secret` → `clientsecret`). Long and specific enough not to occur in
 * ordinary words.
 */
const CONTAINED = ['password', 'passwd', 'secret', 'apikey', 'authorization', 'cookie', 'credential', 'privatekey'];

/**
 * Short names matched only as a whole word of the name (split at separators
 * and camelCase), because as substrings they over-match:
 * - `auth`: `basic_auth`, `X-Auth-Token`, `authHeader` — but not `author`, `authority`;
 * - `token`: `accessToken`, `refresh_token`, `id_token`, `pageToken` (a cursor,
 *   redacted anyway: harmless) — but not `max_tokens`, `tokens_used`, `tokenizer`,
 *   the LLM-API counts that an audit trail wants to keep;
 * - `pwd`, `session` (`sessionId`, `session_key`: a session id is a bearer credential), `oauth`.
 */
const WORDS = ['auth', 'oauth', 'token', 'pwd', 'session'];

/** Nesting beyond this is cut: arguments come from JSON and may be arbitrarily deep. */
const MAX_DEPTH = 64;

/** Builds the per-call function; options are checked once here. */
export function createArgumentRedactor(options: ArgumentRedactorOptions = {}): ArgumentRedactor {
  const mode = options.mode ?? 'redact';
  const maxBytes = options.maxBytes ?? 8192;
  if (!['redact', 'hash', 'omit'].includes(mode)) throw new Error(`audit.arguments.mode "${mode}" must be one of redact, hash, omit`);
  if (!Number.isInteger(maxBytes) || maxBytes < 2) throw new Error(`audit.arguments.maxBytes must be an integer ≥ 2, got ${String(maxBytes)}`);

  if (mode === 'omit') return () => ({});

  const contained = [...CONTAINED, ...(options.names ?? []).map(normalize).filter((n) => n.length > 0)];
  const cache = new Map<string, boolean>();
  const sensitive = (name: string): boolean => {
    let hit = cache.get(name);
    if (hit === undefined) {
      const flat = normalize(name);
      hit = contained.some((w) => flat.includes(w)) || words(name).some((w) => WORDS.includes(w));
      // Argument names come from tool schemas: a small, fixed set worth remembering.
      if (cache.size < 10_000) cache.set(name, hit);
    }
    return hit;
  };

  /**
   * The redacted copy, counting the bytes of its JSON as it goes; past
   * `budget` it stops (throws TRUNCATED), so its cost is bounded by the budget
   * and not by the input: truncate first, then redact only what is kept.
   */
  const copy = (value: unknown, depth: number, budget: Budget): unknown => {
    if (value === null || typeof value !== 'object') {
      budget.spend(value);
      return value;
    }
    if (depth >= MAX_DEPTH) {
      budget.spend(TOO_DEEP);
      return TOO_DEEP;
    }
    budget.add(2);
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (const v of value) {
        if (out.length > 0) budget.add(1); // ,
        out.push(copy(v, depth + 1, budget));
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    let first = true;
    for (const k in value) {
      const v = (value as Record<string, unknown>)[k];
      if (!Object.hasOwn(value, k) || v === undefined) continue;
      budget.spend(k);
      budget.add(first ? 1 : 2); // : and ,
      first = false;
      if (sensitive(k)) {
        budget.spend(REDACTED);
        out[k] = REDACTED;
      } else {
        out[k] = copy(v, depth + 1, budget);
      }
    }
    return out;
  };

  // The hash is of the redacted arguments: a hash of a raw secret could be
  // reversed by guessing (a short password among otherwise known arguments).
  // It is of all of them (a hash of a prefix would make different arguments
  // equal); their size is bounded before any call runs (mcp.arguments).
  if (mode === 'hash') return (args) => ({ argumentsHash: createHash('sha256').update(canonicalJson(copy(args, 0, new Budget(Infinity)))).digest('hex') });

  return (args) => {
    try {
      return { arguments: copy(args, 0, new Budget(maxBytes)) };
    } catch (err) {
      if (err !== TRUNCATED) throw err;
      return { arguments: { _truncated: true, maxBytes } };
    }
  };
}

const TOO_DEEP = '[TOO DEEP]';
const TRUNCATED = new Error('the redacted arguments pass maxBytes');

/** Bytes of JSON written so far by a redacted copy, against a limit. */
class Budget {
  private used = 0;
  constructor(private readonly limit: number) {}

  add(n: number): void {
    this.used += n;
    if (this.used > this.limit) throw TRUNCATED;
  }

  /** A primitive's JSON; a string longer than what is left is refused before it is serialised. */
  spend(v: unknown): void {
    if (typeof v === 'string' && this.used + v.length + 2 > this.limit) throw TRUNCATED;
    this.add(Buffer.byteLength(JSON.stringify(v) ?? 'null'));
  }
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** `X-Auth-Token` → [x, auth, token]; `accessToken` → [access, token]; `OAuthToken` → [o, auth, token]. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * JSON with object keys sorted at every depth, so the same arguments hash the
 * same whatever order the client sent them in. Mirrors JSON.stringify otherwise
 * (undefined members are skipped, undefined in arrays becomes null).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined && typeof v !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
