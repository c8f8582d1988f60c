/**
 * Regular expressions from documents Gatehouse does not control (a spec's
 * `pattern` and `patternProperties`), evaluated in linear time.
 *
 * JavaScript's RegExp backtracks: `^(a+)+$` against forty `a`s and a `!` runs
 * for hours, on the event loop, and a process stuck in a regex ignores SIGTERM.
 * RE2 (https://github.com/google/re2/wiki/Syntax) matches in time linear in
 * the input, whatever the pattern, and refuses the features that cannot be
 * matched so: lookaround and backreferences.
 *
 * The engine is re2js, a pure-JavaScript port of RE2, rather than the native
 * `re2` bindings or Google's `re2-wasm`. Measured on the 149 distinct patterns
 * of specs/real (docs/benchmarks.md): re2js compiles a pattern in about 0.3 ms
 * and matches in 1–2 µs, faster than either; `re2` is a node-gyp module whose
 * current release needs Node ≥ 22.22 and must be rebuilt for every runtime
 * (the pain better-sqlite3 already gives under a runtime other than the one
 * that built it), and `re2-wasm` has not been released since 2021, compiles
 * 2–3× slower and matches 3× slower; re2js and re2-wasm refuse the same 2 of
 * the 149 (lookahead, `\p{XDigit}`).
 * V8's own linear engine (`--enable-experimental-regexp-engine`, the `l`
 * flag) is an experimental process-wide flag, not something a library sets.
 *
 * A pattern RE2 cannot compile is not enforced (see {@link linearRegExp}); the
 * importer warns about it, naming its JSON pointer (json-schema.ts).
 */
import { RE2JS } from 're2js';

/** What Ajv and the glob matchers need of a regular expression. */
export interface LinearRegExp {
  test(s: string): boolean;
}

/**
 * Compiles an ECMAScript pattern (JSON Schema 2020-12 §6.4: patterns are
 * ECMA-262 regular expressions) for RE2, or returns why it cannot be.
 * `translateRegExp` rewrites the ECMAScript spellings RE2 writes differently
 * (`\uXXXX`, `(?<name>`, `\/`).
 */
export function compileLinear(pattern: string, flags: { dotAll?: boolean } = {}): LinearRegExp | Error {
  try {
    const re = RE2JS.compile(RE2JS.translateRegExp(pattern), flags.dotAll === true ? RE2JS.DOTALL : 0);
    // `test` is an unanchored search, as RegExp.prototype.test is (JSON Schema
    // 2020-12 §6.4: patterns are not implicitly anchored).
    return { test: (s) => re.test(s) };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** True when RE2 can compile `pattern` (so Ajv enforces it). */
export function isLinearPattern(pattern: string): boolean {
  return !(compileLinear(pattern) instanceof Error);
}

const ACCEPT_ALL: LinearRegExp = { test: () => true };

/**
 * An Ajv `code.regExp` engine: every `pattern` and `patternProperties` Ajv
 * compiles goes through RE2. A pattern RE2 refuses matches everything, so its
 * constraint is not enforced rather than enforced in exponential time; the
 * schema the agent sees still shows it. Compiled patterns are remembered per
 * engine: one Ajv instance (a registry snapshot) compiles each pattern once.
 */
export function linearRegExpEngine(): ((pattern: string, u: string) => LinearRegExp) & { code: string } {
  const compiled = new Map<string, LinearRegExp>();
  const engine = (pattern: string): LinearRegExp => {
    let re = compiled.get(pattern);
    if (re === undefined) {
      const made = compileLinear(pattern);
      const test = made instanceof Error ? ACCEPT_ALL.test : made.test;
      // Ajv keys its scope values by `toString()`: it must differ per pattern.
      re = { test, toString: () => `/${pattern}/` } as LinearRegExp;
      compiled.set(pattern, re);
    }
    return re;
  };
  // Only standalone code (never made from tool schemas) reads `code`.
  return Object.assign(engine, { code: 're2js' });
}
