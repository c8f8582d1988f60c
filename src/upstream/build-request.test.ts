import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import type { BodyBinding, HttpBinding, ParameterBinding, ParameterLocation, ParameterStyle } from '../openapi/tool-definition.js';
import { buildRequest, DEFAULT_ACCEPT } from './build-request.js';

const BASE = 'https://api.example.com/v1';

function param(location: ParameterLocation, style: ParameterStyle, explode: boolean, extra: Partial<ParameterBinding> = {}): ParameterBinding {
  return { arg: 'id', name: 'id', in: location, style, explode, allowReserved: false, ...extra };
}

function binding(path: string, parameters: ParameterBinding[], extra: Partial<HttpBinding> = {}): HttpBinding {
  return { method: 'GET', path, baseUrl: BASE, parameters, ...extra };
}

function buildError(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_REQUEST_BUILD_FAILED');
    return err as GatehouseError;
  }
  throw new Error('expected buildRequest to throw');
}

const ARRAY = [3, 4, 5];
const OBJECT = { role: 'admin', firstName: 'Alex' };

describe('buildRequest: query parameters (OAS 3.1 §4.8.12.4)', () => {
  const cases: Array<[string, ParameterBinding, unknown, string]> = [
    // primitives
    ['form explode primitive', param('query', 'form', true), 5, '?id=5'],
    ['form no-explode primitive', param('query', 'form', false), 5, '?id=5'],
    ['form boolean', param('query', 'form', true), true, '?id=true'],
    ['form empty string', param('query', 'form', true), '', '?id='],
    ['spaceDelimited primitive', param('query', 'spaceDelimited', false), 'x', '?id=x'],
    ['pipeDelimited primitive', param('query', 'pipeDelimited', false), 'x', '?id=x'],
    ['deepObject primitive', param('query', 'deepObject', true), 'x', '?id=x'],
    // arrays
    ['form explode array', param('query', 'form', true), ARRAY, '?id=3&id=4&id=5'],
    ['form no-explode array', param('query', 'form', false), ARRAY, '?id=3,4,5'],
    ['spaceDelimited array', param('query', 'spaceDelimited', false), ARRAY, '?id=3%204%205'],
    ['pipeDelimited array', param('query', 'pipeDelimited', false), ARRAY, '?id=3|4|5'],
    ['spaceDelimited explode array (n/a → repeated)', param('query', 'spaceDelimited', true), ARRAY, '?id=3&id=4&id=5'],
    ['pipeDelimited explode array (n/a → repeated)', param('query', 'pipeDelimited', true), ARRAY, '?id=3&id=4&id=5'],
    ['deepObject array (indexed brackets)', param('query', 'deepObject', true), ARRAY, '?id[0]=3&id[1]=4&id[2]=5'],
    // objects
    ['form explode object', param('query', 'form', true), OBJECT, '?role=admin&firstName=Alex'],
    ['form no-explode object', param('query', 'form', false), OBJECT, '?id=role,admin,firstName,Alex'],
    ['spaceDelimited object', param('query', 'spaceDelimited', false), OBJECT, '?id=role%20admin%20firstName%20Alex'],
    ['pipeDelimited object', param('query', 'pipeDelimited', false), OBJECT, '?id=role|admin|firstName|Alex'],
    ['deepObject object', param('query', 'deepObject', true), OBJECT, '?id[role]=admin&id[firstName]=Alex'],
    [
      'deepObject nested object and array',
      param('query', 'deepObject', true),
      { a: { b: 1 }, tags: ['x', 'y'] },
      '?id[a][b]=1&id[tags][0]=x&id[tags][1]=y',
    ],
    // undefined values (RFC 6570 §2.3)
    ['null is omitted', param('query', 'form', true), null, ''],
    ['empty array is omitted', param('query', 'form', false), [], ''],
    ['empty object is omitted', param('query', 'form', true), {}, ''],
    // encoding
    ['reserved characters are encoded', param('query', 'form', true), 'a b&c=d/e?f#g+h', '?id=a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh'],
    ['RFC 3986 sub-delims are encoded', param('query', 'form', true), "it's (a)*!", '?id=it%27s%20%28a%29%2A%21'],
    ['non-ASCII is UTF-8 encoded', param('query', 'form', true), 'café ☃', '?id=caf%C3%A9%20%E2%98%83'],
    ['array items are encoded one by one', param('query', 'form', false), ['a,b', 'c d'], '?id=a%2Cb,c%20d'],
    [
      'allowReserved keeps reserved characters but not & = + # [ ]',
      param('query', 'form', true, { allowReserved: true }),
      'a/b:c?d@e!$,;&f=g+h#i[j] %41%zz',
      '?id=a/b:c?d@e!$,;%26f%3Dg%2Bh%23i%5Bj%5D%20%41%25zz',
    ],
    [
      'content parameter (application/json) is JSON then encoded',
      param('query', 'form', true, { contentType: 'application/json' }),
      { lat: 1, long: 2 },
      '?id=%7B%22lat%22%3A1%2C%22long%22%3A2%7D',
    ],
    ['wire name differs from argument name', param('query', 'form', true, { name: 'page[size]' }), 10, '?page[size]=10'],
  ];

  it.each(cases)('%s', (_label, p, value, expected) => {
    const req = buildRequest(binding('/items', [p]), { id: value });
    expect(req.url).toBe(`${BASE}/items${expected}`);
  });

  it('keeps parameters in binding order and joins them with &', () => {
    const req = buildRequest(
      binding('/items', [param('query', 'form', true, { arg: 'q', name: 'q' }), param('query', 'form', false, { arg: 'ids', name: 'ids' })]),
      { ids: [1, 2], q: 'x y' },
    );
    expect(req.url).toBe(`${BASE}/items?q=x%20y&ids=1,2`);
  });
});

