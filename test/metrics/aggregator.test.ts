import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LATENCY_BUCKETS_SECONDS } from '../../src/config/defaults.ts';
import * as hdr from 'hdr-histogram-js';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { HDR_DEFAULT_DIGITS, type LatencySummary } from '../../src/metrics/model.ts';
import { NATIVE_DEFAULTS, nativeBucketKey, type NativeBuckets } from '../../src/metrics/native-histogram.ts';
import { FAILURE_REASONS } from '../../src/probes/probe.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { kOk, type ProbeBatchResult } from '../../src/pool/messages.ts';

const target = (name: string, buckets: readonly number[] = DEFAULT_LATENCY_BUCKETS_SECONDS): ProbeTarget => ({
  name,
  kind: 'synthetic',
  intervalMs: 1000,
  timeoutMs: 1000,
  concurrency: 1,
  labels: {},
  buckets,
  distribution: { type: 'constant', valueMs: 1 },
  errorRate: 0,
});

/** batch builds a result for one target from latencies (µs) and reasons (kOk or 1 + reason index). */
function batch(latencyUs: number[], reason: number[] = latencyUs.map(() => kOk), t0 = 1_000): ProbeBatchResult {
  return {
    target: new Uint32Array(latencyUs.length),
    latencyUs: Float64Array.from(latencyUs),
    reason: Uint8Array.from(reason),
    endedAtMs: Float64Array.from(latencyUs, (_, i) => t0 + i),
    app: [null],
    failure: [null],
  };
}

const code = (r: (typeof FAILURE_REASONS)[number]): number => FAILURE_REASONS.indexOf(r) + 1;

/**
 * assertQuantilesWithin checks a summary's p50, p90, p99 and p99.9 against the exact ones of `sorted`
 * (latencies in µs, ascending), each within `tolerance` of the exact value; `what` starts each message.
 */
function assertQuantilesWithin(
  latency: LatencySummary,
  sorted: readonly number[],
  tolerance: number,
  what: string,
): void {
  const exact = (p: number): number => sorted[Math.ceil((p / 100) * sorted.length) - 1]! / 1e6;
  for (const [p, got] of [
    [50, latency.p50],
    [90, latency.p90],
    [99, latency.p99],
    [99.9, latency.p999],
  ] as const) {
    assert.ok(Math.abs(got - exact(p)) <= exact(p) * tolerance, `${what}p${p}: ${got} vs ${exact(p)}`);
  }
}

test('every le bucket, _count and _sum are exact for a known set of latencies', () => {
  // A deterministic spread from 5 µs to ~2 s, including values exactly on bucket bounds.
  const latencies: number[] = [];
  for (let i = 0; i < 20_000; i++) latencies.push(5 + ((i * 7919) % 2_000_000) * (i % 3 === 0 ? 1 : 0.01));
  for (const b of DEFAULT_LATENCY_BUCKETS_SECONDS) latencies.push(b * 1e6); // exactly on each bound: counts as <= b
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch(latencies.slice(0, 10_000)));
  agg.record(['t'], batch(latencies.slice(10_000)));
  const [snap] = agg.snapshot();
  assert.equal(snap!.count, latencies.length);
  const expectedSum = latencies.reduce((a, b) => a + b, 0) / 1e6;
  assert.ok(Math.abs(snap!.sumSeconds - expectedSum) <= expectedSum * 1e-9, `${snap!.sumSeconds} vs ${expectedSum}`);
  DEFAULT_LATENCY_BUCKETS_SECONDS.forEach((b, i) => {
    const expected = latencies.filter((v) => v <= b * 1e6).length;
    assert.equal(snap!.bucketCounts[i], expected, `le=${b}`);
  });
  for (let i = 1; i < snap!.bucketCounts.length; i++) assert.ok(snap!.bucketCounts[i]! >= snap!.bucketCounts[i - 1]!);
});

