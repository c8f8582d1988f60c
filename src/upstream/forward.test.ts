import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import type { HttpBinding } from '../openapi/tool-definition.js';
import { buildRequest } from './build-request.js';
import { createForwarder, splitUrl } from './forward.js';
import type { Forwarder, ForwarderOptions } from './forward.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface StubBackend {
  baseUrl: string;
  received: Received[];
  /** Resolves when the server sees the first request's socket close. */
  socketClosed: Promise<void>;
  /** Resolves when the first request has arrived (headers and body). */
  requestArrived: Promise<void>;
  connections: () => number;
  close: () => Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

/** A real HTTP server on port 0 that records exactly what crossed the wire. */
async function stubBackend(handler: Handler): Promise<StubBackend> {
  const received: Received[] = [];
  let connections = 0;
  let onClosed!: () => void;
  let onArrived!: () => void;
  const socketClosed = new Promise<void>((resolve) => (onClosed = resolve));
  const requestArrived = new Promise<void>((resolve) => (onArrived = resolve));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      received.push(rec);
      if (received.length === 1) {
        req.socket.once('close', onClosed);
        onArrived();
      }
      handler(req, res, rec);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    received,
    socketClosed,
    requestArrived,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function backend(handler: Handler): Promise<StubBackend> {
  const b = await stubBackend(handler);
  cleanups.push(b.close);
  return b;
}

function forwarder(overrides: Partial<ForwarderOptions> = {}): Forwarder {
  const f = createForwarder({ connectTimeoutMs: 2_000, timeoutMs: 5_000, maxResponseBytes: 1_000_000, ...overrides });
  cleanups.push(() => f.close());
  return f;
}

async function rejection(promise: Promise<unknown>): Promise<GatehouseError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error('expected the promise to reject');
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

describe('forward: what crosses the wire', () => {
  it('sends method, path, query, headers and JSON body; returns the response', async () => {
    const b = await backend((_req, res) => json(res, 201, { id: 'p-1' }));
    const binding: HttpBinding = {
      method: 'POST',
      path: '/pets/{owner}/items',
      baseUrl: `${b.baseUrl}/api/`,
      parameters: [
        { arg: 'owner', name: 'owner', in: 'path', style: 'simple', explode: false, allowReserved: false },
        { arg: 'tags', name: 'tags', in: 'query', style: 'form', explode: true, allowReserved: false },
        { arg: 'trace', name: 'X-Trace', in: 'header', style: 'simple', explode: false, allowReserved: false },
      ],
      body: { contentType: 'application/json', required: true, mode: 'properties', args: { name: 'name' } },
    };
    const res = await forwarder().forward(buildRequest(binding, { owner: 'a/b', tags: ['x', 'y z'], trace: 't-1', name: 'Rex', nope: 1 }));

    expect(b.received).toHaveLength(1);
    const got = b.received[0] as Received;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/api/pets/a%2Fb/items?tags=x&tags=y%20z');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['accept']).toBe('application/json, */*;q=0.8');
    expect(got.headers['x-trace']).toBe('t-1');
    expect(got.headers['content-length']).toBe('14');
    expect(got.body.toString()).toBe('{"name":"Rex"}');

    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Created');
    expect(res.contentType).toBe('application/json');
    expect(res.body.toString()).toBe('{"id":"p-1"}');
    expect(res.truncated).toBe(false);
  });

  it('sends multipart bytes exactly as built', async () => {
    const b = await backend((_req, res) => res.writeHead(204).end());
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x00, 0xff]);
    const req = buildRequest(
      {
        method: 'POST',
        path: '/upload',
        baseUrl: b.baseUrl,
        parameters: [],
        body: { contentType: 'multipart/form-data', required: true, mode: 'properties', args: { title: 'title', file: 'file' } },
      },
      { title: 'Hi', file: { filename: 'p.png', content: png.toString('base64'), contentType: 'image/png' } },
      { boundary: 'XyZ' },
    );
    const res = await forwarder().forward(req);

    const got = b.received[0] as Received;
    expect(got.headers['content-type']).toBe('multipart/form-data; boundary=XyZ');
    expect(got.body.equals(Buffer.from(req.body as Uint8Array))).toBe(true);
    expect(
      got.body.equals(
        Buffer.concat([
          Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nHi\r\n'),
          Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n'),
          png,
          Buffer.from('\r\n--XyZ--\r\n'),
        ]),
      ),
    ).toBe(true);
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
  });

  it('sends form-urlencoded bodies with bracket notation', async () => {
    const b = await backend((_req, res) => json(res, 200, { ok: true }));
    const req = buildRequest(
      {
        method: 'POST',
        path: '/v1/checkout/sessions',
        baseUrl: b.baseUrl,
        parameters: [],
        body: {
          contentType: 'application/x-www-form-urlencoded',
          required: true,
          mode: 'properties',
          args: { mode: 'mode', line_items: 'line_items', metadata: 'metadata' },
        },
      },
      { mode: 'payment', line_items: [{ price: 'price_1', quantity: 2 }], metadata: { order: 'A 1' } },
    );
    await forwarder().forward(req);
    const got = b.received[0] as Received;
    expect(got.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(got.body.toString()).toBe('mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=2&metadata[order]=A%201');
    expect(new URLSearchParams(got.body.toString()).get('metadata[order]')).toBe('A 1');
  });

  it('reuses keep-alive connections across calls', async () => {
    const b = await backend((_req, res) => json(res, 200, {}));
    const f = forwarder();
    for (let i = 0; i < 20; i++) await f.forward({ method: 'GET', url: `${b.baseUrl}/ping`, headers: {} });
    expect(b.received).toHaveLength(20);
    // undici may open a second socket while the first is still being released.
    expect(b.connections()).toBeLessThanOrEqual(2);
  });
});

describe('forward: statuses and sizes', () => {
  it.each([
    [404, 'text/plain', 'no such pet'],
    [422, 'application/problem+json', '{"title":"bad"}'],
    [500, 'text/html', '<h1>boom</h1>'],
    [503, 'application/json', '{"retry":true}'],
  ])('passes %i through with its body', async (status, type, body) => {
    const b = await backend((_req, res) => res.writeHead(status, { 'content-type': type }).end(body));
    const res = await forwarder().forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} });
    expect(res.status).toBe(status);
    expect(res.contentType).toBe(type);
    expect(res.body.toString()).toBe(body);
  });

  it('stops reading at maxResponseBytes and marks the response truncated', async () => {
    const big = Buffer.alloc(1_000_000, 0x61);
    const b = await backend((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(big));
    const res = await forwarder({ maxResponseBytes: 1000 }).forward({ method: 'GET', url: `${b.baseUrl}/big`, headers: {} });
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBe(1000);
    expect(res.body.equals(big.subarray(0, 1000))).toBe(true);
  });

  it('is not truncated when the body is exactly maxResponseBytes', async () => {
    const b = await backend((_req, res) => res.writeHead(200).end(Buffer.alloc(1000, 0x62)));
    const res = await forwarder({ maxResponseBytes: 1000 }).forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} });
    expect(res.truncated).toBe(false);
    expect(res.body.length).toBe(1000);
  });

  it('truncates a chunked body of unknown length', async () => {
    const b = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 50; i++) res.write(Buffer.alloc(100, i));
      res.end();
    });
    const res = await forwarder({ maxResponseBytes: 250 }).forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} });
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBe(250);
  });
});

describe('forward: failures', () => {
  it('times out a backend that never answers, within the deadline', async () => {
    const b = await backend(() => {
      /* never answers */
    });
    // The backend never answers: only the 300 ms timer can end the call (how long it took is the machine's business).
    const err = await rejection(forwarder({ timeoutMs: 300 }).forward({ method: 'GET', url: `${b.baseUrl}/slow`, headers: {} }));
    expect(err.code).toBe('GH_UPSTREAM_TIMEOUT');
    expect(err.message).toBe('backend did not answer within 300 ms');
    expect(err.cause).toBeDefined();
  });

  it('applies the deadline to the body too', async () => {
    const b = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      // …and never ends.
    });
    const err = await rejection(forwarder({ timeoutMs: 300 }).forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} }));
    expect(err.code).toBe('GH_UPSTREAM_TIMEOUT');
  });

  it('takes a per-call timeout in the options form', async () => {
    const b = await backend(() => {
      /* never answers */
    });
    // The message names the timer that fired: the call's 200 ms, not the forwarder's 10 s.
    const err = await rejection(forwarder({ timeoutMs: 10_000 }).forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} }, { timeoutMs: 200 }));
    expect(err.code).toBe('GH_UPSTREAM_TIMEOUT');
    expect(err.message).toContain('200 ms');
  });

  it('reports connection refused as GH_UPSTREAM_CONNECT', async () => {
    const closed = await stubBackend(() => {});
    await closed.close();
    const err = await rejection(forwarder().forward({ method: 'GET', url: `${closed.baseUrl}/x`, headers: {} }));
    expect(err.code).toBe('GH_UPSTREAM_CONNECT');
    expect(err.message).toContain(closed.baseUrl);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.cause).toBeDefined();
  });

  it('aborts the backend request when the caller aborts; the server sees the socket close', async () => {
    const b = await backend(() => {
      /* never answers */
    });
    const controller = new AbortController();
    const pending = forwarder().forward({ method: 'POST', url: `${b.baseUrl}/slow`, headers: {}, body: 'x' }, controller.signal);
    await b.requestArrived;
    controller.abort();
    const err = await rejection(pending);
    expect(err.code).toBe('GH_UPSTREAM_ABORTED');
    expect(err.cause).toBeDefined();
    await b.socketClosed;
  });

  it('aborts while the body is being read, via the options form', async () => {
    const b = await backend((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const controller = new AbortController();
    const pending = forwarder().forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} }, { signal: controller.signal });
    await b.requestArrived;
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(pending);
    expect(err.code).toBe('GH_UPSTREAM_ABORTED');
    await b.socketClosed;
  });

  it('does not send anything when the signal is already aborted', async () => {
    const b = await backend((_req, res) => json(res, 200, {}));
    const err = await rejection(forwarder().forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} }, AbortSignal.abort()));
    expect(err.code).toBe('GH_UPSTREAM_ABORTED');
    expect(b.received).toHaveLength(0);
  });

  it('reports a backend that drops the connection as GH_UPSTREAM_FAILED', async () => {
    const b = await backend((req) => req.socket.destroy());
    const err = await rejection(forwarder().forward({ method: 'GET', url: `${b.baseUrl}/x`, headers: {} }));
    expect(err.code).toBe('GH_UPSTREAM_FAILED');
    expect(err.cause).toBeDefined();
  });

  it('rejects invalid options when built', () => {
    expect(() => createForwarder({ connectTimeoutMs: 0, timeoutMs: 1, maxResponseBytes: 1 })).toThrow(/connectTimeoutMs/);
  });
});

describe('splitUrl', () => {
  it.each([
    ['http://h:1/a/b?c=d', 'http://h:1', '/a/b?c=d'],
    ['https://h', 'https://h', '/'],
    ['http://[::1]:80/x', 'http://[::1]:80', '/x'],
  ])('%s', (url, origin, path) => {
    expect(splitUrl(url)).toEqual({ origin, path });
  });
});
