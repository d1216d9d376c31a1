/**
 * Clients that pipeline requests and never read, against the real probex process over raw sockets. uWS
 * copies whatever the kernel does not take into a buffer of its own per connection, without a limit, so
 * such a client could make probex hold every response it asked for. probex keeps at most one response in
 * flight per connection, sends its body from the snapshot's own bytes as the socket drains, and a
 * connection that asks for more meanwhile is closed. Its RSS (VmRSS) stays flat, the flooding connection
 * is closed by probex, and other clients get their answers meanwhile.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { parseExposition } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { idleCloseMs, servingUws } from '../../support/uws-build.ts';

const linuxOnly = process.platform === 'linux' ? {} : { skip: 'RSS and socket states are read from /proc' };
/** TARGETS synthetic targets with long names and labels make a text body of about 150 KB. */
const TARGETS = 60;
/** FLOOD_BYTES is how much response data each flood asks for: far beyond the kernel's socket buffers. */
const FLOOD_BYTES = 160 * 1024 * 1024;
/** CLOSE_WITHIN_MS bounds how long probex may take to close a flooding connection (well inside uWS's own timeout). */
const CLOSE_WITHIN_MS = 5_000;
/** RSS_BOUND_MIB is what probex's RSS may grow by during one flood (publishing alone moves it by a few MiB). */
const RSS_BOUND_MIB = 40;

let probex: ProbexProcess;
let textBytes = 0;
let gzipBytes = 0;

before(async () => {
  const targets = Array.from(
    { length: TARGETS },
    (_, i) =>
      `  - { name: synthetic-target-${String(i).padStart(3, '0')}, kind: synthetic, interval: 1s, labels: { team: platform-observability, env: production } }`,
  );
  probex = await startProbex(
    `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 200ms\ntargets:\n${targets.join('\n')}\n`,
  );
  await waitFor(
    'a snapshot with every target probed',
    async () => {
      const res = await fetch(`${probex.url}/metrics`);
      const text = await res.text();
      return res.status === 200 && /probex_probes_total\{target="synthetic-target-059"[^}]*\} [1-9]/.test(text)
        ? true
        : undefined;
    },
    30_000,
  );
  textBytes = (
    await (await fetch(`${probex.url}/metrics`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer()
  ).byteLength;
  gzipBytes = Number(
    (await fetch(`${probex.url}/metrics`, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } })).headers.get(
      'content-length',
    ),
  );
});
after(() => probex.stop());

/** rssMiB is a process's resident set size (VmRSS) in MiB. */
function rssMiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** hexEndpoint is 127.0.0.1:port as /proc/net/tcp writes it. */
const hexEndpoint = (port: number): string => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * serverHolds reports whether a process still holds the server's end of the connection from clientPort:
 * its row in /proc/net/tcp is there with an inode (a socket no process holds any more, closed and
 * draining or in FIN_WAIT, shows inode 0).
 */
function serverHolds(serverPort: number, clientPort: number): boolean {
  const local = hexEndpoint(serverPort);
  const remote = hexEndpoint(clientPort);
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === local && f[2] === remote && f[9] !== '0';
    });
}

/**
 * flood pipelines copies of one request on one connection and never reads. It resolves once probex has
 * closed that connection, with how much probex's RSS grew meanwhile; a normal scrape must succeed while
 * the flood is on.
 */
