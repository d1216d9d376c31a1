/**
 * The status page (`GET /`): one HTML document for people on call, as blackbox_exporter's root page is,
 * with each target's latency distribution drawn as HdrHistogram's plotter draws it. Rendered once per
 * publish like every other body; the front end only sends it, with STATUS_PAGE_CSP. Pure: no I/O.
 *
 * Two steps, so each is tested on literals:
 * - statusModel: from what the publisher holds (the aggregator's TargetSnapshots and HDR histograms, and
 *   a RateWindow's probe rates) to a StatusPageModel of plain numbers and strings;
 * - renderStatusPage: from the model to the document.
 *
 * The document is plain HTML, inline SVG and one <style> block: no script, no external asset, no style
 * attribute. So the Content-Security-Policy can forbid everything but that one stylesheet, by hash
 * (`default-src 'none'; style-src 'sha256-...'`); SVG geometry and colours go in presentation attributes
 * and classes, which CSP does not govern. Every text that comes from config or a probe is escaped.
 */
import { createHash } from 'node:crypto';
import { FAILURE_REASONS } from '../probes/probe.ts';
import type { TargetSnapshot } from '../metrics/model.ts';
import type { HdrHistogram } from '../hdr/export.ts';
import { valuesAtPercentiles } from '../hdr/quantiles.ts';

/** STATUS_PAGE_CONTENT_TYPE is the content type of the status page. */
export const STATUS_PAGE_CONTENT_TYPE = 'text/html; charset=utf-8';

/** MAX_PLOTS is how many targets get plots by default: the page of 10,000 targets stays a few MB. */
export const MAX_PLOTS = 100;

/** PLOT_DECADES is how far right the percentile axis goes: 1/(1-p) up to 10^5, which is 99.999%. */
export const PLOT_DECADES = 5;

/** PLOT_STEPS_PER_DECADE is the resolution of a percentile curve: points per decade of 1/(1-p). */
const PLOT_STEPS_PER_DECADE = 20;

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
  readonly distribution: ReadonlyArray<{ readonly percentile: number; readonly valueUs: number }>;
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
}

/** CURVE_PERCENTILES are the plotted percentiles: 1 - 10^-x for x from 0 to PLOT_DECADES in even steps. */
const CURVE_PERCENTILES: readonly number[] = Array.from(
  { length: PLOT_DECADES * PLOT_STEPS_PER_DECADE + 1 },
  (_, i) => 100 * (1 - 10 ** (-i / PLOT_STEPS_PER_DECADE)),
);

/**
 * statusModel builds the page's model. The row statistics come from the snapshot (the aggregator's HDR
 * summary, computed anyway); only plotted targets cost a scan of their HDR counts, for the curve.
 */
