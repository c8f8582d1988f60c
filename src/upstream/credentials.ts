/**
 * Per-backend outbound credentials, applied to a BuiltRequest just before it
 * is forwarded.
 *
 * DESIGN.md decision 4, "the agent's token never reaches a backend by
 * default": every request loses its `Authorization` header here, then gets
 * the backend's own credential. The caller's Authorization is copied only
 * when the backend opts in with `passthrough`. Decision 5: a header, query
 * parameter or cookie the credential sets is removed from what the arguments
 * produced first, so arguments can never override or shadow a credential.
 *
 * Token-based credentials (OAuth2 client credentials, RFC 8693 token
 * exchange) are fetched lazily, cached until shortly before they expire, and
 * shared by concurrent callers (one request to the token endpoint). When a
 * backend answers 401 the caller invalidates and retries once: see
 * `withRetryOn401`.
 *
 * AWS Signature Version 4 (`aws-sigv4`) signs the request as it will be
 * sent, after everything else has been applied, on every attempt.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { CredentialConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { BuiltRequest } from './build-request.js';
import { createAwsSigner, SIGV4_HEADERS } from './aws-sigv4.js';
import { FRAMING_HEADERS, HEADER_VALUE_INVALID, HTTP_TOKEN } from './http-fields.js';

/** What the inbound call presented. */
export interface CallerAuth {
  /** The inbound `Authorization` header value, as received. */
  authorization?: string | undefined;
}

export interface CredentialDeps {
  /** Used for token endpoint requests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Clock in milliseconds; defaults to Date.now. Token expiry is measured with it. */
  now?: () => number;
}

export interface CredentialOptions {
  /**
   * Forward the caller's `Authorization` header as-is (default false). Only
   * allowed with a credential that does not itself set `Authorization`.
   */
  passthrough?: boolean;
  /** Deadline for one token endpoint request (default 10 000 ms). */
  tokenTimeoutMs?: number;
  /** Token exchange: how many subject tokens keep a cached exchanged token (default 1000). */
  maxCachedSubjects?: number;
}

export interface Credentials {
  /**
   * Returns a new request carrying this backend's credentials; `req` is not
   * modified. Throws GatehouseError GH_UPSTREAM_AUTH when a token cannot be
   * obtained (the message never contains a secret or token).
   */
  apply(req: BuiltRequest, caller: CallerAuth): Promise<BuiltRequest>;
  /**
   * Drops cached tokens, so the next `apply` fetches a fresh one. With a
   * caller, token exchange drops only that caller's token; without, all.
   * Call it when the backend answered 401, then retry once (`withRetryOn401`).
   */
  invalidate(caller?: CallerAuth): void;
  /** True when `invalidate()` can change what `apply` sends (token-based credentials). */
  readonly refreshable: boolean;
}

const DEFAULT_TOKEN_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_SUBJECTS = 1000;
/** RFC 6749 §5.1 makes `expires_in` optional; without it a token is reused this long. */
const DEFAULT_LIFETIME_S = 300;
/** A token is refreshed this long before it expires: 30 s, or 10 % of a shorter lifetime. */
const SAFETY_MARGIN_S = 30;

const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

/** RFC 6265 §4.1.1 cookie-octet. */
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/**
 * Checks `config` once and returns the function that applies it. Throws
 * GatehouseError GH_CONFIG_INVALID for a credential that cannot be sent
 * (a header value with a line break, a Basic username with a colon, …).
 */
export function createCredentials(config: CredentialConfig, deps: CredentialDeps = {}, options: CredentialOptions = {}): Credentials {
  const passthrough = options.passthrough === true;
  const strategy = compile(config, deps, options);
  if (passthrough && strategy.setsAuthorization) {
    throw configError(`passthrough cannot be combined with a "${config.type}" credential: both would set the Authorization header.`);
  }

  async function apply(req: BuiltRequest, caller: CallerAuth): Promise<BuiltRequest> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      const lower = name.toLowerCase();
      if (lower === 'authorization' || lower === 'proxy-authorization' || strategy.header === lower || strategy.ownedHeaders?.has(lower) === true) continue;
      headers[lower] = value;
    }
    if (passthrough && caller.authorization !== undefined && caller.authorization !== '') {
      if (HEADER_VALUE_INVALID.test(caller.authorization)) {
        throw new GatehouseError('GH_AUTH_INVALID', 'The Authorization header contains characters that cannot be forwarded.');
      }
      headers.authorization = caller.authorization;
    }
    const out: BuiltRequest = { method: req.method, url: req.url, headers };
    if (req.body !== undefined) out.body = req.body;
    await strategy.apply(out, caller);
    return out;
  }

  return { apply, invalidate: strategy.invalidate, refreshable: strategy.refreshable };
}

