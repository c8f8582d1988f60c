import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { compose, type CallContext, type Policy } from './compose.js';

const ctx: CallContext = {
  kind: 'tool', target: 't', backend: 'b', principal: { id: 'anonymous', kind: 'anonymous' },
  args: {}, requestId: 'r1', log: silentLogger(), signal: new AbortController().signal,
};

describe('compose', () => {
  it('runs policies in order around the terminal', async () => {
    const seen: string[] = [];
    const p = (n: string): Policy<string> => async (_c, next) => { seen.push(`>${n}`); const r = await next(); seen.push(`<${n}`); return `${n}(${r})`; };
    const run = compose([p('a'), p('b')]);
    expect(await run(ctx, async () => { seen.push('T'); return 'x'; })).toBe('a(b(x))');
    expect(seen).toEqual(['>a', '>b', 'T', '<b', '<a']);
  });
  it('lets a policy short-circuit', async () => {
    const deny: Policy<string> = async () => 'denied';
    let called = false;
    expect(await compose([deny])(ctx, async () => { called = true; return 'ok'; })).toBe('denied');
    expect(called).toBe(false);
  });
  it('rejects a second next()', async () => {
    const twice: Policy<string> = async (_c, next) => { await next(); return next(); };
    await expect(compose([twice])(ctx, async () => 'ok')).rejects.toThrow(/more than once/);
  });
});
