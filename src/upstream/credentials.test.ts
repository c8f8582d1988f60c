import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CredentialConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { BuiltRequest } from './build-request.js';
import { createCredentials, placeApiKey, withRetryOn401 } from './credentials.js';

const CALLER_TOKEN = 'caller-token-abc.def';
const CALLER = { authorization: `Bearer ${CALLER_TOKEN}` };
const SECRET = 's3cr3t-value';

interface TokenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  form: URLSearchParams;
}

type Answer = (req: TokenRequest, n: number, res: ServerResponse) => void | Promise<void>;

interface TokenServer {
  url: string;
  received: TokenRequest[];
  answer: Answer;
  close(): Promise<void>;
}

const servers: TokenServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A real token endpoint on port 0 that records every request. */
async function tokenServer(answer?: Answer): Promise<TokenServer> {
  const received: TokenRequest[] = [];
  const state: TokenServer = {
    url: '',
    received,
    answer: answer ?? ((_req, n, res) => json(res, 200, { access_token: `backend-token-${n}`, token_type: 'Bearer', expires_in: 3600 })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: TokenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      received.push(rec);
      void state.answer(rec, received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
  servers.push(state);
  return state;
}

function request(overrides: Partial<BuiltRequest> = {}): BuiltRequest {
  return {
    method: 'GET',
    url: 'https://api.example.com/v1/items?limit=5',
    headers: { accept: 'application/json' },
    ...overrides,
  };
}

/** Everything that would cross the wire to the backend, as one string. */
function wire(req: BuiltRequest): string {
  return JSON.stringify([req.method, req.url, req.headers, typeof req.body === 'string' ? req.body : '']);
}

async function rejection(p: Promise<unknown>): Promise<GatehouseError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error('expected a rejection');
}

function basicOf(header: string | undefined): string {
  expect(header).toMatch(/^Basic /);
  return Buffer.from((header as string).slice(6), 'base64').toString('utf8');
}

describe('static credentials', () => {
  it('none removes any Authorization and adds nothing', async () => {
    const creds = createCredentials({ type: 'none' });
    const req = request({ headers: { accept: 'x', authorization: 'Bearer from-args', 'proxy-authorization': 'p' } });
    const out = await creds.apply(req, CALLER);
    expect(out.headers).toEqual({ accept: 'x' });
    expect(out.url).toBe(req.url);
    // The input is not modified.
    expect(req.headers.authorization).toBe('Bearer from-args');
  });

  it('bearer sets exactly Authorization: Bearer <token>, replacing one from arguments', async () => {
    const creds = createCredentials({ type: 'bearer', token: SECRET });
    const out = await creds.apply(request({ headers: { accept: 'x', authorization: 'Bearer evil' } }), CALLER);
    expect(out.headers).toEqual({ accept: 'x', authorization: `Bearer ${SECRET}` });
  });

  it('basic sets base64(username:password) in UTF-8 (RFC 7617)', async () => {
    const creds = createCredentials({ type: 'basic', username: 'alice', password: 'pä:ss' });
    const out = await creds.apply(request({ headers: { Authorization: 'Basic ZXZpbDpldmls' } }), CALLER);
    expect(Object.keys(out.headers)).toEqual(['authorization']);
    expect(basicOf(out.headers.authorization)).toBe('alice:pä:ss');
  });

  it('apiKey in header sets the header, overriding the same header from arguments in any case', async () => {
    const creds = createCredentials({ type: 'apiKey', in: 'header', name: 'X-API-Key', value: SECRET });
    const out = await creds.apply(request({ headers: { accept: 'x', 'x-api-key': 'from-args', 'X-Api-KEY': 'also' } }), CALLER);
    expect(out.headers).toEqual({ accept: 'x', 'x-api-key': SECRET });
  });

  it('apiKey in query is URL-encoded and replaces the same parameter from arguments, keeping others byte for byte', async () => {
    const creds = createCredentials({ type: 'apiKey', in: 'query', name: 'api_key', value: 'a b&c=d/é' });
    const url = 'https://api.example.com/v1/items?q=a%20b&api_key=evil&api%5Fkey=evil2&api_key[x]=evil3&limit=5';
    const out = await creds.apply(request({ url }), CALLER);
    expect(out.url).toBe('https://api.example.com/v1/items?q=a%20b&limit=5&api_key=a+b%26c%3Dd%2F%C3%A9');
    expect(new URL(out.url).searchParams.getAll('api_key')).toEqual(['a b&c=d/é']);
  });

  it('apiKey in query is appended to a URL without a query', async () => {
    const creds = createCredentials({ type: 'apiKey', in: 'query', name: 'key', value: SECRET });
    expect((await creds.apply(request({ url: 'https://h/x' }), CALLER)).url).toBe(`https://h/x?key=${SECRET}`);
    expect((await creds.apply(request({ url: 'https://h/x?' }), CALLER)).url).toBe(`https://h/x?key=${SECRET}`);
  });

  it('apiKey in cookie merges with cookies from arguments and replaces one of the same name', async () => {
    const creds = createCredentials({ type: 'apiKey', in: 'cookie', name: 'session', value: SECRET });
    const alone = await creds.apply(request(), CALLER);
    expect(alone.headers.cookie).toBe(`session=${SECRET}`);
    const merged = await creds.apply(request({ headers: { cookie: 'theme=dark; session=evil; lang=en' } }), CALLER);
    expect(merged.headers.cookie).toBe(`theme=dark; lang=en; session=${SECRET}`);
  });

  it('rejects configs that cannot be sent, without echoing the secret', () => {
    const bad: CredentialConfig[] = [
      { type: 'bearer', token: `${SECRET}\r\nx-evil: 1` },
      { type: 'basic', username: 'a:b', password: SECRET },
      { type: 'apiKey', in: 'header', name: 'bad name', value: SECRET },
      { type: 'apiKey', in: 'header', name: 'Host', value: SECRET },
      { type: 'apiKey', in: 'cookie', name: 'sid', value: `${SECRET};evil=1` },
      { type: 'oauth2', tokenUrl: 'not a url', clientId: 'c', clientSecret: SECRET },
    ];
    for (const config of bad) {
      let caught: unknown;
      try {
        createCredentials(config);
      } catch (err) {
        caught = err;
      }
      expect(caught, config.type).toBeInstanceOf(GatehouseError);
      expect((caught as GatehouseError).code).toBe('GH_CONFIG_INVALID');
      expect((caught as GatehouseError).message).not.toContain(SECRET);
    }
  });
});

describe('passthrough', () => {
  it('copies the caller Authorization as-is only when configured', async () => {
    const on = createCredentials({ type: 'none' }, {}, { passthrough: true });
    const out = await on.apply(request({ headers: { authorization: 'Bearer from-args' } }), { authorization: 'DPoP abc' });
    expect(out.headers.authorization).toBe('DPoP abc');
    const noCaller = await on.apply(request({ headers: { authorization: 'Bearer from-args' } }), {});
    expect(noCaller.headers.authorization).toBeUndefined();
  });

  it('combines with an api key that is not Authorization', async () => {
    const creds = createCredentials({ type: 'apiKey', in: 'header', name: 'x-key', value: SECRET }, {}, { passthrough: true });
    const out = await creds.apply(request(), CALLER);
    expect(out.headers).toMatchObject({ authorization: CALLER.authorization, 'x-key': SECRET });
  });

  it('cannot be combined with a credential that sets Authorization', () => {
    expect(() => createCredentials({ type: 'bearer', token: SECRET }, {}, { passthrough: true })).toThrow(/passthrough/);
    expect(() => createCredentials({ type: 'apiKey', in: 'header', name: 'Authorization', value: SECRET }, {}, { passthrough: true })).toThrow(
      /passthrough/,
    );
  });

  it('without passthrough the caller token appears nowhere in the request, for every type', async () => {
    const ts = await tokenServer();
    const configs: CredentialConfig[] = [
      { type: 'none' },
      { type: 'apiKey', in: 'header', name: 'x-key', value: SECRET },
      { type: 'apiKey', in: 'query', name: 'key', value: SECRET },
      { type: 'apiKey', in: 'cookie', name: 'key', value: SECRET },
      { type: 'bearer', token: SECRET },
      { type: 'basic', username: 'u', password: SECRET },
      { type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET },
      { type: 'tokenExchange', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET },
    ];
    for (const config of configs) {
      const out = await createCredentials(config).apply(request({ headers: { accept: 'x', cookie: 'a=b' } }), CALLER);
      expect(wire(out), config.type).not.toContain(CALLER_TOKEN);
      expect(out.headers.authorization ?? '', config.type).not.toBe(CALLER.authorization);
    }
  });
});

describe('oauth2 client credentials', () => {
  it('POSTs a form with grant_type, scope and audience, client auth via HTTP Basic', async () => {
    const ts = await tokenServer();
    const creds = createCredentials({
      type: 'oauth2',
      tokenUrl: ts.url,
      clientId: 'my client',
      clientSecret: 'p@ss:wörd',
      scopes: ['read', 'write'],
      audience: 'https://api.example.com',
    });
    const out = await creds.apply(request({ headers: { authorization: 'Bearer evil' } }), CALLER);
    expect(out.headers.authorization).toBe('Bearer backend-token-1');
    expect(ts.received).toHaveLength(1);
    const got = ts.received[0] as TokenRequest;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/oauth/token');
    expect(got.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // RFC 6749 §2.3.1: each part form-encoded before Basic.
    expect(basicOf(got.headers.authorization)).toBe('my+client:p%40ss%3Aw%C3%B6rd');
    expect(Object.fromEntries(got.form)).toEqual({ grant_type: 'client_credentials', scope: 'read write', audience: 'https://api.example.com' });
    expect(creds.refreshable).toBe(true);
  });

  it('caches the token: two applies make one token request', async () => {
    const ts = await tokenServer();
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    const a = await creds.apply(request(), {});
    const b = await creds.apply(request(), {});
    expect([a.headers.authorization, b.headers.authorization]).toEqual(['Bearer backend-token-1', 'Bearer backend-token-1']);
    expect(ts.received).toHaveLength(1);
  });

  it('refreshes before expiry, with a safety margin', async () => {
    const ts = await tokenServer((_req, n, res) => json(res, 200, { access_token: `t${n}`, token_type: 'bearer', expires_in: 100 }));
    let now = 1_000_000;
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET }, { now: () => now });
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer t1');
    // 100 s lifetime, margin min(30 s, 10 %) = 10 s: reused until 90 s.
    now += 89_000;
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer t1');
    now += 1_000;
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer t2');
    expect(ts.received).toHaveLength(2);
  });

  it('invalidate() drops the cache so the next apply refetches', async () => {
    const ts = await tokenServer();
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    await creds.apply(request(), {});
    creds.invalidate();
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer backend-token-2');
    expect(ts.received).toHaveLength(2);
  });

  it('concurrent applies share one in-flight token request', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ts = await tokenServer(async (_req, n, res) => {
      await gate;
      json(res, 200, { access_token: `t${n}`, token_type: 'Bearer', expires_in: 3600 });
    });
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    const pending = Array.from({ length: 5 }, () => creds.apply(request(), {}));
    await expect.poll(() => ts.received.length, { timeout: 10_000 }).toBe(1); // the one request is at the token endpoint
    release();
    const outs = await Promise.all(pending);
    expect(outs.map((o) => o.headers.authorization)).toEqual(Array(5).fill('Bearer t1'));
    expect(ts.received).toHaveLength(1);
  });

  it('a token endpoint 400 is GH_UPSTREAM_AUTH naming the OAuth error, with no secret in the message; the next apply retries', async () => {
    const ts = await tokenServer((_req, n, res) =>
      n === 1
        ? json(res, 400, { error: 'invalid_client', error_description: `bad secret ${SECRET}` })
        : json(res, 200, { access_token: 'ok', token_type: 'Bearer', expires_in: 60 }),
    );
    const creds = createCredentials({ type: 'oauth2', tokenUrl: `${ts.url}?tenant=t1`, clientId: 'c', clientSecret: SECRET });
    const err = await rejection(creds.apply(request(), CALLER));
    expect(err.code).toBe('GH_UPSTREAM_AUTH');
    expect(err.status).toBe(502);
    expect(err.message).toContain('400 (invalid_client)');
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('tenant');
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer ok');
  });

  it('an unreachable token endpoint is GH_UPSTREAM_AUTH with no secret in the message', async () => {
    const ts = await tokenServer();
    const url = ts.url;
    await ts.close();
    servers.splice(servers.indexOf(ts), 1);
    const creds = createCredentials({ type: 'oauth2', tokenUrl: url, clientId: 'c', clientSecret: SECRET });
    const err = await rejection(creds.apply(request(), CALLER));
    expect(err.code).toBe('GH_UPSTREAM_AUTH');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(CALLER_TOKEN);
  });

  it('a 200 without an access_token, or a non-Bearer token, is GH_UPSTREAM_AUTH', async () => {
    const ts = await tokenServer((_req, n, res) => json(res, 200, n === 1 ? { token_type: 'Bearer' } : { access_token: SECRET, token_type: 'mac' }));
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    expect((await rejection(creds.apply(request(), {}))).message).toContain('access_token');
    const err = await rejection(creds.apply(request(), {}));
    expect(err.message).toContain('not Bearer');
    expect(err.message).not.toContain(SECRET);
  });

  it('does not follow a redirect from the token endpoint (the secret would go with it)', async () => {
    const elsewhere = await tokenServer();
    const ts = await tokenServer((_req, _n, res) => {
      res.writeHead(307, { location: elsewhere.url });
      res.end();
    });
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    expect((await rejection(creds.apply(request(), {}))).code).toBe('GH_UPSTREAM_AUTH');
    expect(ts.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('invalidate() during an in-flight fetch: that result is not cached and the next apply fetches afresh', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ts = await tokenServer(async (_req, n, res) => {
      if (n === 1) await gate;
      json(res, 200, { access_token: `t${n}`, token_type: 'Bearer', expires_in: 3600 });
    });
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    const stale = creds.apply(request(), {});
    await expect.poll(() => ts.received.length, { timeout: 10_000 }).toBe(1); // in flight: at the token endpoint
    creds.invalidate();
    const fresh = await creds.apply(request(), {});
    release();
    expect((await stale).headers.authorization).toBe('Bearer t1');
    expect(fresh.headers.authorization).toBe('Bearer t2');
    expect((await creds.apply(request(), {})).headers.authorization).toBe('Bearer t2');
    expect(ts.received).toHaveLength(2);
  });
});

describe('token exchange (RFC 8693)', () => {
  const config = (url: string): CredentialConfig => ({
    type: 'tokenExchange',
    tokenUrl: url,
    clientId: 'gw',
    clientSecret: SECRET,
    audience: 'orders-api',
    scopes: ['orders:read'],
  });

  it('sends the caller token as subject_token and uses the exchanged token', async () => {
    const ts = await tokenServer();
    const creds = createCredentials(config(ts.url));
    const out = await creds.apply(request({ headers: { authorization: 'Bearer evil' } }), CALLER);
    expect(out.headers.authorization).toBe('Bearer backend-token-1');
    expect(wire(out)).not.toContain(CALLER_TOKEN);
    const got = ts.received[0] as TokenRequest;
    expect(basicOf(got.headers.authorization)).toBe(`gw:${SECRET}`);
    expect(Object.fromEntries(got.form)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: CALLER_TOKEN,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'orders-api',
      scope: 'orders:read',
    });
  });

  it('caches per subject token', async () => {
    const ts = await tokenServer((req, _n, res) =>
      json(res, 200, { access_token: `for-${req.form.get('subject_token') ?? ''}`, token_type: 'Bearer', expires_in: 3600 }),
    );
    const creds = createCredentials(config(ts.url));
    const alice = { authorization: 'Bearer alice' };
    const bob = { authorization: 'bearer bob' };
    expect((await creds.apply(request(), alice)).headers.authorization).toBe('Bearer for-alice');
    expect((await creds.apply(request(), bob)).headers.authorization).toBe('Bearer for-bob');
    expect((await creds.apply(request(), alice)).headers.authorization).toBe('Bearer for-alice');
    expect(ts.received.map((r) => r.form.get('subject_token'))).toEqual(['alice', 'bob']);
    // Invalidating one caller keeps the other's token.
    creds.invalidate(alice);
    await creds.apply(request(), alice);
    await creds.apply(request(), bob);
    expect(ts.received.map((r) => r.form.get('subject_token'))).toEqual(['alice', 'bob', 'alice']);
  });

  it('keeps a bounded number of subjects', async () => {
    const ts = await tokenServer();
    const creds = createCredentials(config(ts.url), {}, { maxCachedSubjects: 2 });
    for (const who of ['a', 'b', 'c', 'a']) await creds.apply(request(), { authorization: `Bearer ${who}` });
    // 'a' was evicted when 'c' arrived, so it is exchanged again.
    expect(ts.received.map((r) => r.form.get('subject_token'))).toEqual(['a', 'b', 'c', 'a']);
  });

  it('evicts the least recently used subject', async () => {
    const ts = await tokenServer();
    const creds = createCredentials(config(ts.url), {}, { maxCachedSubjects: 2 });
    for (const who of ['a', 'b', 'a', 'c', 'a']) await creds.apply(request(), { authorization: `Bearer ${who}` });
    // 'a' was used after 'b', so 'c' evicts 'b' and 'a' stays cached.
    expect(ts.received.map((r) => r.form.get('subject_token'))).toEqual(['a', 'b', 'c']);
  });

  it('without a caller bearer token is GH_UPSTREAM_AUTH and contacts nothing', async () => {
    const ts = await tokenServer();
    const creds = createCredentials(config(ts.url));
    for (const caller of [{}, { authorization: 'Basic dTpw' }]) {
      const err = await rejection(creds.apply(request(), caller));
      expect(err.code).toBe('GH_UPSTREAM_AUTH');
    }
    expect(ts.received).toHaveLength(0);
  });

  it('a refused exchange does not put the caller token or secret in the message', async () => {
    const ts = await tokenServer((_req, _n, res) => json(res, 400, { error: 'invalid_grant', error_description: CALLER_TOKEN }));
    const err = await rejection(createCredentials(config(ts.url)).apply(request(), CALLER));
    expect(err.code).toBe('GH_UPSTREAM_AUTH');
    expect(err.message).toContain('invalid_grant');
    expect(err.message).not.toContain(CALLER_TOKEN);
    expect(err.message).not.toContain(SECRET);
  });
});

describe('withRetryOn401', () => {
  it('invalidates and retries once with a fresh token when the backend answers 401', async () => {
    const ts = await tokenServer();
    const creds = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    const sent: string[] = [];
    const result = await withRetryOn401(creds, request(), {}, async (req) => {
      sent.push(req.headers.authorization ?? '');
      return { status: sent.length === 1 ? 401 : 200 };
    });
    expect(result.status).toBe(200);
    expect(sent).toEqual(['Bearer backend-token-1', 'Bearer backend-token-2']);
  });

  it('retries at most once, and never for static credentials', async () => {
    const ts = await tokenServer();
    let calls = 0;
    const always401 = async (): Promise<{ status: number }> => {
      calls++;
      return { status: 401 };
    };
    const oauth = createCredentials({ type: 'oauth2', tokenUrl: ts.url, clientId: 'c', clientSecret: SECRET });
    expect((await withRetryOn401(oauth, request(), {}, always401)).status).toBe(401);
    expect(calls).toBe(2);
    calls = 0;
    await withRetryOn401(createCredentials({ type: 'bearer', token: SECRET }), request(), {}, always401);
    expect(calls).toBe(1);
  });
});

describe('placeApiKey (placement from the spec)', () => {
  const schemes = { headerKey: { in: 'header', name: 'X-Key' }, queryKey: { in: 'query', name: 'key' } } as const;

  it('takes in/name from the only apiKey scheme', () => {
    expect(placeApiKey({ type: 'apiKey', value: 'v' }, { queryKey: schemes.queryKey })).toEqual({ type: 'apiKey', in: 'query', name: 'key', value: 'v' });
  });

  it('takes the named scheme among several, and lets config override one part', () => {
    expect(placeApiKey({ type: 'apiKey', scheme: 'headerKey', value: 'v' }, schemes)).toEqual({ type: 'apiKey', in: 'header', name: 'X-Key', value: 'v' });
    expect(placeApiKey({ type: 'apiKey', name: 'X-Other', value: 'v' }, { headerKey: schemes.headerKey })).toMatchObject({ in: 'header', name: 'X-Other' });
  });

  it('names the choices when it cannot decide', () => {
    expect(() => placeApiKey({ type: 'apiKey', value: 'v' }, schemes)).toThrow(/headerKey, queryKey/);
    expect(() => placeApiKey({ type: 'apiKey', value: 'v' }, {})).toThrow(/declares no apiKey security scheme/);
    expect(() => placeApiKey({ type: 'apiKey', scheme: 'nope', value: 'v' }, schemes)).toThrow(/"nope" is not declared/);
  });

  it('leaves complete and other credentials alone', () => {
    const full = { type: 'apiKey', in: 'cookie', name: 'c', value: 'v' } as const;
    expect(placeApiKey(full, schemes)).toBe(full);
    const bearer = { type: 'bearer', token: 't' } as const;
    expect(placeApiKey(bearer)).toBe(bearer);
  });

  it('refuses an apiKey credential that never got a placement', () => {
    expect(() => createCredentials({ type: 'apiKey', value: 'v' })).toThrow(/needs `in` and `name`/);
  });
});
