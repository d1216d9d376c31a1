/**
 * report.html of a benchmark run (`probex run`): the status page's percentile plot with every target's
 * curve overlaid, a table of the summary (coordinated-omission counts included) and the SLO verdicts.
 * The same discipline as the status page: plain HTML, inline SVG, one <style> block, no script, no
 * external asset; a file has no response headers, so its Content-Security-Policy is a <meta> tag that
 * allows only that stylesheet, by hash. Pure: the caller writes the file.
 */
import type { HdrHistogram } from '../hdr/export.ts';
import { formatLatency, formatUs } from '../render/format.ts';
import { documentStart, esc, stylesheetCsp } from '../render/html.ts';
import { percentileCurve, percentilePlot, type LatencyThreshold, type PlotFrame } from '../render/plot.ts';
import { metricName, type Slo, type SloResult } from './slo.ts';
import type { RunSummary } from './summary.ts';

/** PALETTE holds the curve colours, one class each (c0, c1, ...), reused past its length. */
const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
];

/** REPORT_CSS is the report's only stylesheet; REPORT_CSP allows it by hash and nothing else. */
const REPORT_CSS = `
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bad:#b91c1c;--ok:#15803d;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;padding:16px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f9fafb}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}
.meta{color:var(--muted);margin:0}
.panel{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th.l,td.l{text-align:left}
ul.slo{list-style:none;padding:0;margin:0}
ul.slo li{padding:4px 0}
.ok{color:var(--ok);font-weight:600}.missed{color:var(--bad);font-weight:600}
svg{width:100%;height:auto;max-width:960px;display:block}
svg text{font-size:11px;fill:var(--muted)}
.gridline{stroke:var(--line);stroke-width:1}
.axis{stroke:#9ca3af;stroke-width:1}
.curve{fill:none;stroke-width:2}
${PALETTE.map((c, i) => `.c${i}{stroke:${c}}.k${i}{fill:${c}}`).join('\n')}
.legend text{font-size:12px;fill:var(--fg)}
.threshold{stroke:var(--ok);stroke-width:1.5;stroke-dasharray:6 4;fill:none}
.threshold.missed{stroke:var(--bad)}
.threshold-dot{fill:#fff;stroke:var(--ok);stroke-width:2}
.threshold-dot.missed{stroke:var(--bad)}
svg text.threshold-label{fill:var(--ok);font-weight:600}
svg text.threshold-label.missed{fill:var(--bad)}
`;

const REPORT_CSP = stylesheetCsp(REPORT_CSS, 'meta');

/** ReportInput is what a run knows at its end. */
export interface ReportInput {
  readonly summary: RunSummary;
  readonly histograms: ReadonlyMap<string, HdrHistogram>;
  readonly slos: readonly SloResult[];
  /** objectives are the parsed --slo objectives, whose latency thresholds the plot draws. */
  readonly objectives?: readonly Slo[];
}

