import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, GatehouseError } from './catalogue.js';

describe('error catalogue', () => {
  it('is documented in docs/errors.md, code by code, with the same status', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status }] of Object.entries(ERRORS)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
  });

  it('carries code, status and cause', () => {
    const cause = new Error('low level');
    const e = new GatehouseError('GH_UPSTREAM_TIMEOUT', 'slow', { cause });
    expect([e.code, e.status, e.cause]).toEqual(['GH_UPSTREAM_TIMEOUT', 504, cause]);
  });
});
