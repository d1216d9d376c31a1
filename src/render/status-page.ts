/**
 * The status page (`GET /`): one HTML document for people on call, as blackbox_exporter's root page is,
 * with each target's latency distribution drawn as HdrHistogram's plotter draws it. renderStatusPage
 * renders a StatusPageModel (status-model.ts) once per publish like every other body; the front end only
 * sends it, with STATUS_PAGE_CSP. Every text that comes from config or a probe is escaped. Pure: no I/O.
 */
import { formatAge, formatCount, formatLatency, formatRate } from './format.ts';
import { documentStart, esc, stylesheetCsp } from './html.ts';
import { bucketPlot, percentilePlot, type PlotFrame } from './plot.ts';
import type { StatusPageModel, StatusTarget } from './status-model.ts';

/** STATUS_PAGE_CONTENT_TYPE is the content type of the status page. */
export const STATUS_PAGE_CONTENT_TYPE = 'text/html; charset=utf-8';

/**
 * STATUS_PAGE_CSS is the page's only stylesheet. It is constant, so its hash, and with it the CSP, is
 * computed once. Colours are custom properties with a dark variant; SVG parts are styled by class.
 * Below 900px the table turns into one card per target (label: value pairs from data-label).
 */
const STATUS_PAGE_CSS = `
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
export const STATUS_PAGE_CSP = stylesheetCsp(STATUS_PAGE_CSS, 'header');

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
  if (model.shard !== undefined) {
    const { index, count, skippedTargets } = model.shard;
    meta.push(`shard ${index}/${count} · ${skippedTargets} target${skippedTargets === 1 ? '' : 's'} on other shards`);
  }

  let html = documentStart({
    title,
    css: STATUS_PAGE_CSS,
    ...(model.refreshSeconds !== undefined ? { refreshSeconds: model.refreshSeconds } : {}),
  });
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
    `</main>\n<footer>Latencies are of successful probes, from HDR histograms (${model.hdrDigits} significant digits). ` +
    'Percentile plots use log scales on both axes: the right edge is 99.999%. ' +
    '<a href="metrics">/metrics</a></footer>\n</body>\n</html>\n';
  return html;
}

function row(t: StatusTarget, unplotted: boolean): string {
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
    `<td class="l state" data-label="State">${badge(t)}</td>` +
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

/** badge is a target's state: new (never probed), UP or DOWN. */
function badge(t: StatusTarget): string {
  if (t.probes === 0) return '<span class="badge new">new</span>';
  return t.up ? '<span class="badge up">UP</span>' : '<span class="badge down">DOWN</span>';
}

function card(t: StatusTarget): string {
  const l = t.latencyUs;
  const sub = [esc(t.kind), `${formatCount(t.count)} ok`];
  if (l !== undefined) sub.push(`p99 ${formatLatency(l.p99)}`);
  return (
    `<section class="panel card" id="t-${esc(t.name)}">` +
    `<header><h3>${esc(t.name)}</h3>${badge(t)}<span class="sub">${sub.join(' · ')}</span></header>\n` +
    `<figure>${latencyPlot(t)}<figcaption>Latency by percentile${
      l === undefined
        ? ''
        : ` · p50 ${formatLatency(l.p50)} · p99 ${formatLatency(l.p99)} · p99.9 ${formatLatency(l.p999)} · max ${formatLatency(l.max)}`
    }</figcaption></figure>\n` +
    `<figure>${bucketPlot(t.name, t.buckets)}<figcaption>Probes per fixed bucket (upper bound)</figcaption></figure>` +
    '</section>\n'
  );
}

/** LATENCY_FRAME is the geometry of a target's percentile plot. */
const LATENCY_FRAME: PlotFrame = { width: 480, height: 250, margin: { left: 58, right: 30, top: 14, bottom: 30 } };

/** latencyPlot is a target's percentile curve, with dots at the row's p50, p99 and p99.9. */
function latencyPlot(t: StatusTarget): string {
  const l = t.latencyUs;
  const label = `Latency by percentile for ${t.name}`;
  return percentilePlot({
    frame: LATENCY_FRAME,
    label,
    title: label,
    curves: [
      {
        points: t.distribution,
        className: 'curve',
        title: `${t.name}: ${t.distribution.length} points from 0% to 99.999%`,
        area: true,
      },
    ],
    empty: 'no successful probe yet',
    marks:
      l === undefined
        ? []
        : [
            { name: 'p50', percentile: 50, valueUs: l.p50 },
            { name: 'p99', percentile: 99, valueUs: l.p99 },
            { name: 'p99.9', percentile: 99.9, valueUs: l.p999 },
          ],
  });
}
