import { Buffer } from 'node:buffer';
import { isCallToolResult } from '@modelcontextprotocol/server';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import type { UpstreamResponse } from './forward.js';
import { GatehouseError } from '../errors/catalogue.js';
import { ERROR_BODY_MAX_CHARS, toCallToolResult } from './map-result.js';

function response(status: number, contentType: string | undefined, body: string | Buffer, extra: Partial<UpstreamResponse> = {}): UpstreamResponse {
  return {
    status,
    statusText: '',
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    contentType,
    body: typeof body === 'string' ? Buffer.from(body) : body,
    truncated: false,
    ...extra,
  };
}

function map(res: UpstreamResponse, hasOutputSchema = false, maxTextBytes?: number): CallToolResult {
  const result = toCallToolResult(res, maxTextBytes === undefined ? { hasOutputSchema } : { hasOutputSchema, maxTextBytes });
  // Every result must be a valid MCP CallToolResult.
  expect(isCallToolResult(result)).toBe(true);
  return result;
}

function onlyText(result: CallToolResult): string {
  expect(result.content).toHaveLength(1);
  const block = result.content[0];
  if (block?.type !== 'text') throw new Error(`expected a text block, got ${block?.type}`);
  return block.text;
}

describe('toCallToolResult: 2xx JSON', () => {
  const body = '{"id":1,"name":"Rex"}';

  it('returns the JSON text as-is without an output schema', () => {
    expect(map(response(200, 'application/json', body))).toEqual({ content: [{ type: 'text', text: body }] });
  });

  it('adds structuredContent when the tool has an output schema', () => {
    expect(map(response(200, 'application/json; charset=utf-8', body), true)).toEqual({
      content: [{ type: 'text', text: body }],
      structuredContent: { id: 1, name: 'Rex' },
    });
  });

  it.each([
    ['an array', '[1,2]', [1, 2]],
    ['a string', '"ok"', 'ok'],
    ['a number', '42', 42],
    ['null', 'null', null],
  ])('wraps %s as { result }', (_label, text, value) => {
    expect(map(response(200, 'application/json', text), true).structuredContent).toEqual({ result: value });
  });

  it('treats +json types as JSON', () => {
    expect(map(response(200, 'application/hal+json', '{"a":1}'), true).structuredContent).toEqual({ a: 1 });
  });

  it('drops a UTF-8 BOM before parsing', () => {
    expect(map(response(200, 'application/json', '\uFEFF{"a":1}'), true)).toEqual({
      content: [{ type: 'text', text: '{"a":1}' }],
      structuredContent: { a: 1 },
    });
  });

  it('returns text only when the JSON does not parse and there is no output schema', () => {
    const result = map(response(200, 'application/json', '{"a":'));
    expect(result.structuredContent).toBeUndefined();
    expect(onlyText(result)).toBe('{"a":');
  });

  it('recognises JSON without a Content-Type', () => {
    expect(map(response(200, undefined, ' {"a":1}'), true).structuredContent).toEqual({ a: 1 });
  });

  it('marks a truncated body and does not parse it when there is no output schema', () => {
    const result = map(response(200, 'application/json', '{"items":[1,2', { truncated: true }));
    expect(result.structuredContent).toBeUndefined();
    expect(onlyText(result)).toBe('{"items":[1,2\n…[truncated: response exceeded 13 bytes]');
    expect(result.isError).toBeUndefined();
  });

  it('caps the text at maxTextBytes but still parses the full body', () => {
    const text = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => i) });
    const result = map(response(200, 'application/json', text), true, 20);
    expect(onlyText(result)).toBe(`${text.slice(0, 20)}\n…[truncated: response exceeded 20 bytes]`);
    expect(result.structuredContent).toEqual(JSON.parse(text));
  });
});