async function flood(request: string, responseBytes: number): Promise<{ requests: number; grewMiB: number }> {
  const pid = probex.child.pid!;
  const requests = Math.max(1_000, Math.ceil(FLOOD_BYTES / responseBytes));
  const rss0 = rssMiB(pid);
  const socket = net.connect(probex.port, '127.0.0.1');
  socket.on('error', () => {}); // EPIPE/ECONNRESET once probex closes it: expected
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.pause(); // never read: what probex sends stays in the kernel's buffers, then in probex's
  const clientPort = socket.localPort!;
  socket.write(request.repeat(requests));
  try {
    const normal = await fetch(`${probex.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(normal.status, 200, 'a normal scrape during the flood');
    assert.equal((await normal.arrayBuffer()).byteLength, Number(normal.headers.get('content-length')));
    // uWS itself drops a connection whose writes made no progress (10-30 s by build), freeing what it held: the
    // peak RSS until then is what the flood cost, and probex must close the connection well before.
    let peak = rss0;
    await waitFor(
      'probex to close the flooding connection',
      async () => {
        peak = Math.max(peak, rssMiB(pid));
        return serverHolds(probex.port, clientPort) ? undefined : true;
      },
      CLOSE_WITHIN_MS,
    );
    return { requests, grewMiB: Math.max(peak, rssMiB(pid)) - rss0 };
  } finally {
    socket.destroy();
  }
}

test('pipelined GET /metrics never read: the connection is closed and RSS stays flat', linuxOnly, async (t) => {
  assert.ok(textBytes > 100_000, `a large body: ${textBytes} bytes`);
  const { requests, grewMiB } = await flood('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', textBytes);
  t.diagnostic(`${requests} requests of ${textBytes} bytes: RSS grew ${grewMiB.toFixed(1)} MiB`);
  assert.ok(
    grewMiB < RSS_BOUND_MIB,
    `RSS grew ${grewMiB.toFixed(1)} MiB after ${requests} requests of ${textBytes} bytes`,
  );
});

test('pipelined gzip scrapes never read: the connection is closed and RSS stays flat', linuxOnly, async (t) => {
  assert.ok(gzipBytes > 0 && gzipBytes < textBytes, `gzip body ${gzipBytes} bytes`);
  const { requests, grewMiB } = await flood(
    'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n',
    gzipBytes,
  );
  t.diagnostic(`${requests} requests of ${gzipBytes} bytes: RSS grew ${grewMiB.toFixed(1)} MiB`);
  assert.ok(
    grewMiB < RSS_BOUND_MIB,
    `RSS grew ${grewMiB.toFixed(1)} MiB after ${requests} requests of ${gzipBytes} bytes`,
  );
});

test('pipelined small answers (404) never read: the connection is closed and RSS stays flat', linuxOnly, async (t) => {
  const { requests, grewMiB } = await flood('GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 150);
  t.diagnostic(`${requests} 404s: RSS grew ${grewMiB.toFixed(1)} MiB`);
  assert.ok(grewMiB < RSS_BOUND_MIB, `RSS grew ${grewMiB.toFixed(1)} MiB after ${requests} 404s`);
});

/** Exchange is a raw connection's view: what came back so far, and whether the server has closed it. */
interface Exchange {
  readonly socket: net.Socket;
  readonly received: string;
  readonly closed: boolean;
}

/** exchange writes bytes on a new connection and keeps collecting what comes back; it never ends its side. */
function exchange(request: string): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(probex.port, '127.0.0.1');
    const state = { socket, received: '', closed: false };
    socket.on('data', (d: Buffer) => {
      state.received += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      state.closed = true;
    });
    socket.once('connect', () => {
      socket.write(request);
      resolve(state);
    });
  });
}

test("HEAD answers with the body's length and no body, and never holds the connection", async () => {
  const head = await exchange('HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor('the HEAD answer', async () => (head.received.includes('\r\n\r\n') ? true : undefined));
  const [status, ...lines] = head.received.split('\r\n');
  assert.equal(status, 'HTTP/1.1 200 OK');
  // The body's length (the snapshot is republished every 200 ms, so it drifts by a few bytes).
  const length = Number(lines.find((l) => l.startsWith('Content-Length: '))?.slice(16));
  assert.ok(Math.abs(length - textBytes) < textBytes / 20, `Content-Length ${length}, GET body ${textBytes}`);
  // The client keeps its end open. A build that counts the answer as done takes the next request on the
  // connection; one that would wait for body bytes HEAD must not send has probex close it (respond.ts).
  head.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(
    'the next request answered, or the connection closed',
    async () => (head.closed || /\r\n\r\nHTTP\/1\.1 200 OK\r\n/.test(head.received) ? true : undefined),
    CLOSE_WITHIN_MS,
  );
  const [headAnswer, next] = head.received.split(/(?<=\r\n\r\n)(?=HTTP\/1\.1 )/);
  assert.ok(headAnswer!.endsWith('\r\n\r\n'), 'no body after the headers');
  assert.ok(head.closed || next?.startsWith('HTTP/1.1 200 OK'), 'the connection is closed or serves the next request');
});

/** sendQueue is the kernel's send queue (bytes) of the server's end of the connection from clientPort. */
function sendQueue(serverPort: number, clientPort: number): number | undefined {
  const local = hexEndpoint(serverPort);
  const remote = hexEndpoint(clientPort);
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return parseInt(f[4]!.split(':')[0]!, 16);
  }
  return undefined;
}

/** BIG_TARGETS targets with a 4 KB label value make a text body of about 5 MB. */
const BIG_TARGETS = 64;

test(
  'a multi-megabyte body reaches a client that pauses mid-body; one that stops reading is dropped',
  linuxOnly,
  async (t) => {
    // Long label values make a body larger than what the kernel takes at once, so the rest is streamed.
    const pad = 'x'.repeat(4_000);
    const targets = Array.from(
      { length: BIG_TARGETS },
      (_, i) => `  - { name: big-${i}, kind: synthetic, interval: 1s, labels: { pad: ${pad} } }`,
    );
    const big = await startProbex(
      `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 1s\ntargets:\n${targets.join('\n')}\n`,
    );
    t.after(() => big.stop());
    await waitFor(
      'a first snapshot',
      async () => ((await fetch(`${big.url}/readyz`)).status === 200 ? true : undefined),
      30_000,
    );

    /** scrapeUnread sends one scrape on a new connection that does not read, and waits until the kernel's buffers are full. */
    const scrapeUnread = async (): Promise<net.Socket> => {
      const socket = net.connect(big.port, '127.0.0.1');
      t.after(() => socket.destroy());
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.pause();
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n');
      let last = -1;
      await waitFor('the send queue to fill', async () => {
        const queued = sendQueue(big.port, socket.localPort!) ?? 0;
        const full = queued > 0 && queued === last;
        last = queued;
        return full ? true : undefined;
      });
      return socket;
    };
    // This one never reads on: uWS's timeout drops it (support/uws-build.ts), and probex lets go of it.
    const stalled = await scrapeUnread();
    const socket = await scrapeUnread();
    const received: Buffer[] = [];
    let length = 0;
    socket.on('data', (d: Buffer) => {
      received.push(d);
      length += d.length;
    });
    socket.resume();
    const response = await waitFor('the whole response', async () => {
      const all = Buffer.concat(received, length);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const contentLength = Number(/^Content-Length: (\d+)$/m.exec(all.subarray(0, end).toString('latin1'))?.[1]);
      return all.length - end - 4 >= contentLength
        ? { head: all.subarray(0, end).toString('latin1'), body: all.subarray(end + 4), contentLength }
        : undefined;
    });
    assert.match(response.head, /^HTTP\/1\.1 200 OK/);
    assert.ok(
      response.contentLength > 4 * 1024 * 1024,
      `a body beyond the socket buffers: ${response.contentLength} bytes`,
    );
    assert.equal(response.body.length, response.contentLength, 'nothing after the body');
    const samples = parseExposition(response.body.toString('utf8'));
    assert.equal(
      samples.filter((s) => s.name === 'probex_probe_up').length,
      BIG_TARGETS,
      'every target in one consistent body',
    );

    await waitFor(
      'probex to drop the stalled reader',
      async () => (serverHolds(big.port, stalled.localPort!) ? undefined : true),
      idleCloseMs(servingUws(big.logs).version),
    );
  },
);
