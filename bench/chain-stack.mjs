// What stacking policy instances costs per call: the call chain (policy/chain.ts)
// run in-process for model calls, twice in the same run —
//   default: the chain a config without policies builds (validate, protect);
//   stacked: the same plus five instances — two token windows (per minute and
//            per hour), a budget, a guard (two blocked patterns and maxChars) and
//            a request rule scoped by `when:` (a CEL condition on the caller's groups).
// Each call is what the ai endpoint does around the engine: a fresh context,
// chain.run with a forward step that reports usage and a cost, chain.finish.
// Rounds alternate default/stacked; the figure is the median per-call
// difference over the rounds, in microseconds (the target is ≤ 50 µs).
//
//   npm run bench:chain
//   node bench/chain-stack.mjs [--calls 100000] [--rounds 7]   (after npm run build)
import { parseArgs } from 'node:util';
import { createChain } from '../dist/policy/chain.js';
import { createBackendGuards } from '../dist/limits/backend-guards.js';
import { silentLogger } from '../dist/log/logger.js';
import { NEVER_CANCELLED } from '../dist/call/context.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '7' } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const log = silentLogger();

const base = { rateLimits: { store: 'memory', onStoreError: 'open', rules: [] }, audit: { durability: 'batched', store: 'none' } };
const deps = () => ({ log, authorizer: undefined, backendGuards: createBackendGuards([], { log, metrics: undefined }), redis: undefined, metrics: undefined, auditHealthy: () => true, observers: [() => undefined] });
// Limits no run reaches: the bench measures the checks, not refusals.
const stackedPolicies = [
  { rateLimit: { name: 'tokens-per-minute', key: ['principal'], limit: 1e12, window: '1m', cost: 'tokens' } },
  { rateLimit: { name: 'tokens-per-hour', key: ['principal'], limit: 1e12, window: '1h', cost: 'tokens' } },
  { rateLimit: { name: 'premium-requests', key: ['principal'], limit: 1e12, window: '1m', cost: 'requests', when: "'premium' in principal.groups" } },
  { budget: { name: 'daily', per: 'day', limitUsd: 1e12 } },
  { guard: { maxChars: 100_000, blockedPatterns: ['sk-[A-Za-z0-9]{20,}', 'BEGIN (RSA|EC) PRIVATE KEY'] } },
];
const chains = {
  default: createChain({ ...base, policies: [] }, deps()),
  stacked: createChain({ ...base, policies: stackedPolicies }, deps()),
};

const principal = { id: 'bench-user', kind: 'api-key', groups: ['premium'] };
const request = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name three prime numbers.' }] };
const validate = () => undefined;

async function oneCall(chain) {
  const ctx = {
    kind: 'model', target: 'gpt-4o-mini', backend: 'main', method: '', readOnly: false, principal, args: {}, request, tokens: 300,
    requestId: 'r', log, signal: NEVER_CANCELLED, startedAt: Date.now(), started: performance.now(), outcome: {}, validate,
  };
  await chain.run(ctx, async () => {
    ctx.outcome.sent = true;
    ctx.outcome.usage = { input: 20, output: 12 };
    ctx.outcome.costUsd = 0.00001;
    return 'answer';
  });
  await chain.finish(ctx);
}

async function round(chain) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await oneCall(chain);
  return Number(process.hrtime.bigint() - start) / 1e3 / CALLS; // µs per call
}

// Warm up both (JIT, the limiter's maps).
await round(chains.default);
await round(chains.stacked);
const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  const d = await round(chains.default);
  const s = await round(chains.stacked);
  rows.push({ default: d, stacked: s, added: s - d });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => x.toFixed(2);
console.log(`chain-stack: ${CALLS} model calls per round, ${ROUNDS} rounds (µs per call)`);
for (const [i, row] of rows.entries()) console.log(`  round ${i + 1}: default ${fmt(row.default)}  stacked ${fmt(row.stacked)}  added ${fmt(row.added)}`);
console.log(`  median: default ${fmt(median(rows.map((r) => r.default)))}  stacked ${fmt(median(rows.map((r) => r.stacked)))}  added ${fmt(median(rows.map((r) => r.added)))} µs = ${(median(rows.map((r) => r.added)) / 1000).toFixed(4)} ms`);
console.log(`  stages: default ${chains.default.stages.join(' → ')}`);
console.log(`          stacked ${chains.stacked.stages.join(' → ')}`);
