/**
 * Service-level objectives for `probex run --slo`: parsed once before the run (a typo fails at once, not
 * after a 10-minute benchmark), evaluated against the run's summary at the end. Pure.
 *
 * Grammar (whitespace around the parts is allowed; several objectives may share one flag, comma-separated):
 *   SLO    := TARGET ":" METRIC OP VALUE
 *   TARGET := a configured target name, or "*" for every target
 *   METRIC := "p" PERCENT   a latency percentile, 0 < PERCENT < 100: p50, p90, p99, p99.9, p99.99, p99.999
 *           | "min" | "mean" | "max"
 *           | "errors"      the error ratio: failed probes / all probes of the target
 *   OP     := "<" | "<="
 *   VALUE  := NUMBER UNIT   for latencies, UNIT one of us, µs, ms, s
 *           | NUMBER "%"    for errors
 * Examples: `redis:p99<5ms`, `mysql:p99.9<=20ms`, `*:errors<1%`, `redis:max<250ms`.
 *
 * An objective that has nothing to measure fails: a latency objective of a target with no successful
 * probe, an error objective of a target that never ran. A gate that passes on no data passes broken runs.
 * Latencies come from the run's HDR histograms (within 0.1%, coordinated-omission corrected).
 */
import { ExporterError } from '../errors.ts';
import type { LatencyStatsMs, RunSummary } from './summary.ts';
import { meanAndStdDeviation, type HdrHistogram } from '../hdr/export.ts';
import { valuesAtPercentiles } from '../hdr/quantiles.ts';
import { formatUs } from '../render/format.ts';

/** SloError: an --slo argument does not parse, or names a target the config does not have. */
export class SloError extends ExporterError {
  override name = 'SloError';
  override code = 'EXPORTER_SLO_INVALID';
}

/** SloMetric is what an objective measures. */
type SloMetric =
  | { readonly kind: 'percentile'; readonly percentile: number }
  | { readonly kind: 'min' | 'mean' | 'max' }
  | { readonly kind: 'errors' };

/** Slo is one parsed objective. */
export interface Slo {
  /** spec is the objective as written (trimmed), for reports. */
  readonly spec: string;
  /** target is a target name or `*`. */
  readonly target: string;
  readonly metric: SloMetric;
  readonly op: '<' | '<=';
  /** threshold is in µs for latency metrics, a ratio (0..1) for errors. */
  readonly threshold: number;
}

const SLO_RE = /^\s*([^:\s]+)\s*:\s*([a-z][a-z0-9.]*)\s*(<=|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|%)?\s*$/;
const UNIT_US: Readonly<Record<string, number>> = { us: 1, µs: 1, ms: 1000, s: 1_000_000 };

/** parseSlo parses one objective; it throws SloError naming what is wrong. */
export function parseSlo(text: string): Slo {
  const spec = text.trim();
  const m = SLO_RE.exec(text);
  if (m === null) {
    throw new SloError(
      `--slo ${JSON.stringify(spec)}: expected TARGET:METRIC<VALUE, e.g. "redis:p99<5ms" or "*:errors<1%"`,
    );
  }
  const [, target, name, op, number, unit] = m as unknown as [
    string,
    string,
    string,
    '<' | '<=',
    string,
    string | undefined,
  ];
  const metric = parseMetric(spec, name);
  const value = Number(number);
  if (metric.kind === 'errors') {
    if (unit !== '%')
      throw new SloError(`--slo ${JSON.stringify(spec)}: an error ratio is a percentage, e.g. errors<1%`);
    if (value > 100) throw new SloError(`--slo ${JSON.stringify(spec)}: an error ratio is at most 100%`);
    return { spec, target, metric, op, threshold: value / 100 };
  }
  if (unit === undefined || unit === '%') {
    throw new SloError(`--slo ${JSON.stringify(spec)}: a latency needs a unit: us, ms or s (e.g. ${name}<5ms)`);
  }
  return { spec, target, metric, op, threshold: value * UNIT_US[unit]! };
}

function parseMetric(spec: string, name: string): SloMetric {
  if (name === 'min' || name === 'mean' || name === 'max' || name === 'errors') return { kind: name };
  const m = /^p([0-9]+(?:\.[0-9]+)?)$/.exec(name);
  const percentile = m === null ? NaN : Number(m[1]);
  if (!(percentile > 0 && percentile < 100)) {
    throw new SloError(
      `--slo ${JSON.stringify(spec)}: unknown metric ${JSON.stringify(name)}; ` +
        'use a percentile between p0 and p100 (p50, p99, p99.9 ...), min, mean, max or errors',
    );
  }
  return { kind: 'percentile', percentile };
}

