/**
 * The latency plots of the status page and the run report, as inline SVG: the percentile plot (latency
 * against percentile, as HdrHistogram's plotter draws it, one curve per target, with optional marks,
 * latency objectives and a legend) and the status page's bar chart of the fixed buckets. Geometry goes in
 * presentation attributes and looks in classes, which each document's stylesheet colours. Every text that
 * comes from config or a probe is escaped here. Pure.
 */
import type { HdrHistogram } from '../hdr/export.ts';
import { valuesAtPercentiles } from '../hdr/quantiles.ts';
import { formatCount, formatLatency } from './format.ts';
import { esc } from './html.ts';

/** PLOT_DECADES is how far right the percentile axis goes: 1/(1-p) up to 10^5, which is 99.999%. */
export const PLOT_DECADES = 5;

/** PLOT_STEPS_PER_DECADE is the resolution of a percentile curve: points per decade of 1/(1-p). */
const PLOT_STEPS_PER_DECADE = 20;

/** PLOT_PERCENTILES are the plotted percentiles: 1 - 10^-x for x from 0 to PLOT_DECADES in even steps. */
const PLOT_PERCENTILES: readonly number[] = Array.from(
  { length: PLOT_DECADES * PLOT_STEPS_PER_DECADE + 1 },
  (_, i) => 100 * (1 - 10 ** (-i / PLOT_STEPS_PER_DECADE)),
);

const X_TICKS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'];

/** PlotPoint is one point of a percentile curve: the latency (µs) at a percentile. */
export interface PlotPoint {
  readonly percentile: number;
  readonly valueUs: number;
}

/**
 * percentileCurve reads the plotted percentiles from a histogram of latencies in µs, in one scan of its
 * counts; no points when there is no histogram or it is empty.
 */
export function percentileCurve(h: HdrHistogram | undefined): PlotPoint[] {
  if (h === undefined || h.totalCount === 0) return [];
  return valuesAtPercentiles(h, PLOT_PERCENTILES).map((valueUs, i) => ({ percentile: PLOT_PERCENTILES[i]!, valueUs }));
}

/** PlotFrame is a plot's viewBox and the margins around its axes (room for the tick labels). */
export interface PlotFrame {
  readonly width: number;
  readonly height: number;
  readonly margin: { readonly left: number; readonly right: number; readonly top: number; readonly bottom: number };
}

/** PercentilePlot is what percentilePlot draws. Texts are plain (percentilePlot escapes them). */
export interface PercentilePlot {
  readonly frame: PlotFrame;
  /** label names the plot for assistive technology; title is its tooltip. */
  readonly label: string;
  readonly title: string;
  readonly curves: ReadonlyArray<{
    readonly points: readonly PlotPoint[];
    /** className styles the curve: `curve`, and a colour class when there are several. */
    readonly className: string;
    readonly title: string;
    /** area shades the region under the curve. */
    readonly area?: boolean;
  }>;
  /** empty is the text shown when no curve has a point. */
  readonly empty: string;
  /** marks are dots on the curve, named above it (a single curve's p50, p99, ...). */
  readonly marks?: ReadonlyArray<{ readonly name: string; readonly percentile: number; readonly valueUs: number }>;
  readonly thresholds?: readonly LatencyThreshold[];
  /** legend, when set, adds rows of four entries below the plot, one colour swatch (className) and text each. */
  readonly legend?: ReadonlyArray<{ readonly className: string; readonly text: string }>;
}

/** LatencyThreshold is a latency objective as the plot draws it. */
export interface LatencyThreshold {
  /** spec is the objective as written. */
  readonly spec: string;
  /** percentile is where the objective applies on the x axis; undefined for mean and max (the whole width). */
  readonly percentile: number | undefined;
  readonly valueUs: number;
  readonly label: string;
  readonly missed: boolean;
}

/**
 * percentilePlot draws latency (log) against percentile on the 1/(1-p) log axis: x = log10(1/(1-p)), so
 * 90% is 1 decade, 99% two, up to 99.999% at PLOT_DECADES; y spans whole decades around the data and the
 * thresholds. A threshold is a dashed line at its latency, from the left edge to its percentile (where the
 * curve must pass below the dot), or across the plot when it has none; `missed` ones have their own class.
 */
