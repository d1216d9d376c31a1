/**
 * probex --directus-env against what a real Directus 12.4.1 answered on the same kind of environment
 * (test/fixtures/directus/, captured by `UPDATE_GOLDEN=1 npm run test:directus`): for DB_CLIENT pg, mysql
 * and sqlite3, a Redis cache and local storage, the real process must write Directus's families with
 * the same names, HELP and TYPE lines, order and empty lines (values aside), then only its own, and
 * answer each request with Directus's status, headers and error bodies. Then a real Prometheus scraping
 * it must store Directus's counter names, not OpenMetrics's `_total` and `_created` ones.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import {
  ask,
  assertSameAnswers,
  assertSameFamilies,
  directusVariables,
  FIDELITY_CLIENTS,
  GOLDEN_ANSWERS_FILE,
  goldenMetricsFile,
  shape,
  type Answer,
  type DirectusSetup,
  type FidelityClient,
  type RequestName,
} from '../../support/directus.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { queryVector, requirePrometheus, startPrometheus } from '../../support/prometheus.ts';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL, requireService } from '../../support/services.ts';

const TOKEN = `directus-fidelity-e2e-${process.pid}`;

interface GoldenAnswers {
  readonly directus: string;
  readonly answers: Record<RequestName, Answer>;
}

/** startDirectusProbex starts probex --directus-env on one client's setup (the test's own databases). */
async function startDirectusProbex(t: TestContext, client: FidelityClient): Promise<ProbexProcess | undefined> {
  if (!(await requireService(t, 'redis', REDIS_URL))) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'probex-directus-fidelity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const uploads = join(dir, 'uploads');
  mkdirSync(uploads);
  let database: string;
  if (client === 'sqlite3') {
    database = join(dir, 'directus.db');
    new Database(database).close();
  } else {
    const [service, url] = client === 'pg' ? (['postgres', POSTGRES_URL] as const) : (['mysql', MYSQL_URL] as const);
    if (!(await requireService(t, service, url))) return undefined;
    database = new URL(url).pathname.slice(1);
  }
  const setup: DirectusSetup = { client, database, redisUrl: REDIS_URL, storageRoot: uploads, token: TOKEN };
  const probex = await startProbex(undefined, { ...directusVariables(setup), PROBEX_PORT: '0' }, ['--directus-env']);
  t.after(() => probex.stop());
  await waitFor(
    "probex's first checks",
    async () => {
      const res = await fetch(`${probex.url}/metrics`, { headers: { authorization: `Metrics ${TOKEN}` } });
      return /_response_time_ms_count [1-9]/.test(await res.text()) ? true : undefined;
    },
    20_000,
  );
  return probex;
}

for (const client of FIDELITY_CLIENTS) {
  test(`DB_CLIENT=${client}: probex answers every request as Directus 12.4.1 did`, async (t) => {
    const probex = await startDirectusProbex(t, client);
    if (probex === undefined) return;
    const golden = JSON.parse(readFileSync(GOLDEN_ANSWERS_FILE, 'utf8')) as GoldenAnswers;
    const ours = await ask(probex.url, TOKEN);
    assertSameFamilies(ours.prometheus.body, readFileSync(goldenMetricsFile(client), 'utf8'), assert.deepEqual);
    // Asked for protobuf first (native histograms on), probex still answers the same text.
    assert.equal(shape(ours['native-histograms'].body), shape(ours.prometheus.body));
    assertSameAnswers(ours, golden.answers, assert.deepEqual);
    // HEAD has GET's status and headers, and no body.
    const head = await fetch(`${probex.url}/metrics`, {
      method: 'HEAD',
      headers: { authorization: `Metrics ${TOKEN}` },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), golden.answers.prometheus.headers['content-type']);
    assert.equal(head.headers.get('cache-control'), golden.answers.prometheus.headers['cache-control']);
    assert.equal(await head.text(), '');
  });
}

test('Prometheus scraping probex --directus-env stores directus_db_pg_connection_errors, without _total or _created', async (t) => {
  if (!requirePrometheus(t)) return;
  const probex = await startDirectusProbex(t, 'pg');
  if (probex === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), 'probex-directus-prometheus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, scrape_timeout: 900ms }
scrape_configs:
  - job_name: directus
    authorization: { type: Metrics, credentials: ${TOKEN} }
    static_configs: [{ targets: ['127.0.0.1:${probex.port}'] }]
`,
  );
  const prometheus = await startPrometheus({ configFile: join(dir, 'prometheus.yml'), dir });
  t.after(() => prometheus.stop());
  const errors = await waitFor(
    'Prometheus to store the database error counter',
    async () => {
      const v = await queryVector(prometheus.url, 'directus_db_pg_connection_errors{job="directus"}');
      return v.length > 0 ? v : undefined;
    },
    20_000,
  );
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.value[1], '0');
  for (const expr of [
    '{__name__=~"directus_.*_total"}',
    '{__name__=~".*_created"}',
    'directus_db_pg_connection_errors_total',
  ])
    assert.deepEqual(await queryVector(prometheus.url, expr), [], `${expr} is not stored`);
  for (const name of [
    'directus_db_pg_response_time_ms_count',
    'directus_cache_redis_connection_errors',
    'directus_redis_connection_errors',
    'directus_storage_local_connection_errors',
  ])
    assert.equal((await queryVector(prometheus.url, name)).length, 1, `${name} is stored`);
});
