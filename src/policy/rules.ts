/**
 * Authorisation rules: which principals may call which tools and models.
 * Plain data in (the config's `rules`), a pure decision out; compiled once
 * when the config loads, so a call only runs precompiled matchers.
 *
 * Semantics:
 * - No rules at all: everything is allowed (a gateway with no rule set is open,
 *   as before rules existed).
 * - Once any rule exists, the default is deny: a call is allowed only when some
 *   `allow` rule matches it.
 * - A matching `deny` wins over any matching `allow`, whatever their order.
 * - Within one {@link Match}, every criterion kind that is listed must match
 *   (AND); each kind is an OR over its values — `{ tools: [a*, b*], methods:
 *   [GET] }` is "(tool a* or b*) and GET". A kind that is not listed is no
 *   criterion; an empty `Match` matches every call. Principal criteria are kinds
 *   of their own: `{ scopes: [x], groups: [g] }` needs scope x and group g.
 * - `claims` is the one kind that is an AND over its entries, like a label
 *   selector: `{ tenant: acme, role: admin }` needs both claims.
 * - Tool criteria (`tools`, `backends`, `methods`, `readOnly`) never match a
 *   model target, and `models` never matches a tool target, so a rule about
 *   tools says nothing about models and vice versa.
 * - An empty list, a missing or doubled `allow`/`deny`, or an unknown key is a
 *   config error, not "no criterion": a typo must not silently widen an allow.
 *   The config schema refuses them (config/schema.ts, the rules' types come
 *   from it), so what reaches compileRules has the shape its types say.
 *
 * Globs (`tools`, `backends`, `models`): `*` matches any run of characters;
 * nothing else is special. Matching is case-sensitive except for methods.
 */
import type { Match, RuleConfig } from '../config/schema.js';
import { globToRegExp } from '../openapi/select-operations.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import type { Principal } from '../call/context.js';
import { compileCondition } from '../conditions/cel.js';
import { conditionInputFor } from '../conditions/input.js';

/** What a call is about. */
export type AuthzTarget =
  | { kind: 'tool'; name: string; backend: string; method: string; readOnly: boolean }
  | { kind: 'model'; name: string };

export interface Decision {
  allowed: boolean;
  /** Index in the rules array of the rule that decided; absent for the defaults. */
  rule?: number;
  /** For people: why (`denied by rules[2]`). */
  reason: string;
  /**
   * Denied by default only: scopes that an allow rule for this target asks
   * for — any one of them would allow the call (RFC 6750 `insufficient_scope`).
   */
  scopes?: readonly string[];
}

export interface Authorizer {
  decide(principal: Principal, target: AuthzTarget): Decision;
  /** The tools this principal may call, in order (tools/list filtering). */
  visible(principal: Principal, tools: readonly ToolDefinition[]): ToolDefinition[];
}

/** The authorisation target of a tool, as `visible()` sees it; use it in `authorize`'s `toTarget` too. */
export function toolTarget(tool: ToolDefinition): AuthzTarget {
  return {
    kind: 'tool',
    name: tool.name,
    backend: tool.backend,
    method: tool.source.method,
    readOnly: tool.annotations.readOnlyHint === true,
  };
}

/** The principal as rules read it: optional fields that may or may not exist yet on {@link Principal}. */
interface PrincipalFacts {
  principal: Principal;
  ids: readonly string[];
  scopes: readonly string[];
  groups: readonly string[];
  keyId: string | undefined;
  claims: Readonly<Record<string, unknown>> | undefined;
}

type Test = (p: PrincipalFacts, t: AuthzTarget) => boolean;

interface CompiledRule {
  effect: 'allow' | 'deny';
  index: number;
  tests: Test[];
  /** The tests on the target alone (tools, backends, methods, readOnly, models). */
  targetTests: Test[];
  /** `principals.scopes` of the rule, if listed: what a denied caller could be granted. */
  scopes: readonly string[] | undefined;
}

/** Compiles rules once (globs to RegExps, lists to Sets). Throws `GH_CONFIG_INVALID` naming `rules[i]…`. */
export function compileRules(rules: readonly RuleConfig[]): Authorizer {
  const compiled = rules.map((rule, i) => compileRule(rule, i));

  const decideFacts = (facts: PrincipalFacts, target: AuthzTarget): Decision => {
    if (compiled.length === 0) return { allowed: true, reason: 'no rules configured' };
    let allowedBy: number | undefined;
    for (const rule of compiled) {
      if (!rule.tests.every((test) => test(facts, target))) continue;
      if (rule.effect === 'deny') return { allowed: false, rule: rule.index, reason: `denied by rules[${rule.index}]` };
      allowedBy ??= rule.index;
    }
    if (allowedBy !== undefined) return { allowed: true, rule: allowedBy, reason: `allowed by rules[${allowedBy}]` };
    const scopes = scopesFor(target, facts);
    return scopes.length === 0
      ? { allowed: false, reason: 'no rule allows it (deny by default)' }
      : { allowed: false, reason: `no rule allows it (deny by default); a scope that would: ${scopes.join(' ')}`, scopes };
  };

  /** Scopes of the allow rules whose other criteria this call already meets. */
  const scopesFor = (target: AuthzTarget, facts: PrincipalFacts): string[] => {
    const found = new Set<string>();
    for (const rule of compiled) {
      if (rule.effect !== 'allow' || rule.scopes === undefined || !rule.targetTests.every((test) => test(facts, target))) continue;
      for (const scope of rule.scopes) found.add(scope);
    }
    return [...found];
  };

  return {
    decide: (principal, target) => decideFacts(readPrincipal(principal), target),
    visible: (principal, tools) => {
      if (compiled.length === 0) return [...tools];
      const facts = readPrincipal(principal);
      return tools.filter((tool) => decideFacts(facts, toolTarget(tool)).allowed);
    },
  };
}

