import { describe, expect, it } from 'vitest';
import { isCallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError } from '../errors/catalogue.js';
import { errorCodeOf, errorResult } from './tool-result.js';

describe('errorResult', () => {
  it('is an isError tool result whose text starts with the stable code', () => {
    const result = errorResult(new GatehouseError('GH_UPSTREAM_TIMEOUT', 'backend did not answer within 30000 ms'));
    expect(isCallToolResult(result)).toBe(true);
    expect(result).toEqual({
      isError: true,
      content: [{ type: 'text', text: 'GH_UPSTREAM_TIMEOUT: backend did not answer within 30000 ms' }],
      _meta: { 'io.gatehouse/error': { code: 'GH_UPSTREAM_TIMEOUT' } },
    });
  });

  it('carries the code and details as data in _meta, without the HTTP-only headers', () => {
    const err = new GatehouseError('GH_RATE_LIMITED', 'slow down', { details: { rule: 'per-key', retryAfterSeconds: 3, headers: { 'retry-after': '3' } } });
    const result = errorResult(err);
    expect(result._meta).toEqual({ 'io.gatehouse/error': { code: 'GH_RATE_LIMITED', details: { rule: 'per-key', retryAfterSeconds: 3 } } });
    expect(errorCodeOf(result)).toBe('GH_RATE_LIMITED');
    expect(errorCodeOf({ content: [{ type: 'text', text: 'GH_INTERNAL: looks like a code, is not one' }] })).toBeUndefined();
  });
});
