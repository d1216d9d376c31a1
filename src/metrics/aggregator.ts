/**
 * Aggregator holds the cumulative per-target state in the background thread: fixed buckets and native
 * (exponential) buckets counted exactly, an HDR histogram (3 significant digits) for percentiles, error
 * counters by reason, up and app values, and when they started counting. It is fed ProbeBatchResults and
 * read once per publish; it does no I/O.
 */
import * as hdr from 'hdr-histogram-js';
import { FAILURE_REASONS, type ProbeFailureReason } from '../probes/probe.ts';
import type { ProbeTarget } from '../probes/registry.ts';
import { kOk, type ProbeBatchResult } from '../pool/messages.ts';
import {
  HDR_DEFAULT_DIGITS,
  type CertificateValidity,
  type HdrDigits,
  type LastError,
  type LatencySummary,
  type TargetSnapshot,
} from './model.ts';
import {
  NATIVE_DEFAULTS,
  NativeHistogram,
  validateNativeOptions,
  type NativeHistogramOptions,
} from './native-histogram.ts';

class TargetState {
  probes = 0;
  count = 0;
  sumUs = 0;
  up: 0 | 1 = 0;
  lastProbeMs = 0;
  app: Readonly<Record<string, number>> = {};
  lastError: LastError | undefined;
  /** certificate is the last certificate the target's server presented (ProbeBatchResult.certificate). */
  certificate: CertificateValidity | undefined;
  readonly errors: Float64Array;
  /** failures is the sum of errors; byReason is errors as an object, made when failures was byReasonAt. */
  failures = 0;
  private byReason: Record<ProbeFailureReason, number> | undefined;
  private byReasonAt = 0;
  /** perBucket[i] counts observations in (bound[i-1], bound[i]]; the last slot is (last bound, +Inf). */
  readonly perBucket: Float64Array;
  readonly boundsUs: Float64Array;
  /**
   * histogram counts in Uint16 first (~10 KB for latencies up to ~16 ms at 3 significant digits, half of
   * Uint32's; ~2 KB at 2), moves to Uint32 counts before one of its buckets would pass 65,535 (weeks at
   * 1 Hz for a spread of latencies, days for a very steady one), and to Float64 at widenAt.
   */
  histogram: hdr.JsHistogram;
  /** native counts the same latencies, in seconds, into exponential buckets. */
  readonly native: NativeHistogram;
  /** viewed is this target's object in Aggregator.view, set in place on each call. */
  viewed: MutableSnapshot | undefined;
  /** summary is `latency()`'s answer as of summaryCount observations. */
  private summary: LatencySummary | undefined;
  private summaryCount = 0;

  constructor(
    public target: ProbeTarget,
    native: NativeHistogramOptions,
    readonly createdMs: number,
    private readonly widenAt: number,
    private digits: HdrDigits,
  ) {
    this.histogram = newHistogram(hdr.Int16Histogram, digits);
    this.boundsUs = boundsInUs(target.buckets);
    // One buffer for both counts: at 10,000 targets each typed array's own buffer is ~200 bytes more.
    const counts = new Float64Array(target.buckets.length + 1 + FAILURE_REASONS.length);
    this.perBucket = counts.subarray(0, target.buckets.length + 1);
    this.errors = counts.subarray(target.buckets.length + 1);
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

    const value = Math.max(0, Math.round(latencyUs));
    if (this.count === this.widenAt) this.widen(hdr.Float64Histogram);
    else if (this.histogram instanceof hdr.Int16Histogram && this.countAt(value) >= UINT16_MAX)
      this.widen(hdr.Int32Histogram);
    this.histogram.recordValue(value);
  }

