import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { alwaysEmittedReasons, buildFamilies, ModelBuilder } from '../../src/metrics/families.ts';
import type { HistogramFamily, MetricFamily, ScalarSample } from '../../src/metrics/model.ts';
import { DIRECTUS_BUCKETS_MS, isValidLabelName, isValidMetricName } from '../../src/metrics/names.ts';
import { FAILURE_REASONS } from '../../src/probes/probe.ts';
import { PROBE_KINDS } from '../../src/probes/registry.ts';
import { renderText } from '../../src/render/text.ts';
import {
  fixtureSelfStats,
  fixtureTargets,
  makeSnapshot,
  makeTarget,
  parseExposition,
  sampleValue,
} from '../../support/exposition.ts';

function family(families: readonly MetricFamily[], name: string): MetricFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `family ${name} is present`);
  return found;
}

function histogramOf(families: readonly MetricFamily[], name: string): HistogramFamily {
  const found = family(families, name);
  assert.equal(found.type, 'histogram');
  return found as HistogramFamily;
}

function scalarSamples(families: readonly MetricFamily[], name: string): readonly ScalarSample[] {
  const found = family(families, name);
  assert.notEqual(found.type, 'histogram');
  return found.samples as readonly ScalarSample[];
}

describe('probex profile', () => {
  test('a never-probed target has up 0, count 0, zero buckets and a 0 last timestamp', () => {
    const never = makeSnapshot(makeTarget({ name: 'new', kind: 'tcp' }), { bucketCounts: [] });
    const text = renderText(buildFamilies([never], fixtureSelfStats(), 'probex'));
    const samples = parseExposition(text);
    const labels = { target: 'new', kind: 'tcp' };
    assert.equal(sampleValue(samples, 'probex_probe_up', labels), 0);
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_count', labels), 0);
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_sum', labels), 0);
    assert.equal(sampleValue(samples, 'probex_probe_last_timestamp_seconds', labels), 0);
    assert.equal(sampleValue(samples, 'probex_probes_total', labels), 0);
    const buckets = samples.filter((s) => s.name === 'probex_probe_duration_seconds_bucket');
    assert.equal(buckets.length, never.target.buckets.length + 1);
    assert.ok(buckets.every((s) => s.value === 0));
  });

  test("errors show every non-zero reason plus the kind's always-emitted reasons at 0", () => {
    const target = makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }), { probes: 9, errors: { auth: 4, tls: 1 } });
    const errors = scalarSamples(buildFamilies([target], fixtureSelfStats(), 'probex'), 'probex_probe_errors');
    const byReason = Object.fromEntries(errors.map((s) => [s.labels.reason, s.value]));
    assert.deepEqual(byReason, { timeout: 0, refused: 0, auth: 4, tls: 1 });
    assert.deepEqual(Object.keys(errors[0]!.labels), ['target', 'kind', 'reason']);
  });

  test('every kind always emits timeout and one other known reason', () => {
    for (const kind of PROBE_KINDS) {
      const reasons = alwaysEmittedReasons(kind);
      assert.ok(reasons.includes('timeout'), kind);
      assert.equal(reasons.length, 2, kind);
      for (const reason of reasons) assert.ok((FAILURE_REASONS as readonly string[]).includes(reason));
    }
  });

  test('bucket counts pass through exactly, even above 2^32, and +Inf is count', () => {
    const big = 2 ** 40;
    const bucketCounts = [1, big, big + 1, big + 1, big + 1, big + 1, big + 1, big + 1, big + 1, big + 1, big + 2];
    const target = makeSnapshot(makeTarget({ name: 'r', kind: 'redis' }), {
      probes: big + 3,
      count: big + 3,
      sumSeconds: 12.5,
      bucketCounts,
    });
    const families = buildFamilies([target], fixtureSelfStats(), 'probex');
    const sample = histogramOf(families, 'probex_probe_duration_seconds').samples[0]!;
    assert.equal(sample.cumulative, bucketCounts, "the aggregator's array is used as is");
    assert.equal(sample.bounds, target.target.buckets);
    const samples = parseExposition(renderText(families));
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_bucket', { target: 'r', le: '0.01' }), big);
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_bucket', { target: 'r', le: '+Inf' }), big + 3);
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_sum', { target: 'r' }), 12.5);
  });

  test('a target with observations but mismatched bucket counts fails the build with its name', () => {
    const broken = makeSnapshot(makeTarget({ name: 'broken', kind: 'http' }), { count: 3, bucketCounts: [1, 2] });
    assert.throws(
      () => buildFamilies([broken], fixtureSelfStats(), 'probex'),
      /target broken: bucketCounts has 2 entries for 11/,
    );
  });

  test('configured target labels follow target and kind on every per-target series', () => {
    const families = buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex');
    const up = scalarSamples(families, 'probex_probe_up').find((s) => s.labels.target === 'synth-1');
    assert.deepEqual(up?.labels, { target: 'synth-1', kind: 'synthetic', team: 'core' });
    const errors = scalarSamples(families, 'probex_probe_errors').filter((s) => s.labels.target === 'synth-1');
    assert.ok(errors.every((s) => s.labels.team === 'core'));
  });

  test('no targets gives no per-target families, only self-metrics', () => {
    const names = buildFamilies([], fixtureSelfStats(), 'probex').map((f) => f.name);
    for (const perTarget of [
      'probex_probe_duration_seconds',
      'probex_probe_errors',
      'probex_probe_up',
      'probex_probe_last_timestamp_seconds',
      'probex_probes',
    ])
      assert.ok(!names.includes(perTarget), perTarget);
    assert.ok(names.includes('probex_build_info'));
  });

  test('self-metrics carry SelfStats values, with CPU total = user + system', () => {
    const self = fixtureSelfStats();
    const samples = parseExposition(renderText(buildFamilies([], self, 'probex')));
    assert.equal(sampleValue(samples, 'probex_build_info', { version: '0.1.0' }), 1);
    assert.equal(sampleValue(samples, 'probex_scrapes_total'), self.scrapesTotal);
    assert.equal(sampleValue(samples, 'probex_snapshot_generation'), self.generation);
    assert.equal(sampleValue(samples, 'probex_snapshot_age_seconds'), self.snapshotAgeSeconds);
    assert.equal(sampleValue(samples, 'probex_pool_utilization_ratio'), self.poolUtilization);
    assert.equal(sampleValue(samples, 'probex_config_last_reload_successful'), 1);
    assert.equal(
      sampleValue(samples, 'process_cpu_seconds_total'),
      self.cpuUserSecondsTotal + self.cpuSystemSecondsTotal,
    );
    assert.equal(sampleValue(samples, 'process_start_time_seconds'), self.startTimeSeconds);
  });

  test('event-loop delay is three plain gauges and no series has a quantile label', () => {
    const families = buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex');
    for (const suffix of ['p50', 'p99', 'max']) {
      assert.equal(family(families, `probex_event_loop_delay_${suffix}_seconds`).type, 'gauge');
    }
    assert.ok(families.every((f) => f.samples.every((s) => !('quantile' in s.labels))));
  });
});

