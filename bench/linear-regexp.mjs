// Regular-expression engines for spec patterns: what compiling and matching
// the `pattern`s of specs/real cost on RE2 (re2js, the engine argument
// validation uses: src/openapi/linear-regexp.ts) and on JavaScript's RegExp,
// and what `^(a+)+$` costs each of them on a long argument.
//
//   node bench/linear-regexp.mjs [--rounds 3]
//
// Google's re2-wasm is measured too when it is installed (it is not a
// dependency: `npm install --no-save re2-wasm` to compare). Prints one JSON object.
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RE2JS } from 're2js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const dir = new URL('../specs/real/', import.meta.url);

const patterns = new Set();
const walk = (v) => {
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'pattern' && typeof x === 'string') patterns.add(x);
    walk(x);
  }
};
for (const f of readdirSync(dir)) if (f.endsWith('.json')) walk(JSON.parse(readFileSync(new URL(f, dir), 'utf8')));

const engines = {
  're2js': (p) => RE2JS.compile(RE2JS.translateRegExp(p)),
  'RegExp (backtracking)': (p) => new RegExp(p, 'u'),
};
try {
  const { RE2 } = await import('re2-wasm');
  engines['re2-wasm'] = (p) => new RE2(p, 'u');
} catch {
  // not installed
}

const inputs = ['abc-123_DEF', 'arn:aws:es:us-east-1:123456789012:domain/my-domain', 'x'.repeat(1000), 'SK0123456789abcdef0123456789abcdef'];
const out = { patterns: patterns.size, engines: {} };
for (const [name, compile] of Object.entries(engines)) {
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    let compiled = 0;
    let compileMs = 0;
    let matchMs = 0;
    let matches = 0;
    const refused = [];
    for (const p of patterns) {
      const t0 = performance.now();
      let re;
      try {
        re = compile(p);
      } catch {
        refused.push(p);
        continue;
      }
      compileMs += performance.now() - t0;
      compiled++;
      const t1 = performance.now();
      for (let i = 0; i < 100; i++) {
        for (const s of inputs) {
          re.test(s);
          matches++;
        }
      }
      matchMs += performance.now() - t1;
    }
    runs.push({ compiled, refused: refused.length, compileUsEach: Math.round((compileMs / compiled) * 1000), matchUsEach: Math.round((matchMs / matches) * 1000 * 100) / 100 });
  }
  out.engines[name] = { runs };
}

// `^(a+)+$` against n "a"s and a "!": linear on RE2; 2^n on a backtracking engine (measured to 24 only).
const catastrophic = {};
for (const [name, compile] of Object.entries(engines)) {
  const re = compile('^(a+)+$');
  const lengths = name.startsWith('RegExp') ? [16, 20, 24] : [40, 1000, 100_000, 1_048_576];
  catastrophic[name] = Object.fromEntries(
    lengths.map((n) => {
      const s = `${'a'.repeat(n - 1)}!`;
      const t = performance.now();
      re.test(s);
      return [n, Math.round((performance.now() - t) * 100) / 100];
    }),
  );
}
out.catastrophicMs = catastrophic;
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
