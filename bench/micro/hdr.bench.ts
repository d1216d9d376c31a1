/*
 * hdr.bench.ts: HDR recording and the batch merge, as the background thread does them (tinybench v2).
 *   npm run bench:hdr
 * probex keeps HDR histograms only in the publisher (src/metrics/aggregator.ts): each target has one
 * auto-resizing Int32Histogram at 3 significant digits, fed µs integers. Probe workers post flat
 * ProbeBatchResults, and "merge" is Aggregator.record folding one batch into the cumulative state (fixed
 * buckets + HDR + counters); there is no histogram-to-histogram add anywhere in src/ or workers/, so
 * none is benched. The read side is aggregator.snapshot() (seven HDR statistics per target).
 */
import * as hdr from 'hdr-histogram-js';
import { Bench } from 'tinybench';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { HDR_DEFAULT_DIGITS } from '../../src/metrics/model.ts';
import { batchResult, loadedAggregator, lognormalUs, syntheticConfig } from '../lib/fixtures.ts';

const VALUES = 4_096;
const draw = lognormalUs(7);
const values = Float64Array.from({ length: VALUES }, draw);
// The histogram exactly as TargetState builds it.
const histogram = new hdr.Int32Histogram(1, 2, HDR_DEFAULT_DIGITS);
histogram.autoResize = true;
for (const v of values) histogram.recordValue(Math.round(v)); // warm: the counts array has grown to its working size
let next = 0;

const config100 = syntheticConfig(100);
const names100 = config100.targets.map((t) => t.name);
const merging = new Aggregator();
merging.setTargets(config100.targets);
const batch1k = batchResult(100, 1_000, 3);
const batch10k = batchResult(100, 10_000, 4);

const config1k = syntheticConfig(1_000);
const reading = loadedAggregator(config1k);

let sink = 0;
const bench = new Bench({ time: 500 });
bench
  .add('recordValue (Int32, 3 digits, µs), one value', () => {
    histogram.recordValue(Math.max(0, Math.round(values[next++ & (VALUES - 1)]!)));
  })
  .add('Aggregator.record: merge a batch of 1,000 runs over 100 targets', () => {
    merging.record(names100, batch1k);
  })
  .add('Aggregator.record: merge a batch of 10,000 runs over 100 targets', () => {
    merging.record(names100, batch10k);
  })
  .add('aggregator.snapshot: 1,000 targets (p50/p90/p99/p99.9/min/max/mean each)', () => {
    sink += reading.snapshot().length;
  });

await bench.warmup();
await bench.run();
console.table(bench.table());
if (sink + histogram.totalCount === 0) console.log('unreachable: keeps results alive');
