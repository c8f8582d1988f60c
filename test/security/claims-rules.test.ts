import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { AUDIENCE, ISSUER, startIdp, type TestIdp } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * `rules[].principals.claims` against real tokens: the claims of a verified JWT
 * are what the rule reads. An allow by claim must allow, and a deny by claim
 * must deny (before, a JWT principal carried no claims, so a deny rule on a
 * claim let every token through).
 */
let idp: TestIdp;
let stub: StubBackend;
let gateway: Gateway;

beforeAll(async () => {
  idp = await startIdp();
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: '1', name: 'ok' }));
  });
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
auth:
  jwt: { jwksUrl: "${idp.jwksUrl}", issuer: "${ISSUER}", audience: "${AUDIENCE}" }
rules:
  - deny: { principals: { claims: { tenant: blocked } } }
  - allow: { principals: { claims: { tenant: acme, "org.tier": gold } } }
  - allow: { principals: { claims: { roles: reader } }, readOnly: true }
  - allow: { principals: { subjects: [ops-user] }, readOnly: true }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
`,
    { STUB_URL: stub.url },
  );
});

afterAll(async () => {
  await gateway?.close();
  await stub?.close();
  await idp?.close();
});

async function callAs(claims: Record<string, unknown>, name: string, args: Record<string, unknown>) {
  const client = new Client({ name: 'claims-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${await idp.token(claims)}` } } }));
  try {
    const before = stub.received.length;
    const result = await client.callTool({ name, arguments: args });
    const text = ((result.content ?? []) as Array<{ text: string }>).map((c) => c.text).join('\n');
    return { isError: result.isError === true, text, reached: stub.received.length - before };
  } finally {
    await client.close();
  }
}

describe('rules on JWT claims', () => {
  it('an allow on claims allows a token that has them (all of them, arrays containing the value)', async () => {
    const r = await callAs({ tenant: 'acme', 'org.tier': 'gold' }, 'stub_createItem', { name: 'x' });
    expect(r).toMatchObject({ isError: false, reached: 1 });
    const reader = await callAs({ roles: ['writer', 'reader'] }, 'stub_getItem', { itemId: '1' });
    expect(reader).toMatchObject({ isError: false, reached: 1 });
  });

  it('a token missing one listed claim is refused; nothing reaches the backend', async () => {
    const r = await callAs({ tenant: 'acme' }, 'stub_createItem', { name: 'x' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^GH_POLICY_DENIED/);
    expect(r.reached).toBe(0);
  });

  it('a deny on a claim denies, whatever else would allow', async () => {
    // The same subject, allowed by a rule on subjects: only the claim tells the two tokens apart.
    const allowed = await callAs({ sub: 'ops-user', tenant: 'other' }, 'stub_getItem', { itemId: '1' });
    expect(allowed).toMatchObject({ isError: false, reached: 1 });
    const r = await callAs({ sub: 'ops-user', tenant: 'blocked' }, 'stub_getItem', { itemId: '1' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^GH_POLICY_DENIED/);
    expect(r.reached).toBe(0);
  });
});
