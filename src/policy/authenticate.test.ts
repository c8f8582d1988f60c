import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { GatehouseError } from '../errors/catalogue.js';
import { createAuthenticator } from './authenticate.js';
import type { AuthenticatorOptions } from './authenticate.js';

const ISS = 'https://idp.test/';
const AUD = 'gatehouse';

interface Signer { kid: string; alg: string; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

async function signer(alg: 'RS256' | 'ES256', kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

function mint(s: Signer, claims: JWTPayload = {}, opts: { exp?: number | null; iss?: string; aud?: string; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: s.alg, kid: opts.kid ?? s.kid, typ: 'JWT' })
    .setIssuer(opts.iss ?? ISS)
    .setAudience(opts.aud ?? AUD)
    .setIssuedAt();
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? '5m');
  return jwt.sign(s.privateKey);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const bearer = (token: string): IncomingHttpHeaders => ({ authorization: `Bearer ${token}` });
const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const now = () => Math.floor(Date.now() / 1000);

async function rejects(p: Promise<unknown>, code: string): Promise<GatehouseError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GatehouseError);
  expect((err as GatehouseError).code).toBe(code);
  return err as GatehouseError;
}

let rsa: Signer;
let ec: Signer;
let stranger: Signer;
let server: Server;
let jwksUrl: string;
let jwksRequests = 0;
let published: JWK[] = [];

