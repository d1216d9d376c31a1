import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { recordWithExpectedInterval } from '../../src/hdr/quantiles.ts';
import { buildRunSummary, summarizeTarget } from '../../src/benchmark/summary.ts';

function histogramOf(values: readonly number[]): hdr.JsHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  for (const v of values) h.recordValue(v);
  return h;
}

test('summarizeTarget reports counts, non-zero errors by reason, the error ratio and the latency in ms', () => {
  const values = Array.from({ length: 1000 }, (_, i) => 1000 + i); // 1.000 .. 1.999 ms
  const s = summarizeTarget({
    name: 'redis',
    kind: 'redis',
    probes: 1004,
    count: 1000,
    errors: { timeout: 3, refused: 1, auth: 0 },
    histogram: histogramOf(values),
  });
  assert.deepEqual(s.errors, { timeout: 3, refused: 1 });
  assert.equal(s.errorRatio, 4 / 1004);
  assert.equal(s.recorded, 1000);
  assert.deepEqual(s.coordinatedOmission, { lateProbes: 0, madeUpValues: 0 });
  const l = s.latencyMs!;
  assert.equal(l.min, 1);
  assert.equal(l.max, 1.999);
  // Ranks 500, 900, 990, 999 of 1000 are 1.499, 1.899, 1.989 and 1.998 ms, within HDR's 0.1% (one µs step here).
  assert.ok(Math.abs(l.p50 - 1.499) <= 0.001, `p50 ${l.p50}`);
  assert.ok(Math.abs(l.p90 - 1.899) <= 0.001, `p90 ${l.p90}`);
  assert.ok(Math.abs(l.p99 - 1.989) <= 0.001, `p99 ${l.p99}`);
  assert.ok(Math.abs(l.p999 - 1.998) <= 0.002 && l.p999 <= l.max, `p99.9 ${l.p999}`);
  assert.ok(Math.abs(l.mean - 1.4995) < 0.002, `mean ${l.mean}`);
});

test('a target with no successful probe has no latency and its error ratio is 1', () => {
  const s = summarizeTarget({
    name: 'dead',
    kind: 'tcp',
    probes: 7,
    count: 0,
    errors: { refused: 7 },
    histogram: histogramOf([]),
  });
  assert.equal(s.latencyMs, undefined);
  assert.equal(s.errorRatio, 1);
  const never = summarizeTarget({
    name: 'never',
    kind: 'tcp',
    probes: 0,
    count: 0,
    errors: {},
    histogram: histogramOf([]),
  });
  assert.equal(never.errorRatio, 0);
});

test('coordinated-omission correction shows in recorded, the tail and the report', () => {
  const h = histogramOf([]);
  let madeUp = 0;
  for (let i = 0; i < 99; i++) madeUp += recordWithExpectedInterval(h, 500, 10_000);
  madeUp += recordWithExpectedInterval(h, 1_000_000, 10_000); // one probe held up for 1 s at a 10 ms interval
  const s = summarizeTarget({
    name: 'mysql',
    kind: 'mysql',
    probes: 100,
    count: 100,
    errors: {},
    histogram: h,
    lateProbes: 1,
    madeUpValues: madeUp,
  });
  assert.equal(madeUp, 99);
  assert.equal(s.recorded, 199);
  assert.deepEqual(s.coordinatedOmission, { lateProbes: 1, madeUpValues: 99 });
  assert.ok(s.latencyMs!.p90 > 100, `corrected p90 ${s.latencyMs!.p90} ms sees the stall`);
});

test('buildRunSummary keys targets by name in order and is plain JSON', () => {
  const summary = buildRunSummary(
    [
      { name: 'b', kind: 'redis', probes: 1, count: 1, errors: {}, histogram: histogramOf([250]) },
      { name: 'a', kind: 'mysql', probes: 0, count: 0, errors: {}, histogram: histogramOf([]) },
    ],
    Date.UTC(2026, 0, 2, 3, 4, 5),
    60,
  );
  assert.deepEqual(Object.keys(summary.targets), ['b', 'a']);
  assert.equal(summary.startedAt, '2026-01-02T03:04:05.000Z');
  assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary);
  assert.equal(summary.targets.b!.latencyMs!.p99, 0.25);
});
