import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway, type Era } from '../helpers/gateway.js';
import { connectWith, sha256Hex, storedAudit, text } from '../helpers/pipeline.js';
import { startStubBackend, type StubBackend } from '../helpers/stub-backend.js';

/**
 * Rate limits through a real gateway: the calls a rule refuses never reach the
 * backend, each caller (and backend, when the key says so) has its own bucket,
 * and a rule with `match` limits only the calls it matches. Both eras, fast
 * path and SDK-only path. Principals are API keys, one per test and era, so
 * every test starts with full buckets.
 */

const PRINCIPALS = ['p1', 'p2a', 'p2b', 'p3'].flatMap((p) => [`${p}-legacy`, `${p}-modern`]);
const keyOf = (id: string) => `rate-limit-test-key-${id}`;

const config = (fastPath: boolean) => `
server: { host: 127.0.0.1, port: 0 }
auth:
  apiKeys:
${PRINCIPALS.map((id) => `    - { id: ${id}, sha256: "${sha256Hex(keyOf(id))}" }`).join('\n')}
rateLimits:
  rules:
    - { name: per-caller, key: [principal, backend], limit: 3, window: 1m }
    - { name: creates, key: [principal], limit: 1, window: 1m, match: { tools: [stub_createItem] } }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
  - name: other
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
# fast path ${fastPath ? 'on' : 'off'}
`;

let stub: StubBackend;
beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
});
afterAll(async () => {
  await stub?.close();
});

/** `GH_RATE_LIMITED: rate limit "<rule>" reached; retry after <n> s`, with n within the 1-minute window. */
function expectLimited(result: { isError?: unknown; content?: unknown }, rule: string): void {
  expect(result.isError).toBe(true);
  const m = /^GH_RATE_LIMITED: rate limit "([^"]+)" reached; retry after (\d+) s$/.exec(text(result));
  expect(m, text(result)).not.toBeNull();
  expect(m![1]).toBe(rule);
  const seconds = Number(m![2]);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(60);
}

describe.each([
  ['fast path', false],
  ['SDK path', true],
] as const)('rate limits (%s)', (_name, disableFastPath) => {
  let gateway: Gateway;
  const clients: Client[] = [];
  beforeAll(async () => {
    gateway = await startTestGateway(config(!disableFastPath), { STUB_URL: stub.url }, { disableFastPath });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await gateway?.close();
  });
  const as = async (id: string, era: Era): Promise<Client> => {
    const client = await connectWith(gateway, era, { authorization: `Bearer ${keyOf(id)}` });
    clients.push(client);
    return client;
  };
  const getItem = (client: Client, tool = 'stub_getItem') => client.callTool({ name: tool, arguments: { itemId: '1' } });

  describe.each<Era>(['legacy', 'modern'])('%s era', (era) => {
    it('the 4th call in the window is refused with the rule and a retry-after; the backend got exactly 3', async () => {
      const id = `p1-${era}`;
      const client = await as(id, era);
      const before = stub.received.length;
      for (let i = 0; i < 3; i++) expect((await getItem(client)).isError, `call ${i + 1}`).toBeFalsy();
      expectLimited(await getItem(client), 'per-caller');
      expectLimited(await getItem(client), 'per-caller');
      expect(stub.received.length).toBe(before + 3);
      const outcomes = (await storedAudit(gateway, { principal: id })).map((r) => r.outcome).sort();
      expect(outcomes).toEqual(['limited', 'limited', 'ok', 'ok', 'ok']);
    });

    it('each principal, and each backend for one principal, has its own bucket', async () => {
      const a = await as(`p2a-${era}`, era);
      const b = await as(`p2b-${era}`, era);
      const before = stub.received.length;
      for (let i = 0; i < 3; i++) expect((await getItem(a)).isError).toBeFalsy();
      expectLimited(await getItem(a), 'per-caller');
      // Another caller is untouched by a's spent bucket.
      for (let i = 0; i < 3; i++) expect((await getItem(b)).isError).toBeFalsy();
      expectLimited(await getItem(b), 'per-caller');
      // The key is [principal, backend]: a has a full bucket on the other backend.
      for (let i = 0; i < 3; i++) expect((await getItem(a, 'other_getItem')).isError).toBeFalsy();
      expectLimited(await getItem(a, 'other_getItem'), 'per-caller');
      expect(stub.received.length).toBe(before + 9);
    });

    it('a rule with match.tools limits only those tools, and a refused call costs nothing in the other buckets', async () => {
      const client = await as(`p3-${era}`, era);
      const before = stub.received.length;
      expect((await client.callTool({ name: 'stub_createItem', arguments: { name: 'a' } })).isError).toBeFalsy();
      expectLimited(await client.callTool({ name: 'stub_createItem', arguments: { name: 'b' } }), 'creates');
      // per-caller has 2 left: the refused create was given back.
      expect((await getItem(client)).isError).toBeFalsy();
      expect((await getItem(client)).isError).toBeFalsy();
      expectLimited(await getItem(client), 'per-caller');
      expect(stub.received.length).toBe(before + 3);
      expect(stub.received.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/items', 'GET /api/items/1', 'GET /api/items/1']);
    });
  });
});
