/**
 * Reading and recording HDR histograms of latencies (µs) beyond what hdr-histogram-js offers in one call:
 * many percentiles in one scan of the counts (getValueAtPercentile scans once per percentile, and a
 * status page asks for a hundred per target), and recording with coordinated-omission correction that
 * says how many values it made up. Pure: no I/O.
 */
import type { HdrHistogram } from './export.ts';

/**
 * valuesAtPercentiles returns, for each percentile in [0, 100], the value getValueAtPercentile answers (the
 * highest value equivalent to the bucket holding that rank), clamped to the recorded [min, max]: HDR's
 * bucket top can lie above every recorded value by its 0.1% resolution, and a p99 above the max reads as
 * nonsense. Percentiles may come in any order; the counts are scanned once. An empty histogram gives 0s.
 */
export function valuesAtPercentiles(h: HdrHistogram, percentiles: readonly number[]): number[] {
  const out = new Array<number>(percentiles.length).fill(0);
  const total = h.totalCount;
  if (total === 0) return out;
  const max = h.maxValue;
  const min = h.getCountAtIndex(0) > 0 ? 0 : Math.min(h.minNonZeroValue, max);
  const order = percentiles.map((_, i) => i).sort((a, b) => percentiles[a]! - percentiles[b]!);
  const last = h.countsArrayIndex(max);
  let seen = 0;
  let q = 0;
  for (let i = 0; i <= last && q < order.length; i++) {
    seen += h.getCountAtIndex(i);
    while (q < order.length && seen >= rankOf(percentiles[order[q]!]!, total)) {
      const p = percentiles[order[q]!]!;
      out[order[q]!] = p <= 0 ? min : Math.max(min, Math.min(max, h.highestEquivalentValue(h.valueFromIndex(i))));
      q++;
    }
  }
  for (; q < order.length; q++) out[order[q]!] = max; // ranks past the last count (rounding at 100%)
  return out;
}

/** rankOf is the 1-based rank of percentile p among total values, rounded up as getValueAtPercentile does. */
function rankOf(p: number, total: number): number {
  const exact = (Math.min(p, 100) / 100) * total;
  return Math.max(Math.ceil(exact - exact * Number.EPSILON), 1);
}

/**
 * recordWithExpectedInterval records valueUs and, when it is at least twice expectedIntervalUs, the values
 * the probes that could not run meanwhile would have seen: valueUs - k·interval down to the interval
 * (HdrHistogram's recordValueWithExpectedInterval, which hdr-histogram-js has too). It returns how many
 * values it made up, floor(value / interval) - 1 or 0, which a run reports. An interval <= 0 (continuous
 * probing, nothing is expected) records the value alone.
 */
export function recordWithExpectedInterval(h: HdrHistogram, valueUs: number, expectedIntervalUs: number): number {
  const value = Math.max(0, Math.round(valueUs));
  const interval = Math.round(expectedIntervalUs);
  h.recordValueWithExpectedInterval(value, interval > 0 ? interval : 0);
  return interval > 0 && value >= interval ? Math.floor(value / interval) - 1 : 0;
}