/**
 * Applies credentials, sends, and on a 401 from a token-based credential
 * invalidates the cached token and sends once more with a fresh one. A
 * BuiltRequest body is a string or bytes, so it can be sent twice.
 */
export async function withRetryOn401<R extends { status: number }>(
  credentials: Credentials,
  req: BuiltRequest,
  caller: CallerAuth,
  send: (req: BuiltRequest) => Promise<R>,
): Promise<R> {
  const first = await send(await credentials.apply(req, caller));
  if (first.status !== 401 || !credentials.refreshable) return first;
  credentials.invalidate(caller);
  return send(await credentials.apply(req, caller));
}

// ---------------------------------------------------------------------------
// Strategies

interface Strategy {
  /** Lower-case header name this credential sets (removed from argument headers first). */
  header?: string;
  /** More lower-case header names the credential owns, removed from argument headers first. */
  ownedHeaders?: ReadonlySet<string>;
  setsAuthorization: boolean;
  refreshable: boolean;
  /** Mutates the (already copied) request. */
  apply(req: BuiltRequest, caller: CallerAuth): void | Promise<void>;
  invalidate(caller?: CallerAuth): void;
}

const noop = (): void => {};

function compile(config: CredentialConfig, deps: CredentialDeps, options: CredentialOptions): Strategy {
  switch (config.type) {
    case 'none':
      return { setsAuthorization: false, refreshable: false, apply: noop, invalidate: noop };
    case 'apiKey':
      return apiKey(config);
    case 'bearer': {
      const value = `Bearer ${checkHeaderValue(config.token, 'bearer token')}`;
      return staticAuthorization(value);
    }
    case 'basic': {
      // RFC 7617 §2: the user-id cannot contain a colon; UTF-8 per §2.1 charset.
      if (config.username.includes(':')) throw configError('basic auth username must not contain ":" (RFC 7617 §2).');
      if (hasControl(config.username + config.password)) {
        throw configError('basic auth username and password must not contain control characters (RFC 7617 §2).');
      }
      return staticAuthorization(`Basic ${Buffer.from(`${config.username}:${config.password}`, 'utf8').toString('base64')}`);
    }
    case 'oauth2':
      return clientCredentials(config, deps, options);
    case 'tokenExchange':
      return tokenExchange(config, deps, options);
    case 'aws-sigv4': {
      const signer = createAwsSigner(config, deps.now ?? Date.now);
      return { header: 'authorization', ownedHeaders: SIGV4_HEADERS, setsAuthorization: true, refreshable: false, apply: signer, invalidate: noop };
    }
  }
}

function staticAuthorization(value: string): Strategy {
  return {
    header: 'authorization',
    setsAuthorization: true,
    refreshable: false,
    apply: (req) => {
      req.headers.authorization = value;
    },
    invalidate: noop,
  };
}

type ApiKeyConfig = Extract<CredentialConfig, { type: 'apiKey' }>;

/**
 * Completes an apiKey credential from the spec's `apiKey` security schemes
 * (OpenAPI `components.securitySchemes`, Swagger 2.0 `securityDefinitions`):
 * `in`/`name` set in config win; otherwise `scheme` names the scheme, or the
 * spec must declare exactly one. Any other credential is returned unchanged.
 */
export function placeApiKey(config: CredentialConfig, schemes: Readonly<Record<string, { in: 'header' | 'query' | 'cookie'; name: string }>> = {}): CredentialConfig {
  if (config.type !== 'apiKey' || (config.in !== undefined && config.name !== undefined && config.scheme === undefined)) return config;
  const names = Object.keys(schemes);
  const declared = names.length === 0 ? 'the spec declares no apiKey security scheme' : `the spec's apiKey schemes are: ${names.join(', ')}`;
  let chosen: string | undefined = config.scheme;
  if (chosen !== undefined && schemes[chosen] === undefined) throw configError(`apiKey scheme ${JSON.stringify(chosen)} is not declared (${declared}).`);
  if (chosen === undefined) {
    if (names.length !== 1) throw configError(`apiKey needs \`in\` and \`name\`, or \`scheme\` naming one of the spec's security schemes (${declared}).`);
    chosen = names[0];
  }
  const placement = schemes[chosen!]!;
  return { type: 'apiKey', in: config.in ?? placement.in, name: config.name ?? placement.name, value: config.value };
}

