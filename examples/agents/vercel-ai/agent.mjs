// A Vercel AI SDK agent whose tools and model both come through Gatehouse:
// the tools from its MCP endpoint (/mcp), the model from its ai-proxy
// (/v1/chat/completions). See ../README.md.
//
//   node examples/agents/vercel-ai/agent.mjs "Which tools are in stock?"
//
// GATEHOUSE_URL   (default http://127.0.0.1:8080)
// GATEHOUSE_TOKEN (optional) bearer credential, sent to /mcp and /v1
// GATEHOUSE_MODEL (default gpt-4o-mini) a model or route name from the `ai:` config

import process from 'node:process';
import console from 'node:console';
import { generateText, stepCountIs } from 'ai';
import { createMCPClient } from '@ai-sdk/mcp';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';

const url = (process.env.GATEHOUSE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const token = process.env.GATEHOUSE_TOKEN || undefined;
const model = process.env.GATEHOUSE_MODEL || 'gpt-4o-mini';
const question = process.argv.slice(2).join(' ') || 'Which items tagged "tools" are in stock, and how many of each?';

// The model: the ai-proxy is an OpenAI-compatible Chat Completions endpoint.
// The key is a Gatehouse credential, never a provider key.
const gatehouseLLM = createOpenAICompatible({ name: 'gatehouse', baseURL: `${url}/v1`, apiKey: token });

// The tools: every operation of every backend, as Gatehouse lists them.
const mcp = await createMCPClient({
  transport: { type: 'http', url: `${url}/mcp`, headers: token ? { Authorization: `Bearer ${token}` } : undefined },
});

try {
  const { text } = await generateText({
    model: gatehouseLLM(model),
    system: 'Answer questions about the inventory with the tools you have. Be brief.',
    prompt: question,
    tools: await mcp.tools(),
    stopWhen: stepCountIs(5), // call tools, read their results, answer
  });
  console.log(text);
} finally {
  await mcp.close();
}