  /** countAt is the count of value's bucket (0 for a value past the counts, which recording grows). */
  private countAt(value: number): number {
    const index = this.histogram.countsArrayIndex(value);
    return index < this.histogram.countsArrayLength ? this.histogram.getCountAtIndex(index) : 0;
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

  /**
   * errorsByReason is the failure counts by reason. Failures are rare, so the object is made again only
   * after one was counted, not every publish.
   */
  errorsByReason(): Readonly<Record<ProbeFailureReason, number>> {
    if (this.byReason === undefined || this.byReasonAt !== this.failures) {
      const byReason = {} as Record<ProbeFailureReason, number>;
      FAILURE_REASONS.forEach((r, i) => {
        byReason[r] = this.errors[i]!;
      });
      this.byReason = byReason;
      this.byReasonAt = this.failures;
    }
    return this.byReason;
  }

  /** widen moves the HDR counts to wider ones before a bucket could wrap (a typed array wraps silently). */
  private widen(Counts: typeof hdr.Int32Histogram | typeof hdr.Float64Histogram): void {
    const wide = newHistogram(Counts, this.digits);
    wide.add(this.histogram);
    this.histogram = wide;
  }

  /**
   * setDigits re-records the HDR counts at another precision. Merged buckets can hold up to every
   * observation, so the new counts are the narrowest that hold the total, as widening would have chosen.
   */
  setDigits(digits: HdrDigits): void {
    if (digits === this.digits) return;
    const total = this.histogram.totalCount;
    const Counts =
      total >= this.widenAt ? hdr.Float64Histogram : total >= UINT16_MAX ? hdr.Int32Histogram : hdr.Int16Histogram;
    const next = newHistogram(Counts, digits);
    next.add(this.histogram);
    this.histogram = next;
    this.digits = digits;
    this.summaryCount = -1; // the summary is read again from the new counts
  }
}

/** usBounds are bucket bounds in µs, one array per distinct bounds array (targets share the config's). */
const usBounds = new WeakMap<readonly number[], Float64Array>();

function boundsInUs(seconds: readonly number[]): Float64Array {
  let us = usBounds.get(seconds);
  if (us === undefined) {
    us = Float64Array.from(seconds, (s) => s * 1e6);
    usBounds.set(seconds, us);
  }
  return us;
}

/**
 * UINT32_COUNT_LIMIT is the observation that could push one Int32Histogram bucket (Uint32 counts) past
 * 2^32 - 1: no bucket holds more than every observation. A day of a continuous target at 50k probes/s.
 */
const UINT32_COUNT_LIMIT = 2 ** 32;

/** UINT16_MAX is the most a Uint16 count holds. */
const UINT16_MAX = 0xffff;

/**
 * newHistogram builds a JS HDR histogram of `digits` significant digits that grows to the values it sees.
 * Typed-array counts, not the packed layout: ~70× faster to scan, which matters because a publish that
 * renders the JSON API or the status page scans every changed target's counts (see summarize).
 */
function newHistogram(
  Counts: typeof hdr.Int16Histogram | typeof hdr.Int32Histogram | typeof hdr.Float64Histogram,
  digits: HdrDigits,
): hdr.JsHistogram {
  const h = new Counts(1, 2, digits);
  h.autoResize = true;
  return h;
}

/** HistogramSettings are the config's settings of every target's native and HDR histograms. */
export interface HistogramSettings {
  /** native configures every target's native histogram (default NATIVE_DEFAULTS). */
  readonly native?: NativeHistogramOptions;
  /** hdrDigits is the HDR histograms' precision (default HDR_DEFAULT_DIGITS). */
  readonly hdrDigits?: HdrDigits;
}

/**
 * AggregatorOptions: the histogram settings and, for tests, the clock of created timestamps and the
 * observation count at which the HDR counts widen.
 */
export interface AggregatorOptions extends HistogramSettings {
  /** now returns Unix time in ms (default Date.now); it stamps when a target's state starts. */
  readonly now?: () => number;
  /** widenAt is the observation at which a target's HDR counts move to Float64 (default UINT32_COUNT_LIMIT). */
  readonly widenAt?: number;
}

/** Aggregator merges batch results into cumulative per-target state. */
export class Aggregator {
  private readonly states = new Map<string, TargetState>();
  private order: string[] = [];
  private native: NativeHistogramOptions;
  private hdrDigits: HdrDigits;
  private readonly now: () => number;
  private readonly widenAt: number;
  /** viewed is view()'s array, refilled on each call. */
  private readonly viewed: TargetSnapshot[] = [];

  constructor(options: AggregatorOptions = {}) {
    this.native = validateNativeOptions(options.native ?? NATIVE_DEFAULTS, 'native');
    this.hdrDigits = options.hdrDigits ?? HDR_DEFAULT_DIGITS;
    this.now = options.now ?? Date.now;
    this.widenAt = options.widenAt ?? UINT32_COUNT_LIMIT;
  }

  /**
   * setTargets installs the target list (and, when given, new histogram settings). A target whose
   * kind, buckets and native options are unchanged keeps its counters (a changed URL or interval is the
   * same series); a new or re-shaped target starts from zero with a new created timestamp, and a removed
   * one is dropped, so every family stays cumulative for as long as its series exists. A native schema
   * or zero threshold change cannot carry counts over (finer buckets cannot be split out of coarser
   * ones) and the classic and native buckets share one created timestamp, so it re-shapes the target.
   * A new HDR precision keeps every counter: each kept target's HDR counts are re-recorded (setDigits).
   */
  setTargets(targets: readonly ProbeTarget[], { native, hdrDigits }: HistogramSettings = {}): void {
    if (native !== undefined) this.native = validateNativeOptions(native, 'native');
    if (hdrDigits !== undefined) this.hdrDigits = hdrDigits;
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
        // A certificate belongs to the endpoint: a target that now points elsewhere (or speaks no TLS) reports
        // one again once it has seen one there.
        if (old.certificate !== undefined && JSON.stringify(old.target) !== JSON.stringify(target))
          old.certificate = undefined;
        old.target = target;
        old.setDigits(this.hdrDigits);
        next.set(target.name, old);
      } else {
        next.set(target.name, new TargetState(target, this.native, createdMs, this.widenAt, this.hdrDigits));
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
        state.failures++;
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
    if (result.certificate !== undefined) recordCertificates(states, result.certificate);
  }

