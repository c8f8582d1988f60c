// What tracing adds to one call, in process: the span's start (the caller's
// traceparent extracted, the span's injected for the backend) and its end
// (attributes, status), with the batch exporter sending http/protobuf to a
// local sink. The export itself runs in the background, batched.
//
//   npm run build && node bench/tracing-overhead.mjs
import { createServer } from 'node:http';
const { createCallTracing } = await import('../dist/tracing/tracing.js');
const { silentLogger } = await import('../dist/log/logger.js');
const sink = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); }); });
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const t = await createCallTracing({ protocol: 'http/protobuf', url: `http://127.0.0.1:${sink.address().port}/v1/traces` }, silentLogger());
const ctxOf = (i) => ({ kind: 'tool', target: 'stub_getItem', backend: 'stub', method: 'GET', readOnly: true, principal: { id: 'a', kind: 'anonymous' }, args: {}, requestId: `r${i}`, startedAt: Date.now(), started: performance.now(), outcome: { calledAs: 'stub_getItem', protocol: '2026-07-28', status: 200 }, trace: { caller: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } } });
const N = 20000;
for (let round = 0; round < 3; round++) {
  const samples = [];
  for (let i = 0; i < N; i++) {
    const ctx = ctxOf(i);
    const t0 = performance.now();
    t.start(ctx);
    t.observer(ctx, 0.0004);
    samples.push(performance.now() - t0);
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  samples.sort((a, b) => a - b);
  console.log(`round ${round}: p50 ${(samples[N / 2]).toFixed(4)} ms, p99 ${samples[Math.floor(N * 0.99)].toFixed(4)} ms`);
}
await t.close();
sink.close();
