/**
 * The directus profile against Directus's own output. Directus registers its metrics with prom-client
 * (api/src/metrics/lib/create-metrics.ts); here prom-client renders the same names, HELP text, buckets and
 * observations, and probex's families for the seed's setup (DB_CLIENT=sqlite3, a Redis serving both
 * REDIS and the cache, STORAGE_LOCATIONS=local) must match it line for line. The committed golden,
 * test/fixtures/directus-seed.prom, is prom-client's rendering (UPDATE_GOLDEN=1 rewrites it). The last test
 * holds the shape against what a real Directus wrote (test/fixtures/directus/, `npm run test:directus`).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { buildFamilies } from '../../src/metrics/families.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { kOk } from '../../src/pool/messages.ts';
import { FAILURE_REASONS, type ProbeFailureReason } from '../../src/probes/probe.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { renderOpenMetrics, renderText } from '../../src/render/text.ts';
import { assertSameFamilies, FIDELITY_CLIENTS, goldenMetricsFile } from '../../support/directus.ts';
import { fixtureSelfStats, makeTarget } from '../../support/exposition.ts';

const GOLDEN = new URL('../fixtures/directus-seed.prom', import.meta.url);
/** DIRECTUS_BUCKETS are create-metrics.ts's response-time buckets (ms). */
const DIRECTUS_BUCKETS = [1, 10, 20, 40, 60, 80, 100, 200, 500, 750, 1000];

/** One Directus setup's probe runs: each latency is a success (ms), each reason a failure. */
interface Runs {
  readonly target: ProbeTarget;
  readonly ok: readonly number[];
  readonly failed: readonly ProbeFailureReason[];
}

const SEED: readonly Runs[] = [
  { target: makeTarget({ name: 'database', kind: 'sqlite' }), ok: [0.5, 3, 15, 45, 250, 1200], failed: ['busy', 'io'] },
  { target: makeTarget({ name: 'redis', kind: 'redis', command: 'setdel' }), ok: [0.25, 2], failed: ['refused'] },
  { target: makeTarget({ name: 'storage-local', kind: 'storage', location: 'local' }), ok: [7], failed: [] },
];

/** probexText renders the runs through probex's real Aggregator and directus profile. */
function probexText(runs: readonly Runs[], prefix?: string): string {
  const aggregator = new Aggregator();
  aggregator.setTargets(runs.map((r) => r.target));
  for (const r of runs) {
    const latencies = [...r.ok.map((ms) => ms * 1000), ...r.failed.map(() => 0)];
    const reasons = [...r.ok.map(() => kOk), ...r.failed.map((reason) => FAILURE_REASONS.indexOf(reason) + 1)];
    aggregator.record([r.target.name], {
      target: new Uint32Array(latencies.length),
      latencyUs: Float64Array.from(latencies),
      reason: Uint8Array.from(reasons),
      endedAtMs: new Float64Array(latencies.length).fill(1_700_000_000_000),
      app: [null],
      failure: [null],
    });
  }
  return renderText(buildFamilies(aggregator.snapshot(), fixtureSelfStats(), 'directus', prefix));
}

/** directusText is what Directus itself writes for the same runs: prom-client, as create-metrics.ts uses it. */
async function directusText(runs: readonly Runs[], prefix = 'directus_'): Promise<string> {
  const registry = new Registry();
  const [db, redis, storage] = runs as [Runs, Runs, Runs];
  const client = 'sqlite3';
  const dbTime = new Histogram({
    name: `${prefix}db_${client}_response_time_ms`,
    help: `${client} Database connection response time`,
    buckets: DIRECTUS_BUCKETS,
    registers: [registry],
  });
  const dbErrors = new Counter({
    name: `${prefix}db_${client}_connection_errors`,
    help: `${client} Database connection error count`,
    registers: [registry],
  });
  const cacheErrors = new Counter({
    name: `${prefix}cache_redis_connection_errors`,
    help: 'Cache connection error count',
    registers: [registry],
  });
  const redisErrors = new Counter({
    name: `${prefix}redis_connection_errors`,
    help: 'Redis connection error count',
    registers: [registry],
  });
  const location = 'local';
  const storageErrors = new Counter({
    name: `${prefix}storage_${location}_connection_errors`,
    help: `${location} storage connection error count`,
    registers: [registry],
  });
  for (const ms of db.ok) dbTime.observe(ms);
  dbErrors.inc(db.failed.length);
  cacheErrors.inc(redis.failed.length);
  redisErrors.inc(redis.failed.length);
  storageErrors.inc(storage.failed.length);
  return registry.metrics();
}