describe('both profiles', () => {
  for (const profile of ['probex', 'directus'] as const) {
    test(`${profile}: family names and label names are valid and family names unique`, () => {
      const families = buildFamilies(fixtureTargets(), fixtureSelfStats(), profile);
      const names = families.map((f) => f.name);
      assert.equal(new Set(names).size, names.length);
      for (const f of families) {
        assert.ok(isValidMetricName(f.name), f.name);
        assert.ok(f.unit === undefined || f.name.endsWith(`_${f.unit}`), `${f.name} ends with its unit`);
        if (f.type === 'counter' && f.textName === undefined) assert.ok(!f.name.endsWith('_total'), f.name);
        for (const s of f.samples) for (const key of Object.keys(s.labels)) assert.ok(isValidLabelName(key), key);
      }
    });

    test(`${profile}: every target has an up series, even in kinds without a directus family`, () => {
      const targets = fixtureTargets();
      const up = scalarSamples(buildFamilies(targets, fixtureSelfStats(), profile), 'probex_probe_up');
      assert.deepEqual(
        up.map((s) => s.labels.target),
        targets.map((t) => t.name),
      );
    });
  }
});

describe('created timestamps and native histograms', () => {
  const aggregated = (): ReturnType<Aggregator['snapshot']> => {
    const agg = new Aggregator({ now: () => 1_700_000_000_500 });
    agg.setTargets([makeTarget({ name: 'db', kind: 'mysql' }), makeTarget({ name: 'api', kind: 'http' })]);
    agg.record(['db', 'api'], {
      target: Uint32Array.of(0, 0, 1),
      latencyUs: Float64Array.of(1000, 2000, 0),
      reason: Uint8Array.of(0, 0, 1),
      endedAtMs: Float64Array.of(1, 2, 3),
      app: [null, null],
      failure: [null, null],
    });
    return agg.snapshot();
  };

  test("probex: the duration histogram carries the native buckets; counters and histograms carry the target's created time", () => {
    const targets = aggregated();
    const families = buildFamilies(targets, fixtureSelfStats(), 'probex');
    const duration = histogramOf(families, 'probex_probe_duration_seconds');
    assert.deepEqual(
      duration.samples.map((s) => s.native),
      targets.map((t) => t.native),
    );
    assert.ok(duration.samples.every((s) => s.native !== undefined && s.created === 1_700_000_000.5));
    for (const name of ['probex_probe_errors', 'probex_probes']) {
      assert.ok(
        scalarSamples(families, name).every((s) => s.created === 1_700_000_000.5),
        name,
      );
    }
    for (const f of families) {
      if (f.type === 'gauge')
        assert.ok(
          f.samples.every((s) => s.created === undefined),
          `${f.name} is a gauge`,
        );
      if (f.type === 'counter' && !f.name.startsWith('probex_probe')) {
        assert.ok(
          f.samples.every((s) => s.created === fixtureSelfStats().startTimeSeconds),
          `${f.name} counts from start`,
        );
      }
    }
  });

  test('directus: the ms histograms stay classic and carry the created time', () => {
    const families = buildFamilies(aggregated(), fixtureSelfStats(), 'directus');
    const ms = histogramOf(families, 'directus_db_mysql_response_time_ms');
    assert.deepEqual(
      ms.samples.map((s) => [s.native, s.created]),
      [[undefined, 1_700_000_000.5]],
    );
    assert.ok(histogramOf(families, 'probex_probe_duration_seconds').samples.every((s) => s.native !== undefined));
  });

  test('snapshots without created times (older producers) render no created fields', () => {
    const families = buildFamilies(
      [makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }))],
      fixtureSelfStats(),
      'probex',
    );
    assert.ok(
      histogramOf(families, 'probex_probe_duration_seconds').samples.every(
        (s) => !('created' in s) && !('native' in s),
      ),
    );
    assert.ok(scalarSamples(families, 'probex_probes').every((s) => !('created' in s)));
  });
});

