// The demo "inventory" backend: a small express 5 service described by
// ./openapi.yaml (also served at GET /openapi.yaml). Gatehouse imports that spec
// and serves each operation as an MCP tool. Data lives in memory; each
// startDemoBackend() call starts from the same seed items.
//
// Run it on its own:  node examples/demo-backend/server.mjs   (PORT, default 4010)
//
// Plain ESM JavaScript on purpose: `npm start` runs it without a build step.

import { readFileSync, realpathSync } from 'node:fs';
import { URL, fileURLToPath } from 'node:url';
import process from 'node:process';
import console from 'node:console';
import express from 'express';

const SPEC_PATH = fileURLToPath(new URL('./openapi.yaml', import.meta.url));
const DEFAULT_PORT = 4010;
const DEFAULT_HOST = '127.0.0.1';

const SEED = [
  { name: 'Claw hammer', quantity: 12, tags: ['tools', 'metal'] },
  { name: 'Tape measure', quantity: 30, tags: ['tools', 'measuring'] },
  { name: 'Wood screws (box of 200)', quantity: 0, tags: ['fasteners', 'metal'] },
  { name: 'Safety glasses', quantity: 7, tags: ['safety'] },
];

// Same rules as openapi.yaml; a 400 names the field so a model can correct itself.
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const NEW_ITEM_FIELDS = new Set(['name', 'quantity', 'tags']);

class BadRequest extends Error {}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkQuantity(value, field) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BadRequest(`${field} must be an integer >= 0`);
  }
  return value;
}

function checkTag(value, field) {
  if (typeof value !== 'string' || value.length < 1 || value.length > 32) {
    throw new BadRequest(`${field} must be a string of 1 to 32 characters`);
  }
  return value;
}

function checkTags(value, field) {
  if (!Array.isArray(value)) throw new BadRequest(`${field} must be an array of strings`);
  if (value.length > 10) throw new BadRequest(`${field} must have at most 10 entries`);
  return value.map((tag, i) => checkTag(tag, `${field}[${i}]`));
}

function parseNewItem(body) {
  if (!isObject(body)) throw new BadRequest('request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!NEW_ITEM_FIELDS.has(key)) throw new BadRequest(`body.${key} is not allowed (allowed: name, quantity, tags)`);
  }
  const { name, quantity, tags } = body;
  if (typeof name !== 'string' || name.length < 1 || name.length > 100) {
    throw new BadRequest('body.name is required and must be a string of 1 to 100 characters');
  }
  if (quantity === undefined) throw new BadRequest('body.quantity is required');
  return {
    name,
    quantity: checkQuantity(quantity, 'body.quantity'),
    tags: tags === undefined ? [] : checkTags(tags, 'body.tags'),
  };
}

function parseQuantityUpdate(body) {
  if (!isObject(body)) throw new BadRequest('request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (key !== 'quantity') throw new BadRequest(`body.${key} is not allowed (allowed: quantity)`);
  }
  if (body.quantity === undefined) throw new BadRequest('body.quantity is required');
  return checkQuantity(body.quantity, 'body.quantity');
}

/** `?tag=a&tag=b` (form, explode) arrives as an array; a single `?tag=a` as a string. */
function parseTagQuery(value) {
  if (value === undefined) return [];
  const tags = Array.isArray(value) ? value : [value];
  return checkTags(tags, 'query.tag');
}

function parseLimitQuery(value) {
  if (value === undefined) return 20;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new BadRequest('query.limit must be an integer from 1 to 100');
  const limit = Number(value);
  if (limit < 1 || limit > 100) throw new BadRequest('query.limit must be an integer from 1 to 100');
  return limit;
}

function createStore() {
  const items = new Map();
  let nextId = 1;
  const add = ({ name, quantity, tags }, requestId = null) => {
    const item = { id: `item-${nextId++}`, name, quantity, tags, createdAt: new Date().toISOString(), requestId };
    items.set(item.id, item);
    return item;
  };
  for (const seed of SEED) add(seed);
  return { items, add };
}

function notFound(res, itemId) {
  res.status(404).json({ error: 'not_found', message: `no item with id '${itemId}'` });
}

/** Builds the express app over a fresh in-memory store. */
export function createDemoApp() {
  const store = createStore();
  const startedAt = Date.now();
  const spec = readFileSync(SPEC_PATH, 'utf8');
  const app = express();
  app.disable('x-powered-by');
  // Express 5 parses `?tag=a&tag=b` into ['a', 'b'] with the default "simple" parser.
  app.use(express.json({ limit: '100kb' }));

  app.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(spec);
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', itemCount: store.items.size, uptimeSeconds: (Date.now() - startedAt) / 1000 });
  });

  app.get('/items', (req, res) => {
    const tags = parseTagQuery(req.query.tag);
    const limit = parseLimitQuery(req.query.limit);
    const matching = [...store.items.values()].filter((item) => tags.every((tag) => item.tags.includes(tag)));
    res.json({ items: matching.slice(0, limit), total: matching.length });
  });

  app.post('/items', (req, res) => {
    const requestId = req.get('x-request-id') ?? null;
    if (requestId !== null && !REQUEST_ID.test(requestId)) {
      throw new BadRequest('header X-Request-Id must be 1 to 64 characters from [A-Za-z0-9._-]');
    }
    const item = store.add(parseNewItem(req.body), requestId);
    res.status(201).location(`/items/${encodeURIComponent(item.id)}`).json(item);
  });

  app.get('/items/:itemId', (req, res) => {
    const item = store.items.get(req.params.itemId);
    if (!item) return notFound(res, req.params.itemId);
    res.json(item);
  });

  app.patch('/items/:itemId', (req, res) => {
    const item = store.items.get(req.params.itemId);
    if (!item) return notFound(res, req.params.itemId);
    item.quantity = parseQuantityUpdate(req.body);
    res.json(item);
  });

  app.delete('/items/:itemId', (req, res) => {
    if (!store.items.delete(req.params.itemId)) return notFound(res, req.params.itemId);
    res.json({ id: req.params.itemId, deleted: true });
  });

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });

  // Express 5 forwards thrown errors (sync and async) here.
  app.use((err, _req, res, _next) => {
    if (err instanceof BadRequest) {
      res.status(400).json({ error: 'bad_request', message: err.message });
    } else if (err?.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'bad_request', message: 'request body is not valid JSON' });
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      res.status(err.status).json({ error: 'bad_request', message: err.message });
    } else {
      console.error(err);
      res.status(500).json({ error: 'internal', message: 'internal error' });
    }
  });

  return app;
}

/**
 * Starts the demo backend. `port: 0` picks a free port; the resolved URL is returned.
 * @param {{ port?: number, host?: string }} [options]
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export function startDemoBackend({ port = DEFAULT_PORT, host = DEFAULT_HOST } = {}) {
  const app = createDemoApp();
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      const address = server.address();
      const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const close = () =>
        new Promise((done, fail) => {
          server.close((err) => (err ? fail(err) : done()));
          server.closeAllConnections();
        });
      resolve({ url: `http://${urlHost}:${address.port}`, port: address.port, close });
    });
  });
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? DEFAULT_PORT : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`demo-backend: PORT must be an integer from 0 to 65535, got '${process.env.PORT}'`);
    process.exit(1);
  }
  const host = DEFAULT_HOST;
  try {
    const backend = await startDemoBackend({ port, host });
    console.log(`demo-backend: inventory service on ${backend.url} (spec: ${backend.url}/openapi.yaml)`);
    const stop = () => {
      backend.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    console.error(`demo-backend: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
}