test('HDR percentiles are within 0.1% of the exact ones', () => {
  const latencies = Array.from({ length: 10_000 }, (_, i) => 100 + i * 37); // 100 µs .. ~370 ms
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch(latencies));
  const latency = agg.snapshot()[0]!.latency!;
  const sorted = [...latencies].sort((a, b) => a - b);
  assertQuantilesWithin(latency, sorted, 0.001, '');
  assert.ok(Math.abs(latency.max - sorted.at(-1)! / 1e6) <= (sorted.at(-1)! / 1e6) * 0.001);
});

test('the one-pass quantiles match hdr-histogram-js getValueAtPercentile, and the mean is exact', () => {
  // Sizes around the rounding edges (1, 2, 10, 1000 values: p99.9 of 1,000 is the 999th) and skewed data.
  for (const n of [1, 2, 3, 10, 999, 1_000, 1_001, 12_345]) {
    const latencies = Array.from({ length: n }, (_, i) =>
      Math.round(50 + ((i * 2_654_435_761) % 1_000_003) ** 1.3 / 40),
    );
    const reference = hdr.build({ numberOfSignificantValueDigits: HDR_DEFAULT_DIGITS });
    for (const v of latencies) reference.recordValue(v);
    const agg = new Aggregator();
    agg.setTargets([target('t')]);
    agg.record(['t'], batch(latencies));
    const latency = agg.snapshot()[0]!.latency!;
    const clamp = (v: number): number => Math.max(reference.minNonZeroValue, Math.min(reference.maxValue, v)) / 1e6;
    for (const [p, got] of [
      [50, latency.p50],
      [90, latency.p90],
      [99, latency.p99],
      [99.9, latency.p999],
    ] as const) {
      assert.equal(got, clamp(reference.getValueAtPercentile(p)), `n=${n} p${p}`);
    }
    const mean = latencies.reduce((a, b) => a + b, 0) / n / 1e6;
    assert.ok(Math.abs(latency.mean - mean) <= mean * 1e-12, `n=${n} mean ${latency.mean} vs ${mean}`);
  }
});

test('HDR counts widen to Float64 at the widening observation, keeping every observation', () => {
  // probex widens at observation 2^32, before any Uint32 bucket could wrap (a day of a continuous target);
  // a low widenAt runs the same step here.
  const agg = new Aggregator({ widenAt: 4 });
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([1_000, 1_000, 2_000]));
  assert.ok(agg.histogram('t') instanceof hdr.Int16Histogram, 'Uint16 counts below the widening observation');
  agg.record(['t'], batch([1_000, 2_000, 3_000]));
  const histogram = agg.histogram('t')!;
  assert.ok(histogram instanceof hdr.Float64Histogram, 'widened to Float64 counts');
  assert.equal(histogram.totalCount, 6);
  assert.equal(histogram.getCountAtIndex(histogram.countsArrayIndex(1_000)), 3);
  assert.equal(histogram.getCountAtIndex(histogram.countsArrayIndex(2_000)), 2);
  const latency = agg.snapshot()[0]!.latency!;
  assert.deepEqual([latency.p50, latency.max], [0.001, 0.003]);
  assert.equal(agg.snapshot()[0]!.count, 6);
});

test('Uint16 counts move to Uint32 before a bucket would pass 65,535, keeping every observation', () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([...Array.from({ length: 0xffff }, () => 1_500), 90_000]));
  const narrow = agg.histogram('t')!;
  assert.ok(narrow instanceof hdr.Int16Histogram, 'a full bucket and a value past the counts: still Uint16');
  assert.equal(narrow.getCountAtIndex(narrow.countsArrayIndex(1_500)), 0xffff);
  agg.record(['t'], batch([1_500, 1_500, 800]));
  const wide = agg.histogram('t')!;
  assert.ok(wide instanceof hdr.Int32Histogram, 'widened before the bucket wrapped');
  assert.equal(wide.getCountAtIndex(wide.countsArrayIndex(1_500)), 0xffff + 2);
  assert.equal(wide.getCountAtIndex(wide.countsArrayIndex(800)), 1);
  assert.equal(wide.getCountAtIndex(wide.countsArrayIndex(90_000)), 1);
  assert.equal(wide.totalCount, 0xffff + 4);
  assert.equal(agg.snapshot()[0]!.latency!.max, 0.09);
});

