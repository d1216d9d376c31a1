/**
 * Aggregator holds the cumulative per-target state in the background thread: fixed buckets and native
 * (exponential) buckets counted exactly, an HDR histogram (3 significant digits) for percentiles, error
 * counters by reason, up and app values, and when they started counting. It is fed ProbeBatchResults and
 * read once per publish; it does no I/O.
 */
import * as hdr from 'hdr-histogram-js';
import { FAILURE_REASONS, type ProbeFailureReason, type ProbeTarget } from '../probes/probe.ts';
import { kOk, type ProbeBatchResult } from '../pool/messages.ts';
import type { LastError, LatencySummary, TargetSnapshot } from './model.ts';
import {
  NATIVE_DEFAULTS,
  NativeHistogram,
  validateNativeOptions,
  type NativeHistogramOptions,
} from './native-histogram.ts';

/** HDR_SIGNIFICANT_DIGITS is the recording precision: values within 0.1% are indistinguishable. */
export const HDR_SIGNIFICANT_DIGITS = 3;

class TargetState {
  probes = 0;
  count = 0;
  sumUs = 0;
  up: 0 | 1 = 0;
  lastProbeMs = 0;
  app: Readonly<Record<string, number>> = {};
  lastError: LastError | undefined;
  readonly errors = new Float64Array(FAILURE_REASONS.length);
  /** perBucket[i] counts observations in (bound[i-1], bound[i]]; the last slot is (last bound, +Inf). */
  readonly perBucket: Float64Array;
  readonly boundsUs: Float64Array;
  histogram: hdr.JsHistogram = newHistogram(hdr.Int32Histogram);
  /** native counts the same latencies, in seconds, into exponential buckets. */
  readonly native: NativeHistogram;
  /** summary is `latency()`'s answer as of summaryCount observations. */
  private summary: LatencySummary | undefined;
  private summaryCount = 0;

  constructor(
    public target: ProbeTarget,
    native: NativeHistogramOptions,
    readonly createdMs: number,
  ) {
    this.boundsUs = Float64Array.from(target.buckets, (s) => s * 1e6);
    this.perBucket = new Float64Array(target.buckets.length + 1);
    this.native = new NativeHistogram(native);
  }

  observe(latencyUs: number): void {
    this.count++;
    this.sumUs += latencyUs;
    const bounds = this.boundsUs;
    let i = 0;
    while (i < bounds.length && latencyUs > bounds[i]!) i++;
    this.perBucket[i]!++;
    this.native.observe(latencyUs / 1e6); // the one µs → s conversion; the classic sum converts sumUs at read

    if (this.count === UINT32_COUNT_LIMIT) this.widen();
    this.histogram.recordValue(Math.max(0, Math.round(latencyUs)));
  }

  /**
   * latency is the HDR summary, undefined before the first success. It is recomputed only after new
   * observations: a target probed less often than the publish interval (or not at all, between reloads)
   * costs no scan of its counts.
   */
  latency(): LatencySummary | undefined {
    if (this.summaryCount !== this.count) {
      this.summary = summarize(this.histogram, this.sumUs, this.count);
      this.summaryCount = this.count;
    }
    return this.summary;
  }

  /** widen moves the HDR counts to Float64 before any Uint32 bucket could wrap (it would wrap silently). */
  private widen(): void {
    const wide = newHistogram(hdr.Float64Histogram);
    wide.add(this.histogram);
    this.histogram = wide;
  }
}

/**
 * UINT32_COUNT_LIMIT is the observation that could push one Int32Histogram bucket (Uint32 counts) past
 * 2^32 - 1: no bucket holds more than every observation. A day of a continuous target at 50k probes/s.
 */
const UINT32_COUNT_LIMIT = 2 ** 32;

/**
 * newHistogram builds a JS HDR histogram at HDR_SIGNIFICANT_DIGITS that grows to the values it sees.
 * Int32 counts: half of Float64's memory and ~70× faster to scan than the packed layout, which
 * matters because every publish scans every target's counts (see summarize).
 */
function newHistogram(Counts: typeof hdr.Int32Histogram | typeof hdr.Float64Histogram): hdr.JsHistogram {
  const h = new Counts(1, 2, HDR_SIGNIFICANT_DIGITS);
  h.autoResize = true;
  return h;
}

/** AggregatorOptions: the native histogram settings and, for tests, the clock of created timestamps. */
export interface AggregatorOptions {
  /** native configures every target's native histogram (default NATIVE_DEFAULTS). */
  readonly native?: NativeHistogramOptions;
  /** now returns Unix time in ms (default Date.now); it stamps when a target's state starts. */
  readonly now?: () => number;
}

/** Aggregator merges batch results into cumulative per-target state. */
export class Aggregator {
  private readonly states = new Map<string, TargetState>();
  private order: string[] = [];
  private native: NativeHistogramOptions;
  private readonly now: () => number;

  constructor(options: AggregatorOptions = {}) {
    this.native = validateNativeOptions(options.native ?? NATIVE_DEFAULTS, 'native');
    this.now = options.now ?? Date.now;
  }

