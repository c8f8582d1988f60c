/**
 * `when:` conditions: CEL (Common Expression Language) expressions over who is calling
 * and what is called, compiled once when the configuration loads and evaluated per call.
 *
 * The language is @marcbachmann/cel-js (docs/design.md says why). The two variables are
 * declared as message types with typed fields, so the type checker refuses at load what
 * could never work: a syntax error, an unknown variable, a misspelt field
 * (`principal.grups`), an operator on the wrong types, a result that is not a boolean.
 * `principal.claims` is a `map<string, dyn>`: which claims a token carries is known only
 * per call, so a claim is checked when evaluated.
 *
 * Evaluation never throws out of a condition: a missing map key (`principal.claims.tenant`
 * on a token without one), a type mismatch found at run time, or a result that is not a
 * boolean yields `onError`: `no-match` by default, `match` for deny rules, so that a deny
 * whose condition cannot be evaluated still applies (fail closed).
 */
import { createRequire } from 'node:module';
import type { Environment, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import { GatehouseError } from '../errors/catalogue.js';

export interface ConditionInput {
  principal: {
    id: string;
    kind: string;
    scopes: readonly string[];
    groups: readonly string[];
    /** The OAuth client the token was issued to; '' when unknown. */
    client: string;
    claims: Readonly<Record<string, unknown>>;
  };
  call: {
    kind: 'tool' | 'model';
    /** The tool name or the model name. */
    target: string;
    /** The tool's backend, or the model's route. */
    backend: string;
    /** '' for model calls. */
    tool: string;
    /** '' for tool calls. */
    model: string;
    /** The HTTP method of a tool's operation; '' for models. */
    method: string;
    readOnly: boolean;
  };
}

export type Condition = (input: ConditionInput) => boolean;

export interface ConditionOptions {
  /** What a condition that cannot be evaluated yields. Default `no-match`; `match` for deny rules (fail closed). */
  onError?: 'match' | 'no-match';
}

// The library resolves a message-typed variable by its value's constructor, so each
// evaluation hands it instances of these two classes (a copy of six and seven fields:
// cheaper than the library's own conversion of plain objects, see bench/cel-conditions.mjs).
class CelPrincipal {
  readonly id: string;
  readonly kind: string;
  readonly scopes: readonly string[];
  readonly groups: readonly string[];
  readonly client: string;
  readonly claims: Readonly<Record<string, unknown>>;
  constructor(p: ConditionInput['principal']) {
    this.id = p.id;
    this.kind = p.kind;
    this.scopes = p.scopes;
    this.groups = p.groups;
    this.client = p.client;
    this.claims = p.claims;
  }
}

class CelCall {
  readonly kind: string;
  readonly target: string;
  readonly backend: string;
  readonly tool: string;
  readonly model: string;
  readonly method: string;
  readonly readOnly: boolean;
  constructor(c: ConditionInput['call']) {
    this.kind = c.kind;
    this.target = c.target;
    this.backend = c.backend;
    this.tool = c.tool;
    this.model = c.model;
    this.method = c.method;
    this.readOnly = c.readOnly;
  }
}

/** The variables and their types, as docs/configuration.md lists them. */
const PRINCIPAL_FIELDS = { id: 'string', kind: 'string', scopes: 'list<string>', groups: 'list<string>', client: 'string', claims: 'map<string, dyn>' };
const CALL_FIELDS = { kind: 'string', target: 'string', backend: 'string', tool: 'string', model: 'string', method: 'string', readOnly: 'bool' };

type CelModule = typeof import('@marcbachmann/cel-js');

let env: Environment | undefined;
let errorClasses: { ParseError: typeof ParseError; TypeError: typeof CelTypeError } | undefined;

/**
 * The one environment, made on first use. The library is loaded then too (require of an
 * ES module, Node ≥ 20.19): a process whose configuration has no `when:` never loads it,
 * and compileCondition stays synchronous for the config code that calls it.
 */
function environment(): Environment {
  if (env !== undefined) return env;
  const cel = createRequire(import.meta.url)('@marcbachmann/cel-js') as CelModule;
  errorClasses = { ParseError: cel.ParseError, TypeError: cel.TypeError };
  env = new cel.Environment()
    .registerType('gatehouse.Principal', { ctor: CelPrincipal, fields: PRINCIPAL_FIELDS })
    .registerType('gatehouse.Call', { ctor: CelCall, fields: CALL_FIELDS })
    .registerVariable('principal', 'gatehouse.Principal')
    .registerVariable('call', 'gatehouse.Call');
  return env;
}

/**
 * Compile a condition once. Throws GH_CONFIG_INVALID naming `field` (e.g.
 * `policies[2].rateLimit.when`) with the position of a syntax error, an unknown variable
 * or field, a type error, or a result type other than bool (or dyn, decided per call).
 */
export function compileCondition(source: string, field: string, options: ConditionOptions = {}): Condition {
  const e = environment();
  let evaluate: ReturnType<Environment['parse']>;
  try {
    evaluate = e.parse(source);
  } catch (err) {
    throw configError(source, field, err);
  }
  const checked = evaluate.check();
  if (!checked.valid) throw configError(source, field, checked.error);
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new GatehouseError('GH_CONFIG_INVALID', `${field}: a condition must be a boolean, but this expression is of type ${checked.type}\n${excerpt(source, 0, source.length)}`);
  }
  const onError = options.onError === 'match';
  return (input) => {
    // An evaluation error (a claim the token lacks: a common case, not a rare one) is an
    // exception inside the library, and capturing its stack was three quarters of its
    // cost (~15 of ~19 µs, bench/cel-conditions.mjs). Nothing reads that stack, and
    // evaluation is synchronous (no async functions are registered), so no other code
    // runs while the limit is off.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      const result: unknown = evaluate({ principal: new CelPrincipal(input.principal), call: new CelCall(input.call) });
      return typeof result === 'boolean' ? result : onError;
    } catch {
      return onError;
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
}

function configError(source: string, field: string, err: unknown): GatehouseError {
  const known = errorClasses !== undefined && (err instanceof errorClasses.ParseError || err instanceof errorClasses.TypeError);
  if (!known) return new GatehouseError('GH_CONFIG_INVALID', `${field}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const e = err as ParseError | CelTypeError;
  const range = e.range ?? { start: 0, end: source.length };
  return new GatehouseError('GH_CONFIG_INVALID', `${field}: ${e.summary} ${where(source, range.start)}\n${excerpt(source, range.start, range.end)}`, { cause: err });
}

/** "at column 7", or "at line 2, column 3" for an expression of several lines (a YAML block). */
function where(source: string, offset: number): string {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return source.includes('\n') ? `at line ${line}, column ${column}` : `at column ${column}`;
}

/** The line of the expression holding `start`, indented, with carets under start..end. */
function excerpt(source: string, start: number, end: number): string {
  const lineStart = start === 0 ? 0 : source.lastIndexOf('\n', start - 1) + 1;
  const next = source.indexOf('\n', start);
  const lineEnd = next === -1 ? source.length : next;
  const text = source.slice(lineStart, lineEnd);
  const width = Math.max(1, Math.min(end, lineEnd) - start);
  return `    ${text}\n    ${' '.repeat(start - lineStart)}${'^'.repeat(width)}`;
}
