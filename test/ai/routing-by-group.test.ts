import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { startFakeOpenAI, type FakeLLM } from '../helpers/fake-llm.js';
import { startTestGateway } from '../helpers/gateway.js';

/**
 * Routing by who is calling (`ai.routes[].when`), end to end: two API keys in different
 * groups, the official `openai` SDK with each, and two fake OpenAI-compatible providers.
 * Each assertion is on which provider a request reached and what model name it carried,
 * and on what /v1/models lists to each key.
 */

const PREMIUM_KEY = 'gh-premium-key-0123456789';
const STANDARD_KEY = 'gh-standard-key-0123456789';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let premiumLlm: FakeLLM;
let standardLlm: FakeLLM;
let gateway: Gateway;
let premium: OpenAI;
let standard: OpenAI;

beforeAll(async () => {
  [premiumLlm, standardLlm] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends: []
auth:
  apiKeys:
    - { id: alice, sha256: "${sha(PREMIUM_KEY)}", groups: [staff, premium] }
    - { id: bob, sha256: "${sha(STANDARD_KEY)}", groups: [staff] }
ai:
  targets:
    premium: { provider: openai-compatible, baseUrl: "\${PREMIUM}/v1", apiKey: premium-upstream-key }
    standard: { provider: openai-compatible, baseUrl: "\${STANDARD}/v1", apiKey: standard-upstream-key, model: gpt-4o-mini }
  routes:
    - { model: gpt-4o, aliases: [best], targets: [premium], when: "'premium' in principal.groups" }
    - { model: gpt-4o, targets: [standard] }
    - { model: o3, targets: [premium], when: "'premium' in principal.groups" }
    - { model: "text-embedding-*", targets: [premium], when: "'premium' in principal.groups" }
    - { model: "text-embedding-*", targets: [standard] }
  retry: { attempts: 1, backoffMs: 1, deadlineMs: 10000 }
`,
    { PREMIUM: premiumLlm.url, STANDARD: standardLlm.url },
  );
  premium = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: PREMIUM_KEY, maxRetries: 0 });
  standard = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: STANDARD_KEY, maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([premiumLlm?.close(), standardLlm?.close()]);
});

beforeEach(() => {
  premiumLlm.received.length = 0;
  standardLlm.received.length = 0;
});

/** The model name each request that reached a fake provider carried. */
const modelsReceived = (fake: FakeLLM): unknown[] => fake.received.map((r) => (r.body as { model?: unknown }).model);
const user = (content: string) => [{ role: 'user' as const, content }];

describe('ai.routes[].when: routing by the caller\'s groups', () => {
  it('the same model goes to the premium provider for a premium key and to the fallback route for the others', async () => {
    const a = await premium.chat.completions.create({ model: 'gpt-4o', messages: user('Hi') });
    expect(modelsReceived(premiumLlm)).toEqual(['gpt-4o']);
    expect(modelsReceived(standardLlm)).toEqual([]);
    expect(premiumLlm.received[0]!.headers.authorization).toBe('Bearer premium-upstream-key');

    const b = await standard.chat.completions.create({ model: 'gpt-4o', messages: user('Hi') });
    expect(modelsReceived(premiumLlm)).toEqual(['gpt-4o']);
    expect(modelsReceived(standardLlm)).toEqual(['gpt-4o-mini']);
    expect(standardLlm.received[0]!.headers.authorization).toBe('Bearer standard-upstream-key');
    // Each client sees the model name it asked for.
    expect([a.model, b.model]).toEqual(['gpt-4o', 'gpt-4o']);
  });

  it('streams are routed the same way', async () => {
    for (const [client, label] of [[premium, 'premium'], [standard, 'standard']] as const) {
      const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: user(label), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).not.toBe('');
    }
    expect(modelsReceived(premiumLlm)).toEqual(['gpt-4o']);
    expect(modelsReceived(standardLlm)).toEqual(['gpt-4o-mini']);
  });

  it('an alias and a model only the premium route serves: a premium key reaches them, another key gets model_not_found and nothing is sent', async () => {
    await premium.chat.completions.create({ model: 'best', messages: user('Hi') });
    await premium.chat.completions.create({ model: 'o3', messages: user('Hi') });
    expect(modelsReceived(premiumLlm)).toEqual(['best', 'o3']);

    for (const model of ['best', 'o3']) {
      const err = await standard.chat.completions.create({ model, messages: user('Hi') }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('GH_AI_MODEL_NOT_FOUND');
    }
    expect(premiumLlm.received.length + standardLlm.received.length).toBe(2);
  });

  it('embeddings are routed by the caller too (glob routes)', async () => {
    await premium.embeddings.create({ model: 'text-embedding-3-small', input: 'a' });
    await standard.embeddings.create({ model: 'text-embedding-3-small', input: 'b' });
    expect(modelsReceived(premiumLlm)).toEqual(['text-embedding-3-small']);
    expect(modelsReceived(standardLlm)).toEqual(['gpt-4o-mini']);
  });

  it('/v1/models lists to each key what it may request', async () => {
    const list = async (client: OpenAI) => (await client.models.list()).data.map((m) => m.id);
    expect(await list(premium)).toEqual(['gpt-4o', 'best', 'o3', 'text-embedding-*']);
    expect(await list(standard)).toEqual(['gpt-4o', 'text-embedding-*']);
  });
});