export function percentilePlot(plot: PercentilePlot): string {
  const { frame, curves, marks = [], thresholds = [], legend } = plot;
  const { width: W, height: H, margin } = frame;
  const viewHeight = legend === undefined ? H : H + 12 + Math.ceil(legend.length / 4) * 18;
  const x0 = margin.left;
  const x1 = W - margin.right;
  const y0 = H - margin.bottom;
  const y1 = margin.top;
  const xOf = (p: number): number =>
    x0 + ((x1 - x0) * Math.min(PLOT_DECADES, -Math.log10(Math.max(1 - p / 100, 10 ** -PLOT_DECADES)))) / PLOT_DECADES;
  let svg = `<svg viewBox="0 0 ${W} ${viewHeight}" role="img" aria-label="${esc(plot.label)}"><title>${esc(plot.title)}</title>`;
  X_TICKS.forEach((tick, i) => {
    const x = x0 + ((x1 - x0) * i) / PLOT_DECADES;
    svg +=
      `<line class="gridline" x1="${r(x)}" y1="${y1}" x2="${r(x)}" y2="${y0}"/>` +
      `<text x="${r(x)}" y="${y0 + 20}" text-anchor="${i === 0 ? 'start' : 'middle'}">${tick}</text>`;
  });
  svg += `<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line class="axis" x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}"/>`;
  const values = curves.flatMap((c) => c.points.map((p) => Math.max(1, p.valueUs)));
  if (values.length === 0) {
    return `${svg}<text class="empty" x="${r((x0 + x1) / 2)}" y="${r((y0 + y1) / 2)}" text-anchor="middle">${esc(plot.empty)}</text></svg>`;
  }
  const levels = [...values, ...thresholds.map((m) => Math.max(1, m.valueUs))];
  const { lo, hi, ticks } = logTicks(Math.min(...levels), Math.max(...levels));
  const yOf = (v: number): number => y0 - ((y0 - y1) * (Math.log10(Math.max(1, v)) - lo)) / (hi - lo);
  for (const tick of ticks) {
    const y = yOf(tick.value);
    svg +=
      `<line class="gridline" x1="${x0}" y1="${r(y)}" x2="${x1}" y2="${r(y)}"/>` +
      `<text x="${x0 - 6}" y="${r(y + 4)}" text-anchor="end">${tick.label}</text>`;
  }
  for (const c of curves) {
    if (c.points.length === 0) continue;
    const path = c.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${r(xOf(p.percentile))} ${r(yOf(p.valueUs))}`).join('');
    if (c.area === true)
      svg += `<path class="area" d="${path}L${r(xOf(c.points.at(-1)!.percentile))} ${y0}L${x0} ${y0}Z"/>`;
    svg += `<path class="${c.className}" d="${path}"><title>${esc(c.title)}</title></path>`;
  }
  // Dots at the marked percentiles, named above the dot (the values are in the title).
  for (const { name, percentile, valueUs } of marks) {
    const x = xOf(percentile);
    const y = yOf(valueUs);
    const anchor = x - x0 < 22 ? 'start' : 'middle';
    svg +=
      `<circle class="mark" cx="${r(x)}" cy="${r(y)}" r="3.5"><title>${esc(name)} ${formatLatency(valueUs)}</title></circle>` +
      `<text class="marklabel" x="${r(anchor === 'start' ? x - 4 : x)}" y="${r(Math.max(y1 + 10, y - 8))}" text-anchor="${anchor}">${esc(name)}</text>`;
  }
  for (const m of thresholds) {
    const y = r(yOf(m.valueUs));
    const xEnd = m.percentile === undefined ? x1 : xOf(m.percentile);
    const cls = m.missed ? ' missed' : '';
    svg +=
      `<g class="slo-threshold" data-slo="${esc(m.spec)}" data-threshold-us="${m.valueUs}"${m.percentile === undefined ? '' : ` data-percentile="${m.percentile}"`}>` +
      `<line class="threshold${cls}" x1="${x0}" y1="${y}" x2="${r(Math.max(x0 + 1, xEnd))}" y2="${y}"/>` +
      (m.percentile === undefined ? '' : `<circle class="threshold-dot${cls}" cx="${r(xEnd)}" cy="${y}" r="4"/>`) +
      `<text class="threshold-label${cls}" x="${r(Math.min(Math.max(x0 + 4, xEnd - 4), x1 - 4))}" y="${r(Number(y) - 5)}" text-anchor="end">${esc(m.label)}${m.missed ? ' (missed)' : ''}</text>` +
      `<title>${esc(m.spec)}${m.missed ? ': missed' : ': met'}</title></g>`;
  }
  if (legend !== undefined) {
    svg += '<g class="legend">';
    legend.forEach((entry, i) => {
      const x = x0 + (i % 4) * ((x1 - x0) / 4);
      const y = H + 16 + Math.floor(i / 4) * 18; // below the percentile labels
      svg +=
        `<rect class="${entry.className}" x="${r(x)}" y="${y - 9}" width="14" height="4"/>` +
        `<text x="${r(x + 20)}" y="${y - 4}">${esc(entry.text)}</text>`;
    });
    svg += '</g>';
  }
  return `${svg}</svg>`;
}

/**
 * logTicks spans [min, max] (µs) with whole decades, at least one; it labels every decade, and 2 and 5
 * times it too when the span is two decades or less, so a narrow distribution still has a scale.
 */
export function logTicks(
  min: number,
  max: number,
): { lo: number; hi: number; ticks: Array<{ value: number; label: string }> } {
  let lo = Math.floor(Math.log10(Math.max(1, min)));
  let hi = Math.ceil(Math.log10(Math.max(1, max)));
  if (hi <= lo) hi = lo + 1;
  if (hi - lo === 1 && max >= 10 ** hi * 0.8) hi++;
  if (hi - lo === 1 && lo > 0 && min <= 10 ** lo * 1.25) lo--;
  const ticks: Array<{ value: number; label: string }> = [];
  const minor = hi - lo <= 2 ? [1, 2, 5] : [1];
  for (let d = lo; d <= hi; d++) {
    for (const m of minor) {
      const value = m * 10 ** d;
      if (value <= 10 ** hi) ticks.push({ value, label: formatLatency(value) });
    }
  }
  return { lo, hi, ticks };
}

const BUCKET_FRAME: PlotFrame = { width: 480, height: 128, margin: { left: 10, right: 10, top: 16, bottom: 22 } };

/**
 * bucketPlot draws a fixed histogram's non-cumulative counts as bars, labelled by upper bound (seconds);
 * +Inf is the last bar.
 */
export function bucketPlot(
  name: string,
  buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>,
): string {
  const { width: BW, height: BH, margin } = BUCKET_FRAME;
  const label = `Probes per fixed bucket for ${esc(name)}`;
  let svg = `<svg viewBox="0 0 ${BW} ${BH}" role="img" aria-label="${label}"><title>${label}</title>`;
  const x0 = margin.left;
  const x1 = BW - margin.right;
  const y0 = BH - margin.bottom;
  const y1 = margin.top;
  const n = buckets.length;
  const peak = Math.max(1, ...buckets.map((b) => b.count));
  const slot = (x1 - x0) / n;
  svg += `<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/>`;
  buckets.forEach((b, i) => {
    const x = x0 + i * slot;
    // A non-empty bucket gets at least 2 units of height, so a thin tail stays visible.
    const h = b.count === 0 ? 0 : Math.max(2, ((y0 - y1) * b.count) / peak);
    const bound = b.le === Infinity ? '+Inf' : formatLatency(b.le * 1e6);
    svg +=
      `<rect class="bar${b.le === Infinity ? ' inf' : ''}" x="${r(x + slot * 0.12)}" y="${r(y0 - h)}" width="${r(slot * 0.76)}" height="${r(h)}">` +
      `<title>≤ ${bound}: ${formatCount(b.count)}</title></rect>`;
    // With many buckets every other label is `minor` (hidden): side by side they would run into each other.
    const minor = n > 8 && i % 2 !== (n - 1) % 2;
    svg += `<text${minor ? ' class="minor"' : ''} x="${r(x + slot / 2)}" y="${BH - 6}" text-anchor="middle">${bound}</text>`;
  });
  const total = buckets.reduce((a, b) => a + b.count, 0);
  svg +=
    total === 0
      ? `<text class="empty" x="${BW / 2}" y="${r((y0 + y1) / 2)}" text-anchor="middle">no observations</text>`
      : `<text x="${x0}" y="${y1 - 4}">tallest bar ${formatCount(peak)}</text>`;
  return `${svg}</svg>`;
}

/** r rounds an SVG coordinate to 0.1 unit, which keeps the document small. */
function r(v: number): string {
  return String(Math.round(v * 10) / 10);
}