describe('buildRequest: path parameters', () => {
  const cases: Array<[string, ParameterStyle, boolean, unknown, string]> = [
    ['simple primitive', 'simple', false, 5, '5'],
    ['simple array', 'simple', false, ARRAY, '3,4,5'],
    ['simple explode array', 'simple', true, ARRAY, '3,4,5'],
    ['simple object', 'simple', false, OBJECT, 'role,admin,firstName,Alex'],
    ['simple explode object', 'simple', true, OBJECT, 'role=admin,firstName=Alex'],
    ['label primitive', 'label', false, 5, '.5'],
    ['label explode primitive', 'label', true, 5, '.5'],
    ['label array (RFC 6570: commas)', 'label', false, ARRAY, '.3,4,5'],
    ['label explode array', 'label', true, ARRAY, '.3.4.5'],
    ['label object', 'label', false, OBJECT, '.role,admin,firstName,Alex'],
    ['label explode object', 'label', true, OBJECT, '.role=admin.firstName=Alex'],
    ['matrix primitive', 'matrix', false, 5, ';id=5'],
    ['matrix explode primitive', 'matrix', true, 5, ';id=5'],
    ['matrix array', 'matrix', false, ARRAY, ';id=3,4,5'],
    ['matrix explode array', 'matrix', true, ARRAY, ';id=3;id=4;id=5'],
    ['matrix object', 'matrix', false, OBJECT, ';id=role,admin,firstName,Alex'],
    ['matrix explode object', 'matrix', true, OBJECT, ';role=admin;firstName=Alex'],
    ['non-ASCII', 'simple', false, 'Zoë', 'Zo%C3%AB'],
  ];

  it.each(cases)('%s', (_label, style, explode, value, expected) => {
    const req = buildRequest(binding('/items/{id}/x', [param('path', style, explode)]), { id: value });
    expect(req.url).toBe(`${BASE}/items/${expected}/x`);
  });

  it('substitutes several parameters and literal text in one segment', () => {
    const req = buildRequest(
      binding('/repos/{owner}/{repo}/v{major}.json', [
        param('path', 'simple', false, { arg: 'owner', name: 'owner' }),
        param('path', 'simple', false, { arg: 'repo_name', name: 'repo' }),
        param('path', 'simple', false, { arg: 'major', name: 'major' }),
      ]),
      { owner: 'octo cat', repo_name: 'hello', major: 2 },
    );
    expect(req.url).toBe(`${BASE}/repos/octo%20cat/hello/v2.json`);
  });

  it('content parameter (application/json) is JSON then encoded', () => {
    const req = buildRequest(binding('/items/{id}', [param('path', 'simple', false, { contentType: 'application/json' })]), { id: { a: 1 } });
    expect(req.url).toBe(`${BASE}/items/%7B%22a%22%3A1%7D`);
  });
});