function apiKey(config: ApiKeyConfig): Strategy {
  if (config.in === undefined || config.name === undefined) {
    throw configError('apiKey needs `in` and `name` (or a spec that declares them as an apiKey security scheme).');
  }
  if (config.name === '') throw configError(`apiKey ${config.in} name must not be empty.`);
  const name0 = config.name;
  switch (config.in) {
    case 'header': {
      const name = config.name.toLowerCase();
      if (!HTTP_TOKEN.test(name)) throw configError(`apiKey header name ${JSON.stringify(config.name)} is not a valid HTTP field name.`);
      if (FRAMING_HEADERS.has(name)) throw configError(`apiKey header name ${JSON.stringify(config.name)} is reserved; use in: cookie for cookies.`);
      const value = checkHeaderValue(config.value, `apiKey header ${config.name} value`);
      return {
        header: name,
        setsAuthorization: name === 'authorization',
        refreshable: false,
        apply: (req) => {
          req.headers[name] = value;
        },
        invalidate: noop,
      };
    }
    case 'query': {
      const pair = `${formEncode(config.name)}=${formEncode(config.value)}`;
      return {
        setsAuthorization: false,
        refreshable: false,
        apply: (req) => {
          req.url = setQueryParam(req.url, name0, pair);
        },
        invalidate: noop,
      };
    }
    case 'cookie': {
      if (!HTTP_TOKEN.test(config.name)) throw configError(`apiKey cookie name ${JSON.stringify(config.name)} is not a valid cookie name (RFC 6265 §4.1.1).`);
      if (!COOKIE_VALUE.test(config.value)) {
        throw configError(`apiKey cookie ${config.name} value contains characters a cookie cannot carry (RFC 6265 §4.1.1).`);
      }
      const pair = `${config.name}=${config.value}`;
      return {
        setsAuthorization: false,
        refreshable: false,
        apply: (req) => {
          req.headers.cookie = setCookie(req.headers.cookie, name0, pair);
        },
        invalidate: noop,
      };
    }
  }
}

/**
 * Replaces every `name` parameter in the query of `url` with `pair`. Other
 * parameters keep their bytes. A parameter counts as `name` when it decodes
 * to it (`api%5Fkey`) or is a bracketed form of it (`api_key[x]`, which
 * qs/PHP/Rails merge into `api_key`).
 */
function setQueryParam(url: string, name: string, pair: string): string {
  const hash = url.indexOf('#');
  const fragment = hash === -1 ? '' : url.slice(hash);
  const rest = hash === -1 ? url : url.slice(0, hash);
  const q = rest.indexOf('?');
  const base = q === -1 ? rest : rest.slice(0, q);
  const kept = q === -1 ? [] : rest.slice(q + 1).split('&').filter((part) => part !== '' && !sameParam(part, name));
  kept.push(pair);
  return `${base}?${kept.join('&')}${fragment}`;
}

function sameParam(part: string, name: string): boolean {
  const eq = part.indexOf('=');
  const raw = eq === -1 ? part : part.slice(0, eq);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    decoded = raw;
  }
  return decoded === name || decoded.startsWith(`${name}[`);
}

/** Merges `pair` into a Cookie header, dropping any cookie of the same name. */
function setCookie(existing: string | undefined, name: string, pair: string): string {
  if (existing === undefined || existing === '') return pair;
  const kept = existing
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c !== '' && (c.indexOf('=') === -1 ? c : c.slice(0, c.indexOf('='))).trim() !== name);
  kept.push(pair);
  return kept.join('; ');
}

// ---------------------------------------------------------------------------
// OAuth2 tokens

interface CachedToken {
  value: string;
  /** `now()` after which the token is fetched again. */
  refreshAt: number;
}

interface TokenEndpoint {
  url: string;
  /** Origin and path of the token URL, for messages (no query, no userinfo). */
  label: string;
  /** RFC 6749 §2.3.1: client_id and secret, each form-encoded, then Basic. */
  clientAuth: string;
  fetch: typeof fetch;
  now: () => number;
  timeoutMs: number;
}