test('at 2 significant digits quantiles stay within 1% in a fifth of the counts', () => {
  const latencies = Array.from({ length: 5_000 }, (_, i) => 300 + ((i * 7_919) % 15_700));
  const sorted = [...latencies].sort((a, b) => a - b);
  const lengths = ([2, 3] as const).map((hdrDigits) => {
    const agg = new Aggregator({ hdrDigits });
    agg.setTargets([target('t')]);
    agg.record(['t'], batch(latencies));
    const tolerance = hdrDigits === 2 ? 0.01 : 0.001;
    assertQuantilesWithin(agg.snapshot()[0]!.latency!, sorted, tolerance, `${hdrDigits} digits `);
    return agg.histogram('t')!.countsArrayLength;
  });
  assert.ok(lengths[0]! * 5 <= lengths[1]!, `counts: ${lengths[0]} at 2 digits, ${lengths[1]} at 3`);
});

test('a new HDR precision re-records the counts, in counts wide enough for buckets it merges', () => {
  const agg = new Aggregator({ now: () => 1_000 });
  agg.setTargets([target('t')]);
  // 1,500 and 1,501 µs are two buckets at 3 digits, one at 2: 80,000 in one bucket would wrap Uint16 counts.
  agg.record(
    ['t'],
    batch([...Array.from({ length: 40_000 }, () => 1_500), ...Array.from({ length: 40_000 }, () => 1_501)]),
  );
  assert.ok(agg.histogram('t') instanceof hdr.Int16Histogram);
  const before = agg.snapshot()[0]!;
  agg.setTargets([target('t')], { hdrDigits: 2 });
  const merged = agg.histogram('t')!;
  assert.equal(merged.numberOfSignificantValueDigits, 2);
  assert.ok(merged instanceof hdr.Int32Histogram, 'counts wide enough for the merged bucket');
  assert.equal(merged.getCountAtIndex(merged.countsArrayIndex(1_500)), 80_000);
  const after = agg.snapshot()[0]!;
  assert.deepEqual(
    [after.count, after.sumSeconds, after.bucketCounts, after.createdSeconds],
    [before.count, before.sumSeconds, before.bucketCounts, before.createdSeconds],
    'every counter and the created timestamp stay',
  );
  assert.ok(Math.abs(after.latency!.p50 - 0.0015) <= 0.0015 * 0.01, `p50 ${after.latency!.p50} after the change`);
  agg.setTargets([target('t')], { hdrDigits: 3 });
  assert.equal(agg.histogram('t')!.numberOfSignificantValueDigits, 3);
  assert.equal(agg.histogram('t')!.totalCount, 80_000);
});

test("quantiles never exceed the observed max, even when HDR rounds them up to their bucket's top", () => {
  // 47,149 µs sits in an HDR bucket 32 µs wide at 3 significant digits; the bucket's highest equivalent value is
  // above the recorded value, and that is what getValueAtPercentile reports.
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([800, 900, 47_149]));
  const latency = agg.snapshot()[0]!.latency!;
  assert.equal(latency.max, 0.047149);
  for (const q of [latency.p50, latency.p90, latency.p99, latency.p999])
    assert.ok(q <= latency.max, `${q} > max ${latency.max}`);
  assert.equal(latency.p999, latency.max);
  assert.ok(latency.p50 >= latency.min);
});

test('failures count by reason, stay out of the histogram and set up to 0; the latest run decides up', () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([100, 200, 300], [kOk, code('timeout'), code('refused')], 1_000));
  let [snap] = agg.snapshot();
  assert.equal(snap!.probes, 3);
  assert.equal(snap!.count, 1);
  assert.equal(snap!.errors.timeout, 1);
  assert.equal(snap!.errors.refused, 1);
  assert.equal(snap!.errors.auth, 0);
  assert.equal(snap!.up, 0);
  // An older result arriving late must not flip up back.
  agg.record(['t'], batch([50], [kOk], 500));
  assert.equal(agg.snapshot()[0]!.up, 0);
  agg.record(['t'], batch([50], [kOk], 5_000));
  [snap] = agg.snapshot();
  assert.equal(snap!.up, 1);
  assert.equal(snap!.lastProbeMs, 5_000);
});

