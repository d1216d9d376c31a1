/**
 * The summary of a benchmark run (`probex run`'s summary.json): per target the probe and error counts and
 * the latency distribution read from its HDR histogram. Pure: the caller hands over the histograms and
 * writes the result.
 *
 * Latencies are milliseconds, read from HDR (3 significant digits, so within 0.1%), percentiles clamped to
 * the recorded [min, max]. When the run corrected for coordinated omission, the histogram holds the
 * values it made up for probes that could not start on time, and every statistic here includes them:
 * `recorded` says how many values the distribution has, `count` how many probes actually succeeded.
 */
import { FAILURE_REASONS, type ProbeFailureReason } from '../probes/probe.ts';
import type { HdrHistogram } from '../hdr/export.ts';
import { meanAndStdDeviation } from '../hdr/export.ts';
import { valuesAtPercentiles } from '../hdr/quantiles.ts';

/** RunTarget is what a run knows of one target at its end. */
export interface RunTarget {
  readonly name: string;
  readonly kind: string;
  /** probes is the number of probe runs (successes and failures). */
  readonly probes: number;
  /** count is the number of successful probes. */
  readonly count: number;
  /** errors counts failed probes by reason (missing reasons count 0). */
  readonly errors: Readonly<Partial<Record<ProbeFailureReason, number>>>;
  /** histogram holds the successful probes' latencies in µs (and the values made up by correction). */
  readonly histogram: HdrHistogram;
  /** lateProbes is the number of probes that could not start on time (coordinated omission). */
  readonly lateProbes?: number;
  /** madeUpValues is the number of values recordWithExpectedInterval added for them. */
  readonly madeUpValues?: number;
}

/** LatencyStatsMs is a latency distribution in milliseconds. */
export interface LatencyStatsMs {
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** TargetSummary is one target's entry in summary.json. */
export interface TargetSummary {
  readonly kind: string;
  readonly probes: number;
  readonly count: number;
  /** errors holds the reasons with at least one failure, in FAILURE_REASONS order. */
  readonly errors: Readonly<Partial<Record<ProbeFailureReason, number>>>;
  /** errorRatio is failed probes / probes; 0 when no probe ran. */
  readonly errorRatio: number;
  /** recorded is the number of values in the latency distribution (count + madeUpValues). */
  readonly recorded: number;
  /** latencyMs is absent when no probe succeeded. */
  readonly latencyMs?: LatencyStatsMs;
  readonly coordinatedOmission: { readonly lateProbes: number; readonly madeUpValues: number };
}

/** RunSummary is summary.json. */
export interface RunSummary {
  /** startedAt is the run's start, ISO 8601 UTC. */
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly targets: Readonly<Record<string, TargetSummary>>;
}

/** SUMMARY_PERCENTILES are the percentiles summary.json reports, as LatencyStatsMs keys. */
const SUMMARY_PERCENTILES = [
  [50, 'p50'],
  [90, 'p90'],
  [99, 'p99'],
  [99.9, 'p999'],
] as const;

/** summarizeTarget builds one target's summary. */
export function summarizeTarget(t: RunTarget): TargetSummary {
  const errors: Partial<Record<ProbeFailureReason, number>> = {};
  let failed = 0;
  for (const reason of FAILURE_REASONS) {
    const n = t.errors[reason] ?? 0;
    if (n > 0) errors[reason] = n;
    failed += n;
  }
  const h = t.histogram;
  const summary: TargetSummary = {
    kind: t.kind,
    probes: t.probes,
    count: t.count,
    errors,
    errorRatio: t.probes > 0 ? failed / t.probes : 0,
    recorded: h.totalCount,
    coordinatedOmission: { lateProbes: t.lateProbes ?? 0, madeUpValues: t.madeUpValues ?? 0 },
  };
  if (h.totalCount === 0) return summary;
  const [min, ...quantiles] = valuesAtPercentiles(h, [0, ...SUMMARY_PERCENTILES.map(([p]) => p)]);
  const latencyMs = {
    min: ms(min!),
    mean: ms(meanAndStdDeviation(h).mean),
    p50: 0,
    p90: 0,
    p99: 0,
    p999: 0,
    max: ms(h.maxValue),
  };
  SUMMARY_PERCENTILES.forEach(([, key], i) => {
    latencyMs[key] = ms(quantiles[i]!);
  });
  return { ...summary, latencyMs };
}

/** buildRunSummary builds summary.json's content for every target, in the order given. */
export function buildRunSummary(
  targets: readonly RunTarget[],
  startedAtMs: number,
  durationSeconds: number,
): RunSummary {
  const out: Record<string, TargetSummary> = {};
  for (const t of targets) out[t.name] = summarizeTarget(t);
  return { startedAt: new Date(startedAtMs).toISOString(), durationSeconds, targets: out };
}

/** ms turns µs into ms without binary noise (1234 µs is 1.234, not 1.2340000000000002). */
function ms(us: number): number {
  return Number((us / 1000).toFixed(6));
}
