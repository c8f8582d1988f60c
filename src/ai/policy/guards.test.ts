import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../../errors/catalogue.js';
import {
  AiGuardError,
  GH_AI_GUARD_BLOCKED,
  GH_AI_GUARD_MESSAGES,
  GH_AI_GUARD_SIZE,
  createRedactor,
  createRequestGuard,
  prefixSource,
  redactJson,
  type Redactor,
} from './guards.js';
import type { ChatCompletion, ChatCompletionRequest } from '../openai-types.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const req = (...contents: Array<string | Array<{ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }>>): ChatCompletionRequest => ({
  model: 'm',
  messages: contents.map((content) => ({ role: 'user' as const, content })),
});

describe('createRequestGuard', () => {
  it('passes requests within every limit', () => {
    const guard = createRequestGuard({ maxMessages: 2, maxChars: 10, blockedPatterns: ['forbidden'] });
    expect(() => guard(req('hello', 'world'))).not.toThrow();
    expect(() => createRequestGuard()(req('anything'))).not.toThrow();
  });

  it('refuses too many messages with GH_AI_GUARD_MESSAGES and the first index over', () => {
    const err = caught(() => createRequestGuard({ maxMessages: 2 })(req('a', 'b', 'c')));
    expect(err).toBeInstanceOf(AiGuardError);
    const e = err as AiGuardError;
    expect([e.code, e.status]).toEqual([GH_AI_GUARD_MESSAGES, 400]);
    expect(e.details).toEqual({ limit: 'maxMessages', max: 2, actual: 3, messageIndex: 2 });
  });

  it('counts characters across all messages, string content and text parts (not images), naming the index', () => {
    const guard = createRequestGuard({ maxChars: 10 });
    const image = { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${'A'.repeat(1000)}` } };
    expect(() => guard(req('12345', [{ type: 'text', text: '123' }, image, { type: 'text', text: '45' }]))).not.toThrow();
    const e = caught(() => guard(req('12345', [{ type: 'text', text: '12345' }], 'x'))) as AiGuardError;
    expect([e.code, e.status]).toEqual([GH_AI_GUARD_SIZE, 413]);
    expect(e.details).toEqual({ limit: 'maxChars', max: 10, messageIndex: 2 });
  });

  it('refuses blocked patterns with the pattern and message index, without quoting the text', () => {
    const guard = createRequestGuard({ blockedPatterns: ['ignore (all )?previous instructions', 'sk-[a-z0-9]{8}'] });
    const e = caught(() => guard(req('fine', [{ type: 'text', text: 'my key is sk-abcd1234' }]))) as AiGuardError;
    expect(e.code).toBe(GH_AI_GUARD_BLOCKED);
    expect(e.details).toEqual({ limit: 'blockedPatterns', patternIndex: 1, messageIndex: 1 });
    expect(e.message).not.toContain('sk-abcd1234');
    // Case-insensitive by default.
    expect((caught(() => guard(req('IGNORE previous INSTRUCTIONS'))) as AiGuardError).details?.['patternIndex']).toBe(0);
  });

  it('rejects an invalid pattern at build time with GH_CONFIG_INVALID naming the index', () => {
    const err = caught(() => createRequestGuard({ blockedPatterns: ['ok', '(unclosed'] }));
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_CONFIG_INVALID');
    expect((err as GatehouseError).message).toContain('ai.guards.blockedPatterns[1]');
    expect((caught(() => createRequestGuard({ maxChars: -1 })) as GatehouseError).message).toContain('ai.guards.maxChars');
  });
});

const SECRET = /sk-[A-Za-z0-9]{16,}/.source;
const key = 'sk-AbCdEf0123456789xyz';
const sample = `Sure! Your key is ${key} and the token ghp_ABCDEFGHIJKLMNOPQRST1234 is also here. Bye.`;

function streamed(r: Redactor, pieces: string[]): { out: string; released: number[] } {
  const s = r.stream();
  const released: number[] = [];
  let out = '';
  for (const p of pieces) {
    const o = s.push(p);
    released.push(o.length);
    out += o;
  }
  return { out: out + s.flush(), released };
}

describe('createRedactor', () => {
  const redactor = createRedactor({ patterns: [SECRET, 'ghp_[A-Za-z0-9]{20,}'] });
  const expected = 'Sure! Your key is [REDACTED] and the token [REDACTED] is also here. Bye.';

  it('text() replaces every match, literally', () => {
    expect(redactor.text(sample)).toBe(expected);
    expect(createRedactor({ patterns: ['x'], replacement: '$&$1' }).text('axb')).toBe('a$&$1b');
  });

  it('a secret split into 2 pieces at every point is redacted', () => {
    for (let i = 0; i <= sample.length; i++) {
      expect(streamed(redactor, [sample.slice(0, i), sample.slice(i)]).out).toBe(expected);
    }
  });

  it('a secret split into 3 pieces at every pair of points is redacted', () => {
    for (let i = 0; i <= sample.length; i++) {
      for (let j = i; j <= sample.length; j++) {
        expect(streamed(redactor, [sample.slice(0, i), sample.slice(i, j), sample.slice(j)]).out).toBe(expected);
      }
    }
  });

  it('a secret split into N pieces (1..7 characters, every character) is redacted', () => {
    for (let size = 1; size <= 7; size++) {
      const pieces: string[] = [];
      for (let k = 0; k < sample.length; k += size) pieces.push(sample.slice(k, k + size));
      expect(streamed(redactor, pieces).out).toBe(expected);
    }
  });

  it('releases text that cannot start a match at once, and holds only a possible start', () => {
    const s = redactor.stream();
    expect(s.push('Hello there, ')).toBe('Hello there, ');
    // "s" and "sk-Ab" may begin a secret: held, the rest released.
    expect(s.push('this is sk')).toBe('this is ');
    expect(s.push('-Ab')).toBe('');
    // "sk-Ab " cannot be a secret any more (needs 16 characters after "sk-").
    expect(s.push(' no.')).toBe('sk-Ab no.');
    expect(s.flush()).toBe('');
  });

  it('holds a growing match until it ends, never more than maxMatchLength characters', () => {
    const r = createRedactor({ patterns: ['sk-[a-z]+'], maxMatchLength: 32 });
    const s = r.stream();
    expect(s.push('key sk-abc')).toBe('key ');
    expect(s.push('def')).toBe('');
    expect(s.push('ghi.')).toBe('[REDACTED].');
    // A possible match that never completes ("a+b" without the b): at most 32 characters held.
    const t = createRedactor({ patterns: ['a+b'], maxMatchLength: 32 }).stream();
    let total = 0;
    let out = '';
    for (const ch of 'x'.repeat(5) + 'a'.repeat(100)) {
      out += t.push(ch);
      total++;
      expect(total - out.length).toBe(Math.min(32, Math.max(0, total - 5)));
    }
    expect(out + t.flush()).toBe('x'.repeat(5) + 'a'.repeat(100));
  });

  it('a pattern it cannot analyse still redacts, holding back the whole window', () => {
    // Set subtraction (the "v" flag) is beyond the prefix parser.
    const pattern = '[[a-z]--[aeiou]]{3}';
    expect(prefixSource(pattern, 'v')).toBeUndefined();
    const r = createRedactor({ patterns: [pattern], flags: 'v', maxMatchLength: 8 });
    const s = r.stream();
    expect(s.push('AEIOU EIO')).toBe('A'); // 9 - 8 held, though nothing here can match
    expect(s.push('xyz!')).toBe('EIOU');
    expect(s.flush()).toBe(' EIO[REDACTED]!');
    expect(streamed(r, [...'ab xyz cd']).out).toBe('ab [REDACTED] cd');
  });

  it('derives prefix languages that accept every prefix of a match', () => {
    const cases: Array<[string, string[], string[]]> = [
      ['sk-[a-z]{3}', ['', 's', 'sk', 'sk-', 'sk-a', 'sk-abc'], ['k', 'sk-abcd', 'x']],
      ['(?:foo|bar)+baz', ['fo', 'foobar', 'foob', 'foobarba', 'foobaz'], ['baz', 'oo']],
      ['a\\d?b', ['a', 'a1', 'ab', 'a1b'], ['b', 'a12']],
      ['\\bword(?=\\s)', ['w', 'wor', 'word'], ['ord']],
      ['(x)\\1', ['x', 'xx', 'xanything'], ['y']],
    ];
    for (const [pattern, yes, no] of cases) {
      const p = new RegExp(`^(?:${prefixSource(pattern, 'u')})$`, 'u');
      for (const s of yes) expect(p.test(s), `${pattern} should accept "${s}"`).toBe(true);
      for (const s of no) expect(p.test(s), `${pattern} should reject "${s}"`).toBe(false);
    }
  });

  it('rejects invalid and empty-matching patterns at build time', () => {
    expect((caught(() => createRedactor({ patterns: ['[a-'] })) as GatehouseError).message).toContain('ai.redact.patterns[0]');
    expect((caught(() => createRedactor({ patterns: ['ok', 'a*'] })) as GatehouseError).message).toContain('ai.redact.patterns[1] matches the empty string');
  });

  it('with no patterns passes everything through', () => {
    const r = createRedactor({ patterns: [] });
    expect(streamed(r, ['a', 'b']).released).toEqual([1, 1]);
  });
});

describe('redactJson', () => {
  it('redacts message content, refusal and every string in tool-call arguments, keeping valid JSON', () => {
    const redactor = createRedactor({ patterns: [SECRET] });
    const completion: ChatCompletion = {
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'sk-model-name-not-a-secret',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: `key: ${key}`,
            refusal: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'send', arguments: JSON.stringify({ to: 'x', body: `use ${key}`, nested: [{ k: key }], n: 1 }) } },
              { id: 'call_2', type: 'function', function: { name: 'raw', arguments: `not json ${key}` } },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
    };
    const out = redactJson(completion, redactor);
    const msg = out.choices[0]!.message;
    expect(msg.content).toBe('key: [REDACTED]');
    expect(JSON.parse(msg.tool_calls![0]!.function.arguments)).toEqual({ to: 'x', body: 'use [REDACTED]', nested: [{ k: '[REDACTED]' }], n: 1 });
    expect(msg.tool_calls![1]!.function.arguments).toBe('not json [REDACTED]');
    expect(out.model).toBe(completion.model);
    expect(completion.choices[0]!.message.content).toBe(`key: ${key}`); // the input is not mutated
  });
});
