import { describe, expect, it } from 'vitest';
import { withModel } from './adapters.js';

describe('withModel', () => {
  const answer = (model: string, content = 'The answer is 42.') => ({ id: 'chatcmpl-1', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content } }] });

  it('keeps the text when the upstream already named the requested model', () => {
    const text = JSON.stringify(answer('gpt-4o'));
    expect(withModel(text, 'gpt-4o', 'gpt-4o')).toBe(text);
  });

  it('replaces only the top-level model, compact or pretty-printed, leaving quoted look-alikes in strings alone', () => {
    for (const space of [undefined, 2]) {
      const body = answer('gpt-4o-2024-08-06', 'he said "model": "x"');
      const out = withModel(JSON.stringify(body, null, space), body.model, 'gpt-4o');
      expect(JSON.parse(out!)).toEqual({ ...body, model: 'gpt-4o' });
    }
  });

  it('escapes the new name and reads an escaped old one', () => {
    const body = answer('a"b');
    expect(JSON.parse(withModel(JSON.stringify(body), 'a"b', 'x\\"y')!)).toEqual({ ...body, model: 'x\\"y' });
  });

  it('gives up when it cannot be sure which model member is the top-level one', () => {
    const nested = JSON.stringify({ ...answer('m1'), extra: { model: 'm1' } });
    expect(withModel(nested, 'm1', 'other')).toBeUndefined();
    expect(withModel(JSON.stringify({ choices: [] }), undefined, 'other')).toBeUndefined();
    // The top-level key written with an escape: the only plain "model" key found is not it.
    expect(withModel('{"mod\\u0065l":"m1","x":{"model":"m2"}}', 'm1', 'other')).toBeUndefined();
  });
});