describe('directus profile', () => {
  test('mysql, redis and storage use Directus names, HELP, ms buckets and unsuffixed counters, and only those', () => {
    const targets = [
      makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }), {
        count: 2,
        sumSeconds: 0.0125,
        bucketCounts: [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2],
      }),
      makeSnapshot(makeTarget({ name: 'redis', kind: 'redis' })),
      makeSnapshot(makeTarget({ name: 's3', kind: 'storage', location: 's3' })),
    ];
    const families = buildFamilies(targets, fixtureSelfStats(), 'directus');
    const db = histogramOf(families, 'directus_db_mysql_response_time_ms');
    assert.equal(db.help, 'mysql Database connection response time');
    assert.equal(db.unit, undefined);
    assert.deepEqual(db.samples[0]!.bounds, DIRECTUS_BUCKETS_MS);
    assert.equal(db.samples[0]!.sum, 12.5);
    assert.deepEqual(db.samples[0]!.labels, {});
    const expectedCounters = {
      directus_db_mysql_connection_errors: 'mysql Database connection error count',
      directus_redis_connection_errors: 'Redis connection error count',
      directus_cache_redis_connection_errors: 'Cache connection error count',
      directus_storage_s3_connection_errors: 's3 storage connection error count',
    };
    for (const [name, help] of Object.entries(expectedCounters)) {
      const counter = family(families, name);
      assert.equal(counter.type, 'counter');
      assert.equal(counter.help, help);
      assert.equal(counter.type === 'counter' ? counter.textName : undefined, name);
    }
    // Directus has one histogram, the database's: Redis and storage latencies stay in probex's own.
    assert.deepEqual(
      families.filter((f) => f.name.startsWith('directus_')).map((f) => f.name),
      [
        'directus_db_mysql_response_time_ms',
        'directus_db_mysql_connection_errors',
        'directus_cache_redis_connection_errors',
        'directus_redis_connection_errors',
        'directus_storage_s3_connection_errors',
      ],
      "Directus's families, in the order Directus registers them",
    );
    assert.deepEqual(
      histogramOf(families, 'probex_probe_duration_seconds').samples.map((s) => s.labels.target),
      ['redis', 's3'],
      'the database leaves the probex histogram; Redis and storage keep it',
    );
    assert.match(renderText(families), /^directus_db_mysql_response_time_ms_bucket\{le="20"\} 2$/m);
  });

  test('connection errors are the sum of every failure reason', () => {
    const db = makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }), {
      probes: 10,
      errors: { timeout: 2, refused: 3, auth: 1 },
    });
    const samples = parseExposition(renderText(buildFamilies([db], fixtureSelfStats(), 'directus')));
    assert.equal(sampleValue(samples, 'directus_db_mysql_connection_errors'), 6);
  });

  test('targets sharing a Directus family get a target label; a lone target stays label-less', () => {
    const targets = [
      makeSnapshot(makeTarget({ name: 'primary', kind: 'mysql' })),
      makeSnapshot(makeTarget({ name: 'replica', kind: 'mysql', labels: { zone: 'b' } }), { errors: { timeout: 1 } }),
      makeSnapshot(makeTarget({ name: 'files', kind: 'storage' })),
    ];
    const families = buildFamilies(targets, fixtureSelfStats(), 'directus');
    assert.deepEqual(
      histogramOf(families, 'directus_db_mysql_response_time_ms').samples.map((s) => s.labels),
      [{ target: 'primary' }, { target: 'replica', zone: 'b' }],
    );
    assert.deepEqual(
      scalarSamples(families, 'directus_db_mysql_connection_errors').map((s) => [s.labels.target, s.value]),
      [
        ['primary', 0],
        ['replica', 1],
      ],
    );
    assert.deepEqual(scalarSamples(families, 'directus_storage_local_connection_errors')[0]!.labels, {});
  });

  test('storage targets in different locations get separate label-less families', () => {
    const targets = [
      makeSnapshot(makeTarget({ name: 'a', kind: 'storage', location: 'local' })),
      makeSnapshot(makeTarget({ name: 'b', kind: 'storage', location: 'backup' })),
    ];
    const families = buildFamilies(targets, fixtureSelfStats(), 'directus');
    for (const loc of ['local', 'backup']) {
      assert.deepEqual(scalarSamples(families, `directus_storage_${loc}_connection_errors`)[0]!.labels, {});
    }
  });

  test('custom second buckets convert to exact millisecond bounds and pass counts through', () => {
    const bucketCounts = [1, 2, 3, 4];
    const target = makeSnapshot(makeTarget({ name: 'db', kind: 'mysql', buckets: [0.0005, 0.06, 0.07, 2.5] }), {
      count: 5,
      sumSeconds: 0.1234567,
      bucketCounts,
    });
    const sample = histogramOf(
      buildFamilies([target], fixtureSelfStats(), 'directus'),
      'directus_db_mysql_response_time_ms',
    ).samples[0]!;
    assert.deepEqual(sample.bounds, [0.5, 60, 70, 2500]);
    assert.equal(sample.cumulative, bucketCounts);
    assert.equal(sample.sum, 123.4567);
  });

  test('every kind but the databases keeps the probex duration and error families', () => {
    const families = buildFamilies(fixtureTargets(), fixtureSelfStats(), 'directus');
    const kinds = new Set(histogramOf(families, 'probex_probe_duration_seconds').samples.map((s) => s.labels.kind));
    assert.deepEqual([...kinds].sort(), ['http', 'redis', 'storage', 'synthetic', 'tcp']);
    const errorKinds = new Set(scalarSamples(families, 'probex_probe_errors').map((s) => s.labels.kind));
    assert.deepEqual([...errorKinds].sort(), ['http', 'redis', 'storage', 'synthetic', 'tcp']);
  });

  test('the probex self-metrics are the same in both profiles', () => {
    const self = (profile: 'probex' | 'directus') => buildFamilies([], fixtureSelfStats(), profile);
    assert.deepEqual(self('directus'), self('probex'));
  });
});

