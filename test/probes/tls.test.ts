import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { httpProbe } from '../../src/probes/http.ts';
import { postgresProbe } from '../../src/probes/postgres.ts';
import type { HttpTarget } from '../../src/probes/http.ts';
import type { PostgresTarget } from '../../src/probes/postgres.ts';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import type { RedisTarget } from '../../src/probes/redis.ts';
import type { TcpTarget } from '../../src/probes/tcp.ts';
import { redisProbe } from '../../src/probes/redis.ts';
import { tcpProbe } from '../../src/probes/tcp.ts';
import type { TargetTls } from '../../src/probes/probe.ts';
import { clientTlsOptions } from '../../src/probes/tls.ts';
import { POSTGRES_URL, REDIS_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { makePki, type TestPki } from '../helpers/certificates.ts';
import { reasonOf, run } from '../helpers/probe-outcome.ts';

async function listen(t: TestContext, server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** tlsServer answers every TLS connection with `answer` (plain bytes), with the PKI's server certificate. */
function tlsServer(pki: TestPki, options: tls.TlsOptions = {}): tls.Server {
  return tls.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem, ...options }, (socket) => {
    socket.on('error', () => {});
    socket.end();
  });
}

function tcp(port: number, settings: TargetTls, host = '127.0.0.1'): TcpTarget {
  return { ...TARGET_DEFAULTS, name: 'tls-tcp', kind: 'tcp', host, port, tls: settings };
}

function expectDates(outcome: ProbeOutcome, pki: TestPki): void {
  assert.deepEqual(outcome.tls, {
    notBeforeSeconds: pki.server.notBeforeSeconds,
    notAfterSeconds: pki.server.notAfterSeconds,
  });
}

test('tcp with tls succeeds on a certificate its caFile verifies, and reports its dates', async (t) => {
  const pki = makePki(t);
  const port = await listen(t, tlsServer(pki));
  const prober = tcpProbe.create(tcp(port, { caFile: pki.ca.file, insecureSkipVerify: false }));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'ok', JSON.stringify(outcome));
  expectDates(outcome, pki);
});

test('an unknown CA fails with tls and still reports the certificate dates, equal to its notAfter', async (t) => {
  const pki = makePki(t, 45);
  const port = await listen(t, tlsServer(pki));
  const prober = tcpProbe.create(tcp(port, { insecureSkipVerify: false }));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'tls', JSON.stringify(outcome));
  expectDates(outcome, pki);
  assert.match(outcome.ok ? '' : outcome.message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);
});

test('a certificate for another name fails with tls; serverName names the one to check', async (t) => {
  const pki = makePki(t);
  const port = await listen(t, tlsServer(pki));
  const wrong = tcpProbe.create(
    tcp(port, { caFile: pki.ca.file, serverName: 'db.example', insecureSkipVerify: false }),
  );
  t.after(() => wrong.close());
  const failed = await run(wrong);
  assert.equal(reasonOf(failed), 'tls', JSON.stringify(failed));
  expectDates(failed, pki);
  const right = tcpProbe.create(tcp(port, { caFile: pki.ca.file, serverName: 'localhost', insecureSkipVerify: false }));
  t.after(() => right.close());
  assert.equal(reasonOf(await run(right)), 'ok');
});

test('insecureSkipVerify accepts an unknown CA and reports the dates', async (t) => {
  const pki = makePki(t);
  const port = await listen(t, tlsServer(pki));
  const prober = tcpProbe.create(tcp(port, { insecureSkipVerify: true }));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'ok');
  expectDates(outcome, pki);
});

test('a server that requires a client certificate accepts the certFile/keyFile pair', async (t) => {
  const pki = makePki(t);
  const port = await listen(t, tlsServer(pki, { requestCert: true, rejectUnauthorized: true, ca: pki.ca.pem }));
  const base: TargetTls = { caFile: pki.ca.file, insecureSkipVerify: false };
  const withCert = tcpProbe.create(
    tcp(port, { ...base, certFile: pki.client.cert.file, keyFile: pki.client.key.file }),
  );
  t.after(() => withCert.close());
  assert.equal(reasonOf(await run(withCert)), 'ok');
  assert.throws(() => clientTlsOptions({ ...base, caFile: `${pki.dir}/missing.pem` }), { code: 'ENOENT' });
});

test('minVersion TLSv1.3 refuses a server that speaks only TLSv1.2, as tls', async (t) => {
  const pki = makePki(t);
  const port = await listen(t, tlsServer(pki, { maxVersion: 'TLSv1.2' }));
  const prober = tcpProbe.create(tcp(port, { caFile: pki.ca.file, minVersion: 'TLSv1.3', insecureSkipVerify: false }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await run(prober)), 'tls');
});

function httpsTarget(url: string, settings: TargetTls): HttpTarget {
  return {
    ...TARGET_DEFAULTS,
    name: 'tls-http',
    kind: 'http',
    url,
    expectStatus: [],
    maxBodyBytes: 1024,
    headers: {},
    tls: settings,
  };
}