describe('buildRequest: path traversal and target steering', () => {
  const p = param('path', 'simple', false);
  const cases: Array<[string, unknown, string]> = [
    ['../ is encoded into one segment', '../admin', '/items/..%2Fadmin'],
    ['/ is encoded', 'a/b', '/items/a%2Fb'],
    ['? and # are encoded', '1?admin=true#x', '/items/1%3Fadmin%3Dtrue%23x'],
    ['percent-encoded dots stay data', '%2e%2e', '/items/%252e%252e'],
    ['backslash is encoded', '..\\..\\etc', '/items/..%5C..%5Cetc'],
    ['an absolute URL is just data', 'http://evil.test/', '/items/http%3A%2F%2Fevil.test%2F'],
    ['dots inside a segment are fine', 'v1..2', '/items/v1..2'],
  ];

  it.each(cases)('%s', (_label, value, expected) => {
    const req = buildRequest(binding('/items/{id}', [p]), { id: value });
    expect(req.url).toBe(`${BASE}${expected}`);
    expect(new URL(req.url).host).toBe('api.example.com');
  });

  it.each([['..'], ['.']])('rejects a value that is the dot-segment %j', (value) => {
    const err = buildError(() => buildRequest(binding('/items/{id}/delete', [p]), { id: value }));
    expect(err.message).toContain('"id"');
  });

  it('rejects a label value that makes a dot-segment with its prefix', () => {
    buildError(() => buildRequest(binding('/items/{id}', [param('path', 'label', false)]), { id: '.' }));
  });

  it('never applies allowReserved to a path', () => {
    const req = buildRequest(binding('/files/{id}', [param('path', 'simple', false, { allowReserved: true })]), { id: 'a/b?c' });
    expect(req.url).toBe(`${BASE}/files/a%2Fb%3Fc`);
  });

  it('takes the host from baseUrl only; undeclared arguments are ignored', () => {
    const req = buildRequest(binding('/items', [param('query', 'form', true, { arg: 'q', name: 'q' })]), {
      q: 'x',
      host: 'evil.test',
      url: 'http://evil.test',
      baseUrl: 'http://evil.test',
      authorization: 'Bearer stolen',
    });
    expect(req).toEqual({ method: 'GET', url: `${BASE}/items?q=x`, headers: { accept: DEFAULT_ACCEPT } });
  });

  it('rejects a missing path parameter, naming the argument', () => {
    const err = buildError(() => buildRequest(binding('/items/{id}', [p]), {}));
    expect(err.message).toContain('argument "id"');
  });

  it('rejects a template parameter the binding does not declare', () => {
    const err = buildError(() => buildRequest(binding('/items/{other}', []), {}));
    expect(err.message).toContain('{other}');
  });

  it('rejects text that is not valid Unicode, naming the argument', () => {
    const err = buildError(() => buildRequest(binding('/items/{id}', [param('path', 'simple', false, { arg: 'item_id' })]), { item_id: 'a\uD800' }));
    expect(err.message).toContain('"item_id"');
  });
});

