import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/helpers/errors.js';
import { parseConfig } from '../config/load-config.js';
import type { RuleConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import type { Principal } from '../call/context.js';
import { compileRules, toolTarget, type AuthzTarget } from './rules.js';

/** A principal with the optional fields another change adds to Principal; rules read them structurally. */
const who = (id: string, extra: Record<string, unknown> = {}): Principal => ({ id, kind: 'jwt', ...extra }) as Principal;

const getItem: AuthzTarget = { kind: 'tool', name: 'shop_getItem', backend: 'shop', method: 'GET', readOnly: true };
const postItem: AuthzTarget = { kind: 'tool', name: 'shop_createItem', backend: 'shop', method: 'POST', readOnly: false };
const billing: AuthzTarget = { kind: 'tool', name: 'billing_listInvoices', backend: 'billing-eu', method: 'get', readOnly: true };
const gpt: AuthzTarget = { kind: 'model', name: 'gpt-4o-mini' };
const claude: AuthzTarget = { kind: 'model', name: 'claude-sonnet-4' };

interface Case {
  name: string;
  rules: RuleConfig[];
  principal: Principal;
  target: AuthzTarget;
  allowed: boolean;
  rule?: number;
}

const cases: Case[] = [
  { name: 'no rules: everything allowed', rules: [], principal: who('anon'), target: postItem, allowed: true },
  { name: 'rules exist, none matches: default deny', rules: [{ allow: { principals: { scopes: ['admin'] } } }], principal: who('a', { scopes: ['read'] }), target: getItem, allowed: false },
  { name: 'allow by scope', rules: [{ allow: { principals: { scopes: ['admin', 'shop'] } } }], principal: who('a', { scopes: ['read', 'shop'] }), target: postItem, allowed: true, rule: 0 },
  { name: 'principal without scopes matches no scope rule', rules: [{ allow: { principals: { scopes: ['shop'] } } }], principal: who('a'), target: getItem, allowed: false },
  {
    name: 'deny wins over an earlier allow',
    rules: [{ allow: { principals: { scopes: ['shop'] } } }, { deny: { tools: ['shop_create*'] } }],
    principal: who('a', { scopes: ['shop'] }), target: postItem, allowed: false, rule: 1,
  },
  {
    name: 'deny that does not match leaves the allow',
    rules: [{ allow: { principals: { scopes: ['shop'] } } }, { deny: { tools: ['shop_create*'] } }],
    principal: who('a', { scopes: ['shop'] }), target: getItem, allowed: true, rule: 0,
  },
  { name: 'read-only rule denies a POST tool', rules: [{ allow: { readOnly: true } }], principal: who('a'), target: postItem, allowed: false },
  { name: 'read-only rule allows a GET tool', rules: [{ allow: { readOnly: true } }], principal: who('a'), target: getItem, allowed: true, rule: 0 },
  { name: 'readOnly false denies writes to viewers', rules: [{ allow: {} }, { deny: { readOnly: false, principals: { groups: ['viewers'] } } }], principal: who('v', { groups: ['viewers'] }), target: postItem, allowed: false, rule: 1 },
  { name: 'backend glob matches', rules: [{ allow: { backends: ['billing-*'] } }], principal: who('a'), target: billing, allowed: true, rule: 0 },
  { name: 'backend glob does not match', rules: [{ allow: { backends: ['billing-*'] } }], principal: who('a'), target: getItem, allowed: false },
  { name: 'methods are case-insensitive', rules: [{ allow: { methods: ['GET'] } }], principal: who('a'), target: billing, allowed: true, rule: 0 },
  { name: 'AND across kinds: tool matches, method does not', rules: [{ allow: { tools: ['shop_*'], methods: ['get'] } }], principal: who('a'), target: postItem, allowed: false },
  { name: 'key id allowed', rules: [{ allow: { principals: { keyIds: ['k1', 'k2'] } } }], principal: who('a', { keyId: 'k2' }), target: postItem, allowed: true, rule: 0 },
  { name: 'other key id denied', rules: [{ allow: { principals: { keyIds: ['k1'] } } }], principal: who('a', { keyId: 'k3' }), target: postItem, allowed: false },
  { name: 'group allowed', rules: [{ allow: { principals: { groups: ['eng'] }, backends: ['shop'] } }], principal: who('a', { groups: ['ops', 'eng'] }), target: getItem, allowed: true, rule: 0 },
  { name: 'group and scope both required', rules: [{ allow: { principals: { groups: ['eng'], scopes: ['shop'] } } }], principal: who('a', { groups: ['eng'] }), target: getItem, allowed: false },
  { name: 'subject matches id', rules: [{ allow: { principals: { subjects: ['alice'] } } }], principal: who('alice'), target: getItem, allowed: true, rule: 0 },
  { name: 'subject matches subject field', rules: [{ allow: { principals: { subjects: ['alice'] } } }], principal: who('key-1', { subject: 'alice' }), target: getItem, allowed: true, rule: 0 },
  {
    name: 'claims: all listed claims must match (array claim contains)',
    rules: [{ allow: { principals: { claims: { tenant: 'acme', roles: 'admin' } } } }],
    principal: who('a', { claims: { tenant: 'acme', roles: ['user', 'admin'] } }), target: postItem, allowed: true, rule: 0,
  },
  {
    name: 'claims: one claim differs',
    rules: [{ allow: { principals: { claims: { tenant: 'acme', roles: 'admin' } } } }],
    principal: who('a', { claims: { tenant: 'other', roles: ['admin'] } }), target: postItem, allowed: false,
  },
  { name: 'claims: number compared as string', rules: [{ allow: { principals: { claims: { level: '3' } } } }], principal: who('a', { claims: { level: 3 } }), target: getItem, allowed: true, rule: 0 },
  { name: 'claims: principal without claims', rules: [{ allow: { principals: { claims: { tenant: 'acme' } } } }], principal: who('a'), target: getItem, allowed: false },
  { name: 'model glob allowed', rules: [{ allow: { models: ['gpt-*'] } }], principal: who('a'), target: gpt, allowed: true, rule: 0 },
  { name: 'model glob does not match another model', rules: [{ allow: { models: ['gpt-*'] } }], principal: who('a'), target: claude, allowed: false },
  { name: 'tool rule says nothing about models', rules: [{ allow: { tools: ['*'] } }], principal: who('a'), target: gpt, allowed: false },
  { name: 'model rule says nothing about tools', rules: [{ allow: { models: ['*'] } }], principal: who('a'), target: getItem, allowed: false },
  { name: 'principal-only rule covers tools and models', rules: [{ allow: { principals: { scopes: ['admin'] } } }], principal: who('a', { scopes: ['admin'] }), target: claude, allowed: true, rule: 0 },
  { name: 'deny a model for a group', rules: [{ allow: { models: ['*'] } }, { deny: { models: ['claude-*'], principals: { groups: ['interns'] } } }], principal: who('i', { groups: ['interns'] }), target: claude, allowed: false, rule: 1 },
  { name: 'wrongly typed optional fields are ignored', rules: [{ allow: { principals: { groups: ['eng'] } } }], principal: who('a', { groups: 'eng' }), target: getItem, allowed: false },
];

describe('compileRules().decide', () => {
  it.each(cases)('$name', ({ rules, principal, target, allowed, rule }) => {
    const d = compileRules(rules).decide(principal, target);
    expect({ allowed: d.allowed, rule: d.rule }).toEqual({ allowed, rule });
    expect(d.reason).toMatch(rule === undefined ? /no rule|no rules/ : new RegExp(`rules\\[${rule}\\]`));
  });
});

// The rules' shape is the config schema's (config/schema.ts): a wrong rule is refused
// when the config loads, naming the field, before compileRules sees it.
describe('rules validation (config schema)', () => {
  it.each<[string, unknown, RegExp]>([
    ['both allow and deny', [{ allow: {}, deny: {} }], /rules\[0\]: must have exactly one of `allow` and `deny`/],
    ['neither allow nor deny', [{}], /rules\[0\]: must have exactly one of `allow` and `deny`/],
    ['an unknown rule key', [{ allow: {}, alow: {} }], /rules\[0\]\.alow: unknown field/],
    ['an unknown match key (typo must not widen an allow)', [{ allow: { principal: { scopes: ['x'] } } }], /rules\[0\]\.allow\.principal: unknown field \(did you mean `principals`\?\)/],
    ['an unknown principal key', [{ deny: { principals: { scope: ['x'] } } }], /rules\[0\]\.deny\.principals\.scope: unknown field \(did you mean `scopes`\?\)/],
    ['an empty list', [{ allow: {} }, { allow: { principals: { scopes: [] } } }], /rules\[1\]\.allow\.principals\.scopes: must NOT have fewer than 1 items/],
    ['an empty glob list', [{ deny: { tools: [] } }], /rules\[0\]\.deny\.tools: must NOT have fewer than 1 items/],
    ['empty claims', [{ allow: { principals: { claims: {} } } }], /rules\[0\]\.allow\.principals\.claims: must NOT have fewer than 1 properties/],
    ['a claim that is not a scalar', [{ allow: { principals: { claims: { a: { b: 1 } } } } }], /rules\[0\]\.allow\.principals\.claims\.a: must be string/],
    ['a non-boolean readOnly', [{ allow: { readOnly: 'yes' } }], /rules\[0\]\.allow\.readOnly: must be boolean/],
    ['a misspelt method (a deny must not miss it)', [{ deny: { methods: ['DELTE'] } }], /rules\[0\]\.deny\.methods\[0\]: must be one of "GET"/],
    ['a rule that is not an object', ['allow'], /rules\[0\]: must be object/],
  ])('refuses %s', (_name, rules, message) => {
    const err = errorOf(() => parseConfig(JSON.stringify({ rules }), 'rules.yaml', {}));
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_CONFIG_INVALID');
    expect((err as GatehouseError).message).toMatch(message);
  });

  it('reads claim values that YAML gives as numbers or booleans as their string form', () => {
    const config = parseConfig('rules:\n  - allow: { principals: { claims: { level: 3, admin: true } } }\n', 'rules.yaml', {});
    expect(config.rules).toEqual([{ allow: { principals: { claims: { level: '3', admin: 'true' } } } }]);
  });

  it('applies a rule only where its when: condition holds; a deny whose condition cannot be evaluated still denies', () => {
    const config = parseConfig(
      'rules:\n  - allow: { tools: ["*"] }\n    when: "\'ops\' in principal.groups"\n  - deny: { tools: ["*_delete*"] }\n    when: "principal.claims.tenant != \'acme\'"\n',
      'rules.yaml',
      {},
    );
    const authz = compileRules(config.rules!);
    expect(authz.decide(who('a', { groups: ['ops'] }), getItem)).toMatchObject({ allowed: true, rule: 0 });
    expect(authz.decide(who('b', { groups: ['dev'] }), getItem).allowed).toBe(false);
    const del: AuthzTarget = { kind: 'tool', name: 'shop_deleteItem', backend: 'shop', method: 'DELETE', readOnly: false };
    expect(authz.decide(who('c', { groups: ['ops'], claims: { tenant: 'acme' } }), del).allowed).toBe(true);
    // No tenant claim: the condition cannot be evaluated, and the deny applies (fail closed).
    expect(authz.decide(who('d', { groups: ['ops'], claims: {} }), del)).toMatchObject({ allowed: false, rule: 1 });
  });

  it('refuses a when: that does not compile, naming the field and the column', () => {
    const config = parseConfig('rules:\n  - allow: { tools: ["*"] }\n    when: "\'ops\' in principal.grups"\n', 'rules.yaml', {});
    expect(() => compileRules(config.rules!)).toThrow(/rules\[0\]\.when: .*grups.*column \d+/);
  });
});

function tool(name: string, method: string, readOnly: boolean): ToolDefinition {
  return {
    name, description: name, backend: 'shop', annotations: { readOnlyHint: readOnly },
    inputSchema: { type: 'object' }, source: { method: method.toLowerCase(), path: `/${name}`, pointer: `#/paths/~1${name}` },
    binding: { method, path: `/${name}`, baseUrl: 'http://shop.test', parameters: [] },
  };
}

describe('visible', () => {
  const tools = [tool('shop_list', 'GET', true), tool('shop_create', 'POST', false), tool('shop_delete', 'DELETE', false)];
  const authz = compileRules([
    { allow: { principals: { scopes: ['shop:read'] }, readOnly: true } },
    { allow: { principals: { scopes: ['shop:write'] } } },
    { deny: { tools: ['*_delete'], principals: { groups: ['contractors'] } } },
  ]);
  const names = (p: Principal): string[] => authz.visible(p, tools).map((t) => t.name);

  it('gives principals with different scopes different tool lists', () => {
    expect(names(who('reader', { scopes: ['shop:read'] }))).toEqual(['shop_list']);
    expect(names(who('writer', { scopes: ['shop:write'] }))).toEqual(['shop_list', 'shop_create', 'shop_delete']);
    expect(names(who('contractor', { scopes: ['shop:write'], groups: ['contractors'] }))).toEqual(['shop_list', 'shop_create']);
    expect(names(who('nobody'))).toEqual([]);
  });

  it('shows everything when there are no rules, and agrees with decide()', () => {
    expect(compileRules([]).visible(who('x'), tools)).toEqual(tools);
    const p = who('reader', { scopes: ['shop:read'] });
    expect(tools.filter((t) => authz.decide(p, toolTarget(t)).allowed)).toEqual(authz.visible(p, tools));
  });
});

describe('insufficient scope hints', () => {
  const rules: RuleConfig[] = [
    { allow: { principals: { scopes: ['shop:read'] }, backends: ['shop'], methods: ['GET'] } },
    { allow: { principals: { scopes: ['shop:write'] }, backends: ['shop'] } },
    { allow: { principals: { scopes: ['billing'] }, backends: ['billing-*'] } },
  ];
  const authorizer = compileRules(rules);

  it('names the scopes of the allow rules that match the target', () => {
    expect(authorizer.decide(who('a', { scopes: ['other'] }), getItem).scopes).toEqual(['shop:read', 'shop:write']);
    expect(authorizer.decide(who('a', { scopes: ['shop:read'] }), postItem).scopes).toEqual(['shop:write']);
    expect(authorizer.decide(who('a'), billing).scopes).toEqual(['billing']);
  });

  it('gives no hint when no allow rule asks for a scope, or when a deny rule decided', () => {
    expect(compileRules([{ allow: { principals: { groups: ['ops'] } } }]).decide(who('a'), getItem).scopes).toBeUndefined();
    const denied = compileRules([...rules, { deny: { tools: ['shop_create*'] } }]).decide(who('a', { scopes: ['shop:write'] }), postItem);
    expect(denied).toMatchObject({ allowed: false, rule: 3 });
    expect(denied.scopes).toBeUndefined();
  });
});