describe('certificate families', () => {
  const withCertificate = makeSnapshot(makeTarget({ name: 'web', kind: 'http', labels: { team: 'a' } }), {
    probes: 3,
    certificate: { notBeforeSeconds: 1_700_000_000, notAfterSeconds: 1_800_000_000 },
  });
  const without = makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }), { probes: 3 });

  test('only targets with a certificate have not-before and not-after gauges, with the target labels', () => {
    for (const profile of ['probex', 'directus'] as const) {
      const samples = parseExposition(
        renderText(buildFamilies([without, withCertificate], fixtureSelfStats(), profile)),
      );
      const labels = { target: 'web', kind: 'http', team: 'a' };
      assert.equal(sampleValue(samples, 'probex_tls_cert_not_after_seconds', labels), 1_800_000_000, profile);
      assert.equal(sampleValue(samples, 'probex_tls_cert_not_before_seconds', labels), 1_700_000_000, profile);
      assert.equal(samples.filter((s) => s.name.startsWith('probex_tls_cert_') && s.labels.target === 'db').length, 0);
    }
  });

  test('no family at all when no target reported a certificate', () => {
    const families = buildFamilies([without], fixtureSelfStats(), 'probex');
    assert.ok(!families.some((f) => f.name.startsWith('probex_tls_cert_')));
  });
});