describe('buildRequest: empty path values', () => {
  // An empty value leaves an empty segment: DELETE /items/{itemId} with ""
  // would be DELETE /items/, the collection.
  const cases: Array<[string, ParameterStyle, boolean, unknown, Partial<ParameterBinding>]> = [
    ['simple ""', 'simple', false, '', {}],
    ['label "" (only the "." prefix)', 'label', false, '', {}],
    ['matrix "" (only the ";id" prefix)', 'matrix', false, '', {}],
    ['an empty array', 'simple', false, [], {}],
    ['an array of one ""', 'simple', false, [''], {}],
    ['an exploded label array of one ""', 'label', true, [''], {}],
    ['an empty object', 'simple', true, {}, {}],
    ['an empty matrix object', 'matrix', true, {}, {}],
    ['a text/plain content value ""', 'simple', false, '', { contentType: 'text/plain' }],
  ];

  it.each(cases)('refuses %s, naming the argument', (_label, style, explode, value, extra) => {
    const p = param('path', style, explode, { arg: 'item_id', name: 'itemId', ...extra });
    const err = buildError(() => buildRequest(binding('/items/{itemId}', [p], { method: 'DELETE' }), { item_id: value }));
    expect(err.message).toContain('argument "item_id" (path parameter itemId) is empty');
  });

  it('refuses an empty first segment, which would make a network-path reference (//x)', () => {
    const p = param('path', 'simple', false, { arg: 'tenant', name: 'tenant' });
    const err = buildError(() => buildRequest(binding('/{tenant}/items', [p], { baseUrl: 'http://127.0.0.1:9' }), { tenant: '' }));
    expect(err.message).toContain('"tenant"');
  });

  it('refuses an empty value between literal text too, and keeps values that only look empty', () => {
    const p = param('path', 'simple', false);
    buildError(() => buildRequest(binding('/items/v{id}.json', [p]), { id: '' }));
    expect(buildRequest(binding('/items/{id}', [p]), { id: ' ' }).url).toBe(`${BASE}/items/%20`);
    expect(buildRequest(binding('/items/{id}', [p]), { id: 0 }).url).toBe(`${BASE}/items/0`);
    expect(buildRequest(binding('/items/{id}', [p]), { id: false }).url).toBe(`${BASE}/items/false`);
    expect(buildRequest(binding('/items/{id}', [p]), { id: ['', ''] }).url).toBe(`${BASE}/items/,`);
  });
});

describe('buildRequest: fragments in path templates (RFC 3986 §3.5)', () => {
  it('drops an EC2-style fragment; the declared Action parameter carries the operation', () => {
    const action = param('query', 'form', true, { arg: 'Action', name: 'Action' });
    const version = param('query', 'form', true, { arg: 'Version', name: 'Version' });
    const req = buildRequest(binding('/#Action=DescribeInstances', [action, version]), { Action: 'DescribeInstances', Version: '2016-11-15' });
    expect(req.url).toBe(`${BASE}/?Action=DescribeInstances&Version=2016-11-15`);
  });

  it('drops a fragment after a path parameter', () => {
    const p = param('path', 'simple', false, { arg: 'resourceArn', name: 'resourceArn' });
    const req = buildRequest(binding('/tags/{resourceArn}#tagKeys', [p]), { resourceArn: 'arn:aws:es:eu-west-1:1:domain/d' });
    expect(req.url).toBe(`${BASE}/tags/arn%3Aaws%3Aes%3Aeu-west-1%3A1%3Adomain%2Fd`);
  });

  it('keeps a trailing slash before the fragment, and the fixed query before it', () => {
    expect(buildRequest(binding('/2015-01-01/tags/#arn', []), {}).url).toBe(`${BASE}/2015-01-01/tags/`);
    expect(buildRequest(binding('/items?fixed=1#frag', []), {}).url).toBe(`${BASE}/items?fixed=1`);
  });

  it('treats a "?" after the "#" as part of the fragment', () => {
    expect(buildRequest(binding('/items#a?admin=true', []), {}).url).toBe(`${BASE}/items`);
  });
});

