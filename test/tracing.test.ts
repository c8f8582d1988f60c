import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log/logger.js';
import type { Gateway } from '../src/server/gateway.js';
import { startFakeOpenAI, openai, type FakeLLM } from './helpers/fake-llm.js';
import { startGatewayFrom, testConfig } from './helpers/gateway.js';
import { attributesOf, startOtlpSink, type OtlpSink, type OtlpSpan } from './helpers/otlp-sink.js';
import { connectWith, storedAudit } from './helpers/pipeline.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * Tracing on (`telemetry.tracing`, OTLP/JSON to a receiver in the test): a
 * span per call, named and attributed per the MCP and GenAI conventions, the
 * child of the caller's `traceparent` and the parent of what the backend or
 * the provider receives; its trace id in the audit record and the call line.
 */

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

let sink: OtlpSink;
let stub: StubBackend;
let fake: FakeLLM;
let gateway: Gateway;
let sdkGateway: Gateway;
const lines: Array<Record<string, unknown>> = [];
const savedDelay = process.env.OTEL_BSP_SCHEDULE_DELAY;

/** A caller's traceparent: a fresh trace id and span id per test. */
function callerContext(): { traceId: string; spanId: string; traceparent: string } {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  const traceId = hex(32);
  const spanId = hex(16);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The one span of a trace that the gateway exported, once it has been. */
async function spanOf(traceId: string, name: string): Promise<OtlpSpan> {
  await expect.poll(() => sink.spans().filter((s) => s.traceId === traceId && s.name === name).length, { timeout: 5_000 }).toBe(1);
  return sink.spans().find((s) => s.traceId === traceId && s.name === name)!;
}

beforeAll(async () => {
  // Export each batch at once rather than every 5 s (the BatchSpanProcessor reads this at start).
  process.env.OTEL_BSP_SCHEDULE_DELAY = '10';
  sink = await startOtlpSink();
  stub = await startStubBackend();
  stub.handle((req, res) => {
    res.writeHead(req.url === '/api/status/500' ? 500 : 200, { 'content-type': 'application/json' });
    res.end('{"id":"1"}');
  });
  fake = await startFakeOpenAI();
  const yaml = (serviceName: string) => `
server: { host: 127.0.0.1, port: 0 }
telemetry:
  tracing: { endpoint: "\${SINK}", protocol: http/json, serviceName: ${serviceName} }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: \${STUB_URL}/api
ai:
  targets:
    oa: { provider: openai-compatible, baseUrl: "\${OA}/v1", apiKey: upstream-key, model: upstream-4o }
  routes:
    - { model: gpt-4o, targets: [oa] }
`;
  const env = { SINK: sink.url, STUB_URL: stub.url, OA: fake.url };
  const logSink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  gateway = await startGatewayFrom(testConfig(yaml('gatehouse-test'), env), createLogger({ level: 'info', stream: logSink }));
  sdkGateway = await startGatewayFrom(testConfig(yaml('gatehouse-sdk-path'), env), undefined, { disableFastPath: true });
});

afterAll(async () => {
  await gateway?.close(0);
  await sdkGateway?.close(0);
  await Promise.all([stub?.close(), fake?.close(), sink?.close()]);
  if (savedDelay === undefined) delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  else process.env.OTEL_BSP_SCHEDULE_DELAY = savedDelay;
});

describe('tracing: tool calls through the MCP client', () => {
  for (const era of ['legacy', 'modern'] as const) {
    it(`${era}: the call's span is the caller's child and the backend request's parent`, async () => {
      const caller = callerContext();
      const client = await connectWith(gateway, era, { traceparent: caller.traceparent, tracestate: 'vendor=1' });
      try {
        const before = stub.received.length;
        const result = await client.callTool({ name: 'stub_getItem', arguments: { itemId: '7' } });
        expect(result.isError).not.toBe(true);
        const span = await spanOf(caller.traceId, 'tools/call stub_getItem');
        expect(span.parentSpanId).toBe(caller.spanId);
        expect(span.kind).toBe(SPAN_KIND_SERVER);
        expect(span.status?.code ?? 0).not.toBe(STATUS_ERROR);
        expect(attributesOf(span)).toMatchObject({
          'mcp.method.name': 'tools/call',
          'gen_ai.tool.name': 'stub_getItem',
          'gen_ai.operation.name': 'execute_tool',
          'mcp.protocol.version': era === 'modern' ? '2026-07-28' : expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
          'gatehouse.backend': 'stub',
        });
        expect(attributesOf(span)).not.toHaveProperty('error.type');
        expect(span.resource).toMatchObject({ 'service.name': 'gatehouse-test' });
        // The backend was called within the gateway's span: same trace, the gateway's span as parent, the caller's tracestate kept.
        const sent = stub.received.slice(before).find((r) => r.url === '/api/items/7')!;
        expect(sent.headers.traceparent).toBe(`00-${caller.traceId}-${span.spanId}-01`);
        expect(sent.headers.tracestate).toBe('vendor=1');
        // The span covers the call, from its start.
        expect(BigInt(span.endTimeUnixNano)).toBeGreaterThan(BigInt(span.startTimeUnixNano));
      } finally {
        await client.close();
      }
    });
  }

  it('a call the backend fails has an error status and error.type, the GH_* code', async () => {
    const caller = callerContext();
    const client = await connectWith(gateway, 'legacy', { traceparent: caller.traceparent });
    try {
      const result = await client.callTool({ name: 'stub_getStatus', arguments: { code: 500 } });
      expect(result.isError).toBe(true);
      const span = await spanOf(caller.traceId, 'tools/call stub_getStatus');
      expect(span.status).toMatchObject({ code: STATUS_ERROR });
      expect(attributesOf(span)['error.type']).toBe('GH_UPSTREAM_STATUS');
    } finally {
      await client.close();
    }
  });

  it('without a traceparent, the call starts a trace of its own and the backend is sent it', async () => {
    const client = await connectWith(gateway, 'legacy');
    try {
      const before = stub.received.length;
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: '8' } });
      const sent = stub.received.slice(before).find((r) => r.url === '/api/items/8')!;
      const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent.headers.traceparent))!;
      const span = await spanOf(traceId!, 'tools/call stub_getItem');
      expect(span.spanId).toBe(spanId);
      expect(span.parentSpanId ?? '').toBe('');
    } finally {
      await client.close();
    }
  });

  it('through the SDK path (fast path off) too', async () => {
    const caller = callerContext();
    const client = await connectWith(sdkGateway, 'legacy', { traceparent: caller.traceparent });
    try {
      const before = stub.received.length;
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: '9' } });
      const span = await spanOf(caller.traceId, 'tools/call stub_getItem');
      expect(span.parentSpanId).toBe(caller.spanId);
      expect(span.resource).toMatchObject({ 'service.name': 'gatehouse-sdk-path' });
      expect(stub.received.slice(before).find((r) => r.url === '/api/items/9')!.headers.traceparent).toBe(`00-${caller.traceId}-${span.spanId}-01`);
    } finally {
      await client.close();
    }
  });

  it("the audit record and the call line carry the call's trace id", async () => {
    const caller = callerContext();
    const client = await connectWith(gateway, 'legacy', { traceparent: caller.traceparent });
    try {
      await client.callTool({ name: 'stub_getItem', arguments: { itemId: '10' } });
    } finally {
      await client.close();
    }
    await spanOf(caller.traceId, 'tools/call stub_getItem');
    const records = await storedAudit(gateway, { tool: 'stub_getItem' });
    expect(records.filter((r) => r.traceId === caller.traceId)).toHaveLength(1);
    await expect.poll(() => lines.filter((l) => l['kind'] === 'tool' && l['traceId'] === caller.traceId)).toHaveLength(1);
  });
});

