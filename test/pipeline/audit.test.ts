import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditRecord } from '../../src/audit/index.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway, type Era } from '../helpers/gateway.js';
import { AUDIENCE, CLIENT_INFO, ISSUER, connectWith, onlyRecord, rawCall, sha256Hex, startIdp, storedAudit, text, type Exchange, type TestIdp } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * The audit trail, end to end: real calls through a gateway on port 0 (the
 * real SDK client in both eras, raw POSTs where headers matter), on the fast
 * path and on the SDK-only path, and the records the gateway actually stored
 * in its SQLite store — one per call, with the fields that call had.
 */

const ITEM = JSON.stringify({ id: '1', name: 'widget' });
const CREATED = JSON.stringify({ id: '42' });
const BOOM = JSON.stringify({ message: 'the backend broke' });
const SESSION = JSON.stringify({ session: 's-1' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const KEYS = { 'ci-legacy': 'gh-key-legacy-0123456789', 'ci-modern': 'gh-key-modern-0123456789', load: 'gh-key-load-0123456789' } as const;

let idp: TestIdp;
let stub: StubBackend;

const config = (fastPath: boolean) => `
server: { host: 127.0.0.1, port: 0 }
auth:
  jwt: { jwksUrl: "${idp.jwksUrl}", issuer: "${ISSUER}", audience: "${AUDIENCE}" }
  apiKeys:
${Object.entries(KEYS)
  .map(([id, key]) => `    - { id: ${id}, sha256: "${sha256Hex(key)}", scopes: [mcp:use, tools:write] }`)
  .join('\n')}
  requiredScopes: [mcp:use]
rules:
  - allow: { principals: { scopes: [tools:write] } }
  - deny: { tools: ["*_deleteItem"] }
rateLimits:
  rules:
    - { name: one-list, key: [principal], limit: 1, window: 1m, match: { tools: [stub_listItems] } }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
  - name: vault
    spec: ./audit-api.yaml
    baseUrl: \${STUB_URL}/api
# fast path ${fastPath ? 'on' : 'off'}
`;

beforeAll(async () => {
  idp = await startIdp();
  stub = await startStubBackend();
  stub.handle((req, res) => {
    const [status, body] =
      req.url === '/api/status/500' ? [500, BOOM] : req.method === 'POST' && req.url === '/api/items' ? [201, CREATED] : req.url === '/api/sessions' ? [201, SESSION] : [200, ITEM];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
});

afterAll(async () => {
  await stub?.close();
  await idp?.close();
});

const bearer = async (sub: string, scope = 'mcp:use tools:write') => ({ authorization: `Bearer ${await idp.token({ sub, scope, client_id: 'agent-app' })}` });

/**
 * The client info a record carries: a 2026-07-28 request sends it in `_meta`
 * with every call; a stateless 2025 request carries none.
 * Both paths record it (the SDK path reads it from ctx.mcpReq.envelope).
 */
const clientOf = (era: Era) => (era === 'modern' ? { clientName: CLIENT_INFO.name, clientVersion: CLIENT_INFO.version, protocol: '2026-07-28' } : { protocol: '2025-11-25' });

/** What every record of a tool call by JWT subject `sub` in `era` carries besides the call's own facts. */
const fromJwtClient = (sub: string, era: Era) => ({
  id: expect.any(Number),
  time: expect.any(Number),
  requestId: expect.stringMatching(UUID),
  kind: 'tool',
  principalId: sub,
  principalKind: 'jwt',
  clientId: 'agent-app',
  ...clientOf(era),
  latencyMs: expect.any(Number),
});

describe.each([
  ['fast path', false],
  ['SDK path', true],
] as const)('audit records (%s)', (_name, disableFastPath) => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway(config(!disableFastPath), { STUB_URL: stub.url }, { disableFastPath });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it.each<Era>(['legacy', 'modern'])('an ok call is one record: principal, client, protocol, operation, status, bytes (%s)', async (era) => {
    const sub = `ok-${era}`;
    const exchanges: Exchange[] = [];
    const client = await connectWith(gateway, era, await bearer(sub), { exchanges });
    try {
      const before = stub.received.length;
      const started = Date.now();
      const result = await client.callTool({ name: 'stub_createItem', arguments: { name: 'bolt', quantity: 3 } });
      expect(result.isError).toBeFalsy();
      expect(stub.received.length).toBe(before + 1);
      const sent = stub.received.at(-1)!;
      const rec = await onlyRecord(gateway, { principal: sub });
      expect(rec).toEqual({
        ...fromJwtClient(sub, era),
        backend: 'stub',
        tool: 'stub_createItem',
        httpMethod: 'POST',
        urlTemplate: '/items',
        arguments: { name: 'bolt', quantity: 3 },
        outcome: 'ok',
        status: 201,
        bytesIn: sent.body.length,
        bytesOut: Buffer.byteLength(CREATED),
      });
      expect(sent.body.length).toBe(Buffer.byteLength(JSON.stringify({ name: 'bolt', quantity: 3 })));
      expect(rec.time).toBeGreaterThanOrEqual(started);
      expect(rec.time).toBeLessThanOrEqual(Date.now());
      expect(rec.latencyMs).toBeGreaterThan(0);
      // The request id stored is the one the gateway echoed on that tools/call response.
      const call = exchanges.filter((e) => e.method === 'tools/call');
      expect(call).toHaveLength(1);
      expect(rec.requestId).toBe(call[0]!.requestId);
    } finally {
      await client.close();
    }
  });

  it('the 2026-07-28 client info in `_meta` reaches the record', async () => {
    const sub = 'client-info';
    const client = await connectWith(gateway, 'modern', await bearer(sub), { info: { name: 'agent-x', version: '9.9' } });
    try {
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      expect(await onlyRecord(gateway, { principal: sub })).toMatchObject({ clientName: 'agent-x', clientVersion: '9.9', protocol: '2026-07-28' });
    } finally {
      await client.close();
    }
  });

  it.each<Era>(['legacy', 'modern'])('an API key caller is recorded by key id, with no OAuth client (%s)', async (era) => {
    const id = `ci-${era}` as const;
    const client = await connectWith(gateway, era, { authorization: `Bearer ${KEYS[id]}` });
    try {
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: 'a/b' } });
      const rec = await onlyRecord(gateway, { principal: id });
      expect(rec).toEqual({
        id: expect.any(Number),
        time: expect.any(Number),
        requestId: expect.stringMatching(UUID),
        kind: 'tool',
        principalId: id,
        principalKind: 'api-key',
        keyId: id,
        ...clientOf(era),
        backend: 'stub',
        tool: 'stub_getItem',
        httpMethod: 'GET',
        urlTemplate: '/items/{itemId}',
        arguments: { itemId: 'a/b' },
        outcome: 'ok',
        status: 200,
        latencyMs: expect.any(Number),
        // A GET sends no body: no bytesIn.
        bytesOut: Buffer.byteLength(ITEM),
      });
    } finally {
      await client.close();
    }
  });

  const failures = [
    {
      what: 'a backend 500',
      tool: 'stub_getStatus',
      args: { code: 500 },
      code: 'GH_UPSTREAM_STATUS',
      reaches: 1,
      facts: { httpMethod: 'GET', urlTemplate: '/status/{code}', outcome: 'error', errorCode: 'GH_UPSTREAM_STATUS', status: 500, bytesOut: Buffer.byteLength(BOOM) },
    },
    {
      what: 'a call a rule denies',
      tool: 'stub_deleteItem',
      args: { itemId: '9' },
      code: 'GH_POLICY_DENIED',
      reaches: 0,
      facts: { httpMethod: 'DELETE', urlTemplate: '/items/{itemId}', outcome: 'denied', errorCode: 'GH_POLICY_DENIED' },
    },
    {
      what: 'invalid arguments',
      tool: 'stub_createItem',
      args: { name: '' },
      code: 'GH_TOOL_ARGS_INVALID',
      reaches: 0,
      facts: { httpMethod: 'POST', urlTemplate: '/items', outcome: 'invalid', errorCode: 'GH_TOOL_ARGS_INVALID' },
    },
  ];
  describe.each<Era>(['legacy', 'modern'])('%s era', (era) => {
    it.each(failures)('$what is one record with its outcome and code', async ({ what, tool, args, code, reaches, facts }) => {
      const sub = `${what}-${era}`;
      const client = await connectWith(gateway, era, await bearer(sub));
      try {
        const before = stub.received.length;
        const result = await client.callTool({ name: tool, arguments: args });
        expect(result.isError).toBe(true);
        expect(text(result)).toMatch(new RegExp(`^${code}:`));
        expect(stub.received.length).toBe(before + reaches);
        const rec = await onlyRecord(gateway, { principal: sub });
        expect(rec).toEqual({ ...fromJwtClient(sub, era), backend: 'stub', tool, arguments: args, ...facts });
        expect(rec.latencyMs).toBeGreaterThan(0);
      } finally {
        await client.close();
      }
    });

    it('a call over a rate limit is recorded as limited, and the call before it as ok', async () => {
      const sub = `limited-${era}`;
      const client = await connectWith(gateway, era, await bearer(sub));
      try {
        const before = stub.received.length;
        expect((await client.callTool({ name: 'stub_listItems', arguments: { limit: 5 } })).isError).toBeFalsy();
        const refused = await client.callTool({ name: 'stub_listItems', arguments: { limit: 5 } });
        expect(text(refused)).toMatch(/^GH_RATE_LIMITED:/);
        expect(stub.received.length).toBe(before + 1);
        const records = await storedAudit(gateway, { principal: sub });
        expect(records.map((r) => [r.outcome, r.errorCode, r.status])).toEqual([
          ['limited', 'GH_RATE_LIMITED', undefined],
          ['ok', undefined, 200],
        ]);
        expect(records[0]).toEqual({
          ...fromJwtClient(sub, era),
          backend: 'stub',
          tool: 'stub_listItems',
          httpMethod: 'GET',
          urlTemplate: '/items',
          arguments: { limit: 5 },
          outcome: 'limited',
          errorCode: 'GH_RATE_LIMITED',
        });
      } finally {
        await client.close();
      }
    });

    it('arguments named like secrets are stored as [REDACTED]; the backend still gets them', async () => {
      const sub = `redact-${era}`;
      const secrets = ['hunter2-pw-secret', 'ak_live_0123456789', 'cs-nested-secret'];
      const client = await connectWith(gateway, era, await bearer(sub));
      try {
        const args = { username: 'ann', password: secrets[0], api_key: secrets[1], profile: { displayName: 'Ann', clientSecret: secrets[2] } };
        const result = await client.callTool({ name: 'vault_login', arguments: args });
        expect(result.isError).toBeFalsy();
        // What crossed the wire is the caller's own request, secrets included.
        expect(JSON.parse(stub.received.at(-1)!.body.toString())).toEqual(args);
        const rec = await onlyRecord(gateway, { principal: sub });
        expect(rec).toMatchObject({ backend: 'vault', tool: 'vault_login', httpMethod: 'POST', urlTemplate: '/sessions', outcome: 'ok', status: 201 });
        expect(rec.arguments).toEqual({ username: 'ann', password: '[REDACTED]', api_key: '[REDACTED]', profile: { displayName: 'Ann', clientSecret: '[REDACTED]' } });
        expect(rec.argumentsHash).toBeUndefined();
        const stored = JSON.stringify(rec);
        for (const secret of secrets) expect(stored).not.toContain(secret);
      } finally {
        await client.close();
      }
    });

    it('a request without credentials or with a bad token is recorded as unauthenticated; nothing reaches the backend', async () => {
      const before = stub.received.length;
      const none = await rawCall(gateway, era, 'stub_getItem', { itemId: '1' }, { 'x-request-id': `no-token-${era}` });
      const bad = await rawCall(gateway, era, 'stub_getItem', { itemId: '1' }, { 'x-request-id': `bad-token-${era}`, authorization: 'Bearer not-a-token' });
      expect([none.status, bad.status]).toEqual([401, 401]);
      expect(stub.received.length).toBe(before);
      const records = await storedAudit(gateway, { outcome: 'unauthenticated' });
      const of = (id: string): StoredAuditRecord[] => records.filter((r) => r.requestId === id);
      const refusal = (requestId: string, errorCode: string) => ({
        id: expect.any(Number),
        time: expect.any(Number),
        requestId,
        kind: 'tool',
        protocol: era === 'modern' ? '2026-07-28' : '2025-11-25',
        // Only a 2026-07-28 request names its tool in a header (Mcp-Name); the body is never read.
        ...(era === 'modern' ? { tool: 'stub_getItem' } : {}),
        outcome: 'unauthenticated',
        errorCode,
        latencyMs: expect.any(Number),
      });
      expect(of(`no-token-${era}`)).toEqual([refusal(`no-token-${era}`, 'GH_AUTH_REQUIRED')]);
      expect(of(`bad-token-${era}`)).toEqual([refusal(`bad-token-${era}`, 'GH_AUTH_INVALID')]);
    });

    it('a valid token without auth.requiredScopes gets 403 insufficient_scope and is recorded as denied', async () => {
      const sub = `no-scope-${era}`;
      const before = stub.received.length;
      const res = await rawCall(gateway, era, 'stub_getItem', { itemId: '1' }, { ...(await bearer(sub, 'tools:write')), 'x-request-id': `no-scope-${era}` });
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(stub.received.length).toBe(before);
      const rec = await onlyRecord(gateway, { principal: sub });
      expect(rec).toEqual({
        id: expect.any(Number),
        time: expect.any(Number),
        requestId: `no-scope-${era}`,
        kind: 'tool',
        principalId: sub,
        principalKind: 'jwt',
        clientId: 'agent-app',
        protocol: era === 'modern' ? '2026-07-28' : '2025-11-25',
        ...(era === 'modern' ? { tool: 'stub_getItem' } : {}),
        outcome: 'denied',
        errorCode: 'GH_AUTH_FORBIDDEN',
        latencyMs: expect.any(Number),
      });
    });

    it('a sane X-Request-Id is echoed and stored; a missing or unsafe one is replaced by a UUID', async () => {
      const key = { authorization: `Bearer ${KEYS['ci-legacy']}` };
      const given = `req-${era}.1:abc/DEF+x=y@z`;
      const cases: Array<[string, string | undefined]> = [
        ['sane', given],
        ['missing', undefined],
        ['with spaces', 'has spaces in it'],
        ['300 characters', 'a'.repeat(300)],
        ['a newline-free but odd character', 'semi;colon'],
      ];
      const echoed: string[] = [];
      for (const [, id] of cases) {
        const res = await rawCall(gateway, era, 'stub_getItem', { itemId: `rid-${era}` }, { ...key, ...(id !== undefined ? { 'x-request-id': id } : {}) });
        expect(res.status).toBe(200);
        expect(res.message.result?.isError).toBeFalsy();
        echoed.push(res.headers.get('x-request-id') ?? '');
      }
      expect(echoed[0]).toBe(given);
      for (const id of echoed.slice(1)) expect(id).toMatch(UUID);
      expect(new Set(echoed).size).toBe(cases.length);
      const stored = (await storedAudit(gateway, { principal: 'ci-legacy', tool: 'stub_getItem' }))
        .filter((r) => (r.arguments as { itemId?: string }).itemId === `rid-${era}`)
        .map((r) => r.requestId);
      expect(stored.sort()).toEqual([...echoed].sort());
    });
  });

  it('200 concurrent calls leave exactly 200 records with 200 distinct request ids', async () => {
    const key = { authorization: `Bearer ${KEYS.load}` };
    const before = stub.received.length;
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => rawCall(gateway, i % 2 === 0 ? 'legacy' : 'modern', 'stub_getItem', { itemId: `load-${i}` }, key)),
    );
    expect(responses.every((r) => r.status === 200 && r.message.result?.isError !== true)).toBe(true);
    expect(stub.received.length).toBe(before + 200);
    const echoed = responses.map((r) => r.headers.get('x-request-id'));
    expect(new Set(echoed).size).toBe(200);
    const records = await storedAudit(gateway, { principal: 'load' });
    expect(records).toHaveLength(200);
    expect(new Set(records.map((r) => r.requestId))).toEqual(new Set(echoed));
    expect(new Set(records.map((r) => (r.arguments as { itemId: string }).itemId)).size).toBe(200);
    expect(records.filter((r) => r.protocol === '2026-07-28')).toHaveLength(100);
    expect(records.every((r) => r.outcome === 'ok' && r.status === 200)).toBe(true);
  });
});