describe('buildRequest: headers', () => {
  const cases: Array<[string, boolean, unknown, string]> = [
    ['primitive', false, 5, '5'],
    ['array', false, ARRAY, '3,4,5'],
    ['explode array', true, ARRAY, '3,4,5'],
    ['object', false, OBJECT, 'role,admin,firstName,Alex'],
    ['explode object', true, OBJECT, 'role=admin,firstName=Alex'],
    ['not percent-encoded', false, 'a b/c;d="e"', 'a b/c;d="e"'],
    ['Latin-1 is allowed', false, 'café', 'café'],
  ];

  it.each(cases)('simple %s', (_label, explode, value, expected) => {
    const req = buildRequest(binding('/items', [param('header', 'simple', explode, { name: 'X-Request-Tag' })]), { id: value });
    expect(req.headers).toEqual({ accept: DEFAULT_ACCEPT, 'x-request-tag': expected });
  });

  it('content parameter (application/json) is sent as JSON text', () => {
    const req = buildRequest(binding('/items', [param('header', 'simple', false, { name: 'X-Filter', contentType: 'application/json' })]), {
      id: { a: [1] },
    });
    expect(req.headers['x-filter']).toBe('{"a":[1]}');
  });

  it.each([
    ['CRLF', 'x\r\nX-Admin: true'],
    ['LF', 'x\nX-Admin: true'],
    ['CR', 'x\rX-Admin: true'],
    ['NUL', 'x\0y'],
  ])('rejects %s in a header value, naming the parameter', (_label, value) => {
    const err = buildError(() => buildRequest(binding('/items', [param('header', 'simple', false, { arg: 'trace', name: 'X-Trace' })]), { trace: value }));
    expect(err.message).toContain('argument "trace" (header X-Trace)');
    expect(err.message).toContain('CR, LF or NUL');
  });

  it('rejects CRLF hidden in an array item', () => {
    buildError(() => buildRequest(binding('/items', [param('header', 'simple', false)]), { id: ['a', 'b\r\nc'] }));
  });

  it('rejects characters a header cannot carry', () => {
    const err = buildError(() => buildRequest(binding('/items', [param('header', 'simple', false, { name: 'X-Snow' })]), { id: 'snow ☃' }));
    expect(err.message).toContain('X-Snow');
  });

  it.each([['Authorization'], ['Accept'], ['Content-Type'], ['Host'], ['Content-Length'], ['Transfer-Encoding'], ['Connection'], ['Cookie']])(
    'ignores a %s header parameter',
    (name) => {
      const req = buildRequest(binding('/items', [param('header', 'simple', false, { name })]), { id: 'evil' });
      expect(req.headers).toEqual({ accept: DEFAULT_ACCEPT });
    },
  );

  it('sends Accept: JSON preferred, anything acceptable', () => {
    expect(buildRequest(binding('/items', []), {}).headers).toEqual({ accept: 'application/json, */*;q=0.8' });
  });
});

describe('buildRequest: cookies', () => {
  const cases: Array<[string, boolean, unknown, string]> = [
    ['primitive', true, 5, 'id=5'],
    ['array', false, ARRAY, 'id=3,4,5'],
    ['explode array', true, ARRAY, 'id=3; id=4; id=5'],
    ['object', false, OBJECT, 'id=role,admin,firstName,Alex'],
    ['explode object', true, OBJECT, 'role=admin; firstName=Alex'],
    ['delimiters are encoded', true, 'a;b, c"d\\', 'id=a%3Bb%2C%20c%22d%5C'],
    ['base64 tokens pass unchanged', true, 'ab+/c==', 'id=ab+/c=='],
    ['% is encoded', true, '100%', 'id=100%25'],
  ];

  it.each(cases)('form %s', (_label, explode, value, expected) => {
    const req = buildRequest(binding('/items', [param('cookie', 'form', explode)]), { id: value });
    expect(req.headers.cookie).toBe(expected);
  });

  it('joins several cookie parameters into one cookie header', () => {
    const req = buildRequest(
      binding('/items', [param('cookie', 'form', true, { arg: 'a', name: 'a' }), param('cookie', 'form', true, { arg: 'b', name: 'b' })]),
      { a: 1, b: 2 },
    );
    expect(req.headers).toEqual({ accept: DEFAULT_ACCEPT, cookie: 'a=1; b=2' });
  });

  it('cannot inject a header through a cookie', () => {
    const req = buildRequest(binding('/items', [param('cookie', 'form', true)]), { id: 'x\r\nX-Admin: 1' });
    expect(req.headers.cookie).toBe('id=x%0D%0AX-Admin:%201');
  });
});

describe('buildRequest: URL assembly', () => {
  it.each([
    ['https://api.example.com/v1/', '/items', 'https://api.example.com/v1/items'],
    ['https://api.example.com', '/items', 'https://api.example.com/items'],
    ['http://localhost:8080/', '/', 'http://localhost:8080/'],
    ['http://[::1]:3000/base', 'items', 'http://[::1]:3000/base/items'],
  ])('%s + %s', (baseUrl, path, expected) => {
    expect(buildRequest({ method: 'get', path, baseUrl, parameters: [] }, {}).url).toBe(expected);
  });

  it('upper-cases the method', () => {
    expect(buildRequest(binding('/x', [], { method: 'patch' }), {}).method).toBe('PATCH');
  });

  it('keeps a fixed query written into the path template', () => {
    const req = buildRequest(binding('/search?type=user', [param('query', 'form', true, { arg: 'q', name: 'q' })]), { q: 'bob' });
    expect(req.url).toBe(`${BASE}/search?type=user&q=bob`);
  });

  it.each([['not a url'], ['ftp://example.com'], ['https://user:pw@example.com'], ['https://example.com/?a=1']])('rejects base URL %s', (baseUrl) => {
    buildError(() => buildRequest({ method: 'GET', path: '/x', baseUrl, parameters: [] }, {}));
  });
});