beforeAll(async () => {
  rsa = await signer('RS256', 'rsa-1');
  ec = await signer('ES256', 'ec-1');
  stranger = await signer('RS256', 'rsa-unknown');
  published = [rsa.jwk, ec.jwk];
  server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    jwksRequests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

const remote = (extra: Partial<AuthenticatorOptions['jwt']> = {}, rest: Omit<AuthenticatorOptions, 'jwt'> = {}) =>
  createAuthenticator({ jwt: { jwksUrl, issuer: ISS, audience: AUD, ...extra }, ...rest });

describe('JWT', () => {
  it('accepts RS256 from a remote JWKS: subject, scopes from `scope`, groups, client', async () => {
    const auth = remote();
    const p = await auth(bearer(await mint(rsa, { scope: 'tools:read  tools:call', groups: ['eng', 'ops'], client_id: 'desktop' })));
    const { claims, ...rest } = p;
    expect(rest).toEqual({ id: 'alice', kind: 'jwt', scopes: ['tools:read', 'tools:call'], groups: ['eng', 'ops'], client: 'desktop' });
    // The verified claims, as rules on claims read them.
    expect(claims).toMatchObject({ sub: 'alice', iss: ISS, aud: AUD, client_id: 'desktop', groups: ['eng', 'ops'] });
  });

  it('accepts ES256: scopes from `scp` (array or string), groups from a configured nested claim', async () => {
    const auth = remote({ claims: { groups: 'realm_access.roles', subject: 'oid' } });
    const t1 = await mint(ec, { oid: 'u-7', scp: ['a', 'b'], realm_access: { roles: ['admin'] }, azp: 'cli' });
    const { claims, ...rest } = await auth(bearer(t1));
    expect(rest).toEqual({ id: 'u-7', kind: 'jwt', scopes: ['a', 'b'], groups: ['admin'], client: 'cli' });
    expect(claims).toMatchObject({ oid: 'u-7', realm_access: { roles: ['admin'] } });
    const t2 = await mint(ec, { oid: 'u-8', scp: 'c d' });
    expect(await auth(bearer(t2))).toMatchObject({ id: 'u-8', scopes: ['c', 'd'], groups: [] });
  });

  it('remembers a verified token only until it expires', async () => {
    // The authenticator's clock, not the real one: a token minted to expire a second from
    // now could expire before its first check on a busy machine (or at once, at a second's end).
    let clock = Date.now();
    const auth = createAuthenticator({ jwt: { jwks: { keys: [ec.jwk] }, issuer: ISS, audience: AUD, clockToleranceSec: 0 }, now: () => clock });
    const exp = now() + 60;
    const token = await mint(ec, {}, { exp });
    expect(await auth(bearer(token))).toMatchObject({ id: 'alice' });
    clock = exp * 1000 - 1;
    expect(await auth(bearer(token))).toMatchObject({ id: 'alice' }); // from the cache, a millisecond before exp
    clock = exp * 1000;
    await rejects(auth(bearer(token)), 'GH_AUTH_INVALID');
  });

  it('works with a local JWKS too', async () => {
    const auth = createAuthenticator({ jwt: { jwks: { keys: [ec.jwk] }, issuer: ISS, audience: AUD } });
    expect(await auth(bearer(await mint(ec)))).toMatchObject({ id: 'alice', kind: 'jwt' });
    await rejects(auth(bearer(await mint(rsa))), 'GH_AUTH_INVALID');
  });

  it('refuses alg "none" (hand-built token), and refuses to be configured with it', async () => {
    const auth = remote();
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', iss: ISS, aud: AUD, exp: now() + 300 })}.`;
    const err = await rejects(auth(bearer(token)), 'GH_AUTH_INVALID');
    expect(err.message).not.toContain(token);
    expect(() => remote({ algorithms: ['none'] })).toThrow(/"none" is not allowed/);
  });

  it('refuses HS256 signed with the RSA public key bytes (algorithm confusion), and refuses HS* in config', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const forged = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .setIssuer(ISS).setAudience(AUD).setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    await rejects(remote()(bearer(forged)), 'GH_AUTH_INVALID');
    expect(() => remote({ algorithms: ['RS256', 'HS256'] })).toThrow(/"HS256" is not allowed/);
  });

  it('refuses wrong aud, wrong iss, expired, nbf in the future, missing exp, tampered signature', async () => {
    const auth = remote();
    const cases: [string, string, RegExp][] = [
      ['wrong aud', await mint(rsa, {}, { aud: 'someone-else' }), /"aud"/],
      ['wrong iss', await mint(rsa, {}, { iss: 'https://evil.test/' }), /"iss"/],
      ['expired', await mint(rsa, {}, { exp: now() - 120 }), /expired/],
      ['nbf future', await mint(rsa, { nbf: now() + 120 }), /"nbf"/],
      ['missing exp', await mint(rsa, {}, { exp: null }), /"exp" is missing/],
    ];
    const good = await mint(rsa);
    const [h, p, sig = ''] = good.split('.');
    const mid = Math.floor(sig.length / 2);
    const tampered = `${h}.${p}.${sig.slice(0, mid)}${sig[mid] === 'A' ? 'B' : 'A'}${sig.slice(mid + 1)}`;
    cases.push(['tampered', tampered, /signature verification failed/]);
    const claimsSwapped = `${h}.${b64({ sub: 'mallory', iss: ISS, aud: AUD, exp: now() + 300 })}.${sig}`;
    cases.push(['payload swapped', claimsSwapped, /signature verification failed/]);
    for (const [name, token, message] of cases) {
      const err = await rejects(auth(bearer(token)), 'GH_AUTH_INVALID');
      expect(err.message, name).toMatch(message);
      expect(err.message, name).not.toContain(token.split('.')[2] || token);
    }
    // Tolerance: 10 s past exp is still inside the default 30 s leeway.
    expect(await auth(bearer(await mint(rsa, {}, { exp: now() - 10 })))).toMatchObject({ id: 'alice' });
  });

  // jose's cooldown runs on the wall clock, so each side is shown with a cooldown no test run can
  // straddle: one that never ends within the test (an hour), and one that is always over (0 ms).
  it('an unknown kid costs no JWKS fetch while the cooldown runs, rotated keys included', async () => {
    const auth = remote({ jwksCooldownMs: 3_600_000 });
    const before = jwksRequests;
    await auth(bearer(await mint(rsa)));
    expect(jwksRequests - before).toBe(1); // first fetch
    await auth(bearer(await mint(ec)));
    expect(jwksRequests - before).toBe(1); // cached
    const unknown = await mint(stranger);
    for (let i = 0; i < 6; i++) await rejects(auth(bearer(unknown)), 'GH_AUTH_INVALID');
    expect(jwksRequests - before).toBe(1); // cooling down: no fetches, however many tokens name an unknown kid
    published = [rsa.jwk, ec.jwk, stranger.jwk]; // the IdP rotates in a new key: picked up once the cooldown ends
    try {
      await rejects(auth(bearer(unknown)), 'GH_AUTH_INVALID');
      expect(jwksRequests - before).toBe(1);
    } finally {
      published = [rsa.jwk, ec.jwk];
    }
  });

  it('once the cooldown is over, an unknown kid refetches the JWKS once, and rotated keys are picked up', async () => {
    const auth = remote({ jwksCooldownMs: 0 });
    const before = jwksRequests;
    await auth(bearer(await mint(rsa)));
    await auth(bearer(await mint(ec)));
    expect(jwksRequests - before).toBe(1); // a known kid never refetches
    const unknown = await mint(stranger);
    await rejects(auth(bearer(unknown)), 'GH_AUTH_INVALID');
    expect(jwksRequests - before).toBe(2); // exactly one refetch for the unknown kid
    published = [rsa.jwk, ec.jwk, stranger.jwk];
    try {
      expect(await auth(bearer(unknown))).toMatchObject({ id: 'alice' });
      expect(jwksRequests - before).toBe(3);
    } finally {
      published = [rsa.jwk, ec.jwk];
    }
  });

  it('reports an unreachable JWKS as GH_AUTH_UNAVAILABLE, not as a bad token', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const auth = createAuthenticator({ jwt: { jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer: ISS, audience: AUD } });
    await rejects(auth(bearer(await mint(rsa))), 'GH_AUTH_UNAVAILABLE');
  });

  it('does not accept a token with no subject', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
      .setIssuer(ISS).setAudience(AUD).setExpirationTime('5m').sign(rsa.privateKey);
    await rejects(remote()(bearer(token)), 'GH_AUTH_INVALID');
  });
});