test('the latency summary follows every new success and stays put through failures and idle publishes', () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([1_000, 2_000]));
  const first = agg.snapshot()[0]!.latency!;
  assert.equal(first.max, 0.002);
  assert.equal(agg.snapshot()[0]!.latency, first, 'no new observations: the same summary');
  agg.record(['t'], batch([5_000], [FAILURE_REASONS.indexOf('timeout') + 1]));
  assert.equal(agg.snapshot()[0]!.latency, first, 'a failure adds no observation');
  agg.record(['t'], batch([9_000]));
  const next = agg.snapshot()[0]!.latency!;
  assert.deepEqual([next.max, next.min, next.mean], [0.009, 0.001, 0.004]);
});

test('a never-probed target has a zero snapshot with up 0 and no latency', () => {
  const agg = new Aggregator();
  agg.setTargets([target('idle')]);
  const [snap] = agg.snapshot();
  assert.deepEqual([snap!.probes, snap!.count, snap!.sumSeconds, snap!.up, snap!.latency], [0, 0, 0, 0, undefined]);
  assert.deepEqual(
    snap!.bucketCounts,
    DEFAULT_LATENCY_BUCKETS_SECONDS.map(() => 0),
  );
});

test('reload keeps counters of unchanged targets, resets re-shaped ones and drops removed ones', () => {
  const agg = new Aggregator();
  agg.setTargets([target('keep'), target('reshape'), target('drop')]);
  for (const name of ['keep', 'reshape', 'drop']) agg.record([name], batch([1_000, 2_000]));
  agg.setTargets([{ ...target('keep'), intervalMs: 500 }, target('reshape', [0.5, 1]), target('new')]);
  const byName = new Map(agg.snapshot().map((s) => [s.name, s]));
  assert.deepEqual([...byName.keys()], ['keep', 'reshape', 'new']);
  assert.equal(byName.get('keep')!.count, 2);
  assert.equal(byName.get('keep')!.target.intervalMs, 500);
  assert.equal(byName.get('reshape')!.count, 0);
  assert.deepEqual(byName.get('reshape')!.bucketCounts, [0, 0]);
  assert.equal(byName.get('new')!.count, 0);
  agg.record(['drop'], batch([1])); // a late result for a removed target is ignored
  assert.equal(agg.snapshot().length, 3);
});

test('app values keep the last reported set', () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], { ...batch([10]), app: [{ rows: 1 }] });
  agg.record(['t'], { ...batch([10]), app: [null] });
  assert.deepEqual(agg.snapshot()[0]!.app, { rows: 1 });
});

/** bucketCounts expands native spans and deltas into key → count (non-empty buckets only). */
function nativeCounts(native: NativeBuckets): Map<number, number> {
  const out = new Map<number, number>();
  let key = 0;
  let count = 0;
  let d = 0;
  for (const span of native.positiveSpans) {
    key += span.offset;
    for (let i = 0; i < span.length; i++, key++) {
      count += native.positiveDeltas[d++]!;
      if (count > 0) out.set(key, count);
    }
  }
  return out;
}