// ---------------------------------------------------------------------------
// Bodies

function bodyBinding(body: BodyBinding, parameters: ParameterBinding[] = []): HttpBinding {
  return { method: 'POST', path: '/items', baseUrl: BASE, parameters, body };
}

describe('buildRequest: JSON, text and binary bodies', () => {
  it('properties mode maps tool arguments to body properties; parameters stay out of the body', () => {
    const req = buildRequest(
      bodyBinding(
        { contentType: 'application/json', required: true, mode: 'properties', args: { name: 'name', body_id: 'id', tag: 'tag' } },
        [param('query', 'form', true)],
      ),
      { id: 7, name: 'Rex', body_id: 'b-1', extra: 'ignored' },
    );
    expect(req).toEqual({
      method: 'POST',
      url: `${BASE}/items?id=7`,
      headers: { accept: DEFAULT_ACCEPT, 'content-type': 'application/json' },
      body: '{"name":"Rex","id":"b-1"}',
    });
  });

  it('wrapped mode sends the argument as the whole body', () => {
    const req = buildRequest(bodyBinding({ contentType: 'application/json', required: true, mode: 'wrapped', arg: 'body' }), { body: [1, 'two'] });
    expect(req.body).toBe('[1,"two"]');
  });

  it('sends a JSON string as a JSON string', () => {
    const req = buildRequest(bodyBinding({ contentType: 'application/json', required: true, mode: 'wrapped', arg: 'body' }), { body: 'hi' });
    expect(req.body).toBe('"hi"');
  });

  it.each([['application/merge-patch+json'], ['application/vnd.api+json'], ['application/json; charset=utf-8']])('%s is JSON', (contentType) => {
    const req = buildRequest(bodyBinding({ contentType, required: true, mode: 'properties', args: { a: 'a' } }), { a: { b: null } });
    expect(req.body).toBe('{"a":{"b":null}}');
    expect(req.headers['content-type']).toBe(contentType);
  });

  it('omits an optional body when no property is given', () => {
    const req = buildRequest(bodyBinding({ contentType: 'application/json', required: false, mode: 'properties', args: { a: 'a' } }), {});
    expect(req.body).toBeUndefined();
    expect(req.headers['content-type']).toBeUndefined();
  });

  it('sends {} for a required body with no property given', () => {
    const req = buildRequest(bodyBinding({ contentType: 'application/json', required: true, mode: 'properties', args: { a: 'a' } }), {});
    expect(req.body).toBe('{}');
  });

  it('omits an absent wrapped body', () => {
    const req = buildRequest(bodyBinding({ contentType: 'application/json', required: false, mode: 'wrapped', arg: 'body' }), {});
    expect(req.body).toBeUndefined();
  });

  it.each([
    ['text/plain', 'hello\nworld', 'hello\nworld'],
    ['text/plain', 42, '42'],
    ['application/xml', '<a>1</a>', '<a>1</a>'],
    ['text/csv; charset=utf-8', 'a,b\n1,2', 'a,b\n1,2'],
  ])('%s sends the string as-is', (contentType, value, expected) => {
    const req = buildRequest(bodyBinding({ contentType, required: true, mode: 'wrapped', arg: 'body' }), { body: value });
    expect(req.body).toBe(expected);
    expect(req.headers['content-type']).toBe(contentType);
  });

  const BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]);

  it.each([
    ['standard base64', BYTES.toString('base64')],
    ['URL-safe base64 without padding', BYTES.toString('base64url')],
    ['base64 with line breaks', BYTES.toString('base64').replace(/(.{4})/g, '$1\n')],
    ['a data: URL', `data:image/png;base64,${BYTES.toString('base64')}`],
    ['a file object', { filename: 'x.bin', content: BYTES.toString('base64') }],
  ])('application/octet-stream decodes %s to bytes', (_label, value) => {
    const req = buildRequest(bodyBinding({ contentType: 'application/octet-stream', required: true, mode: 'wrapped', arg: 'body' }), { body: value });
    expect(Buffer.from(req.body as Uint8Array).equals(BYTES)).toBe(true);
    expect(req.headers['content-type']).toBe('application/octet-stream');
  });

  it('image/png bodies are binary too', () => {
    const req = buildRequest(bodyBinding({ contentType: 'image/png', required: true, mode: 'wrapped', arg: 'body' }), { body: BYTES.toString('base64') });
    expect(Buffer.from(req.body as Uint8Array).equals(BYTES)).toBe(true);
    expect(req.headers['content-type']).toBe('image/png');
  });

  it('rejects a binary body that is not base64', () => {
    const err = buildError(() =>
      buildRequest(bodyBinding({ contentType: 'application/octet-stream', required: true, mode: 'wrapped', arg: 'body' }), { body: 'not base64!' }),
    );
    expect(err.message).toContain('base64');
  });

  it('a */* body picks JSON for objects and text for strings', () => {
    const b = bodyBinding({ contentType: '*/*', required: true, mode: 'wrapped', arg: 'body' });
    expect(buildRequest(b, { body: { a: 1 } })).toMatchObject({ body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(buildRequest(b, { body: 'x' })).toMatchObject({ body: 'x', headers: { 'content-type': 'text/plain; charset=utf-8' } });
  });
});

