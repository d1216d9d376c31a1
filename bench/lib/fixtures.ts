/**
 * Inputs for the benches, built through the real code paths: a config of synthetic targets goes through
 * loadConfig, probe runs go into the real Aggregator as ProbeBatchResults (what the probe workers post),
 * and `publishOnce` does what src/publisher.ts `Publisher.publish()` does (node stats, its renderBodies,
 * the snapshot write), so a bench of it measures the publisher's real work. Keep `publishOnce` in step.
 */
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildFamilies } from '../../src/metrics/families.ts';
import type { MetricFamily, SelfStats } from '../../src/metrics/model.ts';
import { collectNodeStats, type NodeStats } from '../../src/metrics/host.ts';
import { kOk, type ProbeBatchResult } from '../../src/pool/messages.ts';
import { renderBodies as renderSnapshotBodies } from '../../src/render/bodies.ts';
import type { SnapshotWriter } from '../../src/snapshot/writer.ts';
import { mulberry32 } from '../../support/rng.ts';

/** SYNTHETIC_TARGET is the YAML body of one bench target: lognormal latencies around 2 ms, 1% failures. */
const SYNTHETIC_TARGET =
  'kind: synthetic, interval: 1s, errorRate: 0.01, distribution: { type: lognormal, medianMs: 2, sigma: 0.5 }';

/** syntheticTargetsYaml is a `targets:` entry with n synthetic targets named s0..s{n-1} (flow style for n = 0). */
export function syntheticTargetsYaml(n: number): string {
  if (n === 0) return 'targets: []';
  return `targets:\n${Array.from({ length: n }, (_, i) => `  - { name: s${i}, ${SYNTHETIC_TARGET} }`).join('\n')}`;
}

/** syntheticConfig loads a config of n synthetic targets through the real loader (defaults, validation). */
export function syntheticConfig(n: number): Config {
  return loadConfig({ yaml: `log: { level: error }\nagentId: bench\n${syntheticTargetsYaml(n)}\n` }).config;
}

/** lognormalUs returns a sampler of latencies in µs: median 2 ms, sigma 0.5 (the synthetic default). */
export function lognormalUs(seed: number): () => number {
  const rand = mulberry32(seed);
  return () => {
    // Box-Muller; 1 - u keeps the log argument in (0, 1].
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return 2000 * Math.exp(0.5 * z);
  };
}

/**
 * batchResult builds one ProbeBatchResult as a probe worker posts it: `runs` runs spread round-robin
 * over `targets` targets, 1% of them failing with reason `timeout`.
 */
export function batchResult(targets: number, runs: number, seed = 1): ProbeBatchResult {
  const draw = lognormalUs(seed);
  const rand = mulberry32(seed + 1);
  const target = new Uint32Array(runs);
  const latencyUs = new Float64Array(runs);
  const reason = new Uint8Array(runs);
  const endedAtMs = new Float64Array(runs);
  const now = Date.now();
  for (let i = 0; i < runs; i++) {
    target[i] = i % targets;
    latencyUs[i] = draw();
    reason[i] = rand() < 0.01 ? 1 : kOk; // 1 = FAILURE_REASONS[0] = timeout
    endedAtMs[i] = now + i / 1000;
  }
  return {
    target,
    latencyUs,
    reason,
    endedAtMs,
    app: new Array<null>(targets).fill(null),
    failure: new Array<null>(targets).fill(null),
  };
}

/** loadedAggregator returns the real Aggregator for `config` with `runsPerTarget` recorded runs per target. */
export function loadedAggregator(config: Config, runsPerTarget = 100): Aggregator {
  const aggregator = new Aggregator();
  aggregator.setTargets(config.targets);
  const names = config.targets.map((t) => t.name);
  if (names.length > 0) aggregator.record(names, batchResult(names.length, names.length * runsPerTarget));
  return aggregator;
}

/** benchSelfStats are plausible self-metrics; their digits, not their meaning, matter for the body size. */
export function benchSelfStats(generation = 1): SelfStats {
  return {
    version: '0.1.0',
    startTimeSeconds: 1_732_500_000.123,
    scrapesTotal: 123_456,
    apiRequestsTotal: 789,
    generation,
    publishDurationSeconds: 0.004_321,
    publishFailuresTotal: 0,
    snapshotAgeSeconds: 1.000_5,
    snapshotTimestampSeconds: 1_732_500_123.456,
    snapshotBytes: 234_567,
    poolThreads: 2,
    poolUtilization: 0.012_3,
    poolQueueSize: 0,
    probesSkippedTotal: 0,
    eventLoopDelay: { p50: 0.000_01, p99: 0.000_2, max: 0.003 },
    cpuUserSecondsTotal: 12.34,
    cpuSystemSecondsTotal: 5.67,
    residentMemoryBytes: 98_765_432,
    heapUsedBytes: 12_345_678,
    configReloadsTotal: 0,
    configReloadFailuresTotal: 0,
    configLastReloadSuccessful: 1,
  };
}

/** countSeries counts the sample lines a family list renders to in text 0.0.4 (a histogram: buckets, +Inf, sum, count). */
export function countSeries(families: readonly MetricFamily[]): number {
  let n = 0;
  for (const f of families) {
    if (f.type === 'histogram') for (const s of f.samples) n += s.bounds.length + 3;
    else n += f.samples.length;
  }
  return n;
}

/** seriesOf renders nothing: it counts the series probex exposes with n synthetic targets. */
function seriesOf(n: number): number {
  const config = syntheticConfig(n);
  return countSeries(buildFamilies(loadedAggregator(config, 1).snapshot(), benchSelfStats(), config.profile));
}

/**
 * targetsForSeries returns the number of synthetic targets whose exposition is closest to `series`
 * series. Series grow linearly with targets (the self-metrics plus a fixed count per target), so two
 * real counts give the line.
 */
export function targetsForSeries(series: number): number {
  const base = seriesOf(0);
  const perTarget = seriesOf(1) - base;
  return Math.max(0, Math.round((series - base) / perTarget));
}

/** publishInputs is what one publish reads: the aggregator's snapshot and the host stats. */
export interface PublishInputs {
  readonly config: Config;
  readonly aggregator: Aggregator;
}

/**
 * renderBodies is the synchronous part of the publisher's `publish()` (src/publisher.ts renderBodies):
 * model, families, text, OpenMetrics, both gzips and every JSON body. `node` comes from collectNodeStats.
 */
export function renderBodies(
  { config, aggregator }: PublishInputs,
  node: NodeStats,
  generation: number,
): Map<string, Uint8Array> {
  return renderSnapshotBodies(aggregator.view(), benchSelfStats(generation), node, config, Date.now());
}

/** publishOnce is one whole publish as the background thread runs it: node stats, render, snapshot write. */
export async function publishOnce(inputs: PublishInputs, writer: SnapshotWriter, generation: number): Promise<number> {
  const storagePaths = inputs.config.targets.flatMap((t) => (t.kind === 'storage' ? [t.path] : []));
  const node = await collectNodeStats(storagePaths);
  return writer.publish(renderBodies(inputs, node, generation));
}
