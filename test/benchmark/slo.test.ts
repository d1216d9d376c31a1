import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { formatUs } from '../../src/render/format.ts';
import { evaluateSlos, parseSlo, parseSlos, SloError } from '../../src/benchmark/slo.ts';
import { buildRunSummary, type RunTarget } from '../../src/benchmark/summary.ts';

function histogramOf(values: readonly number[]): hdr.JsHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  for (const v of values) h.recordValue(v);
  return h;
}

test('parseSlo reads percentiles, min/mean/max and error ratios with their units', () => {
  assert.deepEqual(parseSlo('redis:p99<5ms'), {
    spec: 'redis:p99<5ms',
    target: 'redis',
    metric: { kind: 'percentile', percentile: 99 },
    op: '<',
    threshold: 5000,
  });
  assert.deepEqual(parseSlo(' mysql : p99.999 <= 1.5s ').metric, { kind: 'percentile', percentile: 99.999 });
  assert.equal(parseSlo('mysql:p99.999<=1.5s').threshold, 1_500_000);
  assert.equal(parseSlo('mysql:p99.999<=1.5s').op, '<=');
  assert.equal(parseSlo('a:max<250us').threshold, 250);
  assert.equal(parseSlo('a:mean<250µs').threshold, 250);
  assert.deepEqual(parseSlo('*:errors<1%'), {
    spec: '*:errors<1%',
    target: '*',
    metric: { kind: 'errors' },
    op: '<',
    threshold: 0.01,
  });
  assert.equal(parseSlo('db.main-1:errors<=0%').threshold, 0);
});

test('parseSlo refuses what it cannot measure, naming the problem', () => {
  const bad: Array<[string, RegExp]> = [
    ['redis:p99>5ms', /expected TARGET:METRIC<VALUE/],
    ['redis p99<5ms', /expected TARGET:METRIC<VALUE/],
    ['redis:p99<5', /needs a unit/],
    ['redis:p99<5%', /needs a unit/],
    ['redis:p100<5ms', /unknown metric "p100"/],
    ['redis:p0<5ms', /unknown metric "p0"/],
    ['redis:p999<5ms', /unknown metric "p999"/],
    ['redis:latency<5ms', /unknown metric "latency"/],
    ['redis:errors<0.01', /percentage/],
    ['redis:errors<101%', /at most 100%/],
    ['redis:p99<5min', /expected TARGET/],
    ['', /expected TARGET/],
  ];
  for (const [spec, message] of bad) {
    assert.throws(
      () => parseSlo(spec),
      (err: unknown) => err instanceof SloError && err.code === 'EXPORTER_SLO_INVALID' && message.test(err.message),
      spec,
    );
  }
});

test('parseSlos splits on commas, checks target names and lists every problem at once', () => {
  assert.equal(parseSlos(['redis:p99<5ms,mysql:p99<20ms', '*:errors<1%'], ['redis', 'mysql']).length, 3);
  assert.throws(
    () => parseSlos(['redsi:p99<5ms', 'mysql:p99<20'], ['redis', 'mysql']),
    (err: unknown) =>
      err instanceof SloError && /no target is named "redsi"/.test(err.message) && /needs a unit/.test(err.message),
  );
});

test('evaluateSlos passes and misses on the measured values, with < and <= at the boundary', () => {
  const targets: RunTarget[] = [
    {
      name: 'redis',
      kind: 'redis',
      probes: 1000,
      count: 1000,
      errors: {},
      histogram: histogramOf(Array.from({ length: 1000 }, (_, i) => (i < 990 ? 200 : 4000))),
    },
    {
      name: 'mysql',
      kind: 'mysql',
      probes: 100,
      count: 98,
      errors: { timeout: 2 },
      histogram: histogramOf(Array(98).fill(1000)),
    },
    { name: 'dead', kind: 'tcp', probes: 10, count: 0, errors: { refused: 10 }, histogram: histogramOf([]) },
  ];
  const summary = buildRunSummary(targets, 0, 10);
  const histograms = new Map(targets.map((t) => [t.name, t.histogram]));
  const check = (spec: string, names: string[] = ['redis', 'mysql', 'dead']): boolean[] =>
    evaluateSlos(parseSlos([spec], names), summary, histograms).map((r) => r.ok);
  assert.deepEqual(check('redis:p99<5ms'), [true]);
  assert.deepEqual(check('redis:p99.5<1ms'), [false], 'p99.5 lands in the 4 ms tail');
  assert.deepEqual(check('redis:p90<1ms'), [true]);
  assert.deepEqual(check('mysql:max<1ms'), [false], '1000 µs is not < 1 ms');
  assert.deepEqual(
    check('mysql:max<=1ms'),
    [true],
    '1000 µs is <= 1 ms (the max is the recorded value, not its bucket top)',
  );
  assert.deepEqual(check('mysql:errors<2%'), [false]);
  assert.deepEqual(check('mysql:errors<=2%'), [true]);
  assert.deepEqual(check('*:errors<5%'), [true, true, false]);
  const [dead] = evaluateSlos(parseSlos(['dead:p99<1s'], ['dead']), summary, histograms);
  assert.equal(dead!.ok, false);
  assert.match(dead!.message, /no successful probe/);
  const [missed] = evaluateSlos(parseSlos(['redis:p99.9<1ms'], ['redis']), summary, histograms);
  assert.equal(missed!.message, 'redis p99.9 4ms < 1ms: MISSED');
});

test('evaluateSlos fails an objective whose target never ran', () => {
  const summary = buildRunSummary(
    [{ name: 'idle', kind: 'tcp', probes: 0, count: 0, errors: {}, histogram: histogramOf([]) }],
    0,
    1,
  );
  const [r] = evaluateSlos(parseSlos(['idle:errors<1%'], ['idle']), summary, new Map());
  assert.equal(r!.ok, false);
  assert.match(r!.message, /no probe ran/);
});

test('formatUs picks a short unit', () => {
  assert.equal(formatUs(850), '850us');
  assert.equal(formatUs(3210), '3.21ms');
  assert.equal(formatUs(1_500_000), '1.5s');
});

test('formatUs rounds before it picks the unit: never 1000us or 1000ms', () => {
  assert.equal(formatUs(999.94), '999.9us');
  assert.equal(formatUs(999.97), '1ms');
  assert.equal(formatUs(999_999.4), '999.999ms');
  assert.equal(formatUs(999_999.6), '1s');
});
