/**
 * What the real probex does with requests its uWebSockets.js build cannot parse, over raw sockets whose
 * client keeps its end open (a client that half-closes is dropped at once; see fuzz.test.ts). The parser
 * accepts only `HTTP/1.1` request lines: for anything else it waits for more bytes, never calls probex,
 * and closes the connection without an answer at its idle timeout (10 s, checked every 4 s), or at once
 * when 4 KB of such bytes have arrived. Never an answer, never a connection held longer, and scrapes go
 * on meanwhile. README's paragraph on HTTP/1.1 says the same.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

/** IDLE_CLOSE_MS bounds uWS's idle close: 10 s, on a timer that ticks every 4 s, so at most ~12-14 s. */
const IDLE_CLOSE_MS = 16_000;
/** AT_ONCE_MS bounds a close that does not wait for the idle timeout. */
const AT_ONCE_MS = 2_000;

let probex: ProbexProcess;
before(async () => {
  probex = await startProbex(
    'listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\ntargets:\n  - { name: s, kind: synthetic, interval: 50ms }\n',
  );
  await waitFor('a first snapshot', async () =>
    (await fetch(`${probex.url}/metrics`)).status === 200 ? true : undefined,
  );
});
after(() => probex.stop());

/** Connection is a raw client connection: what came back, and when (ms after the request) probex closed it. */
interface Connection {
  received: string;
  closedAfterMs: number | undefined;
}

/** open writes bytes on a new connection, keeps its own end open, and records what comes back. */
async function open(bytes: Buffer): Promise<Connection> {
  const socket = net.connect(probex.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const connection: Connection = { received: '', closedAfterMs: undefined };
  const t0 = Date.now();
  socket.on('data', (d: Buffer) => {
    connection.received += d.toString('latin1');
  });
  socket.on('error', () => {});
  socket.once('close', () => {
    connection.closedAfterMs = Date.now() - t0;
  });
  socket.write(bytes);
  return connection;
}

const UNPARSEABLE: Record<string, Buffer> = {
  'an HTTP/1.0 request': Buffer.from('GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n'),
  'a request line without a version': Buffer.from('GET /metrics\r\n\r\n'),
  'garbage bytes (a TLS ClientHello to a plain-HTTP port)': Buffer.from('16030100c6010000c20303', 'hex'),
  'an HTTP/1.1 request with a malformed header': Buffer.from(
    'GET /metrics HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n',
  ),
};

test('unparseable requests are never answered and closed within the idle timeout while scrapes go on', async () => {
  const connections = await Promise.all(
    Object.entries(UNPARSEABLE).map(async ([what, bytes]) => ({ what, c: await open(bytes) })),
  );
  await waitFor(
    'probex to close every connection',
    async () => {
      assert.equal((await fetch(`${probex.url}/metrics`)).status, 200, 'scrapes answer meanwhile');
      return connections.every(({ c }) => c.closedAfterMs !== undefined) ? true : undefined;
    },
    IDLE_CLOSE_MS,
  );
  for (const { what, c } of connections) {
    assert.equal(c.received, '', `${what}: no answer`);
  }
});

test('4 KB of bytes that do not parse close the connection at once, without an answer', async () => {
  const c = await open(Buffer.from(`GET /metrics HTTP/1.0\r\nX: ${'a'.repeat(4_096)}\r\n\r\n`));
  await waitFor(
    'probex to close the connection',
    async () => (c.closedAfterMs !== undefined ? true : undefined),
    AT_ONCE_MS,
  );
  assert.equal(c.received, '');
});
