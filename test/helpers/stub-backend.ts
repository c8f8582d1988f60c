import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the stub backend received: exactly what crossed the wire. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type StubHandler = (req: Received, res: ServerResponse) => void;

export interface StubBackend {
  url: string;
  received: Received[];
  /** Replace the response behaviour (default: 200 JSON echo). */
  handle(handler: StubHandler): void;
  /** Sockets closed by the client before a response was sent. */
  aborted: number;
  close(): Promise<void>;
}

const echo: StubHandler = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, url: req.url }));
};

/** A real HTTP server on 127.0.0.1:0 that records every request. */
export async function startStubBackend(): Promise<StubBackend> {
  let handler: StubHandler = echo;
  const stub: StubBackend = {
    url: '',
    received: [],
    aborted: 0,
    handle(h) {
      handler = h;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      stub.received.push(received);
      res.on('close', () => {
        if (!res.writableFinished) stub.aborted++;
      });
      handler(received, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
}
