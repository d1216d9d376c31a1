import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { decodeServingStatus, encodeHealthCheckRequest, grpcProbe } from '../../src/probes/grpc.ts';
import type { GrpcTarget } from '../../src/probes/grpc.ts';
import type { Prober } from '../../src/probes/probe.ts';
import { startHealthServer, type HealthServer, type HealthServerOptions } from '../../support/grpc-health.ts';
import { waitFor } from '../../support/probex-process.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';
import { makePki } from '../helpers/certificates.ts';
import { reasonOf, run } from '../helpers/probe-outcome.ts';

function target(port: number, more: Partial<GrpcTarget> = {}): GrpcTarget {
  return { ...TARGET_DEFAULTS, name: 'grpc-test', kind: 'grpc', address: `127.0.0.1:${port}`, service: '', ...more };
}

async function server(t: TestContext, options: HealthServerOptions = {}): Promise<HealthServer> {
  const started = await startHealthServer(options);
  t.after(() => started.stop());
  return started;
}

function prober(t: TestContext, grpcTarget: GrpcTarget): Prober {
  const made = grpcProbe.create(grpcTarget);
  t.after(() => made.close());
  return made;
}

test('SERVING is ok; NOT_SERVING and an unknown service are status; no health service is bad_reply', async (t) => {
  const health = await server(t);
  health.statuses.set('api.v1.Orders', 2);
  assert.equal(reasonOf(await run(prober(t, target(health.port)))), 'ok');
  const notServing = await run(prober(t, target(health.port, { service: 'api.v1.Orders' })));
  assert.equal(reasonOf(notServing), 'status');
  assert.match(notServing.ok ? '' : notServing.message, /NOT_SERVING/);
  assert.equal(reasonOf(await run(prober(t, target(health.port, { service: 'nope' })))), 'status');
  const bare = await server(t, { withoutHealth: true });
  assert.equal(reasonOf(await run(prober(t, target(bare.port)))), 'bad_reply');
});

test('one channel serves every run, and a server that goes away is refused, then recovered from', async (t) => {
  const first = await startHealthServer();
  const port = first.port;
  const probe = prober(t, target(port, { intervalMs: 1000 }));
  for (let i = 0; i < 3; i++) assert.equal(reasonOf(await run(probe)), 'ok');
  assert.equal(first.checks.count, 3);
  await first.stop();
  const gone = await run(probe);
  assert.equal(reasonOf(gone), 'refused', JSON.stringify(gone));
  const second = await startHealthServer({ port });
  t.after(() => second.stop());
  await waitFor(
    'the channel to reconnect',
    async () => (reasonOf(await run(probe)) === 'ok' ? true : undefined),
    10_000,
  );
});

test('the deadline cancels the call: a server that never answers is a timeout, and close() leaves no socket', async (t) => {
  const net = await import('node:net');
  // Accepts, never speaks HTTP/2; a reset from the client is the end it expects.
  const silent = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => silent.close());
  const port = (silent.address() as { port: number }).port;
  const probe = grpcProbe.create(target(port, { timeoutMs: 300 }));
  assert.equal(reasonOf(await probe.run(AbortSignal.timeout(300))), 'timeout');
  const open = (): Promise<number> =>
    new Promise((resolve, reject) => silent.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  assert.equal(await open(), 1, 'the channel holds its connection between runs');
  // grpc-js's own close leaves a socket whose HTTP/2 session never got the server's first frame: close()
  // must end it, or it outlives the prober (and holds the process open).
  await probe.close();
  await waitFor('the connection to close', async () => ((await open()) === 0 ? true : undefined), 2_000);
});

test('TLS: a CA that verifies is ok with the certificate dates; an unknown CA is tls with them too', async (t) => {
  const pki = makePki(t, 40);
  const health = await server(t, { tls: { key: pki.server.key.pem, cert: pki.server.cert.pem } });
  const dates = { notBeforeSeconds: pki.server.notBeforeSeconds, notAfterSeconds: pki.server.notAfterSeconds };
  const good = await run(prober(t, target(health.port, { tls: { caFile: pki.ca.file, insecureSkipVerify: false } })));
  assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
  assert.deepEqual(good.tls, dates);
  const unknown = await run(prober(t, target(health.port, { tls: { insecureSkipVerify: false } })));
  assert.equal(reasonOf(unknown), 'tls', JSON.stringify(unknown));
  assert.deepEqual(unknown.tls, dates);
  const plaintext = await run(prober(t, target(health.port)));
  assert.notEqual(reasonOf(plaintext), 'ok', 'a plaintext channel to a TLS server fails');
});

test('health messages encode and decode in protobuf wire format', () => {
  assert.deepEqual([...encodeHealthCheckRequest('')], []);
  assert.deepEqual([...encodeHealthCheckRequest('ab')], [0x0a, 2, 0x61, 0x62]);
  assert.equal(decodeServingStatus(Buffer.from([0x08, 1])), 1);
  assert.equal(decodeServingStatus(Buffer.alloc(0)), 0, 'an absent field is UNKNOWN');
  assert.equal(decodeServingStatus(Buffer.from([0x12, 1, 0x41, 0x08, 2])), 2, 'other fields are skipped');
  assert.equal(decodeServingStatus(Buffer.from([0x08])), undefined);
});
