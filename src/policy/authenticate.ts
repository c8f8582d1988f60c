import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import { GatehouseError } from '../errors/catalogue.js';
import { ANONYMOUS, type Principal } from '../call/context.js';

/** Where to find principal fields in a JWT. Each is a claim name; a dotted path (`realm_access.roles`) is tried when no claim has that exact name. */
export interface JwtClaimNames {
  /** Principal id. Default `sub`. */
  subject?: string;
  /** OAuth client. Default `client_id`, then `azp`. */
  client?: string;
  /** Groups: an array of strings or one string. Default `groups`. */
  groups?: string;
}

/** Bearer JWTs signed by keys from a JWKS (an identity provider's access tokens). */
export interface JwtOptions {
  /** Where the identity provider publishes its keys. Exactly one of `jwksUrl` and `jwks`. */
  jwksUrl?: string;
  /** The keys themselves (public JWKs). */
  jwks?: JSONWebKeySet;
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (the token must name this gateway). */
  audience: string;
  /** Accepted `alg` values. Default RS256, ES256, PS256, EdDSA. `none` and HS* are refused. */
  algorithms?: string[];
  /** Leeway for `exp`/`nbf`/`iat`, seconds. Default 30. */
  clockToleranceSec?: number;
  claims?: JwtClaimNames;
  /** Least time between two JWKS fetches triggered by an unknown `kid`, ms. Default 30000. */
  jwksCooldownMs?: number;
  /** How long to wait for the JWKS endpoint, ms. Default 5000. */
  jwksTimeoutMs?: number;
}

/** One API key. Only its SHA-256 is configured, never the key itself. */
export interface ApiKeyOptions {
  /** Becomes the principal id (audit, rate limits). */
  id: string;
  /** Lower- or upper-case hex SHA-256 of the key. */
  sha256: string;
  scopes?: string[];
  groups?: string[];
}

export interface AuthenticatorOptions {
  jwt?: JwtOptions;
  apiKeys?: ApiKeyOptions[];
  /** Header carrying the API key, e.g. `x-api-key`. Default: `Authorization: Bearer <key>`. */
  apiKeyHeader?: string;
  /** With no credentials at all, let the call through as the anonymous principal. Bad credentials are still refused. */
  allowAnonymous?: boolean;
  /**
   * The clock tokens' `exp`/`nbf`/`iat` are checked against, epoch ms. Default Date.now.
   * Tests set it to check expiry without waiting for a real token to expire.
   */
  now?: () => number;
}

export type Authenticator = (headers: IncomingHttpHeaders) => Promise<Principal>;

type Jose = typeof import('jose');
let jose: Jose | undefined;
/**
 * jose (ESM only, so it cannot be required synchronously) loads only when a JWT
 * verifier is configured: API keys need node:crypto alone, and loading jose
 * costs tens of milliseconds of start-up. The gateway awaits this before it
 * builds its authenticator, so the key set is checked at start; a verifier
 * built before jose is loaded (unit tests) loads it with its first token.
 */
export async function loadJose(): Promise<void> {
  jose ??= await import('jose');
}


const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA'];
// Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037, RFC 8812). The keys come from a
// JWKS, so a symmetric alg would mean verifying an HMAC with a public key — the
// classic algorithm-confusion forgery. `none` is never a signature.
const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'ES256K', 'EdDSA', 'Ed25519',
]);
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// RFC 6750 §2.1: b64token after "Bearer" (scheme is case-insensitive, RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function configError(message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `auth: ${message}`);
}

