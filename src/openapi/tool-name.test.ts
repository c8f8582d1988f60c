import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assignToolNames, baseToolName, TOOL_NAME_PATTERN, type NamedOperation } from './tool-name.js';

const hash = (method: string, path: string) => createHash('sha256').update(`${method} ${path}`).digest('hex').slice(0, 6);

describe('tool names', () => {
  it('uses the operationId, else method and path', () => {
    expect(baseToolName({ method: 'get', path: '/items/{id}', operationId: 'getItem' })).toEqual({ name: 'getItem', exact: true });
    expect(baseToolName({ method: 'get', path: '/items/{id}' })).toEqual({ name: 'get_items_id', exact: false });
    expect(baseToolName({ method: 'post', path: '/' })).toEqual({ name: 'post', exact: false });
    expect(baseToolName({ method: 'get', path: '/repos/{owner}/{repo}/git/refs/{ref}' }).name).toBe('get_repos_owner_repo_git_refs_ref');
  });

  it('prefixes with the backend name and replaces characters outside [a-zA-Z0-9_-]', () => {
    const names = assignToolNames(
      [
        { method: 'get', path: '/items/{id}', operationId: 'getItem' },
        { method: 'get', path: '/repos/{owner}', operationId: 'repos/get content.v2' },
      ],
      'inventory',
    );
    expect(names).toEqual(['inventory_getItem', 'inventory_repos_get_content_v2']);
    for (const n of names) expect(n).toMatch(TOOL_NAME_PATTERN);
  });

  it('gives clashing names a hash of method+path; a verbatim operationId keeps its name', () => {
    const ops: NamedOperation[] = [
      { method: 'get', path: '/a/b', operationId: 'a.b' },
      { method: 'get', path: '/a-b', operationId: 'a/b' },
      { method: 'put', path: '/x', operationId: 'a_b' },
      { method: 'get', path: '/items/{id}' },
      { method: 'get', path: '/items/id' },
    ];
    expect(assignToolNames(ops)).toEqual([
      `a_b_${hash('GET', '/a/b')}`,
      `a_b_${hash('GET', '/a-b')}`,
      'a_b',
      `get_items_id_${hash('GET', '/items/{id}')}`,
      `get_items_id_${hash('GET', '/items/id')}`,
    ]);
  });

  it('gives the same name to an operation whatever the order of the operations', () => {
    const ops: NamedOperation[] = [
      { method: 'get', path: '/a/b', operationId: 'a.b' },
      { method: 'get', path: '/a-b', operationId: 'a/b' },
      { method: 'get', path: '/items/{id}' },
      { method: 'get', path: '/items/id' },
      { method: 'post', path: '/items', operationId: 'createItem' },
      { method: 'get', path: '/' + 'very-long-segment/'.repeat(6) },
    ];
    const key = (o: NamedOperation) => `${o.method} ${o.path}`;
    const expected = new Map(ops.map((o, i) => [key(o), assignToolNames(ops, 'b')[i]]));
    for (let round = 0; round < 5; round++) {
      const shuffled = [...ops].sort(() => Math.random() - 0.5);
      const names = assignToolNames(shuffled, 'b');
      shuffled.forEach((o, i) => expect(names[i]).toBe(expected.get(key(o))));
    }
  });

  it('cuts names over 64 characters and appends the hash, even without a clash', () => {
    const op = { method: 'post', path: '/x', operationId: 'a'.repeat(80) };
    const [name] = assignToolNames([op], 'backend');
    expect(name).toHaveLength(64);
    expect(name).toBe(`backend_${'a'.repeat(64 - 8 - 7)}_${hash('POST', '/x')}`);
    expect(name).toMatch(TOOL_NAME_PATTERN);
  });

  it('stays unique when a spec literally contains a name in hash form', () => {
    const clash = { method: 'get', path: '/p', operationId: 'x.y' };
    const literal = { method: 'get', path: '/q', operationId: `x_y_${hash('GET', '/p')}` };
    const twin = { method: 'get', path: '/r', operationId: 'x/y' };
    const names = assignToolNames([clash, literal, twin]);
    expect(new Set(names).size).toBe(3);
    expect(names[1]).toBe(`x_y_${hash('GET', '/p')}`);
    for (const n of names) expect(n).toMatch(TOOL_NAME_PATTERN);
  });
});
