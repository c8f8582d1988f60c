// The practical floor for a gateway on Node, measured in the same run as
// Gatehouse: a minimal hand-written JSON-RPC-to-HTTP forwarder with no protocol
// checks, no validation and no policy. Not a product: only a yardstick.
//
//   node bench/reference-forwarder.mjs PORT BACKEND_URL
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [port, backend] = process.argv.slice(2);
const agent = new Agent();

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const msg = JSON.parse(Buffer.concat(chunks).toString());
    const r = await agent.request({ origin: backend, path: `/items/${encodeURIComponent(msg.params.arguments.itemId)}`, method: 'GET' });
    const text = await r.body.text();
    const out = JSON.stringify({ result: { content: [{ type: 'text', text }], structuredContent: JSON.parse(text) }, jsonrpc: '2.0', id: msg.id });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
}).listen(Number(port), '127.0.0.1');

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