/**
 * Builds the function that turns request headers into a Principal. Options are
 * checked once here; the returned function throws GH_AUTH_REQUIRED (no
 * credentials), GH_AUTH_INVALID (bad credentials) or GH_AUTH_UNAVAILABLE (JWKS down).
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const jwt = options.jwt === undefined ? undefined : buildJwtVerifier(options.jwt, options.now ?? Date.now);
  const apiKeys = options.apiKeys === undefined || options.apiKeys.length === 0 ? undefined : buildApiKeyMatcher(options.apiKeys);
  const apiKeyHeader = options.apiKeyHeader?.toLowerCase();
  if (apiKeyHeader !== undefined && !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(apiKeyHeader)) {
    throw configError(`apiKeyHeader "${options.apiKeyHeader}" is not a valid header name`);
  }
  const keyInAuthorization = apiKeys !== undefined && (apiKeyHeader === undefined || apiKeyHeader === 'authorization');
  const keyHeader = apiKeys !== undefined && !keyInAuthorization ? apiKeyHeader : undefined;
  const readsAuthorization = jwt !== undefined || keyInAuthorization;
  const allowAnonymous = options.allowAnonymous === true;
  if (jwt === undefined && apiKeys === undefined && !allowAnonymous) {
    throw configError('configure jwt, apiKeys or allowAnonymous');
  }

  return async function authenticate(headers) {
    const key = keyHeader === undefined ? undefined : singleHeader(headers, keyHeader);
    const authorization = readsAuthorization ? singleHeader(headers, 'authorization') : undefined;
    let bearer: string | undefined;
    if (authorization !== undefined) {
      const m = BEARER.exec(authorization);
      if (m?.[1] === undefined) throw new GatehouseError('GH_AUTH_INVALID', 'Authorization header is not "Bearer <token>"');
      bearer = m[1];
    }
    // RFC 6750 §3.1: more than one way of authenticating is an invalid request.
    if (key !== undefined && bearer !== undefined) {
      throw new GatehouseError('GH_AUTH_INVALID', `both an Authorization header and ${keyHeader} were sent; send one`);
    }
    if (key !== undefined && apiKeys !== undefined) return apiKeys(key);
    if (bearer !== undefined) {
      // With both modes on, a JWT-shaped bearer is a JWT; anything else is an API key.
      if (jwt !== undefined && (!keyInAuthorization || JWT_SHAPE.test(bearer))) return jwt(bearer);
      if (keyInAuthorization && apiKeys !== undefined) return apiKeys(bearer);
    }
    if (allowAnonymous) return ANONYMOUS;
    throw new GatehouseError('GH_AUTH_REQUIRED', 'authentication required: send "Authorization: Bearer <token>"' +
      (keyHeader === undefined ? '' : ` or an API key in ${keyHeader}`));
  };
}

/** Empty and absent are the same; a repeated header is refused rather than guessed at. */
function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new GatehouseError('GH_AUTH_INVALID', `header ${name} was sent more than once`);
    return value[0] === undefined || value[0].trim() === '' ? undefined : value[0].trim();
  }
  return value.trim() === '' ? undefined : value.trim();
}

function buildApiKeyMatcher(keys: readonly ApiKeyOptions[]): (presented: string) => Principal {
  const ids = new Set<string>();
  const entries = keys.map((k, i) => {
    if (typeof k.id !== 'string' || k.id === '') throw configError(`apiKeys[${i}].id must be a non-empty string`);
    if (ids.has(k.id)) throw configError(`apiKeys[${i}].id "${k.id}" is used twice`);
    ids.add(k.id);
    if (typeof k.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(k.sha256)) {
      throw configError(`apiKeys[${i}].sha256 must be 64 hex characters (the SHA-256 of the key)`);
    }
    const principal: Principal = Object.freeze({
      id: k.id,
      kind: 'api-key',
      scopes: Object.freeze([...(k.scopes ?? [])]),
      groups: Object.freeze([...(k.groups ?? [])]),
    });
    return { hash: Buffer.from(k.sha256, 'hex'), principal };
  });
  const distinct = new Set(entries.map((e) => e.hash.toString('hex')));
  if (distinct.size !== entries.length) throw configError('two apiKeys have the same sha256');

  return (presented) => {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    // Compare against every key, always: the time taken must not tell which one
    // (or whether any) matched. Hashes are distinct, so at most one matches.
    let found: Principal | undefined;
    for (const e of entries) {
      const equal = timingSafeEqual(digest, e.hash);
      found = equal ? e.principal : found;
    }
    if (found === undefined) throw new GatehouseError('GH_AUTH_INVALID', 'unknown API key');
    return found;
  };
}