/** familyBlock is a family's HELP, TYPE and sample lines from an exposition (one family per block). */
function familyBlock(text: string, family: string): string {
  const lines = text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith(`# HELP ${family} `) ||
        line.startsWith(`# TYPE ${family} `) ||
        new RegExp(`^${family}(_bucket|_sum|_count)?[ {]`).test(line),
    );
  return lines.join('\n');
}

const FIVE = (prefix: string): string[] => [
  `${prefix}db_sqlite3_response_time_ms`,
  `${prefix}db_sqlite3_connection_errors`,
  `${prefix}cache_redis_connection_errors`,
  `${prefix}redis_connection_errors`,
  `${prefix}storage_local_connection_errors`,
];

test("the seed's five Directus families match what Directus (prom-client) writes, byte for byte", async () => {
  const ours = probexText(SEED);
  const theirs = await directusText(SEED);
  for (const family of FIVE('directus_')) {
    const expected = familyBlock(theirs, family);
    assert.notEqual(expected, '', `prom-client wrote no ${family}`);
    assert.equal(familyBlock(ours, family), expected, family);
  }
});

test("the golden file holds the seed's family lines: HELP, TYPE and the le set", async () => {
  const theirs = await directusText(SEED);
  const golden = `${FIVE('directus_')
    .map((family) => familyBlock(theirs, family))
    .join('\n')}\n`;
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, golden);
  assert.equal(golden, readFileSync(GOLDEN, 'utf8'), 'prom-client writes what the golden holds');
  const ours = `${FIVE('directus_')
    .map((family) => familyBlock(probexText(SEED), family))
    .join('\n')}\n`;
  assert.equal(ours, readFileSync(GOLDEN, 'utf8'));
  // Spelled out once more, as a reader of the golden checks it: Directus's HELP/TYPE lines and buckets.
  for (const line of [
    '# HELP directus_db_sqlite3_response_time_ms sqlite3 Database connection response time',
    '# TYPE directus_db_sqlite3_response_time_ms histogram',
    '# HELP directus_db_sqlite3_connection_errors sqlite3 Database connection error count',
    '# TYPE directus_db_sqlite3_connection_errors counter',
    '# HELP directus_cache_redis_connection_errors Cache connection error count',
    '# TYPE directus_cache_redis_connection_errors counter',
    '# HELP directus_redis_connection_errors Redis connection error count',
    '# TYPE directus_redis_connection_errors counter',
    '# HELP directus_storage_local_connection_errors local storage connection error count',
    '# TYPE directus_storage_local_connection_errors counter',
  ])
    assert.ok(ours.split('\n').includes(line), `missing: ${line}`);
  const le = [...ours.matchAll(/^directus_db_sqlite3_response_time_ms_bucket\{le="([^"]+)"\}/gm)].map((m) => m[1]);
  assert.deepEqual(le, [...DIRECTUS_BUCKETS.map(String), '+Inf']);
});

test('METRICS_NAME_PREFIX renames every Directus family, as Directus applies it', async () => {
  const ours = probexText(SEED, 'cms_');
  const theirs = await directusText(SEED, 'cms_');
  for (const family of FIVE('cms_')) assert.equal(familyBlock(ours, family), familyBlock(theirs, family), family);
  assert.doesNotMatch(ours, /^directus_/m);
});

