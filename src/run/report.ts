/**
 * report.html of a benchmark run (`probex run`): the status page's percentile plot with every target's
 * curve overlaid, a table of the summary (coordinated-omission counts included) and the SLO verdicts.
 * The same discipline as the status page: plain HTML, inline SVG, one <style> block, no script, no
 * external asset; a file has no response headers, so its Content-Security-Policy is a <meta> tag that
 * allows only that stylesheet, by hash. Pure: the caller writes the file.
 */
import { createHash } from 'node:crypto';
import type { HdrHistogram } from '../hdr/export.ts';
import { valuesAtPercentiles } from '../hdr/quantiles.ts';
import { esc, formatLatency, logTicks, PLOT_DECADES } from '../render/status-page.ts';
import type { SloResult } from './slo.ts';
import type { RunSummary } from './summary.ts';

const STEPS_PER_DECADE = 20;
const PERCENTILES: readonly number[] = Array.from(
  { length: PLOT_DECADES * STEPS_PER_DECADE + 1 },
  (_, i) => 100 * (1 - 10 ** (-i / STEPS_PER_DECADE)),
);
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
export const REPORT_CSS = `
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
`;

export const REPORT_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(REPORT_CSS).digest('base64')}'; img-src data:; base-uri 'none'; form-action 'none'`;

/** ReportInput is what a run knows at its end. */
export interface ReportInput {
  readonly summary: RunSummary;
  readonly histograms: ReadonlyMap<string, HdrHistogram>;
  readonly slos: readonly SloResult[];
}

/** renderReport renders report.html. */
export function renderReport({ summary, histograms, slos }: ReportInput): string {
  const names = Object.keys(summary.targets);
  const passed = slos.every((s) => s.ok);
  let html =
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    `<meta http-equiv="Content-Security-Policy" content="${esc(REPORT_CSP)}">\n` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>probex run · ${names.length} target${names.length === 1 ? '' : 's'} · ${summary.durationSeconds}s</title>\n` +
    `<link rel="icon" href="data:,">\n<style>${REPORT_CSS}</style>\n</head>\n<body>\n`;
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
  html += '<h2>Latency by percentile</h2>\n<div class="panel">' + overlay(names, histograms) + '</div>\n';
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

const W = 960;
const H = 420;
const M = { left: 64, right: 24, top: 16, bottom: 34 };
const X_TICKS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'];

/** overlay draws every target's percentile curve on one plot (1/(1-p) log axis, log latency) with a legend. */
function overlay(names: readonly string[], histograms: ReadonlyMap<string, HdrHistogram>): string {
  const curves = names.map((name) => {
    const h = histograms.get(name);
    return {
      name,
      values: h !== undefined && h.totalCount > 0 ? valuesAtPercentiles(h, PERCENTILES).map((v) => Math.max(1, v)) : [],
    };
  });
  const legendRows = Math.ceil(names.length / 4);
  const height = H + 12 + legendRows * 18;
  const x0 = M.left;
  const x1 = W - M.right;
  const y0 = H - M.bottom;
  const y1 = M.top;
  let svg = `<svg viewBox="0 0 ${W} ${height}" role="img" aria-label="Latency by percentile, every target"><title>Latency by percentile</title>`;
  X_TICKS.forEach((tick, i) => {
    const x = x0 + ((x1 - x0) * i) / PLOT_DECADES;
    svg += `<line class="gridline" x1="${r(x)}" y1="${y1}" x2="${r(x)}" y2="${y0}"/><text x="${r(x)}" y="${H - 14}" text-anchor="${i === 0 ? 'start' : 'middle'}">${tick}</text>`;
  });
  const all = curves.flatMap((c) => c.values);
  if (all.length === 0) {
    return `${svg}<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no successful probe</text></svg>`;
  }
  const { lo, hi, ticks } = logTicks(Math.min(...all), Math.max(...all));
  const yOf = (v: number): number => y0 - ((y0 - y1) * (Math.log10(Math.max(1, v)) - lo)) / (hi - lo);
  const xOf = (p: number): number =>
    x0 + ((x1 - x0) * Math.min(PLOT_DECADES, -Math.log10(Math.max(1 - p / 100, 10 ** -PLOT_DECADES)))) / PLOT_DECADES;
  for (const tick of ticks) {
    const y = yOf(tick.value);
    svg += `<line class="gridline" x1="${x0}" y1="${r(y)}" x2="${x1}" y2="${r(y)}"/><text x="${x0 - 6}" y="${r(y + 4)}" text-anchor="end">${tick.label}</text>`;
  }
  svg += `<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line class="axis" x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}"/>`;
  curves.forEach((c, i) => {
    if (c.values.length === 0) return;
    const d = c.values.map((v, j) => `${j === 0 ? 'M' : 'L'}${r(xOf(PERCENTILES[j]!))} ${r(yOf(v))}`).join('');
    svg += `<path class="curve c${i % PALETTE.length}" d="${d}"><title>${esc(c.name)}</title></path>`;
  });
  svg += '<g class="legend">';
  curves.forEach((c, i) => {
    const x = x0 + (i % 4) * ((x1 - x0) / 4);
    const y = H + 16 + Math.floor(i / 4) * 18; // below the percentile labels
    svg +=
      `<rect class="k${i % PALETTE.length}" x="${r(x)}" y="${y - 9}" width="14" height="4"/>` +
      `<text x="${r(x + 20)}" y="${y - 4}">${esc(c.name)}${c.values.length === 0 ? ' (no success)' : ''}</text>`;
  });
  return `${svg}</g></svg>`;
}

function r(v: number): string {
  return String(Math.round(v * 10) / 10);
}
