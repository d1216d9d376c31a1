/**
 * Loopback servers that misbehave at the protocol level, for the faults a real server is hard to make
 * show on demand: a MySQL server that answers the greeting with an error packet (too many connections,
 * host blocked) and a Redis server that answers every command with an error, either of them keeping the
 * socket open afterwards as a busy server may; and a PostgreSQL server that asks for a clear-text password
 * and records it. Each counts the sockets it holds, so a test can see the client close them. Plus
 * openFds(), the test process's own open file descriptors.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';

/** FakeServer is a listening loopback server that tracks its connections. */
export interface FakeServer {
  readonly port: number;
  /** accepted counts the connections accepted so far. */
  accepted(): number;
  /** open counts the connections the server still holds (not yet closed by either side). */
  open(): number;
  /** close destroys the held sockets and stops listening. */
  close(): Promise<void>;
}

/** startFakeServer listens on 127.0.0.1 on a free port and calls onConnection for each socket. */
export async function startFakeServer(onConnection: (socket: net.Socket) => void): Promise<FakeServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => sockets.delete(socket)); // a client resetting its socket is expected
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * mysqlErrorPacket builds a MySQL ERR packet as a server sends it in place of the greeting: sequence id 0,
 * 0xff, the error number (little endian) and the message, with no SQL state (the client's capabilities
 * are not known yet). https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
 */
export function mysqlErrorPacket(errno: number, message: string): Buffer {
  const body = Buffer.concat([Buffer.from([0xff, errno & 0xff, (errno >> 8) & 0xff]), Buffer.from(message, 'utf8')]);
  const header = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, (body.length >> 16) & 0xff, 0]);
  return Buffer.concat([header, body]);
}

/**
 * startMysqlErrorServer answers every connection with an error packet instead of the greeting, and then
 * keeps the socket open unless `thenClose` (a real server closes it; an overloaded proxy may not).
 */
export function startMysqlErrorServer(errno: number, message: string, thenClose = false): Promise<FakeServer> {
  const packet = mysqlErrorPacket(errno, message);
  return startFakeServer((socket) => {
    if (thenClose) socket.end(packet);
    else socket.write(packet);
  });
}

/** startRedisErrorServer answers every command (and the connection itself) with `-<reply>` and stays open. */
export function startRedisErrorServer(reply: string): Promise<FakeServer> {
  const line = `-${reply}\r\n`;
  return startFakeServer((socket) => {
    socket.write(line);
    socket.on('data', () => socket.write(line));
  });
}

/**
 * startPostgresPasswordServer asks every client for its password in clear text (AuthenticationCleartextPassword,
 * as a pg_hba `password` line makes PostgreSQL do), records the bytes it receives and refuses them with
 * 28P01. So a test sees exactly which password a client sends: the machine's server trusts every
 * loopback connection and never asks.
 */
export async function startPostgresPasswordServer(): Promise<FakeServer & { passwords: string[] }> {
  const passwords: string[] = [];
  const server = await startFakeServer((socket) => {
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!started) {
        // StartupMessage: Int32 length (itself included), then the protocol and parameters.
        if (buffered.length < 4 || buffered.length < buffered.readInt32BE(0)) return;
        buffered = buffered.subarray(buffered.readInt32BE(0));
        started = true;
        socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // 'R', length 8, cleartext password
      }
      // PasswordMessage: 'p', Int32 length, the password as a NUL-terminated string.
      if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) return;
      passwords.push(buffered.toString('utf8', 5, 1 + buffered.readInt32BE(1) - 1));
      const fields = Buffer.from('SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0', 'utf8');
      const error = Buffer.alloc(5);
      error.write('E');
      error.writeInt32BE(4 + fields.length, 1);
      socket.end(Buffer.concat([error, fields]));
    });
  });
  return Object.assign(server, { passwords });
}

/** openFds counts this process's open file descriptors (Linux /proc). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
