/*
 * native.bench.ts: native histogram counting as the publisher does it, per observation (tinybench v2).
 *   npm run bench:native
 * Values are lognormal latencies around 2 ms (the synthetic default) in µs, converted to seconds once,
 * as Aggregator.record does. The rows compare one native observe with the HDR recordValue next to it in
 * the same loop, the schemas' costs (binary search of 2^s boundaries for s > 0, shifts for s <= 0), a
 * spread that keeps hitting the bucket limit, and `buckets()` (spans and deltas) read once per publish.
 */
import * as hdr from 'hdr-histogram-js';
import { Bench } from 'tinybench';
import { HDR_DEFAULT_DIGITS } from '../../src/metrics/model.ts';
import { NATIVE_DEFAULTS, NativeHistogram } from '../../src/metrics/native-histogram.ts';
import { lognormalUs } from '../lib/fixtures.ts';

const VALUES = 4_096;
const draw = lognormalUs(11);
const us = Float64Array.from({ length: VALUES }, draw);
let next = 0;

function warmed(schema: number, maxBuckets = NATIVE_DEFAULTS.maxBuckets): NativeHistogram {
  const h = new NativeHistogram({ ...NATIVE_DEFAULTS, schema, maxBuckets });
  for (const v of us) h.observe(v / 1e6);
  return h;
}
const schema3 = warmed(3);
const schema8 = warmed(8, 8192);
const schema0 = warmed(0);
const hdrHistogram = new hdr.Int32Histogram(1, 2, HDR_DEFAULT_DIGITS);
hdrHistogram.autoResize = true;
for (const v of us) hdrHistogram.recordValue(Math.round(v));

// Latencies spread over 2^±30 around 1 ms at schema 8 with the default 160 buckets: every reset below
// starts at schema 8 and the histogram halves its resolution several times while it fills.
const wide = Float64Array.from({ length: VALUES }, (_, i) => 0.001 * 2 ** (((i * 7919) % 61) - 30 + (i % 10) / 10));

let sink = 0;
const bench = new Bench({ time: 500 });
// Each row observes the same 4,096 values, so tinybench's per-call overhead (~50 ns) does not hide the
// cost of one observation: divide the average time by 4,096.
bench
  .add('native observe (schema 3) x 4,096', () => {
    for (let i = 0; i < VALUES; i++) schema3.observe(us[i]! / 1e6);
  })
  .add('HDR recordValue (Int32, 3 digits) x 4,096, for comparison', () => {
    for (let i = 0; i < VALUES; i++) hdrHistogram.recordValue(Math.max(0, Math.round(us[i]!)));
  })
  .add('native observe (schema 8) x 4,096', () => {
    for (let i = 0; i < VALUES; i++) schema8.observe(us[i]! / 1e6);
  })
  .add('native observe (schema 0) x 4,096', () => {
    for (let i = 0; i < VALUES; i++) schema0.observe(us[i]! / 1e6);
  })
  .add('native: 4,096 values spread over 2^60 from an empty schema-8 histogram (limit 160, resolution halves)', () => {
    const h = new NativeHistogram({ ...NATIVE_DEFAULTS, schema: 8 });
    for (let i = 0; i < VALUES; i++) h.observe(wide[i]!);
    sink += h.schema;
  })
  .add('native buckets() after one new observation (spans + deltas of one target)', () => {
    schema3.observe(us[next++ & (VALUES - 1)]! / 1e6);
    sink += schema3.buckets().positiveDeltas.length;
  });

await bench.warmup();
await bench.run();
console.table(bench.table());
if (sink === 0) console.log('unreachable: keeps results alive');
