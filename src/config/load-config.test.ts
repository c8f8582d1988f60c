import { errorOf } from '../../test/helpers/errors.js';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from './load-config.js';

const FILE = '/etc/gatehouse/gatehouse.yaml';


describe('parseConfig', () => {
  it('applies defaults: loopback bind, port 8080, timeouts', () => {
    const c = parseConfig('backends: [{ name: inv, spec: ./inv.yaml }]', FILE);
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.server.port).toBe(8080);
    expect(c.upstream).toEqual({ connectTimeoutMs: 5000, timeoutMs: 30000, maxResponseBytes: 1048576, connections: 128, maxHeaderValueBytes: 8192 });
    expect(c.backends[0]).toEqual({
      name: 'inv',
      spec: './inv.yaml',
      allowExternalRefs: false,
      tools: 'auto',
      toolBudget: 128,
      passthrough: false,
      maxConcurrent: 256,
      maxQueued: 0,
      queueTimeoutMs: 1000,
      circuitBreaker: { failureThreshold: 5, cooldownMs: 30000 },
    });
    expect(c.baseDir).toBe('/etc/gatehouse');
    expect(c.dataDir).toBe('./data');
    expect(c.rateLimits).toEqual({ store: 'memory', onStoreError: 'open', rules: [] });
    expect(c.audit).toMatchObject({ store: 'sqlite', sqlite: { file: 'audit.db' }, arguments: 'redact', retentionDays: 30, adminScope: 'gatehouse:admin' });
    expect(c.metrics).toEqual({ enabled: true });
  });

  it('checks the policy pipeline sections, naming the field', () => {
    const base = 'backends: [{ name: a, spec: a.yaml }]\n';
    expect(errorOf(() => parseConfig(`${base}rateLimits: { store: redis }`, FILE)).message).toContain('rateLimits.store: redis needs redis.url');
    expect(errorOf(() => parseConfig(`${base}audit: { store: postgres }`, FILE)).message).toContain('audit.store: postgres needs audit.postgres.url');
    expect(errorOf(() => parseConfig(`${base}rateLimits: { rules: [{ name: r, limit: 5, window: 1 minute }] }`, FILE)).message).toContain(
      'rateLimits.rules[0].window: must match',
    );
    const dup = `${base}rateLimits: { rules: [{ name: r, limit: 5, window: 1m }, { name: r, limit: 1, window: 1s }] }`;
    expect(errorOf(() => parseConfig(dup, FILE)).message).toContain('rateLimits.rules[1].name: "r" is used by another rule');
    const off = parseConfig('backends: [{ name: a, spec: a.yaml, circuitBreaker: false }, { name: b, spec: b.yaml, circuitBreaker: { cooldownMs: 5 } }]', FILE);
    expect(off.backends.map((b) => b.circuitBreaker)).toEqual([false, { failureThreshold: 5, cooldownMs: 5 }]);
    expect(parseConfig(`${base}rateLimits: { rules: [{ name: r, limit: 5, window: 1m }] }`, FILE).rateLimits.rules[0]).toEqual({
      name: 'r',
      key: ['principal'],
      limit: 5,
      window: '1m',
      cost: 'requests',
    });
  });

  it('interpolates ${VAR} and ${VAR:-default} after parsing, so secrets cannot change structure', () => {
    const c = parseConfig(
      'server: { port: "${PORT:-9090}" }\nbackends:\n  - name: a\n    spec: "${SPEC}"\n    baseUrl: "${BASE:-http://x}"\n',
      FILE,
      { SPEC: 'https://h/spec.json#: not yaml', PORT: '' },
    );
    expect(c.server.port).toBe(9090);
    expect(c.backends[0]!.spec).toBe('https://h/spec.json#: not yaml');
    expect(c.backends[0]!.baseUrl).toBe('http://x');
  });

  it('keeps $${ as a literal', () => {
    const c = parseConfig('backends: [{ name: a, spec: "$${NOT_A_VAR}" }]', FILE, {});
    expect(c.backends[0]!.spec).toBe('${NOT_A_VAR}');
  });

  it('names every wrong field with its path and what was expected', () => {
    const e = errorOf(() =>
      parseConfig('server:\n  port: 99999\n  hots: x\nlog: { level: loud }\nbackends:\n  - spec: a.yaml\n  - name: "has space"\n    spec: b\n', FILE),
    );
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain(FILE);
    expect(e.message).toContain('server.port: must be <= 65535');
    expect(e.message).toContain('server.hots: unknown field');
    expect(e.message).toContain('log.level: must be one of "fatal", "error"');
    expect(e.message).toContain('backends[0].name: is required');
    expect(e.message).toMatch(/backends\[1\]\.name: must match/);
  });

  it('requires unique backend names', () => {
    const e = errorOf(() => parseConfig('backends: [{ name: a, spec: x }, { name: A, spec: y }]', FILE));
    expect(e.message).toContain('backends[1].name: "A" is used by another backend');
  });

  it('reports a missing variable with the field path', () => {
    const e = errorOf(() => parseConfig('backends: [{ name: a, spec: "${NOPE}" }]', FILE, {}));
    expect(e.code).toBe('GH_CONFIG_ENV_MISSING');
    expect(e.message).toContain('backends[0].spec: environment variable NOPE is not set');
  });

  it('reports YAML syntax errors with a line number', () => {
    const e = errorOf(() => parseConfig('backends:\n  - name: a\n   spec: [unclosed\n', FILE));
    expect(e.message).toMatch(/gatehouse\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('reports an unreadable file', () => {
    expect(errorOf(() => loadConfig('/nonexistent/gatehouse.yaml')).code).toBe('GH_CONFIG_NOT_FOUND');
  });
});

describe('parseConfig: operation selection', () => {
  it('accepts include, exclude, deprecated and overrides, and passes them through unchanged', () => {
    const c = parseConfig(
      `backends:
  - name: github
    spec: ./github.json
    include: { tags: [repos, issues], operations: ["repos/*", "issues/list*"], methods: [GET, post], paths: ["/repos/**"] }
    exclude: { operations: ["*delete*"], paths: ["/admin/**"] }
    deprecated: exclude
    overrides:
      getRepo: { name: get_repository, description: Fetch one repository. }
      "GET /repos/{owner}/{repo}/issues": { hidden: true }
`,
      FILE,
    );
    expect(c.backends[0]).toMatchObject({
      include: { tags: ['repos', 'issues'], operations: ['repos/*', 'issues/list*'], methods: ['GET', 'post'], paths: ['/repos/**'] },
      exclude: { operations: ['*delete*'], paths: ['/admin/**'] },
      deprecated: 'exclude',
      overrides: { getRepo: { name: 'get_repository', description: 'Fetch one repository.' }, 'GET /repos/{owner}/{repo}/issues': { hidden: true } },
    });
  });

  it('names every wrong selection field', () => {
    const e = errorOf(() =>
      parseConfig(
        `backends:
  - name: github
    spec: ./github.json
    include: { tag: [repos], methods: [FETCH], operations: [] }
    exclude: { paths: ["admin/**"], tags: repos }
    deprecated: drop
    overrides:
      getRepo: { nmae: x }
      listRepos: {}
      "GET /x": { hidden: maybe, name: "${'n'.repeat(65)}" }
`,
        FILE,
      ),
    );
    expect(e.code).toBe('GH_CONFIG_INVALID');
    expect(e.message).toContain('backends[0].include.tag: unknown field');
    expect(e.message).toContain('backends[0].include.methods[0]: must be one of "GET", "PUT"');
    expect(e.message).toContain('backends[0].include.operations: must NOT have fewer than 1 items');
    expect(e.message).toContain('backends[0].exclude.paths[0]: must match ^[/*]');
    expect(e.message).toContain('backends[0].exclude.tags: must be array');
    expect(e.message).toContain('backends[0].deprecated: must be one of "include", "exclude"');
    expect(e.message).toContain('backends[0].overrides.getRepo.nmae: unknown field');
    expect(e.message).toContain('backends[0].overrides.listRepos: must NOT have fewer than 1 properties');
    expect(e.message).toContain('backends[0].overrides.GET /x.hidden: must be boolean');
    expect(e.message).toContain('backends[0].overrides.GET /x.name: must NOT have more than 64 characters');
  });
});
