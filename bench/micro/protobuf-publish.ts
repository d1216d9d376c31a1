/*
 * protobuf-publish.ts: what serving protobuf adds to a publish, in one interleaved run.
 *   npm run bench:protobuf-publish [-- --targets 1000 --rounds 30]
 * Each round runs, in turn, a whole publish as the publisher does it (publishOnce: node stats, model,
 * text, OpenMetrics, protobuf, the gzip of each, every JSON body, snapshot write) and the same publish
 * without the two protobuf bodies, then the protobuf steps alone (renderProtobuf; gzip at level 6, the
 * default, and at level 1, which the publisher uses: src/publisher.ts PROTOBUF_GZIP_LEVEL). Medians of each side and their ratio; it exits 1 when the ratio is over the
 * budget in bench/budgets.ts (PROTOBUF_PUBLISH). Alternating the sides in every round keeps a loaded machine's noise off the ratio.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { buildFamilies } from '../../src/metrics/families.ts';
import { collectNodeStats } from '../../src/metrics/host.ts';
import { renderJsonBodies } from '../../src/render/json.ts';
import { renderProtobuf } from '../../src/render/protobuf.ts';
import { renderOpenMetrics, renderText } from '../../src/render/text.ts';
import { createSnapshotBuffer } from '../../src/snapshot/layout.ts';
import { SnapshotWriter } from '../../src/snapshot/writer.ts';
import { PROTOBUF_PUBLISH as BUDGET } from '../budgets.ts';
import { benchSelfStats, countSeries, loadedAggregator, publishOnce, syntheticConfig } from '../lib/fixtures.ts';

const { values } = parseArgs({
  options: { targets: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '30' } },
});
const targets = Number(values.targets);
const rounds = Number(values.rounds);

const config = syntheticConfig(targets);
const aggregator = loadedAggregator(config);
const inputs = { config, aggregator };
const encoder = new TextEncoder();
const withWriter = new SnapshotWriter(createSnapshotBuffer(32 * 1024 * 1024));
const withoutWriter = new SnapshotWriter(createSnapshotBuffer(32 * 1024 * 1024));

/** publishWithoutProtobuf is publishOnce with the text, OpenMetrics and JSON bodies only. */
async function publishWithoutProtobuf(generation: number): Promise<number> {
  const node = await collectNodeStats([]);
  const snapshot = aggregator.snapshot();
  const families = buildFamilies(snapshot, benchSelfStats(generation), config.profile, config.directus.namePrefix);
  const text = encoder.encode(renderText(families));
  const om = encoder.encode(renderOpenMetrics(families));
  return withoutWriter.publish(
    new Map<string, Uint8Array>([
      ['text', text],
      ['text.gz', gzipSync(text)],
      ['om', om],
      ['om.gz', gzipSync(om)],
      ...renderJsonBodies(snapshot, node, { agentId: config.agentId, nowMs: Date.now() }),
    ]),
  );
}

const families = buildFamilies(aggregator.snapshot(), benchSelfStats(), config.profile, config.directus.namePrefix);
const times = {
  with: [] as number[],
  without: [] as number[],
  render: [] as number[],
  gzip6: [] as number[],
  gzip1: [] as number[],
};
let sink = 0;
let pb = renderProtobuf(families);
const time = async (into: number[], fn: () => unknown): Promise<void> => {
  const t0 = performance.now();
  await fn();
  into.push(performance.now() - t0);
};
for (let r = -3; r < rounds; r++) {
  // three warm-up rounds, not counted
  const order = r % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const);
  for (const side of order) {
    const into = r < 0 ? [] : times[side];
    if (side === 'with')
      await time(into, async () => {
        sink += await publishOnce(inputs, withWriter, r + 10);
      });
    else
      await time(into, async () => {
        sink += await publishWithoutProtobuf(r + 10);
      });
  }
  await time(r < 0 ? [] : times.render, () => {
    pb = renderProtobuf(families);
  });
  await time(r < 0 ? [] : times.gzip6, () => {
    sink += gzipSync(pb).byteLength;
  });
  await time(r < 0 ? [] : times.gzip1, () => {
    sink += gzipSync(pb, { level: 1 }).byteLength;
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratio = median(times.with) / median(times.without);
const text = encoder.encode(renderText(families));
const om = encoder.encode(renderOpenMetrics(families));
console.log(
  `${targets} targets, ${countSeries(families).toLocaleString('en-US')} series, ${rounds} rounds, Node ${process.version}`,
);
console.table({
  'publish with protobuf (ms)': median(times.with).toFixed(1),
  'publish without protobuf (ms)': median(times.without).toFixed(1),
  [`ratio (budget <= ${BUDGET.ratio})`]: ratio.toFixed(2),
  '  renderProtobuf (ms)': median(times.render).toFixed(1),
  '  gzip protobuf level 6 (ms)': median(times.gzip6).toFixed(1),
  '  gzip protobuf level 1 (ms)': median(times.gzip1).toFixed(1),
});
console.table({
  text: { bytes: text.byteLength, gzip: gzipSync(text).byteLength },
  OpenMetrics: { bytes: om.byteLength, gzip: gzipSync(om).byteLength },
  protobuf: {
    bytes: pb.byteLength,
    gzip: gzipSync(pb).byteLength,
    'gzip level 1': gzipSync(pb, { level: 1 }).byteLength,
  },
});
if (sink === 0) console.log('unreachable: keeps results alive');
if (ratio > BUDGET.ratio) {
  console.error(
    `publish with protobuf is ${ratio.toFixed(2)}× the publish without it: over the ${BUDGET.ratio}× budget`,
  );
  process.exitCode = 1;
}
