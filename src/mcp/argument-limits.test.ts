import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../config/load-config.js';
import { checkArgumentLimits, REFUSED_ARGUMENTS_KEY, refusalOf, type ArgumentLimits } from './argument-limits.js';
import { boundRequest } from './bound-request.js';

const LIMITS: ArgumentLimits = { maxBytes: 2048, maxDepth: 4, maxKeys: 20, maxArrayLength: 5 };

const call = (args: string) => `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":${args}}}`;

/** The arguments a bounded body carries once parsed, and the refusal in their place, if any. */
function boundArgs(body: string): { args: Record<string, unknown>; refused: string | undefined } {
  const bounded = boundRequest(Buffer.from(body), LIMITS);
  if (bounded.refused !== undefined) throw new Error(bounded.refused);
  const parsed = JSON.parse(bounded.body.toString()) as { params: { arguments: Record<string, unknown> } };
  return { args: parsed.params.arguments, refused: refusalOf(parsed.params.arguments) };
}

describe('checkArgumentLimits (parsed arguments)', () => {
  it.each([
    [{ a: 'x'.repeat(3000) }, 'a: more than 2048 characters of JSON in all (mcp.arguments.maxBytes)'],
    [{ a: { b: { c: { d: {} } } } }, 'a.b.c.d: nested deeper than 4 levels (mcp.arguments.maxDepth)'],
    [Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])), '(arguments): more than 20 object members in all (mcp.arguments.maxKeys)'],
    [{ items: [{ tags: [1, 2, 3, 4, 5, 6] }] }, 'items[0].tags: an array of more than 5 elements (mcp.arguments.maxArrayLength)'],
  ])('names the limit and the argument (%#)', (args, message) => {
    expect(checkArgumentLimits(args, LIMITS)?.message).toBe(message);
  });

  it('passes arguments at the limits', () => {
    expect(checkArgumentLimits({ a: { b: { c: [1, 2, 3, 4, 5] } } }, LIMITS)).toBeUndefined();
  });
});

describe('boundRequest (request bytes, before parsing)', () => {
  it('leaves a body within the limits as it is', () => {
    const body = Buffer.from(call('{"a":{"b":[1,2,"x\\"]"]},"c":"{[:,"}'));
    expect(boundRequest(body, LIMITS)).toEqual({ body });
  });

  it.each([
    [`{${Array.from({ length: 21 }, (_, i) => `"k${i}":${i}`).join(',')}}`, '(arguments): more than 20 object members in all (mcp.arguments.maxKeys)'],
    ['{"a":{"b":{"c":{"d":{}}}}}', 'a.b.c.d: nested deeper than 4 levels (mcp.arguments.maxDepth)'],
    ['{"items":[{"tags":[1,2,3,4,5,6]}]}', 'items[0].tags: an array of more than 5 elements (mcp.arguments.maxArrayLength)'],
    [`{"a":"${'x'.repeat(3000)}"}`, '(arguments): more than 2048 characters of JSON in all (mcp.arguments.maxBytes)'],
  ])('replaces over-limit arguments by a refusal naming the limit (%#)', (args, message) => {
    const { args: replaced, refused } = boundArgs(call(args));
    expect(Object.keys(replaced)).toEqual([REFUSED_ARGUMENTS_KEY]);
    expect(refused).toBe(message);
  });

  it('bounds each call of a batch on its own, and keeps the others', () => {
    const body = `[${call('{"ok":1}')},${call('{"t":[1,2,3,4,5,6]}')}]`;
    const bounded = boundRequest(Buffer.from(body), LIMITS);
    const parsed = JSON.parse(bounded.body!.toString()) as Array<{ params: { arguments: Record<string, unknown> } }>;
    expect(parsed[0]!.params.arguments).toEqual({ ok: 1 });
    expect(refusalOf(parsed[1]!.params.arguments)).toBe('t: an array of more than 5 elements (mcp.arguments.maxArrayLength)');
  });

  it('refuses the whole request when the rest of the body passes a limit', () => {
    const meta = `{${Array.from({ length: 21 }, (_, i) => `"m${i}":0`).join(',')}}`;
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":${meta}}}`;
    expect(boundRequest(Buffer.from(body), LIMITS)).toEqual({ refused: 'params._meta: more than 20 object members in all (mcp.arguments.maxKeys)' });
  });

  it('does not count members of arguments named anywhere else, or inside strings', () => {
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","x":{"arguments":{"a":1}},"arguments":{"s":"${'\\",\\"k\\":'.repeat(30)}"}}}`;
    expect(boundArgs(body).refused).toBeUndefined();
  });

  it('answers each body as it would first, whatever bodies were scanned before it (the per-depth arrays are kept between calls)', async () => {
    const bodies = [
      call('{"a":{"b":{"c":{"d":{}}}}}'),
      `[${call('{"ok":1}')},${call('{"t":[1,2,3,4,5,6]}')}]`,
      call('{"items":[{"tags":[1,2,3,4,5,6]}]}'),
      '1,"k":[[[[',
      `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{${Array.from({ length: 21 }, (_, i) => `"m${i}":0`).join(',')}}}}`,
      call('{"x":[{"y":[1]}],"z":{"w":[1,2,3,4,5,6]}}'),
    ];
    const answer = (bound: typeof boundRequest, body: string) => {
      const out = bound(Buffer.from(body), LIMITS);
      // The refusal's key is drawn afresh by each copy of the module.
      return out.refused ?? out.body.toString().replace(/gatehouse\/refused-[0-9a-f-]+/g, 'REFUSED');
    };
    // Each body alone, in a fresh copy of the module, against all of them in one after another.
    const alone: string[] = [];
    for (const body of bodies) {
      vi.resetModules();
      const fresh = (await import('./bound-request.js')).boundRequest;
      alone.push(answer(fresh, body));
    }
    const inTurn = [...bodies, ...bodies.reverse()].map((body) => answer(boundRequest, body));
    expect(inTurn).toEqual([...alone, ...alone.reverse()]);
  });

  it('leaves malformed JSON to the parser', () => {
    const raw = Buffer.from('{"a":1}}}');
    expect(boundRequest(raw, LIMITS)).toEqual({ body: raw });
  });
});

describe('mcp.arguments in the config', () => {
  it('has defaults, and a bad value names its field', () => {
    expect(parseConfig('{}', '/x/gatehouse.yaml', {}).mcp.arguments).toEqual({ maxBytes: 1_048_576, maxDepth: 32, maxKeys: 10_000, maxArrayLength: 10_000 });
    expect(() => parseConfig('mcp: { arguments: { maxDepth: 0 } }', '/x/gatehouse.yaml', {})).toThrow(/mcp\.arguments\.maxDepth/);
  });
});
