// What a `when:` condition costs: compiling it (once, at load) and evaluating it (per call),
// for a few typical conditions through src/conditions/cel.ts, the error path (a claim the
// token lacks), and the ai router resolving a model with and without a conditional route.
//
//   npm run build && node bench/cel-conditions.mjs [--evals 1000000] [--rounds 3]
//
// The other CEL libraries for JavaScript are measured on the first condition too when
// they are installed (they are not dependencies: `npm install --no-save @bufbuild/cel
// cel-js` to compare). Prints one JSON object; ns per evaluation is the best of the rounds.
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { evals: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } } });
const EVALS = Number(values.evals);
const ROUNDS = Number(values.rounds);

const { compileCondition } = await import('../dist/conditions/cel.js');
const { createRouter } = await import('../dist/ai/engine/router.js');

const principal = (over) => ({ id: 'alice', kind: 'api-key', scopes: ['tools:read'], groups: ['staff'], client: '', claims: {}, ...over });
const modelCall = { kind: 'model', target: 'gpt-4o', backend: 'gpt-4o', tool: '', model: 'gpt-4o', method: '', readOnly: false };
const toolCall = (method, readOnly) => ({ kind: 'tool', target: 'github_repo_delete', backend: 'github', tool: 'github_repo_delete', model: '', method, readOnly });

/** Each condition with two inputs, evaluated alternately (one true, one false where it can be). */
const cases = [
  {
    name: 'group and call kind',
    source: `'premium' in principal.groups && call.kind == 'model'`,
    inputs: [{ principal: principal({ groups: ['staff', 'premium'] }), call: modelCall }, { principal: principal(), call: modelCall }],
  },
  {
    name: 'claim guarded by has()',
    source: `has(principal.claims.tenant) && principal.claims.tenant == 'acme'`,
    inputs: [{ principal: principal({ kind: 'jwt', claims: { tenant: 'acme', sub: 'u1' } }), call: modelCall }, { principal: principal({ kind: 'jwt', claims: { sub: 'u2' } }), call: modelCall }],
  },
  {
    name: 'tool, backend, method, readOnly',
    source: `call.kind == 'tool' && call.backend == 'github' && (call.method == 'DELETE' || !call.readOnly)`,
    inputs: [{ principal: principal(), call: toolCall('DELETE', false) }, { principal: principal(), call: toolCall('GET', true) }],
  },
  {
    name: 'model prefix and scope',
    source: `call.model.startsWith('gpt-') && 'tools:write' in principal.scopes`,
    inputs: [{ principal: principal({ scopes: ['tools:write'] }), call: modelCall }, { principal: principal(), call: modelCall }],
  },
  {
    name: 'error path: a claim the token lacks (yields onError)',
    source: `principal.claims.tenant == 'acme'`,
    inputs: [{ principal: principal({ kind: 'jwt', claims: { sub: 'u1' } }), call: modelCall }, { principal: principal({ kind: 'jwt', claims: { sub: 'u2' } }), call: modelCall }],
  },
];

function nsPer(fn, inputs, evals = EVALS) {
  let sink = 0;
  for (let i = 0; i < Math.min(evals, 100_000); i++) if (fn(inputs[i & 1])) sink++;
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < evals; i++) if (fn(inputs[i & 1])) sink++;
    best = Math.min(best, Number(process.hrtime.bigint() - t) / evals);
  }
  if (sink < 0) console.log(sink);
  return Math.round(best);
}

const out = { evals: EVALS, rounds: ROUNDS, node: process.version, conditions: {}, router: {}, libraries: {} };

// The first compile loads the library (conditions/cel.ts loads it on first use).
let t = performance.now();
compileCondition('true', 'bench');
out.firstCompileIncludingLoadMs = Math.round((performance.now() - t) * 10) / 10;

for (const c of cases) {
  t = performance.now();
  const n = 2000;
  let cond;
  for (let i = 0; i < n; i++) cond = compileCondition(c.source, 'bench');
  const compileUs = Math.round(((performance.now() - t) / n) * 1000 * 10) / 10;
  const results = c.inputs.map((i) => cond(i));
  // The error path throws inside the library on every evaluation: fewer of them.
  const evals = c.name.startsWith('error') ? Math.ceil(EVALS / 10) : EVALS;
  out.conditions[c.name] = { source: c.source, results, compileUs, nsPerEval: nsPer(cond, c.inputs, evals) };
}

// The router: a model whose first route has a condition, against one whose route has none.
const router = createRouter({
  targets: { premium: { provider: 'ollama' }, standard: { provider: 'ollama' } },
  routes: [
    { model: 'gpt-4o', aliases: [], targets: ['premium'], when: `'premium' in principal.groups` },
    { model: 'gpt-4o', aliases: [], targets: ['standard'] },
    { model: 'plain', aliases: [], targets: ['standard'] },
  ],
  retry: { attempts: 1, backoffMs: 1, deadlineMs: 1000 },
  cooldown: { failures: 3, ms: 1000 },
  budgetStore: 'memory',
  budgets: [],
  guards: {},
});
const callers = [
  { id: 'alice', kind: 'api-key', groups: ['premium'] },
  { id: 'bob', kind: 'api-key', groups: ['staff'] },
];
out.router.resolveUnconditionalNs = nsPer((p) => router.resolve('plain', p) !== undefined, callers);
out.router.resolveConditionalNs = nsPer((p) => router.resolve('gpt-4o', p).targets[0].name === 'premium', callers);

// Other libraries, on the first condition with the same inputs (plain objects).
const first = cases[0];
try {
  const { Environment } = await import('@marcbachmann/cel-js');
  const env = new Environment().registerVariable('principal', 'map<string, dyn>').registerVariable('call', 'map<string, dyn>');
  const f = env.parse(first.source);
  out.libraries['@marcbachmann/cel-js (map variables, no wrapper)'] = { nsPerEval: nsPer((i) => f(i), first.inputs) };
} catch (err) {
  out.libraries['@marcbachmann/cel-js'] = { error: String(err) };
}
try {
  const cel = await import('@bufbuild/cel');
  const dynMap = cel.mapType(cel.CelScalar.STRING, cel.CelScalar.DYN);
  const f = cel.plan(cel.celEnv({ variables: { principal: dynMap, call: dynMap } }), cel.parse(first.source));
  out.libraries['@bufbuild/cel'] = { nsPerEval: nsPer((i) => f(i) === true, first.inputs) };
} catch {
  // not installed
}
try {
  const celJs = await import('cel-js');
  const { cst } = celJs.parse(first.source);
  out.libraries['cel-js'] = { nsPerEval: nsPer((i) => celJs.evaluate(cst, i) === true, first.inputs, Math.ceil(EVALS / 10)) };
} catch {
  // not installed
}

console.log(JSON.stringify(out, null, 2));
