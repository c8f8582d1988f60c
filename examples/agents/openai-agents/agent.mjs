// An OpenAI Agents SDK agent whose tools and model both come through Gatehouse:
// the tools from its MCP endpoint (/mcp), the model from its ai-proxy
// (/v1/chat/completions). See ../README.md.
//
//   node examples/agents/openai-agents/agent.mjs "Which tools are in stock?"
//
// GATEHOUSE_URL   (default http://127.0.0.1:8080)
// GATEHOUSE_TOKEN (optional) bearer credential, sent to /mcp and /v1
// GATEHOUSE_MODEL (default gpt-4o-mini) a model or route name from the `ai:` config

import process from 'node:process';
import console from 'node:console';
import OpenAI from 'openai';
import { Agent, MCPServerStreamableHttp, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } from '@openai/agents';

const url = (process.env.GATEHOUSE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const token = process.env.GATEHOUSE_TOKEN || undefined;
const model = process.env.GATEHOUSE_MODEL || 'gpt-4o-mini';
const question = process.argv.slice(2).join(' ') || 'Which items tagged "tools" are in stock, and how many of each?';

// The model: Gatehouse's ai-proxy speaks Chat Completions (not the Responses API).
// The key is a Gatehouse credential, never a provider key. The client insists on
// one, so without a token it gets a placeholder and sends no Authorization header.
setDefaultOpenAIClient(
  new OpenAI({ baseURL: `${url}/v1`, apiKey: token ?? 'none', defaultHeaders: token ? undefined : { Authorization: null } }),
);
setOpenAIAPI('chat_completions');
setTracingDisabled(true); // traces would go to OpenAI's platform

// The tools: every operation of every backend, as Gatehouse lists them.
const gatehouse = new MCPServerStreamableHttp({
  name: 'gatehouse',
  url: `${url}/mcp`,
  requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
});

const agent = new Agent({
  name: 'Inventory assistant',
  instructions: 'Answer questions about the inventory with the tools you have. Be brief.',
  model,
  mcpServers: [gatehouse],
});

await gatehouse.connect();
try {
  const result = await run(agent, question);
  console.log(result.finalOutput);
} finally {
  await gatehouse.close();
}
