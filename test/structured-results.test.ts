import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, startTestGateway, type Era } from './helpers/gateway.js';
import { storedAudit, text } from './helpers/pipeline.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * A tool with an outputSchema (stub_getItem: `{ id: string, name: string }`)
 * whose backend answers 2xx with something that cannot be its structured
 * result. The real MCP client refuses a success without conforming
 * `structuredContent` (it throws), so the gateway must answer a tool error the
 * agent can read, with a stable code, and audit it as an error.
 */

const CAP = 1024;
let stub: StubBackend;
/** The next answer of the stub: content type and body (status 200 unless given). */
let answer: { status?: number; type?: string; body: string } = { body: '' };

beforeAll(async () => {
  stub = await startStubBackend();
  stub.handle((_req, res) => {
    res.writeHead(answer.status ?? 200, answer.type === undefined ? {} : { 'content-type': answer.type });
    res.end(answer.body);
  });
});

afterAll(async () => {
  await stub?.close();
});

describe.each<[Era, boolean]>([
  ['legacy', false],
  ['modern', false],
  ['legacy', true],
])('2xx answers of a tool with an output schema (%s client, SDK path only: %s)', (era, disableFastPath) => {
  let gateway: Gateway;
  let client: Client;

  beforeAll(async () => {
    gateway = await startTestGateway(
      `
server: { host: 127.0.0.1, port: 0 }
upstream: { maxResponseBytes: ${CAP} }
backends:
  - name: stub
    spec: ./stub-api.yaml
    baseUrl: ${stub.url}/api
`,
      {},
      { disableFastPath },
    );
    client = await connectClient(gateway.url, era);
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.close();
  });

  const call = async (id: string) => client.callTool({ name: 'stub_getItem', arguments: { itemId: id } });
  /** The record of the call that just ran: the newest, and the backend saw that call. */
  const recordOf = async (id: string) => {
    expect(stub.received.at(-1)?.url).toBe(`/api/items/${id}`);
    const records = await storedAudit(gateway, { tool: 'stub_getItem' });
    return records[0]!;
  };

  it('a proxy HTML page under a JSON content type is GH_UPSTREAM_RESULT_INVALID, audited as an error', async () => {
    answer = { type: 'application/json', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' };
    const result = await call('html-1');
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(text(result)).toMatch(/^GH_UPSTREAM_RESULT_INVALID: HTTP 200 OK: the application\/json body is not valid JSON \(.+\):\n<html><body><h1>502 Bad Gateway<\/h1><\/body><\/html>$/);
    expect(await recordOf('html-1')).toMatchObject({ outcome: 'error', errorCode: 'GH_UPSTREAM_RESULT_INVALID', status: 200 });
  });

  it('a body cut at the size cap is GH_UPSTREAM_RESULT_TRUNCATED, with the truncation marker', async () => {
    answer = { type: 'application/json', body: JSON.stringify({ id: '1', name: 'x'.repeat(CAP * 2) }) };
    const result = await call('cut-1');
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^GH_UPSTREAM_RESULT_TRUNCATED: HTTP 200 OK: the response was cut at the size cap, so it cannot be the tool's structured result:\n\{"id":"1","name":"x+\n…\[truncated: response exceeded 1024 bytes\]$/);
    expect(await recordOf('cut-1')).toMatchObject({ outcome: 'error', errorCode: 'GH_UPSTREAM_RESULT_TRUNCATED' });
  });

  it('JSON that does not match the output schema names each wrong field', async () => {
    answer = { type: 'application/json', body: '{"id":7,"name":["a"]}' };
    const result = await call('shape-1');
    expect(result.isError).toBe(true);
    expect(text(result)).toBe(
      "GH_UPSTREAM_RESULT_INVALID: HTTP 200 OK: the response does not match the tool's output schema:\n- id: must be string\n- name: must be string:\n{\"id\":7,\"name\":[\"a\"]}",
    );
    expect(await recordOf('shape-1')).toMatchObject({ outcome: 'error', errorCode: 'GH_UPSTREAM_RESULT_INVALID' });
  });

  it('a text/html 2xx is GH_UPSTREAM_RESULT_INVALID', async () => {
    answer = { type: 'text/html; charset=utf-8', body: '<p>Please sign in</p>' };
    const result = await call('page-1');
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('GH_UPSTREAM_RESULT_INVALID: HTTP 200 OK: the backend answered text/html, not JSON; the tool declares an output schema:\n<p>Please sign in</p>');
  });

  it('a conforming answer is a success with structuredContent, audited ok', async () => {
    answer = { type: 'application/json', body: '{"id":"ok-1","name":"widget","extra":true}' };
    const result = await call('ok-1');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ id: 'ok-1', name: 'widget', extra: true });
    expect(await recordOf('ok-1')).toMatchObject({ outcome: 'ok' });
  });

  it('an empty 2xx is a success whose structuredContent is the empty object', async () => {
    answer = { status: 204, body: '' };
    const result = await call('empty-1');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({});
    expect(text(result)).toBe('HTTP 204 No Content');
  });
});
