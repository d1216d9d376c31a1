/**
 * A real Prometheus server scrapes two real probex instances with the shipped scrape config and rules
 * (deploy/prometheus/), rewritten only for the test's ports, CA and password files: 1 s scrapes over
 * https (tls_config with the CA that signed probex's certificate, made by openssl at test time) with
 * basic_auth (a bcrypt hash made by htpasswd in probex's web config). Then its HTTP API must show both
 * targets up, finite p99s from the Redis and MariaDB histograms,
 * a dead dependency's error counter rising, and the recording rules aggregating across the instances.
 * Every panel and variable query of the shipped Grafana dashboard (deploy/grafana/) must return data.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { loadDashboard, panelQueries, variableSelectors } from '../helpers/grafana.ts';
import { MYSQL_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { certDir, htpasswdHash, requireTools, type CertDir } from '../../support/certs.ts';
import { makePki } from '../helpers/certificates.ts';
import { closedPort } from '../helpers/silent-server.ts';
import {
  HAS_PROMETHEUS,
  queryVector,
  requirePrometheus,
  startPrometheus,
  type PrometheusServer,
  type PromSeries,
} from '../../support/prometheus.ts';

const DEPLOY = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const TOKEN = 'prometheus-e2e-scrape-token';
const PASSWORD = 'prometheus-e2e-Pa55word';
const SHIPPED_TARGET = "['127.0.0.1:9469']";
const SHIPPED_CA_FILE = '/etc/prometheus/secrets/probex-ca.crt';
const SHIPPED_PASSWORD_FILE = '/etc/prometheus/secrets/probex-password';
const INSTANCES = 2;

const probexConfig = (deadPort: number, tlsPort: number, caFile: string): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 250ms
auth:
  tokens:
    - { token: ${TOKEN}, permissions: [metrics] }
targets:
  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 200ms }
  - { name: mysql, kind: mysql, url: "${MYSQL_URL}", interval: 200ms }
  - { name: dead, kind: tcp, address: "127.0.0.1:${deadPort}", interval: 200ms, timeout: 100ms }
  - { name: tls, kind: tcp, address: "127.0.0.1:${tlsPort}", interval: 200ms, tls: { caFile: "${caFile}", serverName: localhost } }
`;

let dir: string;
let certs: CertDir | undefined;
let prometheus: PrometheusServer | undefined;
const probexes: ProbexProcess[] = [];
/** cleanups run after the tests: the TLS server and its certificates. */
const cleanups: Array<() => void> = [];

/**
 * ready reports whether the test can run here: prometheus, openssl, htpasswd installed (a failure in CI),
 * Redis and MariaDB up.
 */
async function ready(t: TestContext): Promise<boolean> {
  if (!requirePrometheus(t) || !requireTools(t, 'openssl', 'htpasswd')) return false;
  return (await requireService(t, 'redis', REDIS_URL)) && requireService(t, 'mysql', MYSQL_URL);
}

before(async () => {
  if (!HAS_PROMETHEUS) return;
  dir = mkdtempSync(join(tmpdir(), 'probex-prometheus-'));
  // probex's certificate, signed by a CA of the test's own, and its web config: TLS and one basic-auth user.
  certs = certDir();
  const ca = certs.ca('ca');
  const server = certs.leaf('probex', ca, 'IP:127.0.0.1');
  const web = join(dir, 'web.yml');
  writeFileSync(
    web,
    `tls_server_config:\n  cert_file: ${server.cert}\n  key_file: ${server.key}\n` +
      `basic_auth_users:\n  prometheus: ${htpasswdHash(PASSWORD)}\n`,
  );
  const deadPort = await closedPort();
  // A TLS port, so the certificate panel has a certificate to show.
  const pki = makePki({ after: (fn: () => void) => cleanups.push(fn) } as unknown as TestContext);
  const tlsServer = tls.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (s) => s.end());
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => tlsServer.close());
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  for (let i = 0; i < INSTANCES; i++)
    probexes.push(await startProbex(probexConfig(deadPort, tlsPort, pki.ca.file), {}, ['--web.config.file', web]));

  writeFileSync(join(dir, 'password'), PASSWORD);
  copyFileSync(join(DEPLOY, 'rules.yml'), join(dir, 'rules.yml'));
  const shipped = readFileSync(join(DEPLOY, 'prometheus.yml'), 'utf8');
  assert.ok(
    [SHIPPED_TARGET, SHIPPED_CA_FILE, SHIPPED_PASSWORD_FILE].every((s) => shipped.includes(s)),
    'the shipped config names the defaults',
  );
  writeFileSync(
    join(dir, 'prometheus.yml'),
    shipped
      .replace(SHIPPED_TARGET, JSON.stringify(probexes.map((p) => `127.0.0.1:${p.port}`)))
      .replaceAll(SHIPPED_CA_FILE, ca.cert)
      .replaceAll(SHIPPED_PASSWORD_FILE, join(dir, 'password')),
  );

  prometheus = await startPrometheus({ configFile: join(dir, 'prometheus.yml'), dir });
});

after(async () => {
  prometheus?.stop();
  await Promise.all(probexes.map((p) => p.stop()));
  for (const cleanup of cleanups) cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  certs?.remove();
});