  /**
   * setTargets installs the target list (and, when given, new native histogram options). A target whose
   * kind, buckets and native options are unchanged keeps its counters (a changed URL or interval is the
   * same series); a new or re-shaped target starts from zero with a new created timestamp, and a removed
   * one is dropped, so every family stays cumulative for as long as its series exists. A native schema
   * or zero threshold change cannot carry counts over (finer buckets cannot be split out of coarser
   * ones) and the classic and native buckets share one created timestamp, so it re-shapes the target.
   */
  setTargets(targets: readonly ProbeTarget[], native?: NativeHistogramOptions): void {
    if (native !== undefined) this.native = validateNativeOptions(native, 'native');
    const createdMs = this.now();
    const next = new Map<string, TargetState>();
    for (const target of targets) {
      const old = this.states.get(target.name);
      if (
        old !== undefined &&
        old.target.kind === target.kind &&
        sameBuckets(old.target.buckets, target.buckets) &&
        sameNative(old.native.options, this.native)
      ) {
        old.target = target;
        next.set(target.name, old);
      } else {
        next.set(target.name, new TargetState(target, this.native, createdMs));
      }
    }
    this.states.clear();
    for (const [name, state] of next) this.states.set(name, state);
    this.order = targets.map((t) => t.name);
  }

  /** record adds one batch. Runs of targets that are no longer configured are ignored. */
  record(names: readonly string[], result: ProbeBatchResult): void {
    const states = names.map((n) => this.states.get(n));
    for (let i = 0; i < result.target.length; i++) {
      const state = states[result.target[i]!];
      if (state === undefined) continue;
      state.probes++;
      const endedAt = result.endedAtMs[i]!;
      const reason = result.reason[i]!;
      if (reason === kOk) {
        state.observe(result.latencyUs[i]!);
      } else {
        state.errors[reason - 1]!++;
        if (endedAt >= (state.lastError?.atMs ?? 0)) {
          // The batch carries one message per target: its last failure's, which this run is when it ends last.
          state.lastError = {
            reason: FAILURE_REASONS[reason - 1]!,
            message: result.failure[result.target[i]!] ?? '',
            atMs: endedAt,
          };
        }
      }
      if (endedAt >= state.lastProbeMs) {
        state.lastProbeMs = endedAt;
        state.up = reason === kOk ? 1 : 0;
      }
    }
    result.app.forEach((app, t) => {
      const state = states[t];
      if (app !== null && state !== undefined) state.app = app;
    });
  }

  /**
   * histogram returns a target's cumulative HDR histogram of successful probe latencies in µs, or undefined
   * for a name that is not configured. It is the live histogram, for reading during a publish (HDR
   * exports, the status page): never record into it or keep it past the publish.
   */
  histogram(name: string): hdr.JsHistogram | undefined {
    return this.states.get(name)?.histogram;
  }

  /** snapshot returns every configured target's state, in config order. */
  snapshot(): TargetSnapshot[] {
    return this.order.map((name) => toSnapshot(this.states.get(name)!));
  }
}

function toSnapshot(s: TargetState): TargetSnapshot {
  const bucketCounts: number[] = [];
  let acc = 0;
  for (let i = 0; i < s.boundsUs.length; i++) bucketCounts.push((acc += s.perBucket[i]!));
  const errors = {} as Record<ProbeFailureReason, number>;
  FAILURE_REASONS.forEach((r, i) => {
    errors[r] = s.errors[i]!;
  });
  return {
    target: s.target,
    name: s.target.name,
    kind: s.target.kind,
    probes: s.probes,
    count: s.count,
    sumSeconds: s.sumUs / 1e6,
    bucketCounts,
    errors,
    up: s.up,
    lastProbeMs: s.lastProbeMs,
    ...(s.count > 0 ? { latency: s.latency() } : {}),
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    app: s.app,
    createdSeconds: s.createdMs / 1000,
    native: s.native.buckets(),
  };
}

/** QUANTILES are the JSON API's percentiles, ascending, as LatencySummary keys. */
const QUANTILES = [
  [50, 'p50'],
  [90, 'p90'],
  [99, 'p99'],
  [99.9, 'p999'],
] as const;

/**
 * summarize reads the JSON API's quantiles from HDR in one scan of the counts up to the max (hdr's
 * getValueAtPercentile scans once per quantile, and its mean walks an iterator; the exact mean comes from
 * the sum instead). A quantile is the highest value equivalent to its HDR bucket, as getValueAtPercentile
 * answers; that can lie above every recorded value (by HDR's 0.1% resolution), and a p99 above the max is
 * nonsense to a reader, so quantiles are clamped to [min, max], which stays within HDR's precision.
 */
function summarize(h: hdr.JsHistogram, sumUs: number, count: number): LatencySummary {
  const max = h.maxValue;
  const min = h.minNonZeroValue;
  const total = h.totalCount;
  const quantiles = { p50: 0, p90: 0, p99: 0, p999: 0 };
  const ranks = QUANTILES.map(([p]) => rankOf(p, total));
  const last = h.countsArrayIndex(max);
  let seen = 0;
  let q = 0;
  for (let i = 0; i <= last && q < QUANTILES.length; i++) {
    seen += h.getCountAtIndex(i);
    while (q < QUANTILES.length && seen >= ranks[q]!) {
      quantiles[QUANTILES[q]![1]] = Math.max(min, Math.min(max, h.highestEquivalentValue(h.valueFromIndex(i)))) / 1e6;
      q++;
    }
  }
  return { ...quantiles, max: max / 1e6, min: min / 1e6, mean: sumUs / count / 1e6 };
}

/** rankOf is the 1-based rank of percentile p among `total` values (getValueAtPercentile's rounding). */
function rankOf(p: number, total: number): number {
  const exact = (p / 100) * total;
  return Math.max(Math.ceil(exact - exact * Number.EPSILON), 1);
}

function sameBuckets(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameNative(a: NativeHistogramOptions, b: NativeHistogramOptions): boolean {
  return a.schema === b.schema && a.zeroThreshold === b.zeroThreshold && a.maxBuckets === b.maxBuckets;
}