function buildJwtVerifier(o: JwtOptions, now: () => number): (token: string) => Promise<Principal> {
  if (typeof o.issuer !== 'string' || o.issuer === '') throw configError('jwt.issuer is required');
  if (typeof o.audience !== 'string' || o.audience === '') throw configError('jwt.audience is required');
  const algorithms = o.algorithms ?? DEFAULT_ALGORITHMS;
  if (algorithms.length === 0) throw configError('jwt.algorithms must not be empty');
  for (const alg of algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw configError(`jwt.algorithms: "${alg}" is not allowed; keys come from a JWKS, so only asymmetric algorithms (${[...ASYMMETRIC_ALGORITHMS].join(', ')}) are accepted`);
    }
  }
  const clockTolerance = o.clockToleranceSec ?? 30;
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) throw configError('jwt.clockToleranceSec must be a number >= 0');

  if (o.jwksUrl !== undefined && o.jwks !== undefined) throw configError('jwt needs one of jwksUrl and jwks, not both');
  let url: URL | undefined;
  if (o.jwksUrl !== undefined) {
    try {
      url = new URL(o.jwksUrl);
    } catch (cause) {
      throw new GatehouseError('GH_CONFIG_INVALID', `auth: jwt.jwksUrl "${o.jwksUrl}" is not a URL`, { cause });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw configError('jwt.jwksUrl must be http(s)');
  } else if (o.jwks === undefined) {
    throw configError('jwt needs jwksUrl or jwks');
  }
  const makeKeys = (j: Jose): JWTVerifyGetKey => {
    if (url !== undefined) {
      return j.createRemoteJWKSet(url, {
        cooldownDuration: o.jwksCooldownMs ?? 30_000,
        timeoutDuration: o.jwksTimeoutMs ?? 5_000,
      });
    }
    try {
      return j.createLocalJWKSet(o.jwks!);
    } catch (cause) {
      throw new GatehouseError('GH_CONFIG_INVALID', 'auth: jwt.jwks is not a JSON Web Key Set', { cause });
    }
  };
  let keys: JWTVerifyGetKey | undefined = jose === undefined ? undefined : makeKeys(jose);

  const claims = o.claims ?? {};
  const verifyOptions = {
    issuer: o.issuer,
    audience: o.audience,
    algorithms,
    clockTolerance,
    requiredClaims: ['exp'],
  };

  // Verified tokens, remembered until they expire: an agent sends the same token
  // with every call, and an RS256/ES256 signature check costs ~0.3 ms on this
  // class of machine (bench/auth-overhead.mjs) — more than the rest of a call.
  // The cache only skips re-checking what was already checked: an entry lives
  // no longer than the token's own `exp`, and failures are never cached.
  const verified = new Map<string, { principal: Principal; expiresAt: number }>();
  const VERIFIED_MAX = 10_000;

  return async (token) => {
    const hit = verified.get(token);
    if (hit !== undefined) {
      if (hit.expiresAt > now()) return hit.principal;
      verified.delete(token);
    }
    if (keys === undefined) {
      await loadJose();
      keys ??= makeKeys(jose!);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jose!.jwtVerify(token, keys, { ...verifyOptions, currentDate: new Date(now()) }));
    } catch (err) {
      throw joseToGatehouse(err, jose!.errors);
    }
    const principal = principalFromPayload(payload);
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(token, { principal, expiresAt: (payload.exp as number) * 1000 });
    return principal;
  };

  function principalFromPayload(payload: JWTPayload): Principal {
    const subject = claimAt(payload, claims.subject ?? 'sub');
    if (typeof subject !== 'string' || subject === '') {
      throw new GatehouseError('GH_AUTH_INVALID', `token has no "${claims.subject ?? 'sub'}" claim`);
    }
    const principal: Principal = {
      id: subject,
      kind: 'jwt',
      scopes: readScopes(payload),
      groups: readGroups(payload, claims.groups ?? 'groups'),
      // What `principals.claims` rules match: without it such a rule could never match a token
      // (an allow that never allows, and a deny that never denies).
      claims: payload,
    };
    const client = claims.client === undefined ? (payload['client_id'] ?? payload['azp']) : claimAt(payload, claims.client);
    if (typeof client === 'string' && client !== '') principal.client = client;
    return principal;
  }
}

function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let cur: unknown = payload;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function stringList(value: unknown, claim: string, split: boolean): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return split ? value.split(/\s+/).filter((s) => s !== '') : [value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return [...value];
  throw new GatehouseError('GH_AUTH_INVALID', `token claim "${claim}" must be a string or an array of strings`);
}

// RFC 8693 §4.2 / RFC 9068 §2.2.3: `scope` is a space-separated string; Azure AD and
// others use `scp`, as an array or a string.
function readScopes(payload: JWTPayload): string[] {
  const scopes = stringList(payload['scope'], 'scope', true);
  for (const s of stringList(payload['scp'], 'scp', true)) if (!scopes.includes(s)) scopes.push(s);
  return scopes;
}

function readGroups(payload: JWTPayload, claim: string): string[] {
  return stringList(claimAt(payload, claim), claim, false);
}

/** jose messages name claims, never the token; still, we write our own. */
function joseToGatehouse(err: unknown, joseErrors: Jose['errors']): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const invalid = (message: string) => new GatehouseError('GH_AUTH_INVALID', `invalid token: ${message}`, { cause: err });
  if (err instanceof joseErrors.JWTExpired) return invalid('expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return invalid(`claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'check failed'}`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalid('algorithm not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('signature verification failed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('no key in the JWKS matches the token');
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return invalid('several keys in the JWKS match the token; it must name its kid');
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported) {
    return invalid('malformed or unsupported token');
  }
  // Anything else is the JWKS endpoint failing (timeout, refused, non-200, not a key
  // set): not the caller's fault, and not a reason to tell it its token is forged.
  return new GatehouseError('GH_AUTH_UNAVAILABLE', 'could not fetch the signing keys (JWKS) to check the token', { cause: err });
}