/** query runs an instant PromQL query against the test's Prometheus and returns its vector. */
const query = (expr: string): Promise<PromSeries[]> => queryVector(prometheus!.url, expr);

const values = (series: PromSeries[]): number[] => series.map((s) => Number(s.value[1]));

test('Prometheus scrapes every probex instance over https with tls_config and basic_auth: up == 1 after two scrapes', async (t) => {
  if (!(await ready(t))) return;
  assert.deepEqual(
    probexes.map((p) => p.logs.find((l) => l.msg === 'probex listening')?.tls),
    Array(INSTANCES).fill('uws-tls'),
  );
  const scrapes = await waitFor(
    'two scrapes of each instance',
    async () => {
      const s = await query('count_over_time(up{job="probex"}[1m])');
      return s.length === INSTANCES && values(s).every((n) => n >= 2) ? s : undefined;
    },
    20_000,
  );
  assert.equal(scrapes.length, INSTANCES);
  const up = await query('up{job="probex"}');
  assert.deepEqual(values(up), Array(INSTANCES).fill(1));
  assert.deepEqual(
    up.map((s) => s.metric.env),
    Array(INSTANCES).fill('dev'),
    'the shipped static labels apply',
  );
});

test('histogram_quantile(0.99, rate(..._bucket[30s])) is finite for the Redis and MariaDB targets', async (t) => {
  if (!(await ready(t))) return;
  const p99 = await waitFor(
    'p99 for both targets on every instance',
    async () => {
      const s = await query(
        'histogram_quantile(0.99, rate(probex_probe_duration_seconds_bucket{target=~"redis|mysql"}[30s]))',
      );
      return s.length === 2 * INSTANCES && values(s).every(Number.isFinite) ? s : undefined;
    },
    20_000,
  );
  for (const s of p99) {
    const v = Number(s.value[1]);
    assert.ok(v > 0 && v < 1, `${s.metric.instance} ${s.metric.target}: p99 ${v}s`);
    assert.equal(s.metric.kind, s.metric.target, 'the kind label is kept');
  }
});

test('the errors counter of a dead dependency rises between scrapes', async (t) => {
  if (!(await ready(t))) return;
  const expr = 'sum(probex_probe_errors_total{target="dead", reason="refused"})';
  const first = await waitFor(
    'errors of the dead target',
    async () => {
      const [s] = values(await query(expr));
      return s !== undefined && s > 0 ? s : undefined;
    },
    20_000,
  );
  const later = await waitFor(
    'the errors to rise',
    async () => {
      const [s] = values(await query(expr));
      return s !== undefined && s > first ? s : undefined;
    },
    10_000,
  );
  assert.ok(later > first);
  assert.deepEqual(values(await query('probex_probe_up{target="dead"}')), Array(INSTANCES).fill(0));
});

test('the shipped recording rules aggregate both instances into one p99 series per target', async (t) => {
  if (!(await ready(t))) return;
  // The rule group evaluates every 5 s (evaluation_interval) over 1m rates.
  const p99 = await waitFor(
    'probex:probe_duration_seconds:p99 for redis',
    async () => {
      const s = await query('probex:probe_duration_seconds:p99{target="redis"}');
      return s.length === 1 && Number.isFinite(Number(s[0]!.value[1])) ? s : undefined;
    },
    30_000,
  );
  assert.equal(p99[0]!.metric.instance, undefined, 'summed across instances');
  const ratio = await query('probex:probe_error_ratio:rate1m{target="dead"}');
  assert.deepEqual(values(ratio), [1], 'every probe of the dead target fails');
});

test('every query of the Grafana dashboard returns data from the live Prometheus', async (t) => {
  if (!(await ready(t))) return;
  const dashboard = loadDashboard();
  // The recording rules need a few evaluations (every 5 s over 1m rates) before every panel has data.
  let missing: string[] = [];
  await waitFor(
    'data for every dashboard query',
    async () => {
      missing = [];
      for (const q of panelQueries(dashboard)) {
        const series = await query(q.promql);
        if (!series.some((s) => Number.isFinite(Number(s.value[1]))))
          missing.push(`${q.panel} ${q.refId}: ${q.promql}`);
      }
      return missing.length === 0 ? true : undefined;
    },
    60_000,
  ).catch(() => undefined);
  assert.deepEqual(missing, [], 'queries without data');

  // The heatmap is one series per bucket bound, as its `{{le}}` rows need.
  const heatmap = panelQueries(dashboard).find((q) => q.type === 'heatmap')!;
  const buckets = await query(heatmap.promql);
  assert.ok(buckets.length > 5 && buckets.every((s) => s.metric.le !== undefined), `${buckets.length} bucket series`);
  // Error ratio by reason: the dead target's refused probes, and only reasons that occurred.
  const byReason = await query(panelQueries(dashboard).find((q) => q.panel === 'Error ratio by reason')!.promql);
  const dead = byReason.find((s) => s.metric.target === 'dead' && s.metric.reason === 'refused');
  assert.ok(dead !== undefined && Number(dead.value[1]) > 0.99, JSON.stringify(byReason.map((s) => s.metric)));

  for (const v of variableSelectors(dashboard)) {
    const values = new Set((await query(v.selector)).map((s) => s.metric[v.label]));
    assert.ok(values.size >= (v.name === 'instance' ? INSTANCES : 3), `${v.name}: ${[...values].join(', ')}`);
  }
});