test('a target keeps its label objects from publish to publish, and a reloaded target gets its new labels', () => {
  const target = makeTarget({ name: 'db', kind: 'mysql' });
  const up = (families: readonly MetricFamily[]): ScalarSample =>
    (family(families, 'probex_probe_up').samples as ScalarSample[])[0]!;
  const first = buildFamilies([makeSnapshot(target, { probes: 1, up: 1 })], fixtureSelfStats(), 'probex');
  const second = buildFamilies([makeSnapshot(target, { probes: 2, up: 1 })], fixtureSelfStats(), 'probex');
  assert.equal(up(first).labels, up(second).labels, 'the same object, so its rendered bytes are kept');

  const reloaded = { ...target, labels: { team: 'payments' } };
  const third = buildFamilies([makeSnapshot(reloaded, { probes: 1, up: 1 })], fixtureSelfStats(), 'probex');
  assert.deepEqual(up(third).labels, { target: 'db', kind: 'mysql', team: 'payments' });
  assert.match(renderText(third), /^probex_probe_up\{target="db",kind="mysql",team="payments"\} 1$/m);
  assert.match(renderText(second), /^probex_probe_up\{target="db",kind="mysql"\} 1$/m);
});

test('ModelBuilder renders what buildFamilies renders, build after build, reusing each target sample', () => {
  const builder = new ModelBuilder();
  for (const profile of ['probex', 'directus'] as const) {
    const targets = fixtureTargets();
    assert.equal(
      renderText(builder.build(targets, fixtureSelfStats(), profile)),
      renderText(buildFamilies(targets, fixtureSelfStats(), profile)),
    );
  }
  const target = makeTarget({ name: 'db', kind: 'mysql' });
  const upOf = (families: readonly MetricFamily[]): ScalarSample =>
    (family(families, 'probex_probe_up').samples as ScalarSample[])[0]!;
  const first = builder.build([makeSnapshot(target, { probes: 1, up: 1 })], fixtureSelfStats(), 'probex');
  const firstUp = upOf(first);
  const firstText = renderText(first);
  const second = builder.build(
    [makeSnapshot(target, { probes: 2, up: 0, errors: { refused: 1 } })],
    fixtureSelfStats(),
    'probex',
  );
  assert.equal(upOf(second), firstUp, 'the same sample object, its value set again');
  assert.equal(
    renderText(second),
    renderText(
      buildFamilies([makeSnapshot(target, { probes: 2, up: 0, errors: { refused: 1 } })], fixtureSelfStats(), 'probex'),
    ),
  );
  assert.notEqual(renderText(second), firstText);
  const reloaded = { ...target, labels: { team: 'payments' } };
  const third = builder.build([makeSnapshot(reloaded, { probes: 1, up: 1 })], fixtureSelfStats(), 'probex');
  assert.notEqual(upOf(third), firstUp, 'a reloaded target gets samples of its own');
  assert.deepEqual(upOf(third).labels, { target: 'db', kind: 'mysql', team: 'payments' });
});