describe('toCallToolResult: 2xx text and binary', () => {
  it.each([['text/plain'], ['text/html; charset=utf-8'], ['application/xml'], ['text/csv']])('%s becomes text', (type) => {
    expect(onlyText(map(response(200, type, 'héllo <b>1</b>')))).toBe('héllo <b>1</b>');
  });

  it('decodes the declared charset', () => {
    expect(onlyText(map(response(200, 'text/plain; charset=iso-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9]))))).toBe('café');
  });

  it('does not split a multi-byte character when cutting at maxTextBytes', () => {
    // "€" is 3 bytes; a cut at 4 bytes falls inside the second one.
    expect(onlyText(map(response(200, 'text/plain', '€€€'), false, 4))).toBe('€\n…[truncated: response exceeded 4 bytes]');
  });

  it('drops a character cut by the response limit instead of showing U+FFFD', () => {
    const cut = Buffer.from('ab€').subarray(0, 4);
    expect(onlyText(map(response(200, 'text/plain', cut, { truncated: true })))).toBe('ab\n…[truncated: response exceeded 4 bytes]');
  });

  it('returns images as image content', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    expect(map(response(200, 'image/png; q=1', png))).toEqual({ content: [{ type: 'image', data: png.toString('base64'), mimeType: 'image/png' }] });
  });

  it('returns audio as audio content', () => {
    const mp3 = Buffer.from([0x49, 0x44, 0x33, 0x00]);
    expect(map(response(200, 'audio/mpeg', mp3))).toEqual({ content: [{ type: 'audio', data: mp3.toString('base64'), mimeType: 'audio/mpeg' }] });
  });

  it('returns other binary as an embedded resource named after Content-Disposition', () => {
    const pdf = Buffer.from('%PDF-1.7\x00', 'latin1');
    const res = response(200, 'application/pdf', pdf, {
      headers: { 'content-type': 'application/pdf', 'content-disposition': 'attachment; filename="Q3 report.pdf"' },
    });
    expect(map(res)).toEqual({
      content: [
        { type: 'resource', resource: { uri: 'gatehouse://upstream/response/Q3%20report.pdf', mimeType: 'application/pdf', blob: pdf.toString('base64') } },
      ],
    });
  });

  it('sniffs binary without a Content-Type', () => {
    const bytes = Buffer.from([0x00, 0x01, 0xff]);
    expect(map(response(200, undefined, bytes))).toEqual({
      content: [{ type: 'resource', resource: { uri: 'gatehouse://upstream/response', mimeType: 'application/octet-stream', blob: bytes.toString('base64') } }],
    });
  });

  it('sniffs text without a Content-Type', () => {
    expect(onlyText(map(response(200, undefined, 'plain words')))).toBe('plain words');
  });

  it('does not return a truncated image', () => {
    const result = map(response(200, 'image/jpeg', Buffer.alloc(100), { truncated: true }));
    expect(result.isError).toBe(true);
    expect(onlyText(result)).toBe('HTTP 200 OK: the image/jpeg response exceeded 100 bytes and was not returned.');
  });

  it.each([
    [204, 'HTTP 204 No Content'],
    [200, 'HTTP 200 OK'],
    [202, 'HTTP 202 Accepted'],
  ])('an empty %i body becomes a short status text', (status, text) => {
    expect(map(response(status, undefined, ''))).toEqual({ content: [{ type: 'text', text }] });
    // With an output schema the client needs structured content: the empty object.
    expect(map(response(status, undefined, ''), true)).toEqual({ content: [{ type: 'text', text }], structuredContent: {} });
  });
});

describe('toCallToolResult: non-2xx', () => {
  it.each([
    [404, 'text/plain', 'no such pet', 'GH_UPSTREAM_STATUS: HTTP 404 Not Found: no such pet'],
    [422, 'application/problem+json', '{"title":"bad"}\n', 'GH_UPSTREAM_STATUS: HTTP 422 Unprocessable Entity: {"title":"bad"}'],
    [500, 'text/html', '<h1>boom</h1>', 'GH_UPSTREAM_STATUS: HTTP 500 Internal Server Error: <h1>boom</h1>'],
    [503, undefined, '', 'GH_UPSTREAM_STATUS: HTTP 503 Service Unavailable'],
    [500, 'image/png', Buffer.from([1, 2, 3]), 'GH_UPSTREAM_STATUS: HTTP 500 Internal Server Error: <3 bytes of image/png>'],
  ])('%i %s → isError', (status, type, body, text) => {
    const result = map(response(status, type, body), true);
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text }] });
  });

  it("uses the backend's reason phrase when it sent one", () => {
    expect(onlyText(map(response(499, 'text/plain', 'x', { statusText: 'Client Closed Request' })))).toBe('GH_UPSTREAM_STATUS: HTTP 499 Client Closed Request: x');
  });

  it('shows where a redirect points', () => {
    const res = response(302, undefined, '', { headers: { location: 'https://elsewhere.test/x' } });
    expect(onlyText(map(res))).toBe('GH_UPSTREAM_STATUS: HTTP 302 Found (Location: https://elsewhere.test/x)');
  });

  it(`truncates the body to ${ERROR_BODY_MAX_CHARS} characters with a marker`, () => {
    const body = 'x'.repeat(5000);
    const text = onlyText(map(response(500, 'text/plain', body)));
    expect(text).toBe(`GH_UPSTREAM_STATUS: HTTP 500 Internal Server Error: ${'x'.repeat(ERROR_BODY_MAX_CHARS)}\n…[truncated: showing the first 2000 characters]`);
  });

  it('marks a short error body that the response limit cut', () => {
    const text = onlyText(map(response(502, 'text/plain', 'upstream said', { truncated: true })));
    expect(text).toBe('GH_UPSTREAM_STATUS: HTTP 502 Bad Gateway: upstream said\n…[truncated: response exceeded 13 bytes]');
  });
});

