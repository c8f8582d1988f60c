import { errorOf } from '../../test/helpers/errors.js';
import { describe, expect, it } from 'vitest';
import type { Obj } from './oas.js';
import { MAX_TOOL_DESCRIPTION } from './operation-to-tool.js';
import { globToRegExp, selectOperations, type CandidateOperation, type SelectOptions } from './select-operations.js';
import { assignToolNames, operationHash } from './tool-name.js';

/** Builds candidate operations as the importer collects them. */
function ops(spec: Record<string, Record<string, Obj>>, pathItemExtras: Record<string, Obj> = {}): CandidateOperation[] {
  const out: CandidateOperation[] = [];
  for (const [path, methods] of Object.entries(spec)) {
    const pathItem: Obj = { ...methods, ...(pathItemExtras[path] ?? {}) };
    for (const [method, operation] of Object.entries(methods)) {
      out.push({ method, path, operation, pathItem, pointer: `#/paths/${path.replaceAll('/', '~1')}/${method}` });
    }
  }
  return out;
}

const GITHUB = ops({
  '/repos/{owner}/{repo}': {
    get: { operationId: 'repos/get', tags: ['repos'] },
    delete: { operationId: 'repos/delete', tags: ['repos'] },
    patch: { operationId: 'repos/update', tags: ['repos'], deprecated: true, summary: 'Update a repository' },
  },
  '/repos/{owner}/{repo}/issues': {
    get: { operationId: 'issues/list-for-repo', tags: ['issues'] },
    post: { operationId: 'issues/create', tags: ['issues'] },
  },
  '/repos': { get: { operationId: 'repos/list', tags: ['repos'] } },
  '/admin/users/{id}': { delete: { operationId: 'admin/delete-user', tags: ['admin'] } },
  '/meta': { get: {} },
});

const base: SelectOptions = { backend: 'github', prefix: 'github', source: '"github.yaml"' };

function select(options: Partial<SelectOptions>, list: CandidateOperation[] = GITHUB) {
  return selectOperations(list, { ...base, ...options });
}

const served = (options: Partial<SelectOptions>, list?: CandidateOperation[]) =>
  select(options, list).selected.map((s) => `${s.operation.method.toUpperCase()} ${s.operation.path}`);


describe('globs', () => {
  it.each([
    ['/repos/**', '/repos', true],
    ['/repos/**', '/repos/{owner}/{repo}/issues', true],
    ['/repos/**', '/repositories', false],
    ['/repos/*', '/repos/{owner}', true],
    ['/repos/*', '/repos/{owner}/{repo}', false],
    ['/repos/*/*/issues', '/repos/{owner}/{repo}/issues', true],
    ['/repos/**/issues', '/repos/issues', true],
    ['/repos/**/issues', '/repos/a/b/c/issues', true],
    ['/repos/**/issues', '/repos/a/x-issues', false],
    ['**/issues', '/repos/{owner}/{repo}/issues', true],
    ['/repos/{owner}', '/repos/{owner}', true],
    ['/repos/{owner}', '/repos/x', false],
    ['/a.b', '/aXb', false],
    ['/items*', '/items/{id}', false],
    ['/items*', '/items.json', true],
  ])('path glob %s against %s → %s', (glob, path, expected) => {
    expect(globToRegExp(glob, 'path').test(path)).toBe(expected);
  });

  it.each([
    ['repos/*', 'repos/get', true],
    ['repos/*', 'repos/a/b', true],
    ['*delete*', 'admin/delete-user', true],
    ['issues/list*', 'issues/list-for-repo', true],
    ['issues/list*', 'issues/create', false],
    ['getItem', 'getItems', false],
    ['get.*', 'get.x', true],
    ['get.*', 'getXx', false],
  ])('operationId glob %s against %s → %s', (glob, id, expected) => {
    expect(globToRegExp(glob, 'operationId').test(id)).toBe(expected);
  });
});