describe('buildRequest: application/x-www-form-urlencoded', () => {
  const form = (args: Record<string, string>, encoding?: BodyBinding['encoding']): HttpBinding =>
    bodyBinding({ contentType: 'application/x-www-form-urlencoded', required: true, mode: 'properties', args, ...(encoding ? { encoding } : {}) });

  it('encodes nested objects and arrays with brackets, the way Stripe expects', () => {
    const req = buildRequest(form({ name: 'name', metadata: 'metadata', items: 'items', expand: 'expand', description: 'description' }), {
      name: 'a b&c',
      metadata: { order_id: '6735', 'key 2': 'x=y' },
      items: [
        { price: 'price_1', quantity: 2 },
        { price: 'price_2', quantity: 1 },
      ],
      expand: ['customer', 'invoice'],
      description: null,
    });
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.body).toBe(
      'name=a%20b%26c&metadata[order_id]=6735&metadata[key%202]=x%3Dy' +
        '&items[0][price]=price_1&items[0][quantity]=2&items[1][price]=price_2&items[1][quantity]=1' +
        '&expand[0]=customer&expand[1]=invoice&description=',
    );
  });

  it('honours per-property style and explode (RFC 6570, as for query parameters)', () => {
    const req = buildRequest(
      form(
        { tags: 'tags', ids: 'ids', filter: 'filter', color: 'color', path: 'path', plain: 'plain' },
        {
          tags: { style: 'form', explode: false },
          ids: { explode: true },
          filter: { style: 'deepObject', explode: true },
          color: { style: 'pipeDelimited', explode: false },
          path: { allowReserved: true },
        },
      ),
      { tags: ['a', 'b c'], ids: [1, 2], filter: { status: 'open' }, color: OBJECT, path: '/a/b?c', plain: 'p' },
    );
    expect(req.body).toBe('tags=a,b%20c&ids=1&ids=2&filter[status]=open&color=role|admin|firstName|Alex&path=/a/b?c&plain=p');
  });

  it('honours a per-property contentType (content-based serialisation)', () => {
    const req = buildRequest(form({ address: 'address', id: 'id' }, { address: { contentType: 'application/json' }, id: { contentType: 'text/plain' } }), {
      address: { city: 'Somewhere', zip: '99999+1234' },
      id: 'f81d4fae',
    });
    expect(req.body).toBe('address=%7B%22city%22%3A%22Somewhere%22%2C%22zip%22%3A%2299999%2B1234%22%7D&id=f81d4fae');
  });

  it('maps argument names to body property names', () => {
    const req = buildRequest(form({ body_name: 'name' }), { body_name: 'x', name: 'ignored' });
    expect(req.body).toBe('name=x');
  });
});

