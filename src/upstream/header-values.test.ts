import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import type { HttpBinding, ParameterBinding } from '../openapi/tool-definition.js';
import { buildRequest } from './build-request.js';
import { DEFAULT_MAX_HEADER_VALUE_BYTES, HEADER_VALUE_INVALID } from './http-fields.js';

/** What a header value built from tool arguments may carry: which characters, and how many. */

const header: ParameterBinding = { arg: 'trace', name: 'X-Trace', in: 'header', style: 'simple', explode: false, allowReserved: false };
const cookie: ParameterBinding = { arg: 'session', name: 'session', in: 'cookie', style: 'form', explode: true, allowReserved: false };
const binding: HttpBinding = { method: 'GET', path: '/items', baseUrl: 'https://api.example.com', parameters: [header, cookie] };

function refusal(args: Record<string, unknown>, options?: { maxHeaderValueBytes: number }): GatehouseError {
  try {
    buildRequest(binding, args, options);
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error('expected buildRequest to refuse');
}

describe('header values from arguments', () => {
  it.each([
    ['U+0085 (NEL)', '\u0085'],
    ['U+009B (CSI)', '\u009b'],
    ['U+0080', '\u0080'],
    ['U+009F', '\u009f'],
    ['U+007F (DEL)', '\u007f'],
    ['U+001B (ESC)', '\u001b'],
  ])('refuses the control character %s, C1 as C0', (_name, ch) => {
    const err = refusal({ trace: `a${ch}b` });
    expect(err.code).toBe('GH_REQUEST_BUILD_FAILED');
    expect(err.message).toBe('The value of argument "trace" (header X-Trace) contains control characters (C0 or C1, U+0080–U+009F) or characters outside Latin-1, which cannot be sent in an HTTP header.');
    // A cookie value is percent-encoded (RFC 6265 cookie-octet), so it never carries one.
    expect(buildRequest(binding, { session: `a${ch}b` }).headers.cookie).toMatch(/^session=a%[0-9A-F]{2}(%[0-9A-F]{2})?b$/);
  });

  it('sends Latin-1 text above the C1 range (obs-text, RFC 9110 §5.5) and HTAB', () => {
    const req = buildRequest(binding, { trace: 'caf\u00e9\u00a0\u00ff\tx' });
    expect(req.headers['x-trace']).toBe('caf\u00e9\u00a0\u00ff\tx');
    expect(HEADER_VALUE_INVALID.test('\u00a0\u00ff')).toBe(false);
  });

  it(`caps a value at ${DEFAULT_MAX_HEADER_VALUE_BYTES} bytes by default, naming the argument and the setting`, () => {
    expect(buildRequest(binding, { trace: 'x'.repeat(DEFAULT_MAX_HEADER_VALUE_BYTES) }).headers['x-trace']).toHaveLength(DEFAULT_MAX_HEADER_VALUE_BYTES);
    const err = refusal({ trace: 'x'.repeat(DEFAULT_MAX_HEADER_VALUE_BYTES + 1) });
    expect(err.message).toBe('The value of argument "trace" (header X-Trace) is 8193 characters long; a header value may be at most 8192 bytes (upstream.maxHeaderValueBytes).');
    expect(err.details).toEqual({ argument: 'trace', maxBytes: 8192 });
  });

  it('caps the Cookie made of cookie parameters, and follows upstream.maxHeaderValueBytes', () => {
    expect(refusal({ session: 'x'.repeat(600) }, { maxHeaderValueBytes: 512 }).message).toMatch(/^The value of cookie parameters is 608 characters long; a header value may be at most 512 bytes/);
    expect(buildRequest(binding, { trace: 'x'.repeat(512) }, { maxHeaderValueBytes: 512 }).headers['x-trace']).toHaveLength(512);
  });
});