function endpoint(
  config: { tokenUrl: string; clientId: string; clientSecret: string; type: string },
  deps: CredentialDeps,
  options: CredentialOptions,
): TokenEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(config.tokenUrl);
  } catch (err) {
    throw configError(`${config.type} tokenUrl is not an absolute URL.`, err);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configError(`${config.type} tokenUrl must use http or https.`);
  if (parsed.username !== '' || parsed.password !== '') throw configError(`${config.type} tokenUrl must not contain credentials; use clientId/clientSecret.`);
  const timeoutMs = options.tokenTimeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw configError('tokenTimeoutMs must be a positive number.');
  return {
    url: parsed.href,
    label: `${parsed.origin}${parsed.pathname}`,
    clientAuth: `Basic ${Buffer.from(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`, 'utf8').toString('base64')}`,
    fetch: deps.fetch ?? fetch,
    now: deps.now ?? Date.now,
    timeoutMs,
  };
}

/**
 * One token, fetched on demand, cached until its refresh time, with at most
 * one request in flight. `invalidate()` bumps a generation so a request that
 * was in flight when it was called does not repopulate the cache.
 */
class TokenCell {
  private cached: CachedToken | undefined;
  private inflight: Promise<string> | undefined;
  private generation = 0;

  constructor(
    private readonly ep: TokenEndpoint,
    private readonly params: () => URLSearchParams,
  ) {}

  /** True when nothing is cached or in flight (the cell can be evicted). */
  get idle(): boolean {
    return this.inflight === undefined && (this.cached === undefined || this.ep.now() >= this.cached.refreshAt);
  }

  get(): Promise<string> {
    const cached = this.cached;
    if (cached !== undefined && this.ep.now() < cached.refreshAt) return Promise.resolve(cached.value);
    if (this.inflight !== undefined) return this.inflight;
    const generation = this.generation;
    const p = requestToken(this.ep, this.params()).then(
      (token) => {
        if (generation === this.generation) {
          this.cached = token;
          this.inflight = undefined;
        }
        return token.value;
      },
      (err: unknown) => {
        if (generation === this.generation) this.inflight = undefined;
        throw err;
      },
    );
    this.inflight = p;
    return p;
  }

  invalidate(): void {
    this.generation++;
    this.cached = undefined;
    this.inflight = undefined;
  }
}

function scopeAndAudience(params: URLSearchParams, config: { scopes?: string[]; audience?: string }): void {
  // RFC 6749 §3.3: space-delimited; RFC 8693 §2.1 uses the same `scope` and `audience`.
  if (config.scopes !== undefined && config.scopes.length > 0) params.set('scope', config.scopes.join(' '));
  if (config.audience !== undefined && config.audience !== '') params.set('audience', config.audience);
}

function clientCredentials(config: Extract<CredentialConfig, { type: 'oauth2' }>, deps: CredentialDeps, options: CredentialOptions): Strategy {
  const ep = endpoint(config, deps, options);
  const cell = new TokenCell(ep, () => {
    // RFC 6749 §4.4.2
    const params = new URLSearchParams({ grant_type: GRANT_CLIENT_CREDENTIALS });
    scopeAndAudience(params, config);
    return params;
  });
  return {
    header: 'authorization',
    setsAuthorization: true,
    refreshable: true,
    apply: async (req) => {
      req.headers.authorization = `Bearer ${await cell.get()}`;
    },
    invalidate: () => cell.invalidate(),
  };
}

function tokenExchange(config: Extract<CredentialConfig, { type: 'tokenExchange' }>, deps: CredentialDeps, options: CredentialOptions): Strategy {
  const ep = endpoint(config, deps, options);
  const max = options.maxCachedSubjects ?? DEFAULT_MAX_SUBJECTS;
  if (!Number.isInteger(max) || max < 1) throw configError('maxCachedSubjects must be a positive integer.');
  // Keyed by a hash of the subject token so the map does not hold callers' tokens as keys.
  const cells = new Map<string, TokenCell>();

  function cellFor(subject: string): TokenCell {
    const key = createHash('sha256').update(subject).digest('base64url');
    let cell = cells.get(key);
    if (cell !== undefined) {
      // Map order is insertion order: re-insert to mark as recently used.
      cells.delete(key);
      cells.set(key, cell);
      return cell;
    }
    if (cells.size >= max) evict();
    cell = new TokenCell(ep, () => {
      // RFC 8693 §2.1
      const params = new URLSearchParams({
        grant_type: GRANT_TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: TOKEN_TYPE_ACCESS,
        requested_token_type: TOKEN_TYPE_ACCESS,
      });
      scopeAndAudience(params, config);
      return params;
    });
    cells.set(key, cell);
    return cell;
  }

  function evict(): void {
    for (const [key, cell] of cells) {
      if (cell.idle) cells.delete(key);
    }
    // Still full: drop the least recently used (the first in insertion order).
    while (cells.size >= max) {
      const oldest = cells.keys().next();
      if (oldest.done === true) break;
      cells.delete(oldest.value);
    }
  }

  return {
    header: 'authorization',
    setsAuthorization: true,
    refreshable: true,
    apply: async (req, caller) => {
      const subject = bearerToken(caller.authorization);
      if (subject === undefined) {
        throw new GatehouseError(
          'GH_UPSTREAM_AUTH',
          `This backend uses token exchange, which needs the caller's bearer token, and the call carried none (token endpoint ${ep.label}).`,
        );
      }
      req.headers.authorization = `Bearer ${await cellFor(subject).get()}`;
    },
    invalidate: (caller) => {
      const subject = caller === undefined ? undefined : bearerToken(caller.authorization);
      if (subject === undefined) {
        for (const cell of cells.values()) cell.invalidate();
        cells.clear();
        return;
      }
      const key = createHash('sha256').update(subject).digest('base64url');
      cells.get(key)?.invalidate();
      cells.delete(key);
    },
  };
}

