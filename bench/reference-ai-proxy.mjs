// The practical floor for an OpenAI pass-through proxy on Node, measured in the
// same run as Gatehouse's ai-proxy: read the request, forward it to the upstream
// with undici, read and parse the answer (as any proxy that counts tokens must),
// send it back. No routing, retries, policy, audit or metrics. Not a product:
// only a yardstick.
//
//   node bench/reference-ai-proxy.mjs PORT UPSTREAM_ORIGIN
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [port, upstream] = process.argv.slice(2);
const agent = new Agent();

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks).toString();
    JSON.parse(body);
    const r = await agent.request({ origin: upstream, path: req.url, method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await r.body.text();
    JSON.parse(text);
    res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
