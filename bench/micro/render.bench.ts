/*
 * render.bench.ts: the background thread's work per publish (tinybench v2), at 50, 1,000 and 10,000 series.
 *   npm run bench:render
 * Inputs come from the real code: a synthetic-target config through loadConfig, 100 recorded runs per
 * target in the real Aggregator, then buildFamilies and the real renderers. "publish" is the whole of
 * src/publisher.ts publish() (node stats, model, families, text, OpenMetrics, protobuf, the gzip of
 * each, every JSON body, snapshot write); the other rows split it, so a regression points at its step.
 * bench/micro/protobuf-publish.ts compares the publish with and without the protobuf bodies.
 */
import { gzipSync } from 'node:zlib';
import { Bench } from 'tinybench';
import { buildFamilies } from '../../src/metrics/families.ts';
import { collectNodeStats } from '../../src/metrics/host.ts';
import { renderJsonBodies } from '../../src/render/json.ts';
import { renderProtobuf } from '../../src/render/protobuf.ts';
import { renderOpenMetrics, renderText } from '../../src/render/text.ts';
import { createSnapshotBuffer } from '../../src/snapshot/layout.ts';
import { SnapshotWriter } from '../../src/snapshot/writer.ts';
import {
  benchSelfStats,
  countSeries,
  loadedAggregator,
  publishOnce,
  renderBodies,
  syntheticConfig,
  targetsForSeries,
} from '../lib/fixtures.ts';

const SERIES = [50, 1_000, 10_000] as const;
// 32 MiB is the config default per slot; 10,000 series with every JSON body fit well inside.
const SLOT_BYTES = 32 * 1024 * 1024;

const encoder = new TextEncoder();
const node = await collectNodeStats([]);
// Publishing at 10,000 series takes tens of ms: 10 samples (or 500 ms) per task keeps the suite short.
const bench = new Bench({ time: 500, iterations: 10 });
let sink = 0;
let generation = 0;

for (const wanted of SERIES) {
  const config = syntheticConfig(targetsForSeries(wanted));
  const aggregator = loadedAggregator(config);
  const inputs = { config, aggregator };
  const targets = aggregator.snapshot();
  const families = buildFamilies(targets, benchSelfStats(), config.profile);
  const text = encoder.encode(renderText(families));
  const protobufBody = renderProtobuf(families);
  const writer = new SnapshotWriter(createSnapshotBuffer(SLOT_BYTES));
  const bodies = renderBodies(inputs, node, 1);
  const label =
    `${countSeries(families).toLocaleString('en-US')} series (${config.targets.length} targets, ` +
    `text ${(text.byteLength / 1024).toFixed(1)} KiB)`;
  bench
    .add(`publish, ${label}`, async () => {
      sink += await publishOnce(inputs, writer, ++generation);
    })
    .add(`  aggregator.snapshot (HDR percentiles), ${label}`, () => {
      sink += aggregator.snapshot().length;
    })
    .add(`  aggregator.view (the publisher's in-place read, text only), ${label}`, () => {
      sink += aggregator.view({ latency: false, native: false }).length;
    })
    .add(`  buildFamilies, ${label}`, () => {
      sink += buildFamilies(targets, benchSelfStats(), config.profile).length;
    })
    .add(`  renderText + encode, ${label}`, () => {
      sink += encoder.encode(renderText(families)).byteLength;
    })
    .add(`  renderOpenMetrics + encode, ${label}`, () => {
      sink += encoder.encode(renderOpenMetrics(families)).byteLength;
    })
    .add(`  gzipSync text, ${label}`, () => {
      sink += gzipSync(text).byteLength;
    })
    .add(`  renderProtobuf (classic + native buckets), ${label}`, () => {
      sink += renderProtobuf(families).byteLength;
    })
    .add(`  gzipSync protobuf, ${label}`, () => {
      sink += gzipSync(protobufBody).byteLength;
    })
    .add(`  renderJsonBodies, ${label}`, () => {
      sink += renderJsonBodies(targets, node, { agentId: config.agentId, nowMs: Date.now() }).size;
    })
    .add(`  snapshot write of every body, ${label}`, () => {
      sink += writer.publish(bodies);
    });
}

await bench.warmup();
await bench.run();
console.table(bench.table());
if (sink === 0) console.log('unreachable: keeps results alive');
