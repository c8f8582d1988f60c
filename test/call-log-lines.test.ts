import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log/logger.js';
import type { Gateway } from '../src/server/gateway.js';
import { startFakeOpenAI, openai, type FakeLLM } from './helpers/fake-llm.js';
import { startGatewayFrom, testConfig } from './helpers/gateway.js';

/** The per-call info line of a model call: model, principal, outcome, status, ms; a refused call has one too. */

const KEY = 'call-line-key-0123456789abcdef';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let fake: FakeLLM;
let gateway: Gateway;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  fake = await startFakeOpenAI();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = testConfig(
    `server: { host: 127.0.0.1, port: 0 }
audit: { store: none }
backends: []
auth:
  apiKeys:
    - { id: app, sha256: "${sha(KEY)}" }
ai:
  targets:
    oa: { provider: openai-compatible, baseUrl: "\${OA}/v1", apiKey: upstream-key }
  routes:
    - { model: gpt-4o, targets: [oa] }
`,
    { OA: fake.url },
  );
  gateway = await startGatewayFrom(config, createLogger({ level: 'info', stream: sink }));
});
afterAll(async () => {
  await gateway?.close(0);
  await fake?.close();
});

describe('per-call log lines', () => {
  it('a model call is one info line naming the model, the principal, the outcome, the status and ms', async () => {
    fake.script = () => openai.completion({ model: 'gpt-4o', text: ['hi'], usage: { prompt_tokens: 3, completion_tokens: 1 } });
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: KEY, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    await expect.poll(() => lines.filter((l) => l['kind'] === 'model')).toEqual([
      expect.objectContaining({ level: 30, model: 'gpt-4o', principal: 'app', outcome: 'ok', status: 200, ms: expect.any(Number), msg: expect.stringMatching(/^model gpt-4o ok 200 [\d.]+ ms \(app\)$/) }),
    ]);
    // No secret in it.
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });

  it('a call refused for its credentials has one too', async () => {
    const res = await fetch(`${gateway.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer wrong', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    await expect.poll(() => lines.find((l) => l['kind'] === 'tool' && l['outcome'] === 'unauthenticated')).toMatchObject({ code: 'GH_AUTH_INVALID', level: 30 });
  });
});
