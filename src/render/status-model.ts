/**
 * The status page's model: from what the publisher holds (the aggregator's TargetSnapshots and HDR
 * histograms, and a RateWindow's probe rates) to a StatusPageModel of plain numbers and strings, which
 * renderStatusPage turns into the document. Rendered once per publish like every other body. Pure: no I/O.
 */
import { FAILURE_REASONS } from '../probes/probe.ts';
import { HDR_DEFAULT_DIGITS, type HdrDigits, type ShardStats, type TargetSnapshot } from '../metrics/model.ts';
import type { HdrHistogram } from '../hdr/export.ts';
import { percentileCurve, type PlotPoint } from './plot.ts';

/** MAX_PLOTS is how many targets get plots by default: the page of 10,000 targets stays a few MB. */
export const MAX_PLOTS = 100;

/** StatusTarget is one target's row and plots, in display units already chosen. */
export interface StatusTarget {
  readonly name: string;
  readonly kind: string;
  readonly up: boolean;
  /** probes is the number of probe runs recorded; 0 means never probed (up is then false). */
  readonly probes: number;
  /** count is the number of successful probes (the latency distribution's size). */
  readonly count: number;
  /** lastProbeAgeSeconds is how long ago the last probe ended; undefined when never probed. */
  readonly lastProbeAgeSeconds?: number;
  /** probesPerSecond over about the last minute; undefined until there is enough history. */
  readonly probesPerSecond?: number;
  /** latencyUs holds HDR statistics in µs; undefined until the first success. */
  readonly latencyUs?: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
  /** errors lists the reasons with failures, in FAILURE_REASONS order. */
  readonly errors: ReadonlyArray<{ readonly reason: string; readonly count: number }>;
  /** lastError is the most recent failure; its message is shown as is (escaped), so it must hold no secret. */
  readonly lastError?: { readonly reason: string; readonly message: string; readonly ageSeconds: number };
  /**
   * distribution is the percentile curve: latency (µs) at percentiles spaced evenly on the 1/(1-p) log
   * axis from 0 to 99.999%. Empty when the target has no success or is past the plot limit.
   */
  readonly distribution: readonly PlotPoint[];
  /** buckets are the fixed histogram's non-cumulative counts; the last has `le: Infinity`. Empty past the plot limit. */
  readonly buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>;
}

/** StatusPageModel is everything the page shows. */
export interface StatusPageModel {
  readonly generatedAtMs: number;
  readonly version?: string;
  readonly generation?: number;
  /** refreshSeconds, when set, makes the browser reload the page that often (a meta refresh, no script). */
  readonly refreshSeconds?: number;
  readonly targets: readonly StatusTarget[];
  /** unplotted is the number of targets past the plot limit (they have rows, not plots). */
  readonly unplotted: number;
  /** shard, when sharded: this replica's shard and the targets the other shards probe. */
  readonly shard?: ShardStats;
  /** hdrDigits is the HDR histograms' precision, which the page states. */
  readonly hdrDigits: HdrDigits;
}

/** StatusModelInput is what the publisher holds at publish time. */
export interface StatusModelInput {
  /** targets are the aggregator's snapshots, in config order. */
  readonly targets: readonly TargetSnapshot[];
  /** histogram returns a target's HDR histogram of successful latencies in µs (Aggregator.histogram). */
  readonly histogram: (name: string) => HdrHistogram | undefined;
  readonly nowMs: number;
  /** rates are probes per second by target name (RateWindow.update). */
  readonly rates?: ReadonlyMap<string, number>;
  readonly version?: string;
  readonly generation?: number;
  readonly refreshSeconds?: number;
  /** maxPlots bounds how many targets get plots (default MAX_PLOTS); the rest get rows only. */
  readonly maxPlots?: number;
  readonly shard?: ShardStats;
  /** hdrDigits is the HDR histograms' precision (default HDR_DEFAULT_DIGITS). */
  readonly hdrDigits?: HdrDigits;
}

/**
 * statusModel builds the page's model. The row statistics come from the snapshot (the aggregator's HDR
 * summary, computed anyway); only plotted targets cost a scan of their HDR counts, for the curve.
 */
export function statusModel(input: StatusModelInput): StatusPageModel {
  const maxPlots = input.maxPlots ?? MAX_PLOTS;
  const targets = input.targets.map((t, i): StatusTarget => {
    const plotted = i < maxPlots;
    const distribution = plotted && t.count > 0 ? percentileCurve(input.histogram(t.name)) : [];
    const errors = FAILURE_REASONS.filter((r) => t.errors[r] > 0).map((reason) => ({
      reason,
      count: t.errors[reason],
    }));
    const rate = input.rates?.get(t.name);
    const l = t.latency;
    return {
      name: t.name,
      kind: t.kind,
      up: t.up === 1,
      probes: t.probes,
      count: t.count,
      ...(t.lastProbeMs > 0 ? { lastProbeAgeSeconds: Math.max(0, (input.nowMs - t.lastProbeMs) / 1000) } : {}),
      ...(rate !== undefined ? { probesPerSecond: rate } : {}),
      ...(l !== undefined
        ? { latencyUs: { p50: l.p50 * 1e6, p90: l.p90 * 1e6, p99: l.p99 * 1e6, p999: l.p999 * 1e6, max: l.max * 1e6 } }
        : {}),
      errors,
      ...(t.lastError !== undefined
        ? {
            lastError: {
              reason: t.lastError.reason,
              message: t.lastError.message,
              ageSeconds: Math.max(0, (input.nowMs - t.lastError.atMs) / 1000),
            },
          }
        : {}),
      distribution,
      buckets: plotted ? nonCumulative(t) : [],
    };
  });
  return {
    generatedAtMs: input.nowMs,
    ...(input.version !== undefined ? { version: input.version } : {}),
    ...(input.generation !== undefined ? { generation: input.generation } : {}),
    ...(input.refreshSeconds !== undefined ? { refreshSeconds: input.refreshSeconds } : {}),
    targets,
    unplotted: Math.max(0, input.targets.length - maxPlots),
    ...(input.shard !== undefined ? { shard: input.shard } : {}),
    hdrDigits: input.hdrDigits ?? HDR_DEFAULT_DIGITS,
  };
}

function nonCumulative(t: TargetSnapshot): Array<{ le: number; count: number }> {
  const out: Array<{ le: number; count: number }> = [];
  let prev = 0;
  t.target.buckets.forEach((le, i) => {
    const cum = t.bucketCounts[i] ?? prev;
    out.push({ le, count: cum - prev });
    prev = cum;
  });
  out.push({ le: Infinity, count: t.count - prev });
  return out;
}
