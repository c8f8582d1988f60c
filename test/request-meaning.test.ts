import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, startTestGateway } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * Requests that would change meaning on the way out: an empty path value
 * (`DELETE /items/` is the collection) and a fragment in a path template
 * (never part of a request, RFC 3986 §3.5). Asserted on the request line the
 * recording backend got.
 */

type TextItem = { type: 'text'; text: string };
const text = (r: { content?: unknown }) => ((r.content ?? []) as TextItem[]).map((c) => c.text).join('\n');

let stub: StubBackend;
let gateway: Gateway;
let client: Client;

beforeAll(async () => {
  stub = await startStubBackend();
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - { name: stub, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}/api" }
  - { name: rooted, spec: ./stub-api.yaml, baseUrl: "\${STUB_URL}" }
  - { name: ec2, spec: ./aws-query-api.yaml, baseUrl: "\${STUB_URL}" }
  - { name: es, spec: ../../specs/real/amazonaws.com_es.json, baseUrl: "\${STUB_URL}" }
`,
    { STUB_URL: stub.url },
  );
  client = await connectClient(gateway.url, 'legacy');
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await stub?.close();
});

/** Calls a tool and returns the request line the backend got, or undefined when nothing was sent. */
async function requestLine(name: string, args: Record<string, unknown>): Promise<{ line: string | undefined; isError: boolean; text: string }> {
  const before = stub.received.length;
  const result = await client.callTool({ name, arguments: args });
  const sent = stub.received.slice(before);
  expect(sent.length).toBeLessThanOrEqual(1);
  return { line: sent[0] === undefined ? undefined : `${sent[0].method} ${sent[0].url}`, isError: result.isError === true, text: text(result) };
}

describe('empty path values', () => {
  it('says minLength: 1 in the input schema', async () => {
    const { tools } = await client.listTools();
    const del = tools.find((t) => t.name === 'stub_deleteItem')!;
    expect((del.inputSchema.properties as Record<string, unknown>)['itemId']).toEqual({ type: 'string', minLength: 1 });
  });

  it('refuses deleteItem {itemId: ""} as a tool error naming the argument, and sends nothing', async () => {
    const r = await requestLine('stub_deleteItem', { itemId: '' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^GH_TOOL_ARGS_INVALID/);
    expect(r.text).toContain('itemId');
    expect(r.line).toBeUndefined();
    // The same tool with a value reaches the item, not the collection.
    expect((await requestLine('stub_deleteItem', { itemId: 'x1' })).line).toBe('DELETE /api/items/x1');
  });

  it('refuses "." and ".." the same way', async () => {
    for (const itemId of ['.', '..']) {
      const r = await requestLine('rooted_deleteItem', { itemId });
      expect(r.isError).toBe(true);
      expect(r.text).toContain('"itemId"');
      expect(r.line).toBeUndefined();
    }
  });
});

describe('fragments in path templates', () => {
  it('keeps operations that differ only by fragment distinct tools', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('ec2_'));
    expect(names).toEqual(
      expect.arrayContaining(['ec2_GET_DescribeInstances', 'ec2_POST_DescribeInstances', 'ec2_post_Action_StartInstances', 'ec2_post_Action_StopInstances', 'ec2_ListTags', 'ec2_UntagResource']),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it('sends an EC2 query-protocol call to / with Action in the query, not to /%23Action=…', async () => {
    const get = await requestLine('ec2_GET_DescribeInstances', { Action: 'DescribeInstances', Version: '2016-11-15', InstanceId: ['i-1', 'i-2'] });
    expect(get.line).toBe('GET /?InstanceId=i-1&InstanceId=i-2&Action=DescribeInstances&Version=2016-11-15');

    const before = stub.received.length;
    const post = await requestLine('ec2_POST_DescribeInstances', { Action: 'DescribeInstances', Version: '2016-11-15', MaxResults: 5 });
    expect(post.line).toBe('POST /?Action=DescribeInstances&Version=2016-11-15');
    expect(stub.received[before]!.body.toString()).toBe('MaxResults=5');

    expect((await requestLine('ec2_post_Action_StartInstances', { Action: 'StartInstances' })).line).toBe('POST /?Action=StartInstances');
    expect((await requestLine('ec2_post_Action_StopInstances', { Action: 'StopInstances' })).line).toBe('POST /?Action=StopInstances');
  });

  it('drops the fragment of a REST-style path, keeping what comes before it', async () => {
    expect((await requestLine('ec2_ListTags', { arn: 'arn:aws:es:eu-west-1:1:domain/d' })).line).toBe('GET /2015-01-01/tags/?arn=arn%3Aaws%3Aes%3Aeu-west-1%3A1%3Adomain%2Fd');
    expect((await requestLine('ec2_UntagResource', { resourceArn: 'arn:aws:lambda:x', tagKeys: ['a', 'b'] })).line).toBe(
      'DELETE /tags/arn%3Aaws%3Alambda%3Ax?tagKeys=a&tagKeys=b',
    );
  });

  it('sends the corpus document amazonaws.com_es.json ListTags (`/2015-01-01/tags/#arn`) to /2015-01-01/tags/', async () => {
    const r = await requestLine('es_ListTags', { arn: 'arn:aws:es:us-east-1:1:domain/logs' });
    expect(r.isError).toBe(false);
    expect(r.line).toBe('GET /2015-01-01/tags/?arn=arn%3Aaws%3Aes%3Aus-east-1%3A1%3Adomain%2Flogs');
    const { tools } = await client.listTools();
    const del = tools.find((t) => t.name === 'es_DeleteElasticsearchDomain')!;
    // The document's own minLength: 3 is kept.
    expect((del.inputSchema.properties as Record<string, { minLength?: number }>)['DomainName']!.minLength).toBe(3);
    expect((await requestLine('es_DeleteElasticsearchDomain', { DomainName: 'logs' })).line).toBe('DELETE /2015-01-01/es/domain/logs');
  });
});