export function statusModel(input: StatusModelInput): StatusPageModel {
  const maxPlots = input.maxPlots ?? MAX_PLOTS;
  const targets = input.targets.map((t, i): StatusTarget => {
    const plotted = i < maxPlots;
    const h = plotted && t.count > 0 ? input.histogram(t.name) : undefined;
    const curve = h !== undefined && h.totalCount > 0 ? valuesAtPercentiles(h, CURVE_PERCENTILES) : [];
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
      distribution: curve.map((valueUs, j) => ({ percentile: CURVE_PERCENTILES[j]!, valueUs })),
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

// ---------------------------------------------------------------------------------------------------
// The document

/**
 * STATUS_PAGE_CSS is the page's only stylesheet. It is constant, so its hash, and with it the CSP, is
 * computed once. Colours are custom properties with a dark variant; SVG parts are styled by class.
 * Below 900px the table turns into one card per target (label: value pairs from data-label).
 */
export const STATUS_PAGE_CSS = `
:root{color-scheme:light dark;--bg:#f5f6f8;--fg:#17202a;--muted:#5b6673;--card:#fff;--line:#dde2e8;--grid:#e9ecf0;
--accent:#2563eb;--accent2:#93b4f5;--ok:#137333;--okbg:#e6f4ea;--bad:#b3261e;--badbg:#fce8e6;--bar:#5b8def;--warn:#8a5a00}
@media (prefers-color-scheme:dark){:root{--bg:#0e1217;--fg:#e3e7ec;--muted:#98a3af;--card:#161c23;--line:#2a323c;--grid:#212831;
--accent:#6ea0ff;--accent2:#34507f;--ok:#6dd58c;--okbg:#173323;--bad:#ff8a80;--badbg:#3b1c1a;--bar:#4a7bd8;--warn:#f0b34a}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif}
header,main,footer{max-width:1440px;margin:0 auto;padding:0 16px}
header{padding-top:16px;display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px}
h1{font-size:22px;margin:0;letter-spacing:-.01em}
h2{font-size:16px;margin:24px 0 10px}
h3{font-size:15px;margin:0;overflow-wrap:anywhere}
a{color:var(--accent)}
.meta,.note,figcaption,.sub{color:var(--muted)}
.meta{margin:0;font-size:13px}
.tally{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0 0;padding:0;list-style:none}
.tally li{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px 12px}
.tally b{font-size:18px;margin-right:4px}
.tally .bad b{color:var(--bad)}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px}
.tablewrap{overflow-x:auto}
table{width:100%;border-collapse:collapse}
th,td{padding:7px 10px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:top}
th{font-size:12px;font-weight:600;color:var(--muted);background:var(--bg)}
th.l,td.l{text-align:left}
td.num{font-variant-numeric:tabular-nums}
td.errs{white-space:normal;text-align:left;min-width:9em}
td.name{white-space:normal;overflow-wrap:anywhere;min-width:8em;font-weight:600}
tr.row.down td,tr.row.down + tr.detail td{background:var(--badbg)}
tr.detail td{white-space:normal;text-align:left;font-size:13px;color:var(--muted);overflow-wrap:anywhere;padding-top:0}
tr.row:has(+ tr.detail) td{border-bottom:none}
tr.detail code{color:var(--fg);font-size:12px}
.badge{display:inline-block;min-width:3.4em;text-align:center;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:700}
.badge.up{color:var(--ok);background:var(--okbg)}
.badge.down{color:var(--bad);background:var(--badbg);border:1px solid var(--bad)}
.badge.new{color:var(--muted);background:var(--bg);border:1px solid var(--line)}
.err{display:inline-block;margin:0 6px 2px 0;padding:0 6px;border-radius:4px;background:var(--badbg);color:var(--bad);font-size:12px;font-weight:600}
.none{color:var(--muted)}
.plots{display:grid;gap:14px;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr))}
.card{padding:12px 14px 10px}
.card header{padding:0;margin:0 0 6px;align-items:center;gap:4px 10px}
.card .sub{margin-left:auto}
.card .sub{font-size:12px}
figure{margin:8px 0 0}
figcaption{font-size:12px;margin-top:2px}
svg{display:block;width:100%;height:auto}
svg text{fill:var(--muted);font-size:11px;font-variant-numeric:tabular-nums}
svg .gridline{stroke:var(--grid);stroke-width:1}
svg .axis{stroke:var(--line);stroke-width:1}
svg .curve{fill:none;stroke:var(--accent);stroke-width:2.2;stroke-linejoin:round}
svg .area{fill:var(--accent2);opacity:.35}
svg .mark{fill:var(--card);stroke:var(--accent);stroke-width:1.8}
svg .marklabel{fill:var(--fg);font-size:10.5px;font-weight:600;paint-order:stroke;stroke:var(--card);stroke-width:3px;stroke-linejoin:round}
svg .bar{fill:var(--bar)}
svg .bar.inf{fill:var(--warn)}
svg .empty{font-size:14px}
svg text.minor{display:none}
footer{padding:18px 16px 28px;font-size:12px;color:var(--muted)}
@media (max-width:900px){
 header,main,footer{padding-left:10px;padding-right:10px}
 .tablewrap{background:none;border:none;overflow:visible}
 table,tbody,tr,td{display:block;width:100%}
 thead{display:none}
 tr.row{display:grid;grid-template-columns:1fr 1fr;gap:2px 16px;padding:10px 12px;margin-top:10px;background:var(--card);border:1px solid var(--line);border-radius:10px 10px 0 0}
 tr.row.down{border-color:var(--bad)}
 tr.row.down td,tr.row.down + tr.detail td{background:none}
 tr.row:not(:has(+ tr.detail)){border-radius:10px}
 td{display:flex;justify-content:space-between;gap:8px;border:none;padding:2px 0;min-width:0}
 td::before{content:attr(data-label);color:var(--muted);font-size:12px}
 td.name{grid-column:1/-1;font-size:16px;font-weight:600;justify-content:flex-start;align-items:center;gap:10px}
 td.name::before,td.kind::before{content:none}
 td.kind{display:none}
 td.errs{grid-column:1/-1;display:block}
 td.errs::before{display:block}
 tr.detail{display:block;padding:4px 12px 10px;background:var(--card);border:1px solid var(--line);border-top:none;border-radius:0 0 10px 10px}
 tr.row.down + tr.detail{border-color:var(--bad)}
 tr.detail td{padding:0;display:block}
 svg text{font-size:15px}
 svg .empty{font-size:17px}
 svg .marklabel{font-size:14px}
}
`.trim();

/** STATUS_PAGE_CSP is the Content-Security-Policy to send with the page: nothing loads but its own <style>. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STATUS_PAGE_CSS).digest('base64')}'`,
  // The icon link points at an empty data: URL so the browser does not fetch /favicon.ico.
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** renderStatusPage renders the model to one HTML document. */
export function renderStatusPage(model: StatusPageModel): string {
  const down = model.targets.filter((t) => t.probes > 0 && !t.up).length;
  const pending = model.targets.filter((t) => t.probes === 0).length;
  const up = model.targets.length - down - pending;
  const generated = new Date(model.generatedAtMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const title = `probex · ${model.targets.length} target${model.targets.length === 1 ? '' : 's'}${down > 0 ? ` · ${down} down` : ''}`;
  const meta = [`generated ${generated}`];
  if (model.generation !== undefined) meta.push(`snapshot ${model.generation}`);
  if (model.version !== undefined) meta.push(`probex ${esc(model.version)}`);

  let html =
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    (model.refreshSeconds !== undefined
      ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(model.refreshSeconds))}">\n`
      : '') +
    `<title>${esc(title)}</title>\n<link rel="icon" href="data:,">\n<style>${STATUS_PAGE_CSS}</style>\n</head>\n<body>\n`;
  html += `<header><h1>probex</h1><p class="meta">${meta.join(' · ')}</p></header>\n<main>\n`;
  html +=
    '<ul class="tally">' +
    `<li><b>${model.targets.length}</b>targets</li><li><b>${up}</b>up</li>` +
    `<li class="${down > 0 ? 'bad' : ''}"><b>${down}</b>down</li>` +
    (pending > 0 ? `<li><b>${pending}</b>new</li>` : '') +
    '</ul>\n';
  html +=
    '<h2>Targets</h2>\n<div class="panel tablewrap"><table>\n<thead><tr>' +
    '<th class="l">Target</th><th class="l">Kind</th><th class="l">State</th><th>Last probe</th><th>Probes/s</th>' +
    '<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>Max</th><th class="l">Errors</th></tr></thead>\n<tbody>\n';
  for (const t of model.targets)
    html += row(t, model.unplotted > 0 && t.distribution.length === 0 && t.buckets.length === 0);
  html += '</tbody></table></div>\n';

  const plotted = model.targets.filter((t) => t.buckets.length > 0);
  if (plotted.length > 0) {
    html += '<h2>Latency distributions</h2>\n<div class="plots">\n';
    for (const t of plotted) html += card(t);
    html += '</div>\n';
  }
  if (model.unplotted > 0) {
    html +=
      `<p class="note">${model.unplotted} more target${model.unplotted === 1 ? ' has' : 's have'} a row but no plots here; ` +
      "each target's full histogram is at <code>/hdr/{target}?format=hgrm</code>.</p>\n";
  }
  html +=
    '</main>\n<footer>Latencies are of successful probes, from HDR histograms (3 significant digits). ' +
    'Percentile plots use log scales on both axes: the right edge is 99.999%. ' +
    '<a href="metrics">/metrics</a></footer>\n</body>\n</html>\n';
  return html;
}

function row(t: StatusTarget, unplotted: boolean): string {
  const state =
    t.probes === 0
      ? '<span class="badge new">new</span>'
      : t.up
        ? '<span class="badge up">UP</span>'
        : '<span class="badge down">DOWN</span>';
  const l = t.latencyUs;
  const lat = (v: number | undefined): string => (v === undefined ? '<span class="none">–</span>' : formatLatency(v));
  const errs =
    t.errors.length === 0
      ? '<span class="none">none</span>'
      : t.errors.map((e) => `<span class="err">${esc(e.reason)} ${formatCount(e.count)}</span>`).join('');
  const name = unplotted ? esc(t.name) : `<a href="#t-${esc(t.name)}">${esc(t.name)}</a>`;
  let out =
    `<tr class="row${t.probes > 0 && !t.up ? ' down' : ''}" id="row-${esc(t.name)}">` +
    `<td class="l name" data-label="Target">${name}</td>` +
    `<td class="l kind" data-label="Kind">${esc(t.kind)}</td>` +
    `<td class="l state" data-label="State">${state}</td>` +
    `<td class="num" data-label="Last probe">${t.lastProbeAgeSeconds === undefined ? '<span class="none">never</span>' : `${formatAge(t.lastProbeAgeSeconds)} ago`}</td>` +
    `<td class="num" data-label="Probes/s">${t.probesPerSecond === undefined ? '<span class="none">–</span>' : formatRate(t.probesPerSecond)}</td>` +
    `<td class="num" data-label="p50">${lat(l?.p50)}</td><td class="num" data-label="p90">${lat(l?.p90)}</td>` +
    `<td class="num" data-label="p99">${lat(l?.p99)}</td><td class="num" data-label="p99.9">${lat(l?.p999)}</td>` +
    `<td class="num" data-label="Max">${lat(l?.max)}</td>` +
    `<td class="errs" data-label="Errors">${errs}</td></tr>\n`;
  if (t.lastError !== undefined) {
    out +=
      `<tr class="detail"><td colspan="11">Last error ${formatAge(t.lastError.ageSeconds)} ago ` +
      `(${esc(t.lastError.reason)}): <code>${esc(t.lastError.message)}</code></td></tr>\n`;
  }
  return out;
}

function card(t: StatusTarget): string {
  const l = t.latencyUs;
  const sub = [esc(t.kind), `${formatCount(t.count)} ok`];
  if (l !== undefined) sub.push(`p99 ${formatLatency(l.p99)}`);
  const state =
    t.probes === 0
      ? '<span class="badge new">new</span>'
      : t.up
        ? '<span class="badge up">UP</span>'
        : '<span class="badge down">DOWN</span>';
  return (
    `<section class="panel card" id="t-${esc(t.name)}">` +
    `<header><h3>${esc(t.name)}</h3>${state}<span class="sub">${sub.join(' · ')}</span></header>\n` +
    `<figure>${percentilePlot(t)}<figcaption>Latency by percentile${
      l === undefined
        ? ''
        : ` · p50 ${formatLatency(l.p50)} · p99 ${formatLatency(l.p99)} · p99.9 ${formatLatency(l.p999)} · max ${formatLatency(l.max)}`
    }</figcaption></figure>\n` +
    `<figure>${bucketPlot(t)}<figcaption>Probes per fixed bucket (upper bound)</figcaption></figure>` +
    '</section>\n'
  );
}

// ---------------------------------------------------------------------------------------------------
// Plots

const PW = 480; // percentile plot viewBox width and height
const PH = 250;
const P_MARGIN = { left: 58, right: 30, top: 14, bottom: 30 };
const X_TICKS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'];

/**
 * percentilePlot draws latency (log) against percentile on the 1/(1-p) log axis: x = log10(1/(1-p)), so
 * 90% is 1 decade, 99% two, up to 99.999% at PLOT_DECADES; y spans whole decades around the data.
 */
function percentilePlot(t: StatusTarget): string {
  const label = `Latency by percentile for ${esc(t.name)}`;
  const open = `<svg viewBox="0 0 ${PW} ${PH}" role="img" aria-label="${label}"><title>${label}</title>`;
  const x0 = P_MARGIN.left;
  const x1 = PW - P_MARGIN.right;
  const y0 = PH - P_MARGIN.bottom;
  const y1 = P_MARGIN.top;
  const xOf = (p: number): number =>
    x0 + ((x1 - x0) * Math.min(PLOT_DECADES, -Math.log10(Math.max(1 - p / 100, 10 ** -PLOT_DECADES)))) / PLOT_DECADES;
  let svg = open;
  X_TICKS.forEach((tick, i) => {
    const x = x0 + ((x1 - x0) * i) / PLOT_DECADES;
    svg +=
      `<line class="gridline" x1="${r(x)}" y1="${y1}" x2="${r(x)}" y2="${y0}"/>` +
      `<text x="${r(x)}" y="${PH - 10}" text-anchor="${i === 0 ? 'start' : 'middle'}">${tick}</text>`;
  });
  svg += `<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line class="axis" x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}"/>`;
  const points = t.distribution;
  if (points.length === 0) {
    return `${svg}<text class="empty" x="${r((x0 + x1) / 2)}" y="${r((y0 + y1) / 2)}" text-anchor="middle">no successful probe yet</text></svg>`;
  }
  const values = points.map((p) => Math.max(1, p.valueUs));
  const { lo, hi, ticks } = logTicks(Math.min(...values), Math.max(...values));
  const yOf = (v: number): number => y0 - ((y0 - y1) * (Math.log10(Math.max(1, v)) - lo)) / (hi - lo);
  for (const tick of ticks) {
    const y = yOf(tick.value);
    svg +=
      `<line class="gridline" x1="${x0}" y1="${r(y)}" x2="${x1}" y2="${r(y)}"/>` +
      `<text x="${x0 - 6}" y="${r(y + 4)}" text-anchor="end">${tick.label}</text>`;
  }
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${r(xOf(p.percentile))} ${r(yOf(values[i]!))}`).join('');
  svg += `<path class="area" d="${path}L${r(xOf(points.at(-1)!.percentile))} ${y0}L${x0} ${y0}Z"/>`;
  svg += `<path class="curve" d="${path}"><title>${esc(t.name)}: ${points.length} points from 0% to 99.999%</title></path>`;
  // Dots at the row's percentiles, named above the dot (the values are in the caption and the table).
  const l = t.latencyUs;
  if (l !== undefined) {
    for (const [name, p, v] of [
      ['p50', 50, l.p50],
      ['p99', 99, l.p99],
      ['p99.9', 99.9, l.p999],
    ] as const) {
      const x = xOf(p);
      const y = yOf(Math.max(1, v));
      const anchor = x - x0 < 22 ? 'start' : 'middle';
      svg +=
        `<circle class="mark" cx="${r(x)}" cy="${r(y)}" r="3.5"><title>${name} ${formatLatency(v)}</title></circle>` +
        `<text class="marklabel" x="${r(anchor === 'start' ? x - 4 : x)}" y="${r(Math.max(y1 + 10, y - 8))}" text-anchor="${anchor}">${name}</text>`;
    }
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

const BW = 480; // bucket plot viewBox width and height
const BH = 128;
const B_MARGIN = { left: 10, right: 10, top: 16, bottom: 22 };

/** bucketPlot draws the fixed buckets' counts as bars, labelled by upper bound; +Inf is the last bar. */
function bucketPlot(t: StatusTarget): string {
  const label = `Probes per fixed bucket for ${esc(t.name)}`;
  let svg = `<svg viewBox="0 0 ${BW} ${BH}" role="img" aria-label="${label}"><title>${label}</title>`;
  const x0 = B_MARGIN.left;
  const x1 = BW - B_MARGIN.right;
  const y0 = BH - B_MARGIN.bottom;
  const y1 = B_MARGIN.top;
  const n = t.buckets.length;
  const peak = Math.max(1, ...t.buckets.map((b) => b.count));
  const slot = (x1 - x0) / n;
  svg += `<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/>`;
  t.buckets.forEach((b, i) => {
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
  const total = t.buckets.reduce((a, b) => a + b.count, 0);
  svg +=
    total === 0
      ? `<text class="empty" x="${BW / 2}" y="${r((y0 + y1) / 2)}" text-anchor="middle">no observations</text>`
      : `<text x="${x0}" y="${y1 - 4}">tallest bar ${formatCount(peak)}</text>`;
  return `${svg}</svg>`;
}

// ---------------------------------------------------------------------------------------------------
// Formatting and escaping

/** esc escapes text for HTML content and double- or single-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** formatLatency prints µs with three significant digits and the unit that fits: 850µs, 1.23ms, 12.3ms, 1.05s. */
export function formatLatency(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (us < 1000) return `${sig(us)}µs`;
  if (us < 1_000_000) return `${sig(us / 1000)}ms`;
  return `${sig(us / 1_000_000)}s`;
}

function sig(v: number): string {
  if (v >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

/** formatAge prints seconds as 0.4s, 12s, 3m 5s, 2h 4m, 3d 1h. */
export function formatAge(s: number): string {
  if (s < 10) return `${Number(s.toFixed(1))}s`;
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function formatRate(perSecond: number): string {
  return perSecond >= 100 ? String(Math.round(perSecond)) : String(Number(perSecond.toPrecision(3)));
}

/** formatCount groups thousands with a thin space: 12 345. */
function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009');
}

/** r rounds an SVG coordinate to 0.1 unit, which keeps the document small. */
function r(v: number): string {
  return String(Math.round(v * 10) / 10);
}