describe('API keys', () => {
  const keys = [
    { id: 'ci', sha256: sha('k-ci-0123456789'), scopes: ['tools:call'], groups: ['bots'] },
    { id: 'ops', sha256: sha('k-ops-abcdef').toUpperCase() },
  ];

  it('accepts a key via Authorization: Bearer', async () => {
    const auth = createAuthenticator({ apiKeys: keys });
    expect(await auth(bearer('k-ci-0123456789'))).toEqual({ id: 'ci', kind: 'api-key', scopes: ['tools:call'], groups: ['bots'] });
    expect(await auth({ authorization: 'bearer k-ops-abcdef' })).toMatchObject({ id: 'ops', kind: 'api-key', scopes: [] });
  });

  it('accepts a key via a custom header, and then ignores Authorization for keys', async () => {
    const auth = createAuthenticator({ apiKeys: keys, apiKeyHeader: 'X-API-Key' });
    expect(await auth({ 'x-api-key': 'k-ops-abcdef' })).toMatchObject({ id: 'ops' });
    await rejects(auth(bearer('k-ops-abcdef')), 'GH_AUTH_REQUIRED');
  });

  it('refuses a wrong key without echoing it', async () => {
    const auth = createAuthenticator({ apiKeys: keys, apiKeyHeader: 'x-api-key' });
    const err = await rejects(auth({ 'x-api-key': 'k-ci-0123456788' }), 'GH_AUTH_INVALID');
    expect(err.message).not.toContain('k-ci');
    await rejects(createAuthenticator({ apiKeys: keys })(bearer('nope')), 'GH_AUTH_INVALID');
  });

  it('with both modes on, sends a JWT-shaped bearer to JWT verification and other bearers to the key check', async () => {
    const auth = remote({}, { apiKeys: keys });
    expect(await auth(bearer(await mint(rsa)))).toMatchObject({ kind: 'jwt', id: 'alice' });
    expect(await auth(bearer('k-ci-0123456789'))).toMatchObject({ kind: 'api-key', id: 'ci' });
    // A key configured to look like a JWT would still go to JWT verification, and fail there.
    const jwtLooking = 'aaa.bbb.ccc';
    const both = createAuthenticator({ jwt: { jwks: { keys: [rsa.jwk] }, issuer: ISS, audience: AUD }, apiKeys: [{ id: 'x', sha256: sha(jwtLooking) }] });
    const err = await rejects(both(bearer(jwtLooking)), 'GH_AUTH_INVALID');
    expect(err.message).toMatch(/invalid token/);
  });

  it('refuses both a bearer and a custom key header at once', async () => {
    const auth = remote({}, { apiKeys: keys, apiKeyHeader: 'x-api-key' });
    await rejects(auth({ ...bearer(await mint(rsa)), 'x-api-key': 'k-ops-abcdef' }), 'GH_AUTH_INVALID');
  });

  it('checks the key config once, when built', () => {
    expect(() => createAuthenticator({ apiKeys: [{ id: 'a', sha256: 'abc' }] })).toThrow(/apiKeys\[0\]\.sha256/);
    expect(() => createAuthenticator({ apiKeys: [{ id: 'a', sha256: sha('x') }, { id: 'a', sha256: sha('y') }] })).toThrow(/used twice/);
    expect(() => createAuthenticator({ apiKeys: [{ id: 'a', sha256: sha('x') }, { id: 'b', sha256: sha('x') }] })).toThrow(/same sha256/);
    expect(() => createAuthenticator({})).toThrow(/configure jwt, apiKeys or allowAnonymous/);
  });
});

describe('no credentials', () => {
  it('is GH_AUTH_REQUIRED by default', async () => {
    const err = await rejects(remote()({}), 'GH_AUTH_REQUIRED');
    expect(err.status).toBe(401);
  });

  it('is the anonymous principal when allowAnonymous; bad credentials are still refused', async () => {
    const auth = createAuthenticator({ apiKeys: [{ id: 'a', sha256: sha('good') }], allowAnonymous: true });
    expect(await auth({})).toEqual({ id: 'anonymous', kind: 'anonymous', scopes: [] });
    expect(await auth({ authorization: '' })).toMatchObject({ kind: 'anonymous' });
    await rejects(auth(bearer('bad')), 'GH_AUTH_INVALID');
    await rejects(auth({ authorization: 'Basic YTpi' }), 'GH_AUTH_INVALID');
  });
});
