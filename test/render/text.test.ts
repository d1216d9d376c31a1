import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import client from 'prom-client';
import { buildFamilies } from '../../src/metrics/families.ts';
import type { MetricFamily } from '../../src/metrics/model.ts';
import { DIRECTUS_BUCKETS_MS } from '../../src/metrics/names.ts';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROM_TEXT_CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  escapeOpenMetricsString,
  formatCanonicalFloat,
  formatGoFloat,
  formatValue,
  renderOpenMetrics,
  renderText,
} from '../../src/render/text.ts';
import {
  FIXTURES_DIR,
  FIXTURE_HTTP_NOTE,
  GOLDEN_CASES,
  fixtureSelfStats,
  makeSnapshot,
  makeTarget,
  parseExposition,
  parseMetadata,
  sampleValue,
} from '../../support/exposition.ts';

const histogramFamily: MetricFamily = {
  type: 'histogram',
  name: 'x_duration_seconds',
  help: 'X duration.',
  unit: 'seconds',
  samples: [{ labels: { target: 'a' }, bounds: [0.001, 0.5, 1], cumulative: [1, 3, 4], count: 6, sum: 9.5 }],
};
const counterFamily: MetricFamily = {
  type: 'counter',
  name: 'x_errors',
  help: 'X errors.',
  samples: [{ labels: { reason: 'timeout' }, value: 3 }],
};
const gaugeFamily: MetricFamily = {
  type: 'gauge',
  name: 'x_values',
  help: 'X values.',
  samples: [
    { labels: { v: 'nan' }, value: NaN },
    { labels: { v: 'pinf' }, value: Infinity },
    { labels: { v: 'ninf' }, value: -Infinity },
    { labels: {}, value: 0.1 + 0.2 },
  ],
};

describe('escaping', () => {
  test('HELP escapes backslash and newline but keeps quotes in text 0.0.4', () => {
    assert.equal(escapeHelp('a\\b\nc "q" ünï'), 'a\\\\b\\nc "q" ünï');
  });

  test('label values escape backslash, double quote and newline, and keep unicode as is', () => {
    assert.equal(escapeLabelValue('say "hi" \\ back\nslash – ünï ✓'), 'say \\"hi\\" \\\\ back\\nslash – ünï ✓');
  });

  test('OpenMetrics HELP escapes double quotes too', () => {
    assert.equal(escapeOpenMetricsString('a "b" \\ c\n'), 'a \\"b\\" \\\\ c\\n');
  });

  test('a string needing no escape is returned unchanged', () => {
    const s = 'plain value 123';
    assert.equal(escapeLabelValue(s), s);
    assert.equal(escapeHelp(s), s);
  });

  test('escaped label values and HELP survive a render and parse round trip', () => {
    const help = 'Line one\nline "two" with \\ backslash';
    const family: MetricFamily = {
      type: 'gauge',
      name: 'x_g',
      help,
      samples: [{ labels: { note: FIXTURE_HTTP_NOTE }, value: 1 }],
    };
    for (const text of [renderText([family]), renderOpenMetrics([family])]) {
      const [sample] = parseExposition(text);
      assert.equal(sample?.labels.note, FIXTURE_HTTP_NOTE);
      assert.equal(parseMetadata(text).get('x_g')?.help, help);
      assert.equal(
        text.split('\n').filter((l) => l.startsWith('x_g')).length,
        1,
        'a newline in a value never breaks a line',
      );
    }
  });
});