test('native buckets are exact for a known set of latencies, with the classic count and sum', () => {
  // µs, converted once to seconds: 1 s and 2 s lie exactly on schema-3 boundaries (upper-inclusive), 0 µs
  // goes to the zero bucket, 1.000001 s to the bucket above 1 s.
  const latencies = [0, 250, 500, 1000, 1000, 1001, 2000, 3000, 1_000_000, 1_000_001, 2_000_000, 1_500_000];
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch(latencies));
  const snap = agg.snapshot()[0]!;
  const native = snap.native!;
  assert.equal(native.schema, 3);
  assert.equal(native.zeroThreshold, 2 ** -128);
  assert.equal(native.zeroCount, 1);
  // Schema 3: 1 s is bucket 0 (upper bound 1, inclusive), 1.000001 s bucket 1, 1.5 s bucket 5, 2 s bucket 8;
  // 1 ms is bucket ceil(8 * log2(0.001)) = -79, 2 ms bucket -71, 3 ms -67, 0.5 ms -87, 0.25 ms -95.
  assert.deepEqual(
    [...nativeCounts(native)],
    [
      [-95, 1],
      [-87, 1],
      [-79, 3],
      [-71, 1],
      [-67, 1],
      [0, 1],
      [1, 1],
      [5, 1],
      [8, 1],
    ],
  );
  for (const us of latencies.slice(1)) assert.ok(nativeCounts(native).has(nativeBucketKey(us / 1e6, 3)), String(us));
  let inBuckets = native.zeroCount;
  for (const c of nativeCounts(native).values()) inBuckets += c;
  assert.equal(inBuckets, snap.count, 'native buckets hold every observation the classic _count has');
  // The classic le="1" bucket and the native buckets up to key 0 (upper bound 1 s) hold the same observations.
  let upToOne = native.zeroCount;
  for (const [key, c] of nativeCounts(native)) if (key <= 0) upToOne += c;
  assert.equal(DEFAULT_LATENCY_BUCKETS_SECONDS.at(-1), 1);
  assert.equal(snap.bucketCounts.at(-1), upToOne);
});

test("native histograms follow the aggregator's options; an option change re-shapes the target with a new created time", () => {
  let now = 1_700_000_000_000;
  const agg = new Aggregator({ native: { ...NATIVE_DEFAULTS, schema: 1 }, now: () => now });
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([1000, 2000]));
  const before = agg.snapshot()[0]!;
  assert.equal(before.native!.schema, 1);
  assert.equal(before.createdSeconds, 1_700_000_000);
  now += 60_000;
  agg.setTargets([target('t')]); // same options: same state, same created time
  assert.equal(agg.snapshot()[0]!.count, 2);
  assert.equal(agg.snapshot()[0]!.createdSeconds, 1_700_000_000);
  now += 60_000;
  agg.setTargets([target('t')], { native: { ...NATIVE_DEFAULTS, schema: 4 } });
  const after = agg.snapshot()[0]!;
  assert.deepEqual([after.count, after.native!.schema, after.createdSeconds], [0, 4, 1_700_000_120]);
  assert.throws(
    () => agg.setTargets([target('t')], { native: { ...NATIVE_DEFAULTS, schema: 9 } }),
    /native\.schema must be an integer/,
  );
  assert.throws(() => new Aggregator({ native: { ...NATIVE_DEFAULTS, maxBuckets: 0 } }), /native\.maxBuckets/);
});

test("a target re-shaped by a reload gets the reload's created time; an unchanged one keeps its own", () => {
  let now = 1_000_000;
  const agg = new Aggregator({ now: () => now });
  agg.setTargets([target('keep'), target('reshape')]);
  now = 2_000_000;
  agg.setTargets([target('keep'), target('reshape', [0.5, 1]), target('new')]);
  assert.deepEqual(
    agg.snapshot().map((s) => [s.name, s.createdSeconds]),
    [
      ['keep', 1000],
      ['reshape', 2000],
      ['new', 2000],
    ],
  );
});

test("lastError keeps the most recent failure's reason, message and time, and stays after a recovery", () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  assert.equal(agg.snapshot()[0]!.lastError, undefined);
  agg.record(['t'], {
    ...batch([0, 0, 500], [code('refused'), code('timeout'), kOk], 5_000),
    failure: ['deadline of 1000 ms exceeded'],
  });
  assert.deepEqual(agg.snapshot()[0]!.lastError, {
    reason: 'timeout',
    message: 'deadline of 1000 ms exceeded',
    atMs: 5_001,
  });
  agg.record(['t'], batch([400], [kOk], 6_000));
  assert.equal(agg.snapshot()[0]!.lastError!.reason, 'timeout', 'a success does not clear it');
  agg.record(['t'], { ...batch([0], [code('auth')], 4_000), failure: ['late batch'] });
  assert.equal(
    agg.snapshot()[0]!.lastError!.message,
    'deadline of 1000 ms exceeded',
    'an older failure arriving late does not replace it',
  );
});

