/**
 * Loopback servers for failure tests: one that accepts connections and never says a word (a hung
 * dependency), and a port that is known to be closed (nothing listens).
 */
import net from 'node:net';

/** SilentServer is a listening server that accepts and then ignores every connection. */
export interface SilentServer {
  readonly port: number;
  /** connections counts the connections accepted so far. */
  readonly connections: () => number;
  /** open counts the accepted connections that are still open (the client has not closed them). */
  readonly open: () => number;
  /** close destroys the accepted sockets and stops listening. */
  close(): Promise<void>;
}

/** startSilentServer listens on 127.0.0.1 on a free port; it accepts connections and never answers. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    // Read and drop what the client sends: a paused socket with unread data never sees the client's
    // close, and `open` must count what the client really closed.
    socket.resume();
    socket.on('error', () => sockets.delete(socket)); // the prober resetting its socket is expected
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    connections: () => accepted,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** closedPort returns a loopback port where nothing listens: it listens on port 0, then closes. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
