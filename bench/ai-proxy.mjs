// The ai-proxy's overhead against calling the upstream directly, in one run:
// a fake OpenAI-compatible upstream (fixed answer, JSON and a 5-chunk stream),
// the gateway as a child process routing one model to it (no auth, default
// audit and metrics), then:
//  1. JSON latency: N sequential /v1/chat/completions, interleaved direct and
//     through the gateway (p50/p99 and what the gateway adds);
//  2. stream time to first byte: N sequential streamed calls, interleaved;
//  3. requests/s at C connections (autocannon), direct, through the gateway and
//     through the bare proxy of step 5;
//  4. the gateway's RSS under that load;
//  5. the floor: N more sequential JSON calls, interleaved direct and through a
//     minimal Node pass-through proxy (bench/reference-ai-proxy.mjs), measured
//     after the gateway's loops so that they do not change.
//
//   npm run bench:ai
//   node bench/ai-proxy.mjs [--calls 2000] [--seconds 10] [--connections 50] [--audit loop]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { freePort, listen, memoryMb, startGatewayProcess } from './lib.mjs';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    // `--audit loop`: the SQLite trail on the event loop (audit.sqlite.thread: false,
    // batches of 100), the memory-saving setting; default: as shipped.
    audit: { type: 'string', default: 'on' },
  },
});
const CALLS = Number(values.calls);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);

const completion = (model) =>
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'The answer is 42.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
  });
const chunk = (model, delta, finish = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

// The upstream: answers at once, so what the gateway adds dominates.
const upstream = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const parsed = JSON.parse(body || '{}');
    const model = parsed.model ?? 'bench-model';
    if (!parsed.stream) {
      const text = completion(model);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk(model, { role: 'assistant', content: '' }));
    for (const word of ['The ', 'answer ', 'is ', '42.']) res.write(chunk(model, { content: word }));
    res.write(chunk(model, {}, 'stop'));
    if (parsed.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });
});
const upstreamPort = await listen(upstream);

const gatewayPort = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-ai-'));
const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(
  configFile,
  `server: { host: 127.0.0.1, port: ${gatewayPort} }
log: { level: warn }
dataDir: ${join(dir, 'data')}
backends: []
${values.audit === 'loop' ? 'audit: { sqlite: { thread: false }, queue: { batchSize: 100 } }\n' : ''}ai:
  targets:
    fake: { provider: openai-compatible, baseUrl: "http://127.0.0.1:${upstreamPort}/v1" }
  routes:
    - { model: bench-model, targets: [fake] }
`,
);
const { child: gateway, url: gatewayUrl } = await startGatewayProcess(configFile, gatewayPort);

const messages = [{ role: 'user', content: 'What is the answer?' }];
const jsonBody = JSON.stringify({ model: 'bench-model', messages });
const streamBody = JSON.stringify({ model: 'bench-model', messages, stream: true });
const headers = { 'content-type': 'application/json' };
const direct = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 1 });
const viaGateway = new Pool(gatewayUrl, { connections: 1 });

async function timeJson(pool) {
  const t = process.hrtime.bigint();
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers, body: jsonBody });
  const text = await res.body.text();
  if (res.statusCode !== 200 || !text.includes('42')) throw new Error(`bad answer ${res.statusCode}: ${text.slice(0, 200)}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
/** Time to the first content byte of a stream (the first chunk carrying text), and the whole stream read. */
async function timeFirstContent(pool) {
  const t = process.hrtime.bigint();
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers, body: streamBody });
  let first;
  let all = '';
  for await (const part of res.body) {
    all += part.toString();
    if (first === undefined && all.includes('"content":"The ')) first = Number(process.hrtime.bigint() - t) / 1e6;
  }
  if (res.statusCode !== 200 || !all.includes('[DONE]')) throw new Error(`bad stream ${res.statusCode}: ${all.slice(0, 200)}`);
  return first;
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

for (let i = 0; i < 300; i++) {
  await timeJson(direct);
  await timeJson(viaGateway);
  await timeFirstContent(direct);
  await timeFirstContent(viaGateway);
}
const dj = [];
const gj = [];
const ds = [];
const gs = [];
for (let i = 0; i < CALLS; i++) {
  dj.push(await timeJson(direct));
  gj.push(await timeJson(viaGateway));
  ds.push(await timeFirstContent(direct));
  gs.push(await timeFirstContent(viaGateway));
}

const referencePort = await freePort();
const reference = fork(new URL('./reference-ai-proxy.mjs', import.meta.url).pathname, [String(referencePort), `http://127.0.0.1:${upstreamPort}`], { stdio: 'inherit' });
await new Promise((resolve, reject) => reference.once('message', resolve).once('exit', () => reject(new Error('the reference proxy exited'))));
const viaReference = new Pool(`http://127.0.0.1:${referencePort}`, { connections: 1 });
for (let i = 0; i < 300; i++) {
  await timeJson(direct);
  await timeJson(viaReference);
}
const dr = [];
const rj = [];
for (let i = 0; i < CALLS; i++) {
  dr.push(await timeJson(direct));
  rj.push(await timeJson(viaReference));
}
await viaReference.close();

async function cannon(url) {
  const result = await autocannon({ url, method: 'POST', headers, body: jsonBody, connections: CONNECTIONS, duration: SECONDS, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon saw ${result.non2xx} non-2xx and ${result.errors} errors`);
  return result.requests.average;
}
const directRps = await cannon(`http://127.0.0.1:${upstreamPort}/v1/chat/completions`);
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryMb(gateway.pid).rss)), 250);
const gatewayRps = await cannon(`${gatewayUrl}/v1/chat/completions`);
clearInterval(sampler);
// The floor for requests/s as for latency: the bare pass-through proxy under the same load.
const referenceRps = await cannon(`http://127.0.0.1:${referencePort}/v1/chat/completions`);
reference.kill('SIGTERM');

const f = (x) => x.toFixed(3);
console.log(
  JSON.stringify(
    {
      calls: CALLS,
      json: { directP50: f(pct(dj, 50)), gatewayP50: f(pct(gj, 50)), addedP50: f(pct(gj, 50) - pct(dj, 50)), addedP99: f(pct(gj, 99) - pct(dj, 99)), referenceProxyAddedP50: f(pct(rj, 50) - pct(dr, 50)) },
      streamFirstContent: { directP50: f(pct(ds, 50)), gatewayP50: f(pct(gs, 50)), addedP50: f(pct(gs, 50) - pct(ds, 50)), addedP99: f(pct(gs, 99) - pct(ds, 99)) },
      throughput: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        directRps: Math.round(directRps),
        gatewayRps: Math.round(gatewayRps),
        ratio: (gatewayRps / directRps).toFixed(3),
        referenceProxyRps: Math.round(referenceRps),
        gatewayToReferenceProxy: (gatewayRps / referenceRps).toFixed(3),
      },
      gatewayRssMb: { underLoadPeak: peakRss },
      node: process.version,
    },
    null,
    2,
  ),
);
gateway.kill('SIGTERM');
await direct.close();
await viaGateway.close();
upstream.close();
