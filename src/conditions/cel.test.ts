import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { compileCondition, type ConditionInput } from './cel.js';

const FIELD = 'policies[2].rateLimit.when';

function input(over: { principal?: Partial<ConditionInput['principal']>; call?: Partial<ConditionInput['call']> } = {}): ConditionInput {
  return {
    principal: { id: 'ci-bot', kind: 'api-key', scopes: [], groups: [], client: '', claims: {}, ...over.principal },
    call: { kind: 'model', target: 'gpt-4o', backend: 'gpt-*', tool: '', model: 'gpt-4o', method: '', readOnly: false, ...over.call },
  };
}

/** The GH_CONFIG_INVALID message compiling `source` throws. */
function refusal(source: string): string {
  try {
    compileCondition(source, FIELD);
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_CONFIG_INVALID');
    return (err as GatehouseError).message;
  }
  throw new Error(`compiled: ${source}`);
}

describe('compileCondition: refused at load', () => {
  it('a syntax error names the field and the column, with the expression and a caret under the fault', () => {
    const source = `'premium' in principal.groups &&& call.kind == 'model'`;
    const message = refusal(source);
    expect(message).toMatch(/^policies\[2\]\.rateLimit\.when: .*&.* at column 33\n/);
    const [, text, caret] = message.split('\n');
    expect(text).toBe(`    ${source}`);
    // The third `&` is the 33rd character.
    expect(caret).toBe(`    ${' '.repeat(32)}^`);
  });

  it('an expression cut short points past its end', () => {
    expect(refusal('call.readOnly ||')).toMatch(/at column 17\n {4}call\.readOnly \|\|\n {20}\^$/);
  });

  it('an expression of several lines (a YAML block) is located by line and column, showing that line', () => {
    const message = refusal(`'premium' in principal.groups &&\n  quota > 3`);
    expect(message).toContain('Unknown variable: quota at line 2, column 3');
    expect(message.split('\n').slice(1)).toEqual(['      quota > 3', '      ^^^^^']);
  });

  it('an unknown variable, and a field the variable does not have, are refused with their position', () => {
    expect(refusal(`user.groups == ['a']`)).toMatch(/^policies\[2\]\.rateLimit\.when: Unknown variable: user at column 1\n {4}user\.groups == \['a'\]\n {4}\^{4}$/);
    expect(refusal(`'premium' in principal.grups`)).toMatch(/No such key: grups at column 24\n.*\n {27}\^{5}$/);
    expect(refusal(`call.operation == 'x'`)).toContain('No such key: operation');
  });

  it('a type error is refused: an operator on the wrong types, a function that does not exist', () => {
    expect(refusal(`call.readOnly + 1`)).toContain('no such overload');
    expect(refusal(`principal.groups.contains('x')`)).toContain(FIELD);
  });

  it('a result that is not a boolean is refused when the type checker knows its type', () => {
    expect(refusal('principal.id')).toMatch(/^policies\[2\]\.rateLimit\.when: a condition must be a boolean, but this expression is of type string\n/);
    expect(refusal('size(principal.groups)')).toContain('of type int');
    expect(refusal('principal.groups')).toContain('of type list<string>');
  });
});

