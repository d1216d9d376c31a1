/**
 * What the real probex does with requests it cannot serve as HTTP/1.1, over raw sockets whose client keeps
 * its end open (a client that half-closes is dropped at once; see fuzz.test.ts). uWebSockets.js parses
 * these before probex sees them, so the answer is the build's: the test reads which build serves from
 * the start log and asserts what that build does (BEHAVIOUR). Either way: never a hang, never a
 * connection held past the build's idle timeout, and scrapes go on meanwhile. README's paragraph on
 * HTTP/1.1 and docs/design.md's on the front end say the same.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { idleCloseMs, servingUws } from '../../support/uws-build.ts';

/** AT_ONCE_MS bounds an answer or a close that does not wait for the idle timeout. */
const AT_ONCE_MS = 2_000;

/** Answer is the status line a request got (`HTTP/1.1 505 HTTP Version Not Supported`), or '' for none. */
type Answer = string;

/** BuildBehaviour is what one uWebSockets.js build does with requests it cannot parse as HTTP/1.1. */
interface BuildBehaviour {
  /** answers maps each request of UNPARSEABLE to its status line, sent and closed at once; '' for none. */
  readonly answers: Readonly<Record<keyof typeof UNPARSEABLE, Answer>>;
  /** flood is what 4 KB of header bytes without an end get, at once. */
  readonly flood: Answer;
}

const UNPARSEABLE = {
  'an HTTP/1.0 request': Buffer.from('GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n'),
  'a request line without a version': Buffer.from('GET /metrics\r\n\r\n'),
  'an HTTP/2.0 request line': Buffer.from('GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n'),
  'garbage bytes (a TLS ClientHello to a plain-HTTP port)': Buffer.from('16030100c6010000c20303', 'hex'),
  'an HTTP/1.1 request with a malformed header': Buffer.from(
    'GET /metrics HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n',
  ),
  'an HTTP/1.1 request without Host': Buffer.from('GET /metrics HTTP/1.1\r\n\r\n'),
} as const;

const VERSION_NOT_SUPPORTED = 'HTTP/1.1 505 HTTP Version Not Supported';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request';

/**
 * BEHAVIOUR holds, per uWebSockets.js version (as the start log names it), what it was seen to do. A build
 * not listed fails the test: record what it does before serving from it.
 */
const BEHAVIOUR: Readonly<Record<string, BuildBehaviour>> = {
  // Parses HTTP/1.1 only and answers nothing it cannot parse; closes at its idle timeout, or at once
  // when 4 KB have arrived.
  '20.30.0': {
    answers: {
      'an HTTP/1.0 request': '',
      'a request line without a version': '',
      'an HTTP/2.0 request line': '',
      'garbage bytes (a TLS ClientHello to a plain-HTTP port)': '',
      'an HTTP/1.1 request with a malformed header': '',
      'an HTTP/1.1 request without Host': '',
    },
    flood: '',
  },
  // Answers at once and closes: 505 for a request line that is not `<method> <path> HTTP/1.1` (bytes that
  // are not HTTP included), 400 for a bad header or a missing Host, 431 for headers beyond its buffer.
  '20.57.0': {
    answers: {
      'an HTTP/1.0 request': VERSION_NOT_SUPPORTED,
      'a request line without a version': VERSION_NOT_SUPPORTED,
      'an HTTP/2.0 request line': VERSION_NOT_SUPPORTED,
      'garbage bytes (a TLS ClientHello to a plain-HTTP port)': VERSION_NOT_SUPPORTED,
      'an HTTP/1.1 request with a malformed header': BAD_REQUEST,
      'an HTTP/1.1 request without Host': BAD_REQUEST,
    },
    flood: 'HTTP/1.1 431 Request Header Fields Too Large',
  },
};

let probex: ProbexProcess;
let build: string;
let behaviour: BuildBehaviour;
let idleClose: number;
before(async () => {
  probex = await startProbex(
    'listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\ntargets:\n  - { name: s, kind: synthetic, interval: 50ms }\n',
  );
  const serving = servingUws(probex.logs);
  build = serving.build;
  idleClose = idleCloseMs(serving.version);
  const known = BEHAVIOUR[serving.version];
  assert.ok(known !== undefined, `${build}: no recorded behaviour for this build; record what it does in BEHAVIOUR`);
  behaviour = known;
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

/** statusLine is the first line of what came back, or '' when nothing did. */
const statusLine = (c: Connection): string => c.received.split('\r\n')[0]!;

test('requests that are not HTTP/1.1 get what the serving build answers, at once or at its idle timeout, while scrapes go on', async () => {
  const connections = await Promise.all(
    Object.entries(UNPARSEABLE).map(async ([what, bytes]) => ({
      what: what as keyof typeof UNPARSEABLE,
      c: await open(bytes),
    })),
  );
  await waitFor(
    'probex to close every connection',
    async () => {
      assert.equal((await fetch(`${probex.url}/metrics`)).status, 200, 'scrapes answer meanwhile');
      return connections.every(({ c }) => c.closedAfterMs !== undefined) ? true : undefined;
    },
    idleClose,
  );
  for (const { what, c } of connections) {
    const expected = behaviour.answers[what];
    assert.equal(statusLine(c), expected, `${build}, ${what}`);
    if (expected !== '')
      assert.ok(c.closedAfterMs! < AT_ONCE_MS, `${build}, ${what}: closed after ${c.closedAfterMs} ms`);
  }
});

test('a request that never completes is closed at the idle timeout, without an answer', async () => {
  const c = await open(Buffer.from('GET /metr'));
  await waitFor(
    'probex to close the connection',
    async () => {
      assert.equal((await fetch(`${probex.url}/metrics`)).status, 200, 'scrapes answer meanwhile');
      return c.closedAfterMs !== undefined ? true : undefined;
    },
    idleClose,
  );
  assert.equal(c.received, '', build);
});

test('4 KB of header bytes without an end are answered as the build does and closed at once', async () => {
  const c = await open(Buffer.from(`GET /metrics HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(4_096)}`));
  await waitFor(
    'probex to close the connection',
    async () => (c.closedAfterMs !== undefined ? true : undefined),
    AT_ONCE_MS,
  );
  assert.equal(statusLine(c), behaviour.flood, build);
});
