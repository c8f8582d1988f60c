import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/helpers/errors.js';
import { parseBackendEntry, parseConfig } from './load-config.js';
import { levenshtein, nearest } from './describe-errors.js';

const FILE = '/etc/gatehouse/gatehouse.yaml';
const problems = (yaml: string) => (errorOf(() => parseConfig(yaml, FILE)) as Error & { details?: { errors: string[] } }).details?.errors ?? [];

describe('config errors for people', () => {
  it('suggests the nearest known field for an unknown one, and nothing when none is near', () => {
    expect(problems('server: { hots: 127.0.0.1 }\nbackends: []')).toEqual(['server.hots: unknown field (did you mean `host`?)']);
    expect(problems('backends: [{ name: a, spec: a.yaml, baseURL: "http://x" }]')).toEqual(['backends[0].baseURL: unknown field (did you mean `baseUrl`?)']);
    expect(problems('backends: [{ name: a, spec: a.yaml, colour: red }]')).toEqual(['backends[0].colour: unknown field (not allowed here)']);
    expect(problems('logs: { level: info }\nbackends: []')).toEqual(['logs: unknown field (did you mean `log`?)']);
  });

  it('names the bad value of an enum once, with the allowed values', () => {
    const errors = problems('log: { level: loud }\nbackends: [{ name: a, spec: a.yaml, tools: some }]');
    expect(errors).toEqual([
      'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (got "loud")',
      'backends[0].tools: must be one of "all", "search", "auto" (got "some")',
    ]);
  });

  it('says a oneOf failure in one line naming the value and the allowed forms', () => {
    expect(problems('backends: [{ name: a, spec: a.yaml, circuitBreaker: maybe }]')).toEqual([
      'backends[0].circuitBreaker: must be false, or must be object (got "maybe")',
    ]);
  });

  it('checks a credential against its own kind only, naming the field', () => {
    const credentials = (c: string) => problems(`backends: [{ name: a, spec: a.yaml, credentials: ${c} }]`);
    expect(credentials('{ type: bearer }')).toEqual(['backends[0].credentials.token: is required']);
    expect(credentials('{ type: basic, username: u, pasword: p }')).toEqual([
      'backends[0].credentials.password: is required',
      'backends[0].credentials.pasword: unknown field (did you mean `password`?)',
    ]);
    expect(credentials('{ type: apiKey, value: k, in: body }')).toEqual(['backends[0].credentials.in: must be one of "header", "query", "cookie" (got "body")']);
    expect(credentials('{ type: oauth2, tokenUrl: ftp://idp/token, clientId: c, clientSecret: s }')).toEqual(['backends[0].credentials.tokenUrl: must match ^https?://']);
    expect(credentials('{ type: aws-sigv4, service: ec2, region: us-east-1, acessKeyId: AK }')).toEqual([
      'backends[0].credentials.acessKeyId: unknown field (did you mean `accessKeyId`?)',
    ]);
  });

  it('names the kinds a credential type may be, and a missing type once', () => {
    expect(problems('backends: [{ name: a, spec: a.yaml, credentials: { type: bearr, token: t } }]')).toEqual([
      'backends[0].credentials.type: must be one of "none", "apiKey", "bearer", "basic", "oauth2", "tokenExchange", "aws-sigv4" (got "bearr")',
    ]);
    expect(problems('backends: [{ name: a, spec: a.yaml, credentials: { token: t } }]')).toEqual(['backends[0].credentials.type: is required']);
  });

  it('says "exactly one of" for a oneOf of required fields (a rule\'s allow and deny)', () => {
    expect(problems('rules: [{ allow: {} }, { allow: {}, deny: {} }, { when: "true" }]')).toEqual([
      'rules[1]: must have exactly one of `allow` and `deny`',
      'rules[2]: must have exactly one of `allow` and `deny`',
    ]);
  });

  it('does the same for a backend given to the admin API', () => {
    expect(errorOf(() => parseBackendEntry({ name: 'a', spec: 'http://x/a.yaml', tool: 'all' })).message).toContain('tool: unknown field (did you mean `tools`?)');
  });

  it('reports a YAML syntax error once, with line and column, and no code frame', () => {
    const err = errorOf(() => parseConfig('server:\n  port: [1\nbackends: []\n', FILE));
    expect(err.message).toMatch(/^\/etc\/gatehouse\/gatehouse\.yaml:3:1: YAML syntax error: [^\n]+[^:\n]$/);
    expect(err.message).not.toMatch(/at line \d/);
  });

  it('edit distance counts a transposition as one edit', () => {
    expect(levenshtein('hots', 'host')).toBe(1);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(nearest('prot', ['host', 'port'])).toBe('port');
    expect(nearest('zzzz', ['host', 'port'])).toBeUndefined();
  });
});
