/**
 * A loopback TCP proxy a test puts in front of a real, shared server, to make an outage of that server
 * without touching it: cut() closes every proxied connection and stops listening (new connects are
 * refused), restore() listens again on the same port. With `tls`, the proxy terminates TLS itself, so a
 * plaintext broker can be reached as amqps:// or mqtts://.
 */
import net from 'node:net';
import tls from 'node:tls';

/** TcpProxy is a running proxy: its port, how many connections it holds, and its switches. */
export interface TcpProxy {
  readonly port: number;
  /** open counts the client connections that are open now. */
  readonly open: () => number;
  /** accepted counts every client connection accepted so far. */
  readonly accepted: () => number;
  /** cut destroys every connection and stops listening. */
  cut(): Promise<void>;
  /** restore listens again on the same port. */
  restore(): Promise<void>;
  /** stop ends the proxy for good. */
  stop(): Promise<void>;
}

/** TcpProxyOptions: the server proxied to (127.0.0.1:upstreamPort), and TLS to terminate, if any. */
export interface TcpProxyOptions {
  readonly upstreamPort: number;
  readonly tls?: { readonly key: string; readonly cert: string };
}

/** startTcpProxy listens on 127.0.0.1 on a free port and relays each connection to the upstream server. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let accepted = 0;
  const relay = (client: net.Socket): void => {
    accepted++;
    const upstream = net.connect({ host: '127.0.0.1', port: options.upstreamPort });
    sockets.add(client);
    sockets.add(upstream);
    clients.add(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const make = (): net.Server =>
    options.tls === undefined
      ? net.createServer(relay)
      : tls.createServer({ key: options.tls.key, cert: options.tls.cert }, relay).on('tlsClientError', () => {});
  const listen = (server: net.Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  let server: net.Server | undefined = make();
  const port = await listen(server, 0);
  const cut = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    clients.clear();
    if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  return {
    port,
    open: () => clients.size,
    accepted: () => accepted,
    cut,
    restore: async () => {
      if (server !== undefined) return;
      server = make();
      await listen(server, port);
    },
    stop: cut,
  };
}