describe('buildRequest: multipart/form-data', () => {
  const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]);
  const PDF = Buffer.from('%PDF-1.7\n\x00\x01', 'latin1');

  it('builds each property as a part, byte for byte', () => {
    const req = buildRequest(
      bodyBinding({
        contentType: 'multipart/form-data',
        required: true,
        mode: 'properties',
        args: { name: 'name', age: 'age', meta: 'meta', avatar: 'avatar', doc: 'doc', photos: 'photos', note: 'note', config: 'config' },
        encoding: { doc: { contentType: 'application/pdf' }, note: { contentType: 'text/markdown' }, config: { contentType: 'application/json' } },
      }),
      {
        name: 'Rex',
        age: 3,
        meta: { tags: ['a'] },
        avatar: { filename: 'a.png', content: PNG.toString('base64'), contentType: 'image/png' },
        doc: PDF.toString('base64'),
        photos: [
          { filename: 'one.png', content: PNG.toString('base64') },
          { filename: 'two.png', content: PNG.toString('base64'), contentType: 'image/png' },
        ],
        note: '# hi',
        config: 'raw',
      },
      { boundary: 'BOUNDARY' },
    );
    expect(req.headers['content-type']).toBe('multipart/form-data; boundary=BOUNDARY');
    const expected = Buffer.concat([
      Buffer.from('--BOUNDARY\r\nContent-Disposition: form-data; name="name"\r\n\r\nRex\r\n'),
      Buffer.from('--BOUNDARY\r\nContent-Disposition: form-data; name="age"\r\n\r\n3\r\n'),
      Buffer.from('--BOUNDARY\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"tags":["a"]}\r\n'),
      Buffer.from('--BOUNDARY\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'),
      PNG,
      Buffer.from('\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="doc"; filename="doc"\r\nContent-Type: application/pdf\r\n\r\n'),
      PDF,
      Buffer.from('\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="photos"; filename="one.png"\r\nContent-Type: application/octet-stream\r\n\r\n'),
      PNG,
      Buffer.from('\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="photos"; filename="two.png"\r\nContent-Type: image/png\r\n\r\n'),
      PNG,
      Buffer.from('\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="note"\r\nContent-Type: text/markdown\r\n\r\n# hi\r\n'),
      Buffer.from('--BOUNDARY\r\nContent-Disposition: form-data; name="config"\r\nContent-Type: application/json\r\n\r\n"raw"\r\n'),
      Buffer.from('--BOUNDARY--\r\n'),
    ]);
    expect(Buffer.from(req.body as Uint8Array).toString('latin1')).toBe(expected.toString('latin1'));
  });

  it('escapes quotes and line breaks in field names and filenames', () => {
    const req = buildRequest(
      bodyBinding({ contentType: 'multipart/form-data', required: true, mode: 'properties', args: { f: 'f' } }),
      { f: { filename: 'a"\r\nX-Evil: 1.png', content: '' } },
      { boundary: 'b' },
    );
    const text = Buffer.from(req.body as Uint8Array).toString('utf8');
    expect(text).toContain('filename="a%22%0D%0AX-Evil: 1.png"');
    expect(text).not.toContain('\r\nX-Evil');
  });

  it('uses a random boundary by default', () => {
    const b = bodyBinding({ contentType: 'multipart/form-data', required: true, mode: 'properties', args: { a: 'a' } });
    const one = buildRequest(b, { a: 'x' }).headers['content-type'];
    const two = buildRequest(b, { a: 'x' }).headers['content-type'];
    expect(one).toMatch(/^multipart\/form-data; boundary=gatehouse-[0-9a-f]{32}$/);
    expect(one).not.toBe(two);
  });

  it('rejects a file whose content is not base64, naming the field', () => {
    const err = buildError(() =>
      buildRequest(
        bodyBinding({ contentType: 'multipart/form-data', required: true, mode: 'properties', args: { upload: 'upload' } }),
        { upload: { filename: 'a.txt', content: '***' } },
      ),
    );
    expect(err.message).toContain('"upload"');
  });

  it('rejects an invalid boundary option', () => {
    buildError(() =>
      buildRequest(bodyBinding({ contentType: 'multipart/form-data', required: true, mode: 'properties', args: {} }), {}, { boundary: 'a\r\nb' }),
    );
  });
});
