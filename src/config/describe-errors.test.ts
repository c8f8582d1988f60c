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