test('postgres targets are directus_db_pg_* (or their Directus client), mysql stays directus_db_mysql_*', () => {
  const runs: Runs[] = [
    { target: makeTarget({ name: 'pg', kind: 'postgres' }), ok: [2], failed: [] },
    {
      target: makeTarget({ name: 'crdb', kind: 'postgres', directusClient: 'cockroachdb' }),
      ok: [3],
      failed: ['auth'],
    },
    { target: makeTarget({ name: 'my', kind: 'mysql' }), ok: [4], failed: [] },
  ];
  const text = probexText(runs);
  for (const line of [
    '# HELP directus_db_pg_response_time_ms pg Database connection response time',
    '# HELP directus_db_pg_connection_errors pg Database connection error count',
    'directus_db_pg_response_time_ms_count 1',
    '# HELP directus_db_cockroachdb_connection_errors cockroachdb Database connection error count',
    'directus_db_cockroachdb_connection_errors 1',
    '# HELP directus_db_mysql_response_time_ms mysql Database connection response time',
  ])
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  // Directus's database families replace the probex duration family for these targets.
  assert.doesNotMatch(text, /^probex_probe_duration_seconds_count\{target="pg"/m);
});

test('a Redis that serves only the cache feeds only the cache families', () => {
  const runs: Runs[] = [
    {
      target: makeTarget({ name: 'shared', kind: 'redis', directusServices: ['redis'] }),
      ok: [1],
      failed: ['timeout'],
    },
    {
      target: makeTarget({ name: 'cache', kind: 'redis', directusServices: ['cache'] }),
      ok: [1],
      failed: ['refused', 'refused'],
    },
  ];
  const text = probexText(runs);
  assert.ok(text.split('\n').includes('directus_redis_connection_errors 1'));
  assert.ok(text.split('\n').includes('directus_cache_redis_connection_errors 2'));
  // Directus has no Redis histogram: the latencies are probex's, under probex's name.
  assert.doesNotMatch(text, /^directus_(cache_)?redis_response_time_ms/m);
  assert.ok(text.split('\n').includes('probex_probe_duration_seconds_count{target="cache",kind="redis"} 1'));
});

test('the directus profile with the new kinds is valid OpenMetrics too (counters get _total there)', () => {
  const aggregator = new Aggregator();
  aggregator.setTargets(SEED.map((r) => r.target));
  const text = renderOpenMetrics(buildFamilies(aggregator.snapshot(), fixtureSelfStats(), 'directus'));
  assert.match(text, /^directus_db_sqlite3_connection_errors_total 0$/m);
  assert.match(text, /^# EOF\n$/m);
});

test("probex's directus profile has the shape of what a real Directus 12.4.1 wrote, for pg, mysql and sqlite3", () => {
  const kinds = { pg: 'postgres', mysql: 'mysql', sqlite3: 'sqlite' } as const;
  for (const client of FIDELITY_CLIENTS) {
    // --directus-env's targets for that environment: the database, one Redis for REDIS and the cache, local storage.
    const runs: Runs[] = [
      { target: makeTarget({ name: 'database', kind: kinds[client] }), ok: [0.5, 3], failed: [] },
      { target: makeTarget({ name: 'redis', kind: 'redis', command: 'setdel' }), ok: [0.25], failed: ['refused'] },
      { target: makeTarget({ name: 'storage-local', kind: 'storage', location: 'local' }), ok: [7], failed: [] },
    ];
    const aggregator = new Aggregator();
    aggregator.setTargets(runs.map((r) => r.target));
    const ours = renderText(buildFamilies(aggregator.snapshot(), fixtureSelfStats(), 'directus'), 'prom-client');
    assertSameFamilies(ours, readFileSync(goldenMetricsFile(client), 'utf8'), (actual, expected, message) =>
      assert.deepEqual(actual, expected, `${client}: ${message}`),
    );
  }
});