describe('numbers', () => {
  test('NaN, +Inf and -Inf are spelled exactly as the formats spell them', () => {
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
    const text = renderText([gaugeFamily]);
    assert.match(text, /^x_values\{v="nan"\} NaN$/m);
    assert.match(text, /^x_values\{v="pinf"\} \+Inf$/m);
    assert.match(text, /^x_values\{v="ninf"\} -Inf$/m);
    assert.doesNotMatch(text, /Nan\b/);
  });

  test('integers render without exponent or decimal point and floats as shortest round-trip', () => {
    assert.equal(formatValue(1_700_000_000), '1700000000');
    assert.equal(formatValue(1e22), '10000000000000000000000');
    assert.equal(formatValue(-0), '0');
    assert.equal(formatValue(0.1 + 0.2), '0.30000000000000004');
    assert.equal(formatValue(1_700_000_100.5), '1700000100.5');
    assert.equal(Number(formatValue(1.2345e-7)), 1.2345e-7);
  });

  test('text le values follow Go %g, as the Go client writes them', () => {
    assert.deepEqual([0.001, 0.01, 1, 10, 1000, 1e-5, 1e6, 0.75].map(formatGoFloat), [
      '0.001',
      '0.01',
      '1',
      '10',
      '1000',
      '1e-05',
      '1e+06',
      '0.75',
    ]);
  });

  test('OpenMetrics le values are canonical numbers as the spec lists them', () => {
    const inputs = [
      0,
      0.001,
      0.002,
      0.01,
      0.1,
      0.9,
      0.95,
      0.99,
      0.999,
      1,
      1.7,
      10,
      1e-10,
      1e-9,
      1e-5,
      1e-4,
      1e5,
      1e6,
      1e10,
      Infinity,
    ];
    assert.deepEqual(inputs.map(formatCanonicalFloat), [
      '0.0',
      '0.001',
      '0.002',
      '0.01',
      '0.1',
      '0.9',
      '0.95',
      '0.99',
      '0.999',
      '1.0',
      '1.7',
      '10.0',
      '1e-10',
      '1e-09',
      '1e-05',
      '0.0001',
      '100000.0',
      '1e+06',
      '1e+10',
      '+Inf',
    ]);
  });
});

describe('histograms', () => {
  test('buckets are cumulative and the +Inf bucket equals _count in both formats', () => {
    for (const text of [renderText([histogramFamily]), renderOpenMetrics([histogramFamily])]) {
      const samples = parseExposition(text);
      const buckets = samples.filter((s) => s.name === 'x_duration_seconds_bucket').map((s) => s.value);
      assert.deepEqual(buckets, [1, 3, 4, 6]);
      assert.equal(
        sampleValue(samples, 'x_duration_seconds_bucket', { le: '+Inf' }),
        sampleValue(samples, 'x_duration_seconds_count'),
      );
      assert.equal(sampleValue(samples, 'x_duration_seconds_sum'), 9.5);
    }
  });

  test('le is the last label and formatted per format', () => {
    assert.match(renderText([histogramFamily]), /^x_duration_seconds_bucket\{target="a",le="1"\} 4$/m);
    const om = renderOpenMetrics([histogramFamily]);
    assert.match(om, /^x_duration_seconds_bucket\{target="a",le="1\.0"\} 4$/m);
    assert.match(om, /^x_duration_seconds_bucket\{target="a",le="0\.001"\} 1$/m);
  });

  test('a label-less histogram writes _sum and _count without braces', () => {
    const family: MetricFamily = { ...histogramFamily, samples: [{ ...histogramFamily.samples[0]!, labels: {} }] };
    const text = renderText([family]);
    assert.match(text, /^x_duration_seconds_bucket\{le="0\.001"\} 1$/m);
    assert.match(text, /^x_duration_seconds_sum 9\.5$/m);
    assert.match(text, /^x_duration_seconds_count 6$/m);
  });
});