describe('compileCondition: evaluation', () => {
  it('`in` on the groups and scopes lists', () => {
    const premium = compileCondition(`'premium' in principal.groups && call.kind == 'model'`, FIELD);
    expect(premium(input({ principal: { groups: ['staff', 'premium'] } }))).toBe(true);
    expect(premium(input({ principal: { groups: ['standard'] } }))).toBe(false);
    expect(premium(input({ principal: { groups: ['premium'] }, call: { kind: 'tool' } }))).toBe(false);
    const scoped = compileCondition(`'tools:write' in principal.scopes || principal.kind == 'jwt'`, FIELD);
    expect(scoped(input({ principal: { scopes: ['tools:write'] } }))).toBe(true);
    expect(scoped(input({ principal: { scopes: ['tools:read'] } }))).toBe(false);
    expect(scoped(input({ principal: { kind: 'jwt' } }))).toBe(true);
  });

  it('tool calls: backend, tool, method and readOnly', () => {
    const risky = compileCondition(`call.kind == 'tool' && call.backend == 'github' && (call.method == 'DELETE' || !call.readOnly)`, FIELD);
    const tool = (method: string, readOnly: boolean) => input({ call: { kind: 'tool', target: 'github_repo_delete', backend: 'github', tool: 'github_repo_delete', model: '', method, readOnly } });
    expect(risky(tool('DELETE', false))).toBe(true);
    expect(risky(tool('GET', true))).toBe(false);
    expect(risky(tool('POST', false))).toBe(true);
    expect(compileCondition(`call.tool.startsWith('github_repo_')`, FIELD)(tool('GET', true))).toBe(true);
    expect(compileCondition(`call.model.startsWith('gpt-')`, FIELD)(input())).toBe(true);
  });

  it('has() tells whether a token carries a claim, so the claim can be read safely', () => {
    const tenant = compileCondition(`has(principal.claims.tenant) && principal.claims.tenant == 'acme'`, FIELD, { onError: 'match' });
    expect(tenant(input({ principal: { claims: { tenant: 'acme' } } }))).toBe(true);
    expect(tenant(input({ principal: { claims: { tenant: 'globex' } } }))).toBe(false);
    // No error to fall back on: has() is false, so the whole condition is false even with onError: match.
    expect(tenant(input({ principal: { claims: {} } }))).toBe(false);
  });

  it('a claim the token lacks is an evaluation error: no-match by default, match when asked (deny rules fail closed)', () => {
    const source = `principal.claims.tenant == 'acme'`;
    const lenient = compileCondition(source, FIELD);
    const closed = compileCondition(source, FIELD, { onError: 'match' });
    const without = input({ principal: { claims: { sub: 'u1' } } });
    expect(lenient(without)).toBe(false);
    expect(closed(without)).toBe(true);
    // When the condition can be evaluated, onError plays no part.
    const other = input({ principal: { claims: { tenant: 'globex' } } });
    expect(lenient(other)).toBe(false);
    expect(closed(other)).toBe(false);
    expect(closed(input({ principal: { claims: { tenant: 'acme' } } }))).toBe(true);
  });

  it('a result that turns out not to be a boolean (a dyn claim) yields onError', () => {
    const claim = compileCondition('principal.claims.admin', FIELD);
    const closed = compileCondition('principal.claims.admin', FIELD, { onError: 'match' });
    expect(claim(input({ principal: { claims: { admin: true } } }))).toBe(true);
    expect(claim(input({ principal: { claims: { admin: false } } }))).toBe(false);
    expect(claim(input({ principal: { claims: { admin: 'yes' } } }))).toBe(false);
    expect(closed(input({ principal: { claims: { admin: 'yes' } } }))).toBe(true);
    expect(closed(input({ principal: { claims: { admin: false } } }))).toBe(false);
  });

  it('claims of each JSON type: strings, numbers (CEL doubles that compare with ints), booleans, arrays, objects, null', () => {
    const claims = { tenant: 'acme', level: 3, ratio: 0.5, admin: true, roles: ['reader', 'billing'], org: { id: 'o-1', tier: 2 }, manager: null };
    const at = input({ principal: { claims } });
    const holds = (source: string): boolean => compileCondition(source, FIELD)(at);
    expect(holds(`principal.claims.tenant.endsWith('me')`)).toBe(true);
    expect(holds('principal.claims.level == 3')).toBe(true);
    expect(holds('principal.claims.level >= 3 && principal.claims.level < 4.5')).toBe(true);
    expect(holds('principal.claims.ratio < 1')).toBe(true);
    expect(holds('principal.claims.admin == true')).toBe(true);
    expect(holds(`'billing' in principal.claims.roles`)).toBe(true);
    expect(holds(`'admin' in principal.claims.roles`)).toBe(false);
    expect(holds('size(principal.claims.roles) == 2')).toBe(true);
    expect(holds(`principal.claims.org.id == 'o-1' && principal.claims.org.tier > 1`)).toBe(true);
    expect(holds(`principal.claims['tenant'] == 'acme'`)).toBe(true);
    expect(holds('principal.claims.manager == null')).toBe(true);
    expect(holds(`principal.claims.exists(k, k == 'org')`)).toBe(true);
    // Comparing a string claim with a number is a run-time type error, not a crash: onError.
    expect(holds('principal.claims.tenant > 3')).toBe(false);
    expect(compileCondition('principal.claims.tenant > 3', FIELD, { onError: 'match' })(at)).toBe(true);
  });

  it('the client is a string, empty when unknown', () => {
    const known = compileCondition(`principal.client != '' && principal.client == 'cli-app'`, FIELD);
    expect(known(input({ principal: { client: 'cli-app' } }))).toBe(true);
    expect(known(input())).toBe(false);
  });

  it('input that breaks the declared types (a number among the groups) never throws: onError', () => {
    const groups = compileCondition(`principal.groups.exists(g, g.startsWith('team-'))`, FIELD);
    const bad = input({ principal: { groups: [42 as unknown as string] } });
    expect(groups(bad)).toBe(false);
    expect(compileCondition(`principal.groups.exists(g, g.startsWith('team-'))`, FIELD, { onError: 'match' })(bad)).toBe(true);
    expect(groups(input({ principal: { groups: ['team-a'] } }))).toBe(true);
  });

  it('a compiled condition is reused across calls with different inputs', () => {
    const premium = compileCondition(`'premium' in principal.groups`, FIELD);
    const results = Array.from({ length: 6 }, (_, i) => premium(input({ principal: { groups: i % 2 === 0 ? ['premium'] : [] } })));
    expect(results).toEqual([true, false, true, false, true, false]);
  });
});

describe('docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

  it('every example condition compiles (one a line; CEL has // comments)', () => {
    const blocks = [...doc.matchAll(/```cel\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const lines = blocks.flatMap((b) => b.split('\n')).filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(() => compileCondition(line, 'docs'), line).not.toThrow();
  });

  it('the load error shown is the one a misspelt field gets', () => {
    const shown = /```\n(ai\.routes\[1\]\.when: [\s\S]*?)\n```/.exec(doc)?.[1];
    expect(shown).toBeDefined();
    expect(() => compileCondition(`'premium' in principal.grups`, 'ai.routes[1].when')).toThrow(shown);
  });
});

it('the stack trace limit is restored after an evaluation error', () => {
  const before = Error.stackTraceLimit;
  expect(compileCondition(`principal.claims.tenant == 'acme'`, FIELD)(input())).toBe(false);
  expect(Error.stackTraceLimit).toBe(before);
});