/**
 * parseSlos parses every --slo value (each may hold several objectives, comma-separated) and checks that
 * each names a configured target or `*`. It throws one SloError listing every problem.
 */
export function parseSlos(values: readonly string[], targetNames: readonly string[]): Slo[] {
  const known = new Set(targetNames);
  const slos: Slo[] = [];
  const problems: string[] = [];
  for (const part of values.flatMap((v) => v.split(','))) {
    try {
      const slo = parseSlo(part);
      if (slo.target !== '*' && !known.has(slo.target)) {
        problems.push(`--slo ${JSON.stringify(slo.spec)}: no target is named ${JSON.stringify(slo.target)}`);
      } else {
        slos.push(slo);
      }
    } catch (err) {
      if (!(err instanceof SloError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new SloError(problems.join('\n'));
  return slos;
}

/** SloResult is one objective checked against one target. */
export interface SloResult {
  readonly spec: string;
  readonly target: string;
  readonly ok: boolean;
  /** actual is the measured value (µs for latencies, a ratio for errors); undefined when there was none. */
  readonly actual: number | undefined;
  /** message says what was measured against what, e.g. `redis p99 3.21ms < 5ms: ok`. */
  readonly message: string;
}

/**
 * evaluateSlos checks every objective against the run. `histograms` gives each target's latency histogram
 * (percentiles other than the summary's come from it). A `*` objective gives one result per target.
 * The run passes when every result is ok.
 */
export function evaluateSlos(
  slos: readonly Slo[],
  summary: RunSummary,
  histograms: ReadonlyMap<string, HdrHistogram>,
): SloResult[] {
  const results: SloResult[] = [];
  for (const slo of slos) {
    const names = slo.target === '*' ? Object.keys(summary.targets) : [slo.target];
    for (const name of names) results.push(evaluateOne(slo, name, summary, histograms.get(name)));
  }
  return results;
}

function evaluateOne(slo: Slo, name: string, summary: RunSummary, h: HdrHistogram | undefined): SloResult {
  const t = summary.targets[name];
  const what = `${name} ${metricName(slo.metric)}`;
  const limit = `${slo.op} ${formatThreshold(slo)}`;
  const fail = (why: string): SloResult => ({
    spec: slo.spec,
    target: name,
    ok: false,
    actual: undefined,
    message: `${what} ${limit}: ${why}`,
  });
  if (t === undefined) return fail('the target is not in the run');
  let actual: number;
  if (slo.metric.kind === 'errors') {
    if (t.probes === 0) return fail('no probe ran');
    actual = t.errorRatio;
  } else {
    if (t.latencyMs === undefined) return fail('no successful probe');
    actual = latencyUs(slo.metric, t.latencyMs, h);
  }
  const ok = slo.op === '<' ? actual < slo.threshold : actual <= slo.threshold;
  const shown = slo.metric.kind === 'errors' ? formatPercent(actual) : formatUs(actual);
  return { spec: slo.spec, target: name, ok, actual, message: `${what} ${shown} ${limit}: ${ok ? 'ok' : 'MISSED'}` };
}

/**
 * latencyUs reads the metric from the target's histogram, as the summary does; without one, from the
 * summary's milliseconds (rounded back to the µs HDR records, so 1.234 ms compares as 1234 µs).
 */
function latencyUs(
  metric: Exclude<SloMetric, { kind: 'errors' }>,
  stats: LatencyStatsMs,
  h: HdrHistogram | undefined,
): number {
  if (h !== undefined && h.totalCount > 0) {
    if (metric.kind === 'mean') return meanAndStdDeviation(h).mean;
    const p = metric.kind === 'percentile' ? metric.percentile : metric.kind === 'min' ? 0 : 100;
    return valuesAtPercentiles(h, [p])[0]!;
  }
  const key =
    metric.kind !== 'percentile'
      ? metric.kind
      : ({ 50: 'p50', 90: 'p90', 99: 'p99', 99.9: 'p999' } as Record<number, keyof LatencyStatsMs | undefined>)[
          metric.percentile
        ];
  if (key === undefined) throw new SloError(`${metricName(metric)} needs the target's histogram`);
  return Number((stats[key] * 1000).toFixed(3));
}

/** metricName is how an objective names its metric: p99, min, mean, max or errors. */
export function metricName(metric: SloMetric): string {
  return metric.kind === 'percentile' ? `p${metric.percentile}` : metric.kind;
}

function formatThreshold(slo: Slo): string {
  return slo.metric.kind === 'errors' ? formatPercent(slo.threshold) : formatUs(slo.threshold);
}

function formatPercent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(4))}%`;
}
