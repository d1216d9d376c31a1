/**
 * The dns and grpc kinds and TLS certificates through the real probex process: a dnsmasq, a gRPC server
 * and TLS servers made by the test (openssl certificates made at test time). Checks what a user sees on
 * /metrics and the JSON API, and that promtool accepts the output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { startDnsmasq } from '../../support/dnsmasq.ts';
import { findSamples, firstSampleValue, scrapeSamples, type ExpositionSample } from '../../support/exposition.ts';
import { startHealthServer } from '../../support/grpc-health.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { makePki } from '../helpers/certificates.ts';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

test('dns, grpc and TLS targets count through probex: NXDOMAIN is dns, an unknown CA is tls with the expiry, a gRPC server that goes away is counted and recovered from', async (t) => {
  const dnsmasq = await startDnsmasq(t);
  if (dnsmasq === undefined) return;
  const pki = makePki(t, 12);
  const secure = https.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (_req, res) =>
    res.end('ok'),
  );
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => {
    secure.closeAllConnections();
    secure.close();
  });
  const httpsPort = (secure.address() as AddressInfo).port;
  const plainTls = tls.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (s) => s.end());
  await new Promise<void>((resolve) => plainTls.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => plainTls.close());
  const tlsPort = (plainTls.address() as AddressInfo).port;
  let grpc = await startHealthServer();
  const grpcPort = grpc.port;
  t.after(() => grpc.stop());

  const probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: resolve, kind: dns, query: db.internal, server: "${dnsmasq.server}", expect: "^10\\\\.1\\\\.2\\\\.3$", interval: 200ms }
  - { name: resolve-tcp, kind: dns, query: alias.internal, recordType: CNAME, transport: tcp, server: "${dnsmasq.server}", interval: 200ms }
  - { name: nxdomain, kind: dns, query: x.gone.internal, server: "${dnsmasq.server}", interval: 200ms }
  - { name: health, kind: grpc, address: "127.0.0.1:${grpcPort}", interval: 200ms, timeout: 150ms }
  - { name: https-unknown-ca, kind: http, url: "https://127.0.0.1:${httpsPort}/", interval: 200ms }
  - { name: https-trusted, kind: http, url: "https://127.0.0.1:${httpsPort}/", interval: 200ms, tls: { caFile: "${pki.ca.file}" } }
  - { name: tls-port, kind: tcp, address: "127.0.0.1:${tlsPort}", interval: 200ms, tls: { caFile: "${pki.ca.file}", serverName: localhost } }
`);
  t.after(() => probex.stop());
  const scrape = (): Promise<ExpositionSample[]> => scrapeSamples(probex.url);
  const value = firstSampleValue;

  // A first run may time out while its worker loads the kind's library: wait for the steady state.
  const healthy = ['resolve', 'resolve-tcp', 'health', 'https-trusted', 'tls-port'];
  const first = await waitFor(
    'every healthy target to be up with three successes, and the failing ones to have failed three times',
    async () => {
      const s = await scrape();
      const ok = healthy.every(
        (target) =>
          value(s, 'probex_probe_up', { target }) === 1 &&
          value(s, 'probex_probe_duration_seconds_count', { target }) >= 3,
      );
      const failing =
        value(s, 'probex_probe_errors_total', { target: 'nxdomain', reason: 'dns' }) >= 3 &&
        value(s, 'probex_probe_errors_total', { target: 'https-unknown-ca', reason: 'tls' }) >= 3;
      return ok && failing ? s : undefined;
    },
    20_000,
  );
  assert.ok(value(first, 'probex_probe_errors_total', { target: 'nxdomain', reason: 'dns' }) >= 3);
  assert.equal(value(first, 'probex_probe_up', { target: 'nxdomain' }), 0);
  assert.ok(value(first, 'probex_probe_errors_total', { target: 'https-unknown-ca', reason: 'tls' }) >= 3);
  for (const target of ['https-unknown-ca', 'https-trusted', 'tls-port']) {
    assert.equal(value(first, 'probex_tls_cert_not_after_seconds', { target }), pki.server.notAfterSeconds, target);
    assert.equal(value(first, 'probex_tls_cert_not_before_seconds', { target }), pki.server.notBeforeSeconds, target);
  }
  assert.equal(
    findSamples(first, 'probex_tls_cert_not_after_seconds', { target: 'health' }).length,
    0,
    'no TLS, no certificate',
  );

  const container = (await (
    await fetch(`${probex.url}/system/v1/metrics/v0/containers/https-unknown-ca`, {
      headers: { accept: 'application/json' },
    })
  ).json()) as { datapoints: Array<{ name: string; value: number; unit: string }> };
  const notAfter = container.datapoints.find((d) => d.name === 'tls.cert.not_after');
  assert.deepEqual(notAfter && [notAfter.value, notAfter.unit], [pki.server.notAfterSeconds, 'seconds']);

  const text = await (await fetch(`${probex.url}/metrics`)).text();
  const promtool = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    if (process.env.CI === 'true') assert.fail(`${PROMTOOL} is not installed; CI must install it`);
  } else {
    assert.equal(`${promtool.stdout}${promtool.stderr}`.trim(), '', 'promtool check metrics has no complaint');
    assert.equal(promtool.status, 0);
  }

  // The gRPC server goes away: its failures are counted as refused; it comes back on the same port.
  const refusedBefore = value(first, 'probex_probe_errors_total', { target: 'health', reason: 'refused' });
  await grpc.stop();
  await waitFor(
    'the health target to fail as refused',
    async () => {
      const s = await scrape();
      return value(s, 'probex_probe_errors_total', { target: 'health', reason: 'refused' }) > refusedBefore &&
        value(s, 'probex_probe_up', { target: 'health' }) === 0
        ? true
        : undefined;
    },
    10_000,
  );
  grpc = await startHealthServer({ port: grpcPort });
  await waitFor(
    'the health target to recover',
    async () => (value(await scrape(), 'probex_probe_up', { target: 'health' }) === 1 ? true : undefined),
    15_000,
  );
});