describe('tracing: model calls through the openai SDK', () => {
  it('a chat completion is a GenAI span: operation, provider, models, tokens, and never the prompt or the answer', async () => {
    const caller = callerContext();
    fake.script = () => openai.completion({ model: 'upstream-4o', text: ['the secret answer'], usage: { prompt_tokens: 11, completion_tokens: 4 } });
    const before = fake.received.length;
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { traceparent: caller.traceparent } });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'the secret prompt' }] });
    expect(completion.choices[0]?.message.content).toBe('the secret answer');
    const span = await spanOf(caller.traceId, 'chat gpt-4o');
    expect(span.parentSpanId).toBe(caller.spanId);
    expect(span.kind).toBe(SPAN_KIND_CLIENT);
    expect(attributesOf(span)).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai-compatible',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'upstream-4o',
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 4,
      'gatehouse.ai.route': 'gpt-4o',
      'gatehouse.ai.target': 'oa',
    });
    // The provider was called within the gateway's span.
    expect(fake.received[before]!.headers.traceparent).toBe(`00-${caller.traceId}-${span.spanId}-01`);
    const exported = sink.exports.map((e) => e.body.toString('utf8')).join('\n');
    expect(exported).not.toContain('the secret prompt');
    expect(exported).not.toContain('the secret answer');
    const records = await storedAudit(gateway, {});
    expect(records.filter((r) => r.kind === 'model' && r.traceId === caller.traceId)).toHaveLength(1);
  });

  it('embeddings are an embeddings span', async () => {
    const caller = callerContext();
    fake.script = () => ({ type: 'json', body: { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: 'upstream-4o', usage: { prompt_tokens: 3, total_tokens: 3 } } });
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { traceparent: caller.traceparent } });
    await client.embeddings.create({ model: 'gpt-4o', input: 'text', encoding_format: 'float' });
    const span = await spanOf(caller.traceId, 'embeddings gpt-4o');
    expect(attributesOf(span)).toMatchObject({ 'gen_ai.operation.name': 'embeddings', 'gen_ai.usage.input_tokens': 3 });
  });

  it('a refused model call (no route) has an error span', async () => {
    const caller = callerContext();
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { traceparent: caller.traceparent } });
    await expect(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow();
    const span = await spanOf(caller.traceId, 'chat no-such-model');
    expect(span.parentSpanId).toBe(caller.spanId);
    expect(span.status).toMatchObject({ code: STATUS_ERROR });
    expect(attributesOf(span)['error.type']).toBe('GH_AI_MODEL_NOT_FOUND');
  });
});