  /**
   * histogram returns a target's cumulative HDR histogram of successful probe latencies in µs, or undefined
   * for a name that is not configured. It is the live histogram, for reading during a publish (HDR
   * exports, the status page): never record into it or keep it past the publish.
   */
  histogram(name: string): hdr.JsHistogram | undefined {
    return this.states.get(name)?.histogram;
  }

  /**
   * snapshot returns every configured target's state, in config order, in new objects; `latency` false
   * leaves out the HDR summaries (only JSON and the status page read them), `native` false the native
   * buckets (only protobuf).
   */
  snapshot({ latency = true, native = true }: SnapshotOptions = {}): TargetSnapshot[] {
    return this.order.map((name) => toSnapshot(this.states.get(name)!, latency, native, newSnapshot()));
  }

  /**
   * view is snapshot()'s answer in objects the aggregator keeps, one per target, set in place on each call:
   * the publisher's path. Copied anew every publish, 10,000 targets' snapshots are ~6 MB that live through
   * the publish, so the background thread's small young generation promotes them and the old generation
   * then collects them in long pauses (docs/benchmarks.md). What view returns is valid until the next view
   * or setTargets; record does not touch it.
   */
  view({ latency = true, native = true }: SnapshotOptions = {}): readonly TargetSnapshot[] {
    const view = this.viewed;
    view.length = this.order.length;
    for (let i = 0; i < this.order.length; i++) {
      const state = this.states.get(this.order[i]!)!;
      view[i] = toSnapshot(state, latency, native, (state.viewed ??= newSnapshot()));
    }
    return view;
  }
}

/** SnapshotOptions say which derived parts a snapshot carries (see Aggregator.snapshot). */
export interface SnapshotOptions {
  readonly latency?: boolean;
  readonly native?: boolean;
}

/** recordCertificates keeps each target's last reported certificate dates (NaN: none in this batch). */
function recordCertificates(states: readonly (TargetState | undefined)[], dates: Float64Array): void {
  for (let t = 0; t < states.length; t++) {
    const state = states[t];
    const notBefore = dates[t * 2]!;
    const notAfter = dates[t * 2 + 1]!;
    if (state === undefined || Number.isNaN(notAfter)) continue;
    const known = state.certificate;
    if (known?.notBeforeSeconds !== notBefore || known.notAfterSeconds !== notAfter)
      state.certificate = { notBeforeSeconds: notBefore, notAfterSeconds: notAfter };
  }
}

type MutableSnapshot = { -readonly [K in keyof TargetSnapshot]: TargetSnapshot[K] } & {
  bucketCounts: number[];
};

/** newSnapshot is an empty snapshot object of the one shape toSnapshot fills (every field present). */
function newSnapshot(): MutableSnapshot {
  return {
    target: undefined as unknown as ProbeTarget,
    name: '',
    kind: 'synthetic',
    probes: 0,
    count: 0,
    sumSeconds: 0,
    bucketCounts: [],
    errors: undefined as unknown as TargetSnapshot['errors'],
    up: 0,
    lastProbeMs: 0,
    app: {},
    createdSeconds: 0,
    latency: undefined,
    lastError: undefined,
    certificate: undefined,
    native: undefined,
  };
}

/**
 * toSnapshot sets `into` to a target's state, with its HDR summary and its native buckets when asked for
 * (undefined otherwise). It runs for every target every publish, so it writes fields in place, the
 * cumulative counts into the object's own array.
 */
function toSnapshot(s: TargetState, latency: boolean, native: boolean, into: MutableSnapshot): TargetSnapshot {
  const bucketCounts = into.bucketCounts;
  bucketCounts.length = s.boundsUs.length;
  let acc = 0;
  for (let i = 0; i < bucketCounts.length; i++) bucketCounts[i] = acc += s.perBucket[i]!;
  into.target = s.target;
  into.name = s.target.name;
  into.kind = s.target.kind;
  into.probes = s.probes;
  into.count = s.count;
  into.sumSeconds = s.sumUs / 1e6;
  into.errors = s.errorsByReason();
  into.up = s.up;
  into.lastProbeMs = s.lastProbeMs;
  into.app = s.app;
  into.createdSeconds = s.createdMs / 1000;
  into.latency = latency && s.count > 0 ? s.latency() : undefined;
  into.lastError = s.lastError;
  into.certificate = s.certificate;
  into.native = native ? s.native.buckets() : undefined;
  return into;
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
