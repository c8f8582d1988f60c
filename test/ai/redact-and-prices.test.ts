// The ai section is checked whole at start, and redaction covers every text a streamed answer carries.
import OpenAI from 'openai';
import { expect, it } from 'vitest';
import { openai, startFakeOpenAI } from '../helpers/fake-llm.js';
import { startTestGateway } from '../helpers/gateway.js';

it('an ai.prices entry missing cache_read is a config error at start, naming it', async () => {
  const started = startTestGateway(`
server: { host: 127.0.0.1, port: 0 }
backends: []
ai:
  targets: { fake: { provider: openai-compatible, baseUrl: "http://127.0.0.1:9/v1" } }
  routes: [{ model: m, targets: [fake] }]
  prices:
    m: { input: 1, output: 1 }
`);
  await expect(started.then(async (g) => { await g.close(); return 'started'; })).rejects.toMatchObject({ code: 'GH_CONFIG_INVALID', message: expect.stringContaining('ai.prices["m"].cache_read') });
});

it('policies[].redact redacts streamed tool-call arguments as it redacts them in JSON answers', async () => {
  const llm = await startFakeOpenAI();
  const call = [{ id: 'c1', name: 'f', args: ['{"k":"sk-ab', 'cd1234"}'] }];
  llm.script = (req) => ((req.body as { stream?: boolean }).stream ? openai.stream({ toolCalls: call }) : openai.completion({ toolCalls: call }));
  const g = await startTestGateway(`
server: { host: 127.0.0.1, port: 0 }
backends: []
policies:
  - redact: { patterns: ["sk-[a-z0-9]{8}"] }
ai:
  targets: { fake: { provider: openai-compatible, baseUrl: "\${LLM}/v1" } }
  routes: [{ model: m, targets: [fake] }]
`, { LLM: llm.url });
  try {
    const c = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const json = await c.chat.completions.create({ model: 'm', messages });
    expect((json.choices[0]!.message.tool_calls![0] as { function: { arguments: string } }).function.arguments).toBe('{"k":"[REDACTED]"}');
    const streamed = await c.chat.completions.stream({ model: 'm', messages }).finalChatCompletion();
    expect((streamed.choices[0]!.message.tool_calls![0] as { function: { arguments: string } }).function.arguments).toBe('{"k":"[REDACTED]"}');
  } finally {
    await g.close();
    await llm.close();
  }
});
