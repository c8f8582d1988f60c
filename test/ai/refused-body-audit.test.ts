import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { storedAudit } from '../helpers/pipeline.js';

/**
 * A /v1 body the caller got wrong (too large, nested too deep, not JSON, not a
 * chat request) is audited as `invalid`, the outcome a tool call with wrong
 * arguments gets, not `error` (which says the gateway or the upstream failed).
 * Read back from the store and through GET /admin/audit.
 */

const MAX = 4096;
let gateway: Gateway;
let llm: FakeLLM;

beforeAll(async () => {
  llm = await startFakeOpenAI();
  gateway = await startTestGateway(
    `server: { host: 127.0.0.1, port: 0, maxRequestBytes: ${MAX} }\nai:\n  targets:\n    fake: { provider: openai-compatible, baseUrl: "${llm.url}/v1" }\n  routes:\n    - { model: small, targets: [fake] }\n`,
  );
});

afterAll(async () => {
  await gateway?.close();
  await llm?.close();
});

/** A raw POST (an oversized body is cut off by the gateway, so fetch would see a reset). */
function post(path: string, requestId: string, body: string): Promise<number> {
  const { hostname, port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: 'POST', path, headers: { 'content-type': 'application/json', 'x-request-id': requestId } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const deep = `{"model":"small","messages":[{"role":"user","content":${'['.repeat(200)}${']'.repeat(200)}}]}`;
const CASES: Array<[string, string, string, number, string]> = [
  ['too large', 'big-1', JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x'.repeat(MAX * 2) }] }), 413, 'GH_REQUEST_TOO_LARGE'],
  ['too deep', 'deep-1', deep, 400, 'GH_REQUEST_TOO_DEEP'],
  ['not JSON', 'bad-1', '{"model":', 400, 'GH_AI_REQUEST_INVALID'],
  ['no messages', 'nomsg-1', JSON.stringify({ model: 'small' }), 400, 'GH_AI_REQUEST_INVALID'],
];

describe('refused /v1 bodies are audited as invalid', () => {
  it.each(CASES)('%s: refused, recorded as invalid with its code; the LLM receives nothing', async (_what, requestId, body, status, code) => {
    const before = llm.received.length;
    expect(await post('/v1/chat/completions', requestId, body)).toBe(status);
    expect(llm.received.length).toBe(before);
    const record = (await storedAudit(gateway)).find((r) => r.requestId === requestId);
    expect(record).toMatchObject({ kind: 'model', outcome: 'invalid', errorCode: code, status });
  });

  it('GET /admin/audit?outcome=invalid lists them, and outcome=error none of them', async () => {
    await storedAudit(gateway); // flushes the writer's queue
    const read = async (outcome: string) => {
      const res = await fetch(`${gateway.url}/admin/audit?outcome=${outcome}&limit=100`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { records: Array<{ requestId: string }> }).records.map((r) => r.requestId);
    };
    expect((await read('invalid')).sort()).toEqual(CASES.map((c) => c[1]).sort());
    expect((await read('error')).filter((id) => CASES.some((c) => c[1] === id))).toEqual([]);
  });
});
