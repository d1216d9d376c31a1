import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import type { TcpTarget } from '../../src/probes/tcp.ts';
import { tcpProbe } from '../../src/probes/tcp.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../../support/services.ts';
import { openFds, startFakeServer } from '../helpers/fake-servers.ts';
import { waitFor } from '../../support/probex-process.ts';
import { closedPort } from '../helpers/silent-server.ts';

function target(host: string, port: number, timeoutMs = 1000): TcpTarget {
  return { ...TARGET_DEFAULTS, name: 'tcp-test', kind: 'tcp', host, port, timeoutMs };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

async function listen(server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

test('a listening port succeeds and the connection is closed again', async (t) => {
  let closed = 0;
  const server = net.createServer((socket) => socket.on('close', () => closed++));
  t.after(() => server.close());
  const port = await listen(server);
  const prober = tcpProbe.create(target('127.0.0.1', port));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(new AbortController().signal), { ok: true });
  await waitFor('the server to see the connection close', async () => (closed > 0 ? true : undefined));
  assert.equal(closed, 1);
});

test('a closed port fails with refused', async (t) => {
  const prober = tcpProbe.create(target('127.0.0.1', await closedPort()));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'refused');
});

test('a host name that does not resolve fails with dns', async (t) => {
  const prober = tcpProbe.create(target('probex-no-such-host.invalid', 80));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(5000))), 'dns');
});

test('a run aborted before the connect completes answers timeout at once and leaves no socket open', async (t) => {
  // A loopback connect cannot complete in the same tick, so aborting right away is a deadline that
  // passes mid-connect (a routable-but-silent address is not reliable in sandboxes).
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  t.after(() => server.close());
  const prober = tcpProbe.create(target('127.0.0.1', await listen(server), 50));
  t.after(() => prober.close());
  const ac = new AbortController();
  const t0 = performance.now();
  const pending = prober.run(ac.signal);
  ac.abort();
  assert.deepEqual(await pending, { ok: false, reason: 'timeout', message: 'deadline of 50 ms exceeded' });
  assert.ok(performance.now() - t0 < DEADLINE_MARGIN_MS);
  await waitFor('every accepted socket to close', async () => (open.size === 0 ? true : undefined), 2000);
});

test('a prober recovers when a listener appears on a port that was closed', async (t) => {
  const port = await closedPort();
  const prober = tcpProbe.create(target('127.0.0.1', port));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'refused');
  const server = net.createServer((socket) => socket.destroy());
  t.after(() => server.close());
  await listen(server, port);
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
});

test('concurrent runs each get their own connection', async (t) => {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  t.after(() => server.close());
  const port = await listen(server);
  const prober = tcpProbe.create({ ...target('127.0.0.1', port), concurrency: 8 });
  t.after(() => prober.close());
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => prober.run(new AbortController().signal)));
  assert.ok(outcomes.every((o) => o.ok));
  await waitFor('the server to accept every connection', async () => (accepted >= 8 ? true : undefined));
  assert.equal(accepted, 8);
});

test('a server that greets with an error and keeps the socket open: every run closes its socket', async (t) => {
  const server = await startFakeServer((socket) => socket.write('421 too many connections\r\n'));
  t.after(() => server.close());
  const prober = tcpProbe.create(target('127.0.0.1', server.port));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(1000))), 'ok'); // warm up
  const fdsBefore = openFds();
  for (let i = 0; i < 50; i++) assert.equal(reasonOf(await prober.run(AbortSignal.timeout(1000))), 'ok');
  await waitFor('the server to see every socket closed', async () => (server.open() === 0 ? true : undefined));
  const grown = openFds() - fdsBefore;
  assert.ok(grown <= 2, `${grown} more open fds after 50 runs`);
});
