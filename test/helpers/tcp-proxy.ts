import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server (Redis, PostgreSQL), so a
 * test can take the store away and bring it back without stopping the shared
 * server: `cut()` drops every connection and refuses new ones; `restore()`
 * accepts again on the same port.
 */
export interface TcpProxy {
  port: number;
  /** `host:port` of the proxy. */
  address: string;
  /** Drop all connections and refuse new ones (connection refused, as a stopped server). */
  cut(): Promise<void>;
  /** Accept connections again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const onConnection = (client: Socket) => {
    track(client);
    const upstream = createConnection({ port: targetPort, host: targetHost });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

  let server = createServer(onConnection);
  const port = await listen(server, 0);
  let listening = true;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    async cut() {
      if (!listening) return;
      listening = false;
      const closed = closeServer(server);
      dropAll();
      await closed;
    },
    async restore() {
      if (listening) return;
      server = createServer(onConnection);
      await listen(server, port);
      listening = true;
    },
    async close() {
      dropAll();
      if (listening) await closeServer(server);
      listening = false;
    },
  };
}
