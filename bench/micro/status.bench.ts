/*
 * status.bench.ts: what the status page and the HDR exports would cost the publisher per publish (tinybench v2).
 *   npm run bench:status
 * The page: statusModel + renderStatusPage over 1,000 and 10,000 targets (plots for the first MAX_PLOTS).
 * The exports: encodeHistogram (V2 compressed base64) and percentileDistribution (.hgrm) of one target, and
 * of all 10,000 targets, which is what rendering every /hdr/{target} body at publish time would cost.
 */
import { Bench } from 'tinybench';
import { encodeHistogram, percentileDistribution } from '../../src/hdr/export.ts';
import { statusModel } from '../../src/render/status-model.ts';
import { renderStatusPage } from '../../src/render/status-page.ts';
import { loadedAggregator, syntheticConfig } from '../lib/fixtures.ts';

const aggregators = {
  1000: loadedAggregator(syntheticConfig(1_000), 1_000),
  10000: loadedAggregator(syntheticConfig(10_000), 1_000),
};
const page = (n: 1000 | 10000): number => {
  const agg = aggregators[n];
  return renderStatusPage(
    statusModel({ targets: agg.snapshot(), histogram: (name) => agg.histogram(name), nowMs: Date.now() }),
  ).length;
};
const names = syntheticConfig(10_000).targets.map((t) => t.name);
const one = aggregators[10000].histogram(names[0]!)!;

let sink = 0;
const bench = new Bench({ time: 2000, iterations: 5 });
bench
  .add('status page: 1,000 targets', () => {
    sink += page(1000);
  })
  .add('status page: 10,000 targets', () => {
    sink += page(10000);
  })
  .add('encodeHistogram: one target', () => {
    sink += encodeHistogram(one).length;
  })
  .add('percentileDistribution: one target', () => {
    sink += percentileDistribution(one).length;
  })
  .add('encodeHistogram: 10,000 targets', () => {
    for (const n of names) sink += encodeHistogram(aggregators[10000].histogram(n)!).length;
  })
  .add('percentileDistribution: 10,000 targets', () => {
    for (const n of names) sink += percentileDistribution(aggregators[10000].histogram(n)!).length;
  });

await bench.warmup();
await bench.run();
console.table(bench.table());
console.log(`status page bytes: 1,000 targets ${page(1000)}, 10,000 targets ${page(10000)}`);
if (sink === 0) console.log('unreachable: keeps results alive');
