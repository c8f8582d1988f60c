import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditPage, StoredAuditRecord } from '../../src/audit/index.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { AUDIENCE, ISSUER, connectWith, startIdp, storedAudit, type TestIdp } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * GET /admin/audit through a real gateway: who may read it (the admin scope),
 * what the filters and the cursor return against the records the calls
 * actually left, and the 400 a bad filter gets.
 */

let idp: TestIdp;
let stub: StubBackend;
let gateway: Gateway;
let adminToken: string;
/** Epoch ms between the first batch of calls and the second. */
let boundary: number;

beforeAll(async () => {
  idp = await startIdp();
  stub = await startStubBackend();
  stub.handle((req, res) => {
    res.writeHead(req.url === '/api/status/500' ? 500 : 200, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
auth:
  jwt: { jwksUrl: "${idp.jwksUrl}", issuer: "${ISSUER}", audience: "${AUDIENCE}" }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
    { STUB_URL: stub.url },
  );
  adminToken = await idp.token({ sub: 'auditor', scope: 'gatehouse:admin' });
  const callAs = async (sub: string, era: 'legacy' | 'modern', calls: Array<[string, Record<string, unknown>]>) => {
    const client = await connectWith(gateway, era, { authorization: `Bearer ${await idp.token({ sub })}` });
    try {
      for (const [name, args] of calls) await client.callTool({ name, arguments: args });
    } finally {
      await client.close();
    }
  };
  // First batch: alice 2 ok + 1 error, bob 1 ok.
  await callAs('alice', 'legacy', [
    ['stub_getItem', { itemId: '1' }],
    ['stub_getItem', { itemId: '2' }],
    ['stub_getStatus', { code: 500 }],
  ]);
  await callAs('bob', 'modern', [['stub_getItem', { itemId: '3' }]]);
  // Records carry the call's start in ms: let the clock pass a millisecond so `since` splits the batches.
  boundary = Date.now() + 1;
  while (Date.now() < boundary) await new Promise((r) => setTimeout(r, 1));
  // Second batch: bob 1 error + 1 invalid.
  await callAs('bob', 'modern', [
    ['stub_getStatus', { code: 500 }],
    ['stub_createItem', { name: '' }],
  ]);
  expect(await storedAudit(gateway)).toHaveLength(6);
});

afterAll(async () => {
  await gateway?.close();
  await stub?.close();
  await idp?.close();
});

const get = (query: string, token?: string) => fetch(`${gateway.url}/admin/audit${query}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

async function page(query: string): Promise<AuditPage> {
  const res = await get(query, adminToken);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as AuditPage;
}

const summary = (records: StoredAuditRecord[]) => records.map((r) => `${r.principalId} ${r.tool} ${r.outcome}`);

describe('GET /admin/audit', () => {
  it('answers 401 without a token and 403 insufficient_scope naming the admin scope to a token without it', async () => {
    const none = await get('');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/);
    expect(await none.json()).toMatchObject({ code: 'GH_AUTH_REQUIRED' });

    const bad = await get('', 'not-a-jwt');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const plain = await get('', await idp.token({ sub: 'alice', scope: 'tools:read' }));
    expect(plain.status).toBe(403);
    const challenge = plain.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="gatehouse:admin"');
    expect(await plain.json()).toMatchObject({ error: 'insufficient_scope', code: 'GH_AUTH_FORBIDDEN' });
  });

  it('with the admin scope: 200 { records } newest first, the same records the store holds', async () => {
    const body = await page('');
    expect(Object.keys(body).sort()).toEqual(['records']);
    expect(summary(body.records)).toEqual([
      'bob stub_createItem invalid',
      'bob stub_getStatus error',
      'bob stub_getItem ok',
      'alice stub_getStatus error',
      'alice stub_getItem ok',
      'alice stub_getItem ok',
    ]);
    expect(body.records).toEqual(await storedAudit(gateway));
    // Reading the trail is not itself a tool call: nothing was added.
    expect(await storedAudit(gateway)).toHaveLength(6);
  });

  it.each([
    ['?tool=stub_getStatus', ['bob stub_getStatus error', 'alice stub_getStatus error']],
    ['?outcome=error', ['bob stub_getStatus error', 'alice stub_getStatus error']],
    ['?principal=alice', ['alice stub_getStatus error', 'alice stub_getItem ok', 'alice stub_getItem ok']],
    ['?principal=bob&outcome=ok', ['bob stub_getItem ok']],
    ['?backend=stub&tool=stub_getItem&principal=bob', ['bob stub_getItem ok']],
    ['?outcome=denied', []],
    ['?since=1h', ['bob stub_createItem invalid', 'bob stub_getStatus error', 'bob stub_getItem ok', 'alice stub_getStatus error', 'alice stub_getItem ok', 'alice stub_getItem ok']],
  ])('filters %s', async (query, expected) => {
    expect(summary((await page(query)).records)).toEqual(expected);
  });

  it('filters by since and until as ISO date-times', async () => {
    const iso = encodeURIComponent(new Date(boundary).toISOString());
    expect(summary((await page(`?since=${iso}`)).records)).toEqual(['bob stub_createItem invalid', 'bob stub_getStatus error']);
    expect(summary((await page(`?until=${iso}`)).records)).toHaveLength(4);
  });

  it('limit=2 pages through every record exactly once, in order', async () => {
    const all = (await page('')).records;
    const seen: StoredAuditRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const p = await page(`?limit=2${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(p.records.length).toBeLessThanOrEqual(2);
      seen.push(...p.records);
      cursor = p.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((r) => r.id)).toEqual(all.map((r) => r.id));
    expect(new Set(seen.map((r) => r.id)).size).toBe(6);
  });

  it.each([
    ['outcome=nope', 'outcome'],
    ['since=yesterday', 'since'],
    ['until=2025-13-45', 'until'],
    ['limit=0', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
  ])('a bad filter (%s) is 400 GH_AUDIT_QUERY_INVALID naming the field', async (query, field) => {
    const res = await get(`?${query}`, adminToken);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string; details: { field: string } };
    expect(body.code).toBe('GH_AUDIT_QUERY_INVALID');
    expect(body.details.field).toBe(field);
    expect(body.message).toMatch(new RegExp(`^${field}: `));
  });
});

describe('GET /admin/audit without auth', () => {
  it('serves loopback callers of a loopback-bound gateway', async () => {
    const open = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
      { STUB_URL: stub.url },
    );
    try {
      const client = await connectWith(open, 'legacy');
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: '1' } });
      await client.close();
      await open.runtime.audit.writer!.flush();
      const res = await fetch(`${open.url}/admin/audit`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as AuditPage;
      expect(summary(body.records)).toEqual(['anonymous stub_getItem ok']);
    } finally {
      await open.close();
    }
  });
});
