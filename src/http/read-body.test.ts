import { describe, expect, it } from 'vitest';
import { nestingExceeds } from './read-body.js';

const deep = (n: number) => Buffer.from('['.repeat(n) + ']'.repeat(n));

describe('nestingExceeds', () => {
  it('counts arrays and objects alike, up to the limit and one past it', () => {
    expect(nestingExceeds(deep(3), 3)).toBe(false);
    expect(nestingExceeds(deep(4), 3)).toBe(true);
    expect(nestingExceeds(Buffer.from('{"a":{"b":[{}]}}'), 4)).toBe(false);
    expect(nestingExceeds(Buffer.from('{"a":{"b":[{}]}}'), 3)).toBe(true);
  });

  it('measures depth, not the number of brackets', () => {
    expect(nestingExceeds(Buffer.from(JSON.stringify(Array.from({ length: 10_000 }, () => [1])) ), 2)).toBe(false);
  });

  it('skips brackets inside strings, escaped quotes included', () => {
    expect(nestingExceeds(Buffer.from(JSON.stringify({ s: '[[[[{{{{', t: 'a\\"[[[["' })), 1)).toBe(false);
    expect(nestingExceeds(Buffer.from(JSON.stringify(['\\', [[]]])), 2)).toBe(true);
  });

  it('reads multi-byte UTF-8 text without mistaking it for brackets', () => {
    expect(nestingExceeds(Buffer.from(JSON.stringify({ s: '日本語 ⟦⟧ 😀' })), 1)).toBe(false);
  });
});
