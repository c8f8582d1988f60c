import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../src/server/gateway.js';
import { operationHash } from '../src/openapi/tool-name.js';
import { connectClient, FIXTURES, startTestGateway } from './helpers/gateway.js';
import { startStubBackend, type StubBackend } from './helpers/stub-backend.js';

/**
 * Filters, the deprecated switch and overrides (config and x-gatehouse), seen
 * from a real MCP client: the same spec served three times — filtered and
 * overridden (`gh`), as is (`full`), without deprecated operations (`strict`).
 */

const CONFIG = `
server: { host: 127.0.0.1, port: 0 }
backends:
  - name: gh
    spec: ./selection-api.yaml
    baseUrl: \${STUB_URL}/api
    include: { tags: [repos, issues] }
    exclude: { operations: ["*delete*"], paths: ["/search/issues"] }
    overrides:
      getRepo: { name: get_repository, description: Fetch one repository by owner and name. }
      "post /repos/{owner}/{repo}/issues": { hidden: false }
      noSuchOperation: { hidden: true }
  - name: full
    spec: ./selection-api.yaml
    baseUrl: \${STUB_URL}/api
  - name: strict
    spec: ./selection-api.yaml
    baseUrl: \${STUB_URL}/api
    deprecated: exclude
`;

/** The two `search` operations share an operationId, so both carry a hash of method and path. */
const searchRepos = `search_${operationHash({ method: 'get', path: '/search/repos' })}`;
const searchIssues = `search_${operationHash({ method: 'get', path: '/search/issues' })}`;

let stub: StubBackend;
let gateway: Gateway;
let client: Client;

beforeAll(async () => {
  stub = await startStubBackend();
  gateway = await startTestGateway(CONFIG, { STUB_URL: stub.url });
  client = await connectClient(gateway.url, 'modern');
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await stub?.close();
});

describe('choosing which operations become tools', () => {
  it('lists only the selected operations, under stable or overridden names', async () => {
    const { tools } = await client.listTools();
    const names = (prefix: string) =>
      tools
        .map((t) => t.name)
        .filter((n) => n.startsWith(prefix))
        .sort();
    // include tags → no getUser; exclude → no deleteRepo, no /search/issues; x-gatehouse
    // hides reindex (path item) and createIssue (un-hidden by config in gh only).
    expect(names('gh_')).toEqual(['gh_createIssue', 'gh_get_repository', 'gh_issues', `gh_${searchRepos}`, 'gh_updateRepo'].sort());
    expect(names('full_')).toEqual(
      ['full_deleteRepo', 'full_getRepo', 'full_getUser', 'full_issues', `full_${searchIssues}`, `full_${searchRepos}`, 'full_updateRepo'].sort(),
    );
    expect(names('strict_')).toEqual(names('full_').filter((n) => n !== 'full_updateRepo').map((n) => n.replace(/^full_/, 'strict_')));
  });

  it('descriptions: overrides replace them; deprecated operations say so first', async () => {
    const { tools } = await client.listTools();
    const description = (name: string) => tools.find((t) => t.name === name)?.description;
    expect(description('gh_get_repository')).toBe('Fetch one repository by owner and name.');
    expect(description('full_getRepo')).toBe('Get a repository');
    expect(description('gh_issues')).toBe('List the open issues of a repository.');
    expect(description('gh_updateRepo')).toBe('Deprecated. Update a repository');
  });

  it('calls a renamed tool: the backend receives the original operation', async () => {
    const before = stub.received.length;
    const repo = await client.callTool({ name: 'gh_get_repository', arguments: { owner: 'octo', repo: 'hello world' } });
    expect(repo.isError).toBeFalsy();
    const issues = await client.callTool({ name: 'gh_issues', arguments: { owner: 'octo', repo: 'hello', state: 'open' } });
    expect(issues.isError).toBeFalsy();
    const created = await client.callTool({ name: 'gh_createIssue', arguments: { owner: 'octo', repo: 'hello', title: 'Bug' } });
    expect(created.isError).toBeFalsy();
    const got = stub.received.slice(before);
    expect(got.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /api/repos/octo/hello%20world',
      'GET /api/repos/octo/hello/issues?state=open',
      'POST /api/repos/octo/hello/issues',
    ]);
    expect(JSON.parse(got[2]!.body.toString('utf8'))).toEqual({ title: 'Bug' });
  });

  it('an operation that is not served cannot be called under any name', async () => {
    const before = stub.received.length;
    for (const name of ['gh_deleteRepo', 'gh_getRepo', 'full_createIssue', 'full_reindex', 'strict_updateRepo']) {
      await expect(client.callTool({ name, arguments: { owner: 'o', repo: 'r' } }), name).rejects.toThrow(/Unknown tool/);
    }
    expect(stub.received.length).toBe(before);
  });

  it('reports an override that matches no operation as a warning of its backend', () => {
    const gh = gateway.runtime.registry().backends.find((b) => b.name === 'gh');
    expect(gh?.state).toBe('ready');
    expect(gh?.state === 'ready' ? gh.warnings : []).toContainEqual(expect.stringContaining('override "noSuchOperation" matches no operation'));
  });
});

describe('gatehouse validate', () => {
  const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const run = promisify(execFile);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-selection-'));
  });

  async function validate(yaml: string) {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    try {
      const { stdout } = await run(process.execPath, [CLI, 'validate', '--config', file]);
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  it('shows the unmatched override as a warning and counts the selected tools', async () => {
    const r = await validate(`backends:\n  - name: gh\n    spec: ${JSON.stringify(join(FIXTURES, 'selection-api.yaml'))}\n    include: { methods: [get] }\n    overrides: { nope: { hidden: true } }\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok    gh: 5 tools, 1 warnings');
    expect(r.stdout).toContain('warning: Backend "gh": override "nope" matches no operation');
  });

  it('fails on a name clash, naming both operations', async () => {
    const r = await validate(
      `backends:\n  - name: gh\n    spec: ${JSON.stringify(join(FIXTURES, 'selection-api.yaml'))}\n    overrides: { getUser: { name: getRepo } }\n`,
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('error gh: GH_CONFIG_INVALID: Backend "gh": tool name "gh_getRepo" is given to both');
    expect(r.stdout).toContain('GET /repos/{owner}/{repo} (operationId "getRepo")');
    expect(r.stdout).toContain('GET /users/{id} (operationId "getUser") (renamed by config override "getUser")');
  });
});