/** renderReport renders report.html. */
export function renderReport({ summary, histograms, slos, objectives = [] }: ReportInput): string {
  const names = Object.keys(summary.targets);
  const passed = slos.every((s) => s.ok);
  let html = documentStart({
    title: `probex run · ${names.length} target${names.length === 1 ? '' : 's'} · ${summary.durationSeconds}s`,
    css: REPORT_CSS,
    csp: REPORT_CSP,
  });
  html +=
    `<h1>probex run</h1><p class="meta">started ${esc(summary.startedAt)} · ${summary.durationSeconds}s` +
    (slos.length > 0 ? ` · SLOs <span class="${passed ? 'ok' : 'missed'}">${passed ? 'met' : 'MISSED'}</span>` : '') +
    '</p>\n';
  if (slos.length > 0) {
    html +=
      '<h2>Objectives</h2>\n<div class="panel"><ul class="slo">' +
      slos.map((s) => `<li class="${s.ok ? 'ok' : 'missed'}">${esc(s.message)}</li>`).join('') +
      '</ul></div>\n';
  }
  html +=
    '<h2>Latency by percentile</h2>\n<div class="panel">' +
    overlay(names, histograms, thresholds(objectives, slos)) +
    '</div>\n';
  html +=
    '<h2>Summary</h2>\n<div class="panel"><table><thead><tr><th class="l">Target</th><th class="l">Kind</th>' +
    '<th>Probes</th><th>OK</th><th>Errors</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>' +
    '<th>Late probes</th><th>Corrected values</th></tr></thead><tbody>\n';
  for (const name of names) {
    const t = summary.targets[name]!;
    const l = t.latencyMs;
    const lat = (ms: number | undefined): string => (ms === undefined ? '–' : formatLatency(ms * 1000));
    const errors =
      Object.entries(t.errors)
        .map(([r, n]) => `${esc(r)} ${n}`)
        .join(', ') || '0';
    html +=
      `<tr><td class="l">${esc(name)}</td><td class="l">${esc(t.kind)}</td><td>${t.probes}</td><td>${t.count}</td><td>${errors}</td>` +
      `<td>${lat(l?.min)}</td><td>${lat(l?.mean)}</td><td>${lat(l?.p50)}</td><td>${lat(l?.p90)}</td><td>${lat(l?.p99)}</td>` +
      `<td>${lat(l?.p999)}</td><td>${lat(l?.max)}</td><td>${t.coordinatedOmission.lateProbes}</td><td>${t.coordinatedOmission.madeUpValues}</td></tr>\n`;
  }
  html +=
    '</tbody></table></div>\n<p class="meta">Latencies of successful probes from HDR histograms (3 significant digits), ' +
    'corrected for coordinated omission: a probe that started late is counted from when it was due, and one that took two ' +
    'intervals or more adds the values the probes it held up would have seen (Corrected values).</p>\n</body>\n</html>\n';
  return html;
}

/** OVERLAY_FRAME is the geometry of the plot of every target's curve (the legend goes below it). */
const OVERLAY_FRAME: PlotFrame = { width: 960, height: 420, margin: { left: 64, right: 24, top: 16, bottom: 34 } };

/** thresholds are the latency objectives to draw (error ratios have no place on a latency plot). */
function thresholds(objectives: readonly Slo[], results: readonly SloResult[]): LatencyThreshold[] {
  const out: LatencyThreshold[] = [];
  for (const slo of objectives) {
    if (slo.metric.kind === 'errors') continue;
    out.push({
      spec: slo.spec,
      percentile: slo.metric.kind === 'percentile' ? slo.metric.percentile : slo.metric.kind === 'min' ? 0 : undefined,
      valueUs: slo.threshold,
      label: `${slo.target === '*' ? 'every target' : slo.target} ${metricName(slo.metric)} ${slo.op} ${formatUs(slo.threshold)}`,
      missed: results.some((r) => r.spec === slo.spec && !r.ok),
    });
  }
  return out;
}

/**
 * overlay draws every target's percentile curve on one plot, one colour each, with a legend, and each
 * latency objective; red when it was missed.
 */
function overlay(
  names: readonly string[],
  histograms: ReadonlyMap<string, HdrHistogram>,
  marks: readonly LatencyThreshold[],
): string {
  const curves = names.map((name) => ({ name, points: percentileCurve(histograms.get(name)) }));
  return percentilePlot({
    frame: OVERLAY_FRAME,
    label: 'Latency by percentile, every target',
    title: 'Latency by percentile',
    curves: curves.map((c, i) => ({ points: c.points, className: `curve c${i % PALETTE.length}`, title: c.name })),
    empty: 'no successful probe',
    thresholds: marks,
    legend: curves.map((c, i) => ({
      className: `k${i % PALETTE.length}`,
      text: `${c.name}${c.points.length === 0 ? ' (no success)' : ''}`,
    })),
  });
}