describe('counters and metadata', () => {
  test('text 0.0.4 names counters <name>_total in TYPE, HELP and samples', () => {
    assert.equal(
      renderText([counterFamily]),
      '# HELP x_errors_total X errors.\n# TYPE x_errors_total counter\nx_errors_total{reason="timeout"} 3\n',
    );
  });

  test('text 0.0.4 uses textName when a family sets it, as prom-client does for Directus', () => {
    const family: MetricFamily = { ...counterFamily, textName: 'x_errors' } as MetricFamily;
    assert.match(renderText([family]), /^# TYPE x_errors counter\nx_errors\{reason="timeout"\} 3$/m);
  });

  test('OpenMetrics names the counter family without _total and its sample with it', () => {
    assert.equal(
      renderOpenMetrics([counterFamily]),
      '# TYPE x_errors counter\n# HELP x_errors X errors.\nx_errors_total{reason="timeout"} 3\n# EOF\n',
    );
  });

  test('OpenMetrics writes TYPE, UNIT, HELP in that order when a family has a unit', () => {
    const om = renderOpenMetrics([histogramFamily]);
    assert.ok(
      om.startsWith(
        '# TYPE x_duration_seconds histogram\n# UNIT x_duration_seconds seconds\n' +
          '# HELP x_duration_seconds X duration.\n',
      ),
    );
    assert.doesNotMatch(renderText([histogramFamily]), /# UNIT/);
  });

  test('OpenMetrics output ends with a single # EOF line, even with no families', () => {
    assert.equal(renderOpenMetrics([]), '# EOF\n');
    const om = renderOpenMetrics([counterFamily, gaugeFamily, histogramFamily]);
    assert.ok(om.endsWith('\n# EOF\n'));
    assert.equal(om.split('\n').filter((l) => l === '# EOF').length, 1);
    assert.equal(renderText([]), '');
  });

  test("content types are the formats' exact media types", () => {
    assert.equal(PROM_TEXT_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(OPENMETRICS_CONTENT_TYPE, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  });
});

describe('_created', () => {
  const created: MetricFamily[] = [
    {
      ...counterFamily,
      samples: [
        { labels: { reason: 'timeout' }, value: 3, created: 1_700_000_000.5 },
        { labels: { reason: 'io' }, value: 1 },
      ],
    },
    { ...gaugeFamily, samples: [{ labels: {}, value: 1, created: 1_700_000_000 }] },
    { ...histogramFamily, samples: [{ ...histogramFamily.samples[0]!, created: 1_700_000_000 }] },
  ];

  test("OpenMetrics writes _created after a counter's _total and after a histogram's _sum, only where the model has it", () => {
    const om = renderOpenMetrics(created);
    assert.ok(
      om.includes(
        'x_errors_total{reason="timeout"} 3\nx_errors_created{reason="timeout"} 1700000000.5\nx_errors_total{reason="io"} 1\n',
      ),
    );
    assert.ok(
      om.includes('x_duration_seconds_sum{target="a"} 9.5\nx_duration_seconds_created{target="a"} 1700000000\n'),
    );
    assert.equal((om.match(/_created/g) ?? []).length, 2, 'not for the io counter without created, never for a gauge');
  });

  test('text 0.0.4 has no _created lines', () => {
    assert.equal(renderText(created).includes('_created'), false);
  });
});

describe('golden files', () => {
  for (const golden of GOLDEN_CASES) {
    test(`${golden.file} matches the rendered fixtures byte for byte`, () => {
      const path = join(FIXTURES_DIR, golden.file);
      const actual = golden.render();
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
      assert.equal(actual, readFileSync(path, 'utf8'));
    });
  }

  test('every sample line of the goldens parses back', () => {
    for (const golden of GOLDEN_CASES) assert.ok(parseExposition(golden.render()).length > 50, golden.file);
  });
});

describe('directus shape', () => {
  test("a single mysql, redis and storage target render exactly as prom-client renders Directus's families, empty lines included", async () => {
    const observationsMs = [0.5, 5, 5, 15, 30, 30, 70, 150, 300, 800, 2000];
    const bucketCounts = DIRECTUS_BUCKETS_MS.map((b) => observationsMs.filter((v) => v <= b).length);
    const sumMs = observationsMs.reduce((a, b) => a + b, 0);
    const targets = [
      makeSnapshot(makeTarget({ name: 'db', kind: 'mysql' }), {
        probes: 13,
        count: observationsMs.length,
        sumSeconds: sumMs / 1000,
        bucketCounts,
        errors: { timeout: 2 },
      }),
      makeSnapshot(makeTarget({ name: 'redis', kind: 'redis' }), { probes: 3, errors: { refused: 3 } }),
      makeSnapshot(makeTarget({ name: 'files', kind: 'storage' })),
    ];
    const ours = renderText(
      buildFamilies(targets, fixtureSelfStats(), 'directus').filter((f) => f.name.startsWith('directus_')),
      'prom-client',
    );

    // The same families registered with prom-client in the order Directus's create-metrics.ts registers them.
    const registry = new client.Registry();
    const histogram = (name: string, help: string) =>
      new client.Histogram({ name, help, buckets: [...DIRECTUS_BUCKETS_MS], registers: [registry] });
    const counter = (name: string, help: string) => new client.Counter({ name, help, registers: [registry] });
    const db = histogram('directus_db_mysql_response_time_ms', 'mysql Database connection response time');
    for (const v of observationsMs) db.observe(v);
    counter('directus_db_mysql_connection_errors', 'mysql Database connection error count').inc(2);
    counter('directus_cache_redis_connection_errors', 'Cache connection error count').inc(3);
    counter('directus_redis_connection_errors', 'Redis connection error count').inc(3);
    counter('directus_storage_local_connection_errors', 'local storage connection error count');
    const theirs = await registry.metrics();
    assert.equal(ours, theirs);
  });
});