test('https verifies with caFile and reports the certificate; an unknown CA is tls with the dates', async (t) => {
  const pki = makePki(t, 20);
  const server = https.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (_req, res) => {
    res.end('ok');
  });
  const port = await listen(t, server);
  const url = `https://127.0.0.1:${port}/`;
  const good = httpProbe.create(httpsTarget(url, { caFile: pki.ca.file, insecureSkipVerify: false }));
  t.after(() => good.close());
  const first = await run(good);
  assert.equal(reasonOf(first), 'ok', JSON.stringify(first));
  expectDates(first, pki);
  // The keep-alive connection is reused: no new handshake, the same dates.
  expectDates(await run(good), pki);

  const unknown = httpProbe.create(httpsTarget(url, { insecureSkipVerify: false }));
  t.after(() => unknown.close());
  const failed = await run(unknown);
  assert.equal(reasonOf(failed), 'tls', JSON.stringify(failed));
  expectDates(failed, pki);
});

test('an http target without tls reports no certificate and its prober owns no dispatcher', async (t) => {
  const plain = net.createServer((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
  const port = await listen(t, plain);
  const prober = httpProbe.create({
    ...httpsTarget(`http://127.0.0.1:${port}/`, { insecureSkipVerify: false }),
    tls: undefined,
  });
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'ok');
  assert.equal(outcome.tls, undefined);
});

/**
 * tlsTerminator accepts TLS with the PKI's server certificate and pipes the plaintext to a real server, so
 * a kind's TLS path runs against the real protocol (the shared services speak no TLS themselves).
 */
async function tlsTerminator(t: TestContext, pki: TestPki, upstream: URL): Promise<number> {
  const server = tls.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (client) => {
    const backend = net.connect(Number(upstream.port), upstream.hostname);
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
    client.pipe(backend).pipe(client);
  });
  return listen(t, server);
}

test('rediss:// PINGs through TLS to a real Redis and reports the certificate; an unknown CA is tls with its dates', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const pki = makePki(t, 25);
  const port = await tlsTerminator(t, pki, new URL(REDIS_URL));
  const target = (settings: TargetTls): RedisTarget => ({
    ...TARGET_DEFAULTS,
    name: 'tls-redis',
    kind: 'redis',
    url: `rediss://127.0.0.1:${port}`,
    tls: settings,
  });
  const good = redisProbe.create(target({ caFile: pki.ca.file, insecureSkipVerify: false }));
  t.after(() => good.close());
  const ok = await run(good);
  assert.equal(reasonOf(ok), 'ok', JSON.stringify(ok));
  expectDates(ok, pki);
  assert.equal(reasonOf(await run(good)), 'ok');

  const unknown = redisProbe.create(target({ insecureSkipVerify: false }));
  t.after(() => unknown.close());
  const failed = await run(unknown);
  assert.equal(reasonOf(failed), 'tls', JSON.stringify(failed));
  expectDates(failed, pki);

  const skipping = redisProbe.create(target({ insecureSkipVerify: true }));
  t.after(() => skipping.close());
  const accepted = await run(skipping);
  assert.equal(reasonOf(accepted), 'ok', JSON.stringify(accepted));
  expectDates(accepted, pki);
});

test('postgres with tls queries a real PostgreSQL through TLS and reports the certificate; an unknown CA is tls with its dates', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const pki = makePki(t, 35);
  const upstream = new URL(POSTGRES_URL);
  // PostgreSQL's TLS starts with an SSLRequest (8 bytes) answered 'S'; the rest is TLS, piped as plaintext.
  const server = net.createServer((raw) => {
    raw.on('error', () => {});
    raw.once('readable', () => {
      if (raw.read(8) === null) return void raw.destroy();
      raw.write('S');
      const client = new tls.TLSSocket(raw, { isServer: true, key: pki.server.key.pem, cert: pki.server.cert.pem });
      const backend = net.connect(Number(upstream.port || 5432), upstream.hostname);
      client.on('error', () => backend.destroy());
      backend.on('error', () => client.destroy());
      client.pipe(backend).pipe(client);
    });
  });
  const port = await listen(t, server);
  const url = `postgres://${upstream.username}@127.0.0.1:${port}${upstream.pathname}`;
  const target = (settings: TargetTls): PostgresTarget => ({
    ...TARGET_DEFAULTS,
    name: 'tls-postgres',
    kind: 'postgres',
    url,
    query: 'SELECT 1',
    tls: settings,
  });
  const good = postgresProbe.create(target({ caFile: pki.ca.file, insecureSkipVerify: false }));
  t.after(() => good.close());
  const ok = await run(good);
  assert.equal(reasonOf(ok), 'ok', JSON.stringify(ok));
  expectDates(ok, pki);

  const unknown = postgresProbe.create(target({ insecureSkipVerify: false }));
  t.after(() => unknown.close());
  const failed = await run(unknown);
  assert.equal(reasonOf(failed), 'tls', JSON.stringify(failed));
  expectDates(failed, pki);
});