/** RFC 6750 §2.1: `Bearer <token>`, scheme case-insensitive. */
function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return m?.[1];
}

/** POSTs to the token endpoint (RFC 6749 §4.4.2 / RFC 8693 §2.1) and reads an access token (RFC 6749 §5.1). */
async function requestToken(ep: TokenEndpoint, params: URLSearchParams): Promise<CachedToken> {
  const started = ep.now();
  let res: Response;
  let text: string;
  try {
    res = await ep.fetch(ep.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: ep.clientAuth,
      },
      body: params.toString(),
      // A redirect would resend the client secret (and a subject token) elsewhere.
      redirect: 'error',
      signal: AbortSignal.timeout(ep.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    throw new GatehouseError('GH_UPSTREAM_AUTH', `Could not obtain backend credentials: the token endpoint ${ep.label} could not be reached (${describe(err)}).`, {
      cause: err,
    });
  }

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};

  if (res.status < 200 || res.status > 299) {
    // RFC 6749 §5.2: `error` is an ASCII code; error_description and the body are not repeated (they may echo input).
    const code = typeof fields.error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(fields.error) ? ` (${fields.error})` : '';
    throw new GatehouseError('GH_UPSTREAM_AUTH', `Could not obtain backend credentials: the token endpoint ${ep.label} answered ${res.status}${code}.`, {
      details: { tokenEndpointStatus: res.status },
    });
  }

  const token = fields.access_token;
  if (typeof token !== 'string' || token === '' || HEADER_VALUE_INVALID.test(token)) {
    throw new GatehouseError('GH_UPSTREAM_AUTH', `Could not obtain backend credentials: the token endpoint ${ep.label} answered without a usable access_token.`);
  }
  const type = fields.token_type;
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
    throw new GatehouseError(
      'GH_UPSTREAM_AUTH',
      `Could not obtain backend credentials: the token endpoint ${ep.label} issued a token of type ${JSON.stringify(String(type)).slice(0, 40)}, not Bearer.`,
    );
  }
  const raw = typeof fields.expires_in === 'string' ? Number(fields.expires_in) : fields.expires_in;
  const lifetime = typeof raw === 'number' && Number.isFinite(raw) && raw > 0 ? raw : DEFAULT_LIFETIME_S;
  const margin = Math.min(SAFETY_MARGIN_S, lifetime * 0.1);
  // Measured from when the request started, so a slow endpoint only shortens the reuse.
  return { value: token, refreshAt: started + (lifetime - margin) * 1000 };
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const name = (err as { name?: unknown }).name;
    if (name === 'TimeoutError') return 'timed out';
    const cause = (err as { cause?: unknown }).cause;
    const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'network error';
}

// ---------------------------------------------------------------------------
// Helpers

/** application/x-www-form-urlencoded serialisation of one value (WHATWG URL, used by RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

function checkHeaderValue(value: string, what: string): string {
  if (value === '') throw configError(`${what} must not be empty.`);
  if (HEADER_VALUE_INVALID.test(value)) throw configError(`${what} contains characters that cannot be sent in an HTTP header (control characters or non-Latin-1).`);
  return value;
}

/** C0 controls and DEL (RFC 7617 §2: user-id and password exclude CTLs). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function configError(message: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `Backend credentials: ${message}`, cause === undefined ? undefined : { cause });
}