describe('audit.arguments: hash', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
audit: { arguments: hash }
backends:
  - name: vault
    spec: ./audit-api.yaml
    baseUrl: \${STUB_URL}/api
`,
      { STUB_URL: stub.url },
    );
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('stores only the SHA-256 of the canonical, redacted arguments, the same whatever the key order', async () => {
    const res1 = await rawCall(gateway, 'legacy', 'vault_login', { username: 'ann', password: 'pw-hash-secret', profile: { displayName: 'A', clientSecret: 'cs' } });
    const res2 = await rawCall(gateway, 'modern', 'vault_login', { profile: { clientSecret: 'cs', displayName: 'A' }, password: 'pw-hash-secret', username: 'ann' });
    expect([res1.status, res2.status]).toEqual([200, 200]);
    const records = await storedAudit(gateway, { tool: 'vault_login' });
    expect(records).toHaveLength(2);
    // Canonical JSON (keys sorted at every depth) of the redacted arguments: the secrets cannot be guessed back.
    const expected = sha256Hex('{"password":"[REDACTED]","profile":{"clientSecret":"[REDACTED]","displayName":"A"},"username":"ann"}');
    for (const rec of records) {
      expect(rec.arguments).toBeUndefined();
      expect(rec.argumentsHash).toBe(expected);
      expect(JSON.stringify(rec)).not.toContain('pw-hash-secret');
      expect(rec).toMatchObject({ principalId: 'anonymous', principalKind: 'anonymous', outcome: 'ok', status: 201 });
    }
  });
});
