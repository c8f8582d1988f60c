import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, createArgumentRedactor, REDACTED } from './redact.js';

describe('createArgumentRedactor — redact', () => {
  const redact = createArgumentRedactor({ mode: 'redact' });

  it('replaces sensitive values at any depth, in objects inside arrays too', () => {
    const out = redact({
      query: 'cats',
      password: 'hunter2',
      nested: { deeper: { client_secret: 's3', keep: 1 } },
      items: [{ accessToken: 't1', name: 'a' }, { 'X-Api-Key': 'k' }, 'plain'],
    });
    expect(out).toEqual({
      arguments: {
        query: 'cats',
        password: REDACTED,
        nested: { deeper: { client_secret: REDACTED, keep: 1 } },
        items: [{ accessToken: REDACTED, name: 'a' }, { 'X-Api-Key': REDACTED }, 'plain'],
      },
    });
  });

  it.each(['Authorization', 'AUTHORIZATION', 'x-api-key', 'api_key', 'apiKey', 'refresh_token', 'idToken', 'passwd', 'pwd', 'new-password', 'cookie', 'Set-Cookie', 'credentials', 'private_key', 'privateKeyPem', 'session_id', 'sessionToken', 'basic_auth', 'X-Auth-Token', 'authHeader', 'oauth', 'secretAccessKey'])(
    'redacts %s',
    (name) => {
      expect(redact({ [name]: 'v' }).arguments).toEqual({ [name]: REDACTED });
    },
  );

  it.each(['author', 'authorName', 'authority', 'max_tokens', 'tokens_used', 'tokenizer', 'sessions', 'description', 'passage', 'keyword'])(
    'keeps %s',
    (name) => {
      expect(redact({ [name]: 'v' }).arguments).toEqual({ [name]: 'v' });
    },
  );

  it('redacts a sensitive key whose value is an object or array as a whole', () => {
    expect(redact({ credentials: { user: 'u', pass: 'p' }, tokens_used: 3 }).arguments).toEqual({ credentials: REDACTED, tokens_used: 3 });
  });

  it('adds configured names, matched case- and separator-insensitively', () => {
    const r = createArgumentRedactor({ names: ['ssn', 'card_number'] });
    expect(r({ SSN: '1', cardNumber: '4111', 'Card-Number-2': '4', name: 'x' }).arguments).toEqual({ SSN: REDACTED, cardNumber: REDACTED, 'Card-Number-2': REDACTED, name: 'x' });
  });

  it('does not modify its input', () => {
    const args = { password: 'p', nested: { token: 't' } };
    redact(args);
    expect(args).toEqual({ password: 'p', nested: { token: 't' } });
  });

  it('replaces a copy larger than maxBytes with a JSON marker of its size', () => {
    const r = createArgumentRedactor({ maxBytes: 100 });
    const args = { body: 'x'.repeat(200) };
    const out = r(args);
    expect(out).toEqual({ arguments: { _truncated: true, maxBytes: 100 } });
    expect(r({ body: 'short' })).toEqual({ arguments: { body: 'short' } });
  });

  it('counts the bytes of the JSON it keeps exactly: a copy of exactly maxBytes is kept, one byte more is not', () => {
    const args = { a: 'é'.repeat(10), b: [1, null, true], password: 'p', c: { d: 'x' } };
    const bytes = Buffer.byteLength(JSON.stringify({ ...args, password: REDACTED }));
    expect(createArgumentRedactor({ maxBytes: bytes })(args).arguments).toEqual({ ...args, password: REDACTED });
    expect(createArgumentRedactor({ maxBytes: bytes - 1 })(args).arguments).toEqual({ _truncated: true, maxBytes: bytes - 1 });
  });

  it('truncates before it redacts: 100,000 names cost what the first few hundred do', () => {
    const args: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) args[`name_${i}`] = i;
    const seen = new Set<string>();
    // A proxy that records the names read: only those within maxBytes are.
    const watched = new Proxy(args, {
      get: (t, k) => {
        if (typeof k === 'string') seen.add(k);
        return Reflect.get(t, k);
      },
    });
    expect(createArgumentRedactor()(watched).arguments).toEqual({ _truncated: true, maxBytes: 8192 });
    expect(seen.size).toBeLessThan(1000);
  });

  it('cuts pathological nesting instead of overflowing the stack', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    const out = createArgumentRedactor({ maxBytes: 1_000_000 })(deep);
    expect(JSON.stringify(out.arguments)).toContain('[TOO DEEP]');
  });
});

describe('createArgumentRedactor — hash and omit', () => {
  const hash = createArgumentRedactor({ mode: 'hash' });

  it('stores only a sha256 of the canonical JSON, independent of key order', () => {
    const a = hash({ b: 1, a: { y: [1, { q: 2, p: 3 }], x: 'z' } });
    const b = hash({ a: { x: 'z', y: [1, { p: 3, q: 2 }] }, b: 1 });
    expect(a.arguments).toBeUndefined();
    expect(a.argumentsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.argumentsHash).toBe(b.argumentsHash);
    expect(a.argumentsHash).toBe(createHash('sha256').update('{"a":{"x":"z","y":[1,{"p":3,"q":2}]},"b":1}').digest('hex'));
    expect(hash({ b: 2 }).argumentsHash).not.toBe(hash({ b: 1 }).argumentsHash);
  });

  it('hashes the redacted arguments, so a secret cannot be guessed back from the hash', () => {
    const withSecret = hash({ user: 'ann', password: 'hunter2' }).argumentsHash;
    expect(withSecret).toBe(hash({ user: 'ann', password: 'anything-else' }).argumentsHash);
    expect(withSecret).toBe(createHash('sha256').update('{"password":"[REDACTED]","user":"ann"}').digest('hex'));
  });

  it('omits arguments entirely', () => {
    expect(createArgumentRedactor({ mode: 'omit' })({ password: 'p' })).toEqual({});
  });

  it('canonicalJson matches JSON.stringify for sorted input', () => {
    const v = { a: [1, 'two', null, true, { b: undefined, c: 1.5 }], d: 'é"\n' };
    expect(canonicalJson(v)).toBe(JSON.stringify(v));
  });

  it('rejects a bad mode or maxBytes when built', () => {
    expect(() => createArgumentRedactor({ mode: 'mask' as 'omit' })).toThrow(/mode "mask"/);
    expect(() => createArgumentRedactor({ maxBytes: 0 })).toThrow(/maxBytes/);
  });
});