function compileRule(rule: RuleConfig, i: number): CompiledRule {
  const where = `rules[${i}]`;
  const effect = rule.allow === undefined ? 'deny' : 'allow';
  const match = (rule.allow ?? rule.deny) as Match;
  const { principalTests, targetTests } = compileMatch(match);
  const tests = [...principalTests, ...targetTests];
  if (rule.when !== undefined) {
    // A deny rule whose condition cannot be evaluated still applies: fail closed.
    const when = compileCondition(rule.when, `${where}.when`, { onError: effect === 'deny' ? 'match' : 'no-match' });
    tests.push((f, t) => when(conditionInputFor(f.principal, t)));
  }
  return { effect, index: i, tests, targetTests, scopes: match.principals?.scopes };
}

function compileMatch(m: Match): { principalTests: Test[]; targetTests: Test[] } {
  const tests: Test[] = [];
  const p = m.principals;
  if (p !== undefined) {
    if (p.scopes !== undefined) {
      const want = new Set(p.scopes);
      tests.push((f) => f.scopes.some((s) => want.has(s)));
    }
    if (p.groups !== undefined) {
      const want = new Set(p.groups);
      tests.push((f) => f.groups.some((g) => want.has(g)));
    }
    if (p.keyIds !== undefined) {
      const want = new Set(p.keyIds);
      tests.push((f) => f.keyId !== undefined && want.has(f.keyId));
    }
    if (p.subjects !== undefined) {
      const want = new Set(p.subjects);
      tests.push((f) => f.ids.some((id) => want.has(id)));
    }
    if (p.claims !== undefined) {
      const entries = Object.entries(p.claims);
      tests.push((f) => f.claims !== undefined && entries.every(([name, value]) => claimHas(f.claims?.[name], value)));
    }
  }
  const principalTests = tests.splice(0);
  if (m.tools !== undefined) {
    const globs = compileGlobs(m.tools);
    tests.push((_f, t) => t.kind === 'tool' && globs.some((g) => g.test(t.name)));
  }
  if (m.backends !== undefined) {
    const globs = compileGlobs(m.backends);
    tests.push((_f, t) => t.kind === 'tool' && globs.some((g) => g.test(t.backend)));
  }
  if (m.methods !== undefined) {
    const want = new Set(m.methods.map((x) => x.toUpperCase()));
    tests.push((_f, t) => t.kind === 'tool' && want.has(t.method.toUpperCase()));
  }
  if (m.readOnly !== undefined) {
    const want = m.readOnly;
    tests.push((_f, t) => t.kind === 'tool' && t.readOnly === want);
  }
  if (m.models !== undefined) {
    const globs = compileGlobs(m.models);
    tests.push((_f, t) => t.kind === 'model' && globs.some((g) => g.test(t.name)));
  }
  return { principalTests, targetTests: tests };
}

// The importer's filter globs: `*` spans any characters, nothing else is special
// (see select-operations.ts for why not picomatch).
function compileGlobs(values: readonly string[]): ReturnType<typeof globToRegExp>[] {
  return [...new Set(values)].map((g) => globToRegExp(g, 'operationId'));
}

function claimHas(claim: unknown, value: string): boolean {
  if (Array.isArray(claim)) return claim.some((c) => scalarEquals(c, value));
  return scalarEquals(claim, value);
}

function scalarEquals(claim: unknown, value: string): boolean {
  return (typeof claim === 'string' || typeof claim === 'number' || typeof claim === 'boolean') && String(claim) === value;
}

/**
 * Reads the fields rules match on. Principal grows optional fields over time
 * (groups, keyId, claims…), so they are read by name and checked at run time
 * rather than assumed by type: a principal without them matches no criterion
 * on them.
 */
function readPrincipal(principal: Principal): PrincipalFacts {
  // A Principal is an object; viewing it as a string-keyed record only loses static types we re-check below.
  const bag = principal as unknown as Readonly<Record<string, unknown>>;
  const ids = [bag['id'], bag['subject']].filter((v): v is string => typeof v === 'string');
  const claims = bag['claims'];
  const keyId = bag['keyId'];
  return {
    principal,
    ids,
    scopes: strings(bag['scopes']),
    groups: strings(bag['groups']),
    keyId: typeof keyId === 'string' ? keyId : undefined,
    claims: typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Readonly<Record<string, unknown>>) : undefined,
  };
}

function strings(v: unknown): readonly string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