/** The GatehouseError a 2xx answer of a tool with an output schema is refused with. */
function refusal(res: UpstreamResponse, checkOutput?: (s: Record<string, unknown>) => string[]): GatehouseError {
  try {
    toCallToolResult(res, checkOutput === undefined ? { hasOutputSchema: true } : { hasOutputSchema: true, checkOutput });
  } catch (err) {
    if (err instanceof GatehouseError) return err;
    throw err;
  }
  throw new Error('expected a GatehouseError');
}

describe('toCallToolResult: 2xx answers of a tool with an output schema', () => {
  it('refuses JSON that does not parse, with the parser message and the body', () => {
    const html = '<html><body>502 Bad Gateway</body></html>';
    const err = refusal(response(200, 'application/json', html));
    expect(err.code).toBe('GH_UPSTREAM_RESULT_INVALID');
    expect(err.message).toMatch(/^HTTP 200 OK: the application\/json body is not valid JSON \(.+\):\n<html><body>502 Bad Gateway<\/body><\/html>$/);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('refuses a body cut at the size cap, with the truncation marker', () => {
    const err = refusal(response(200, 'application/json', '{"items":[1,2', { truncated: true }));
    expect(err.code).toBe('GH_UPSTREAM_RESULT_TRUNCATED');
    expect(err.message).toBe("HTTP 200 OK: the response was cut at the size cap, so it cannot be the tool's structured result:\n{\"items\":[1,2\n…[truncated: response exceeded 13 bytes]");
  });

  it('refuses a non-JSON media type', () => {
    const err = refusal(response(200, 'text/html', '<h1>Sign in</h1>'));
    expect(err.code).toBe('GH_UPSTREAM_RESULT_INVALID');
    expect(err.message).toBe('HTTP 200 OK: the backend answered text/html, not JSON; the tool declares an output schema:\n<h1>Sign in</h1>');
    expect(refusal(response(200, 'image/png', Buffer.from([0x89, 0x50, 0, 1]))).message).toBe(
      'HTTP 200 OK: the backend answered image/png, not JSON; the tool declares an output schema (4 bytes)',
    );
  });

  it('refuses JSON that does not match the output schema, naming each field', () => {
    const err = refusal(response(200, 'application/json', '{"id":"x","name":3}'), () => ['id: must be integer', 'name: must be string']);
    expect(err.code).toBe('GH_UPSTREAM_RESULT_INVALID');
    expect(err.message).toBe('HTTP 200 OK: the response does not match the tool\'s output schema:\n- id: must be integer\n- name: must be string:\n{"id":"x","name":3}');
    expect(err.details).toEqual({ status: 200, errors: ['id: must be integer', 'name: must be string'] });
  });

  it('checks the parsed value and returns it when it conforms', () => {
    const seen: unknown[] = [];
    const result = toCallToolResult(response(200, 'application/json', '{"id":1}'), { hasOutputSchema: true, checkOutput: (s) => (seen.push(s), []) });
    expect(result).toEqual({ content: [{ type: 'text', text: '{"id":1}' }], structuredContent: { id: 1 } });
    expect(seen).toEqual([{ id: 1 }]);
  });

  it('answers an empty 2xx with the empty object, checked like any other', () => {
    expect(map(response(204, undefined, ''), true)).toEqual({ content: [{ type: 'text', text: 'HTTP 204 No Content' }], structuredContent: {} });
    expect(refusal(response(204, undefined, ''), () => ['id: is required']).code).toBe('GH_UPSTREAM_RESULT_INVALID');
  });

  it('keeps non-2xx answers as GH_UPSTREAM_STATUS tool errors', () => {
    expect(onlyText(map(response(503, 'text/html', '<p>down</p>'), true))).toBe('GH_UPSTREAM_STATUS: HTTP 503 Service Unavailable: <p>down</p>');
  });
});
