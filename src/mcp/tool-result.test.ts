import { describe, expect, it } from 'vitest';
import { isCallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError } from '../errors/catalogue.js';
import { errorResult } from './tool-result.js';

describe('errorResult', () => {
  it('is an isError tool result whose text starts with the stable code', () => {
    const result = errorResult(new GatehouseError('GH_UPSTREAM_TIMEOUT', 'backend did not answer within 30000 ms'));
    expect(isCallToolResult(result)).toBe(true);
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text: 'GH_UPSTREAM_TIMEOUT: backend did not answer within 30000 ms' }] });
  });
});