test("histogram(name) is the target's live HDR histogram of successful latencies; unknown names are undefined", () => {
  const agg = new Aggregator();
  agg.setTargets([target('t')]);
  agg.record(['t'], batch([100, 200, 300, 0], [kOk, kOk, kOk, code('refused')]));
  const h = agg.histogram('t')!;
  assert.equal(h.totalCount, 3);
  assert.equal(h.maxValue, 300);
  assert.equal(agg.histogram('nope'), undefined);
});

test("a target's last reported certificate is kept until another is reported, and dropped when the target changes", () => {
  const agg = new Aggregator();
  agg.setTargets([target('a')]);
  agg.record(['a'], batch([1000]));
  assert.equal(agg.snapshot()[0]!.certificate, undefined);
  agg.record(['a'], { ...batch([1000]), certificate: Float64Array.from([100, 200]) });
  assert.deepEqual(agg.snapshot()[0]!.certificate, { notBeforeSeconds: 100, notAfterSeconds: 200 });
  agg.record(['a'], { ...batch([1000]), certificate: Float64Array.from([NaN, NaN]) });
  assert.deepEqual(
    agg.snapshot()[0]!.certificate,
    { notBeforeSeconds: 100, notAfterSeconds: 200 },
    'NaN: none this time',
  );
  agg.record(['a'], { ...batch([1000]), certificate: Float64Array.from([150, 300]) });
  assert.deepEqual(agg.snapshot()[0]!.certificate, { notBeforeSeconds: 150, notAfterSeconds: 300 }, 'renewed');
  agg.setTargets([target('a')]);
  assert.ok(agg.snapshot()[0]!.certificate !== undefined, 'an unchanged target keeps it across a reload');
  agg.setTargets([{ ...target('a'), labels: { env: 'x' } }]);
  assert.equal(agg.snapshot()[0]!.certificate, undefined, 'a changed target reports one again once it has seen one');
});

test('view() answers as snapshot() does, in objects it sets in place from call to call', () => {
  const a = new Aggregator({ now: () => 5_000 });
  a.setTargets([target('a'), target('b')]);
  a.record(['a', 'b'], {
    ...batch([1_500, 30_000]),
    target: Uint32Array.of(0, 1),
    app: [null, null],
    failure: [null, null],
  });
  const first = a.view();
  assert.deepEqual([...first], a.snapshot());
  const [objectA, countsA] = [first[0]!, first[0]!.bucketCounts];
  assert.notEqual(first[0]!.latency, undefined);
  assert.notEqual(first[0]!.native, undefined);

  a.record(['a'], batch([2_500, 0], [kOk, code('timeout')], 9_000));
  const second = a.view({ latency: false, native: false });
  assert.equal(second[0], objectA, 'the same object, set again');
  assert.equal(second[0]!.bucketCounts, countsA, 'its cumulative counts in the same array');
  assert.deepEqual([...second], a.snapshot({ latency: false, native: false }));
  assert.equal(second[0]!.count, 2);
  assert.equal(second[0]!.errors.timeout, 1);
  assert.equal(second[0]!.latency, undefined, 'a part not asked for is cleared, not left from the last call');
  assert.equal(second[0]!.native, undefined);

  a.setTargets([target('b'), target('c', [0.5, 1])]);
  const third = a.view();
  assert.deepEqual(
    third.map((t) => [t.name, t.count, t.bucketCounts.length]),
    [
      ['b', 1, DEFAULT_LATENCY_BUCKETS_SECONDS.length],
      ['c', 0, 2],
    ],
  );
  assert.deepEqual([...third], a.snapshot());
});