describe('selectOperations: filters', () => {
  it('serves every operation, named exactly as assignToolNames names them, when nothing is configured', () => {
    const { selected, warnings } = select({});
    expect(selected.map((s) => s.operation)).toEqual(GITHUB);
    expect(selected.map((s) => s.name)).toEqual(
      assignToolNames(
        GITHUB.map((o) => ({ method: o.method, path: o.path, operationId: o.operation['operationId'] as string | undefined })),
        'github',
      ),
    );
    expect(selected.every((s) => s.description === undefined)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('include: every listed kind must match; each kind is an OR over its values', () => {
    expect(served({ include: { tags: ['repos', 'issues'], methods: ['get'] } })).toEqual([
      'GET /repos/{owner}/{repo}',
      'GET /repos/{owner}/{repo}/issues',
      'GET /repos',
    ]);
    expect(served({ include: { operations: ['repos/*', 'issues/list*'], paths: ['/repos/*/**'] } })).toEqual([
      'GET /repos/{owner}/{repo}',
      'DELETE /repos/{owner}/{repo}',
      'PATCH /repos/{owner}/{repo}',
      'GET /repos/{owner}/{repo}/issues',
    ]);
    expect(served({ include: { methods: ['Delete'] } })).toEqual(['DELETE /repos/{owner}/{repo}', 'DELETE /admin/users/{id}']);
  });

  it('an operation without tags or operationId never matches those kinds', () => {
    expect(served({ include: { operations: ['*'] } })).not.toContain('GET /meta');
    expect(served({ include: { tags: ['repos'] } })).not.toContain('GET /meta');
    expect(served({ exclude: { operations: ['*'] } })).toEqual(['GET /meta']);
  });

  it('exclude: matching any one criterion drops the operation, after include', () => {
    expect(served({ exclude: { operations: ['*delete*'], paths: ['/admin/**'] } })).toEqual([
      'GET /repos/{owner}/{repo}',
      'PATCH /repos/{owner}/{repo}',
      'GET /repos/{owner}/{repo}/issues',
      'POST /repos/{owner}/{repo}/issues',
      'GET /repos',
      'GET /meta',
    ]);
    expect(served({ include: { tags: ['repos'] }, exclude: { methods: ['DELETE', 'PATCH'], tags: ['issues'] } })).toEqual([
      'GET /repos/{owner}/{repo}',
      'GET /repos',
    ]);
  });

  it('deprecated operations are served by default and dropped with deprecated: exclude', () => {
    expect(served({})).toContain('PATCH /repos/{owner}/{repo}');
    expect(served({ deprecated: 'include' })).toContain('PATCH /repos/{owner}/{repo}');
    expect(served({ deprecated: 'exclude' })).not.toContain('PATCH /repos/{owner}/{repo}');
    expect(served({ deprecated: 'exclude' })).toHaveLength(GITHUB.length - 1);
  });

  it('warns when the filters leave nothing', () => {
    const { selected, warnings } = select({ include: { tags: ['nope'] } });
    expect(selected).toEqual([]);
    expect(warnings).toEqual([expect.stringContaining('leave none of the 8 operations of "github.yaml"')]);
  });
});

describe('selectOperations: name stability', () => {
  // Two operations share an operationId, so both get a hash suffix.
  const CLASH = ops({
    '/a': { get: { operationId: 'list' } },
    '/b': { get: { operationId: 'list' } },
    '/c': { get: { operationId: 'other' } },
  });
  const hashed = (path: string) => `api_list_${operationHash({ method: 'get', path })}`;

  it('a filter never renames the tools that stay, even when it removes one side of a clash', () => {
    const all = select({ prefix: 'api' }, CLASH).selected;
    expect(all.map((s) => s.name)).toEqual([hashed('/a'), hashed('/b'), 'api_other']);
    const filtered = select({ prefix: 'api', exclude: { paths: ['/b'] } }, CLASH).selected;
    expect(filtered.map((s) => s.name)).toEqual([hashed('/a'), 'api_other']);
  });

  it('for every filter over the GitHub sample, the kept tools keep their unfiltered names', () => {
    const names = new Map(select({}).selected.map((s) => [s.operation, s.name]));
    const filters: Partial<SelectOptions>[] = [
      { include: { tags: ['repos'] } },
      { exclude: { methods: ['GET'] } },
      { deprecated: 'exclude' },
      { include: { paths: ['/repos/**'] }, exclude: { operations: ['*delete*'] } },
      { overrides: { 'issues/create': { hidden: true } } },
    ];
    for (const f of filters) {
      for (const s of select(f).selected) expect(s.name).toBe(names.get(s.operation));
    }
  });

  it('an override renames only its own operation: the other side of a clash keeps its hashed name', () => {
    const { selected } = select({ prefix: 'api', overrides: { 'GET /b': { name: 'list_b' } } }, CLASH);
    expect(selected.map((s) => s.name)).toEqual([hashed('/a'), 'api_list_b', 'api_other']);
  });
});

describe('selectOperations: overrides', () => {
  it('renames by operationId or "METHOD /path" (method in any case), sanitised and prefixed', () => {
    const { selected, warnings } = select({
      overrides: {
        'repos/get': { name: 'get_repository' },
        'get /repos/{owner}/{repo}/issues': { name: 'list issues' },
      },
    });
    const byRoute = new Map(selected.map((s) => [`${s.operation.method} ${s.operation.path}`, s.name]));
    expect(byRoute.get('get /repos/{owner}/{repo}')).toBe('github_get_repository');
    expect(byRoute.get('get /repos/{owner}/{repo}/issues')).toBe('github_list_issues');
    expect(warnings).toEqual([]);
  });

  it('replaces the description, keeping the "Deprecated." marker, cut to the tool description limit', () => {
    const { selected } = select({
      overrides: { 'repos/update': { description: 'Change settings.' }, 'repos/list': { description: 'word '.repeat(400) } },
    });
    const by = (id: string) => selected.find((s) => s.operation.operation['operationId'] === id)!;
    expect(by('repos/update').description).toBe('Deprecated. Change settings.');
    expect(by('repos/list').description!.length).toBeLessThanOrEqual(MAX_TOOL_DESCRIPTION);
    expect(by('repos/list').description!.endsWith('…')).toBe(true);
    expect(by('repos/get').description).toBeUndefined();
  });

  it('hides operations; config wins over x-gatehouse field by field; path item x-gatehouse hides all its operations', () => {
    const list = ops(
      {
        '/one': {
          get: { operationId: 'one', 'x-gatehouse': { name: 'spec_one', description: 'From the spec.', hidden: true } },
          post: { operationId: 'two', 'x-gatehouse': { name: 'spec_two', description: 'From the spec.' } },
        },
        '/internal': { get: { operationId: 'internal' }, post: { operationId: 'internalPost', 'x-gatehouse': { hidden: false } } },
        '/kept': { get: { operationId: 'kept' } },
      },
      { '/internal': { 'x-gatehouse': { hidden: true } } },
    );
    const { selected, warnings } = selectOperations(list, {
      ...base,
      prefix: 'api',
      overrides: { one: { hidden: false }, two: { description: 'From config.' }, kept: { hidden: true } },
    });
    expect(warnings).toEqual([]);
    expect(selected.map((s) => [s.operation.operation['operationId'], s.name, s.description])).toEqual([
      ['one', 'api_spec_one', 'From the spec.'],
      ['two', 'api_spec_two', 'From config.'],
      // The operation's own x-gatehouse wins over its path item's.
      ['internalPost', 'api_internalPost', undefined],
    ]);
  });

  it('warns about an override key that matches no operation, naming it', () => {
    const { selected, warnings } = select({ overrides: { getRepo: { name: 'x' }, 'GET /nope': { hidden: true } } });
    expect(selected).toHaveLength(GITHUB.length);
    expect(warnings).toEqual([
      expect.stringContaining('override "getRepo" matches no operation of "github.yaml"'),
      expect.stringContaining('override "GET /nope" matches no operation'),
    ]);
  });

  it('an override for a filtered-out operation is not "unmatched"', () => {
    const { warnings } = select({ exclude: { tags: ['admin'] }, overrides: { 'admin/delete-user': { name: 'x' } } });
    expect(warnings).toEqual([]);
  });

  it('a name clash is a config error naming both operations', () => {
    const e = errorOf(() => select({ overrides: { 'repos/list': { name: 'repos_get' } } }));
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain('tool name "github_repos_get"');
    expect(e.message).toContain('GET /repos/{owner}/{repo} (operationId "repos/get")');
    expect(e.message).toContain('GET /repos (operationId "repos/list") (renamed by config override "repos/list")');

    const two = errorOf(() => select({ overrides: { 'repos/list': { name: 'same' }, 'GET /meta': { name: 'same' } } }));
    expect(two.code).toBe('GH_CONFIG_INVALID');
    expect(two.message).toMatch(/GET \/repos .*config override "repos\/list".* and GET \/meta \(renamed by config override "GET \/meta"\)/);
  });

  it('a clash with an operation that is not served is no clash', () => {
    const { selected } = select({ exclude: { tags: ['admin'] }, overrides: { 'repos/list': { name: 'admin_delete-user' } } });
    expect(selected.map((s) => s.name)).toContain('github_admin_delete-user');
  });

  it('a clash made by x-gatehouse alone is a spec error with its pointer', () => {
    const list = ops({ '/a': { get: { operationId: 'a' } }, '/b': { get: { operationId: 'b', 'x-gatehouse': { name: 'a' } } } });
    const e = errorOf(() => selectOperations(list, base));
    expect(e.code).toBe('GH_SPEC_INVALID');
    expect(e.message).toContain('x-gatehouse at "github.yaml" #/paths/~1b/get/x-gatehouse');
    expect(e.details).toEqual({ pointer: '#/paths/~1b/get/x-gatehouse' });
  });

  it('a name too long with the prefix is an error saying how long it may be', () => {
    const e = errorOf(() => select({ overrides: { 'repos/get': { name: 'n'.repeat(60) } } }));
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain('at most 64 (57 without the prefix "github_")');
  });

  it('a blank name is an error', () => {
    const e = errorOf(() => select({ overrides: { 'repos/get': { name: '  ' } } }));
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain('config override "repos/get" gives GET /repos/{owner}/{repo} (operationId "repos/get") a blank name');
  });

  it('two keys for one operation are a config error', () => {
    const e = errorOf(() => select({ overrides: { 'repos/get': { name: 'a' }, 'GET /repos/{owner}/{repo}': { hidden: true } } }));
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain('overrides "repos/get" and "GET /repos/{owner}/{repo}" both apply to GET /repos/{owner}/{repo}');
  });

  it('warns about malformed x-gatehouse and ignores the bad fields', () => {
    const list = ops(
      {
        '/a': { get: { operationId: 'a', 'x-gatehouse': { name: 3, hidden: 'yes', colour: 'red', description: 'Kept.' } } },
        '/b': { get: { operationId: 'b', 'x-gatehouse': 'hide me' } },
      },
      { '/a': { 'x-gatehouse': { name: 'x' } } },
    );
    const { selected, warnings } = selectOperations(list, base);
    expect(selected.map((s) => [s.name, s.description])).toEqual([
      ['github_a', 'Kept.'],
      ['github_b', undefined],
    ]);
    expect(warnings).toEqual([
      '"github.yaml" #/paths/~1a/get/x-gatehouse/name: must be a non-empty string; ignored',
      '"github.yaml" #/paths/~1a/get/x-gatehouse/hidden: must be true or false; ignored',
      '"github.yaml" #/paths/~1a/get/x-gatehouse: unknown field "colour" ignored (expected name, description, hidden)',
      '"github.yaml" #/paths/~1a/x-gatehouse: unknown field "name" ignored (expected hidden)',
      '"github.yaml" #/paths/~1b/get/x-gatehouse: must be an object; ignored',
    ]);
  });
});
