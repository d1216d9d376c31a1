/**
 * Text exposition: metric families → Prometheus text 0.0.4 or OpenMetrics 1.0 text. Pure functions with
 * no I/O; the publisher calls them once per publish over every series, so they build one string per
 * family with plain concatenation, compute each sample's label string once (histograms reuse it for
 * every bucket line), cache `le` strings, and escape with a char scan instead of a regex per value.
 *
 * Formats: https://prometheus.io/docs/instrumenting/exposition_formats/ (0.0.4) and
 * https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md (1.0).
 */
import type { HistogramSample, Labels, MetricFamily, ScalarSample } from '../metrics/model.ts';

/** PROM_TEXT_CONTENT_TYPE is the Content-Type of a renderText body. */
export const PROM_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** OPENMETRICS_CONTENT_TYPE is the Content-Type of a renderOpenMetrics body. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** renderText renders families as Prometheus text format 0.0.4 (counters as `textName`, default `<name>_total`). */
export function renderText(families: readonly MetricFamily[]): string {
  const parts: string[] = new Array<string>(families.length);
  const cache: LabelCache = new Map();
  for (let i = 0; i < families.length; i++) {
    const family = families[i]!;
    const name = family.type === 'counter' ? (family.textName ?? `${family.name}_total`) : family.name;
    let out = family.help === '' ? '' : `# HELP ${name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${name} ${family.type}\n`;
    out +=
      family.type === 'histogram'
        ? histogramLines(name, family.samples, formatLe, false, cache)
        : scalarLines(name, family.samples, cache);
    parts[i] = out;
  }
  return parts.join('');
}

/**
 * renderOpenMetrics renders families as OpenMetrics 1.0 text: TYPE, UNIT, HELP metadata, counter samples
 * named `<name>_total`, canonical `le` values (`1.0`, `0.001`, `+Inf`), and a final `# EOF` line. A
 * counter or histogram sample whose model carries `created` gets a `<name>_created` line (Unix seconds)
 * after its other samples, as client_golang writes them.
 */
export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  const parts: string[] = new Array<string>(families.length + 1);
  const cache: LabelCache = new Map();
  for (let i = 0; i < families.length; i++) {
    const family = families[i]!;
    const name = family.name;
    let out = `# TYPE ${name} ${family.type}\n`;
    if (family.unit !== undefined && family.unit !== '') out += `# UNIT ${name} ${family.unit}\n`;
    if (family.help !== '') out += `# HELP ${name} ${escapeOpenMetricsString(family.help)}\n`;
    if (family.type === 'histogram') out += histogramLines(name, family.samples, formatCanonicalLe, true, cache);
    else if (family.type === 'counter') out += scalarLines(`${name}_total`, family.samples, cache, `${name}_created`);
    else out += scalarLines(name, family.samples, cache);
    parts[i] = out;
  }
  parts[families.length] = '# EOF\n';
  return parts.join('');
}

/** scalarLines writes one line per sample, plus its `createdName` line when given and the sample has `created`. */
function scalarLines(name: string, samples: readonly ScalarSample[], cache: LabelCache, createdName?: string): string {
  let out = '';
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    const pairs = labelPairs(sample.labels, cache);
    const suffix = pairs === '' ? ' ' : `{${pairs}} `;
    out += `${name}${suffix}${formatValue(sample.value)}\n`;
    if (createdName !== undefined && sample.created !== undefined)
      out += `${createdName}${suffix}${formatValue(sample.created)}\n`;
  }
  return out;
}

/**
 * histogramLines writes, per sample, the cumulative buckets, the `+Inf` bucket (always equal to `_count`),
 * `_sum` and `_count`. OpenMetrics puts `_count` before `_sum`, as the spec's examples do, then `_created`
 * when the sample has it; 0.0.4 follows the Go and JS clients (`_sum` first, no `_created`). `le` is the
 * last label, as the Go client writes it.
 */
function histogramLines(
  name: string,
  samples: readonly HistogramSample[],
  le: (v: number) => string,
  om: boolean,
  cache: LabelCache,
): string {
  const bucket = `${name}_bucket{`;
  const sumName = `${name}_sum`;
  const countName = `${name}_count`;
  const createdName = `${name}_created`;
  let out = '';
  let lastBounds: readonly number[] | undefined;
  // leTails[b] is `<le>"} `: each bucket line is then prefix + tail + value + newline.
  let leTails: string[] = [];
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    if (sample.bounds !== lastBounds) {
      lastBounds = sample.bounds;
      leTails = sample.bounds.map((b) => `${le(b)}"} `);
    }
    const pairs = labelPairs(sample.labels, cache);
    const prefix = pairs === '' ? `${bucket}le="` : `${bucket}${pairs},le="`;
    const cumulative = sample.cumulative;
    for (let b = 0; b < leTails.length; b++) {
      out += prefix + leTails[b]! + formatValue(cumulative[b] ?? 0) + '\n';
    }
    const count = formatValue(sample.count);
    const suffix = pairs === '' ? ' ' : `{${pairs}} `;
    out += `${prefix}+Inf"} ${count}\n`;
    out += om
      ? `${countName}${suffix}${count}\n${sumName}${suffix}${formatValue(sample.sum)}\n`
      : `${sumName}${suffix}${formatValue(sample.sum)}\n${countName}${suffix}${count}\n`;
    if (om && sample.created !== undefined) out += `${createdName}${suffix}${formatValue(sample.created)}\n`;
  }
  return out;
}

/**
 * LabelCache maps a Labels object to its rendered pairs for one render call. families.ts hands the same
 * object to a target's up, last-timestamp, probes and duration series, so each is escaped and joined once.
 */
type LabelCache = Map<Labels, string>;

/** labelPairs renders `a="x",b="y"` in the labels' own key order; '' when there are none. */
function labelPairs(labels: Labels, cache: LabelCache): string {
  const hit = cache.get(labels);
  if (hit !== undefined) return hit;
  let out = '';
  for (const key in labels) {
    const value = labels[key]!;
    out += out === '' ? `${key}="${escapeLabelValue(value)}"` : `,${key}="${escapeLabelValue(value)}"`;
  }
  cache.set(labels, out);
  return out;
}

const BACKSLASH = 92;
const NEWLINE = 10;
const QUOTE = 34;

/** escapeHelp escapes a HELP text for text format 0.0.4: backslash and line feed (a quote stays as is). */
export function escapeHelp(text: string): string {
  return escape(text, false);
}

/** escapeLabelValue escapes a label value for both formats: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return escape(value, true);
}

/** escapeOpenMetricsString escapes an OpenMetrics escaped-string (HELP or label value): `\\`, `\"`, `\n`. */
export function escapeOpenMetricsString(text: string): string {
  return escape(text, true);
}

function escape(text: string, quotes: boolean): string {
  // Scan first: almost every value needs no escaping, and then the input string is returned as is.
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH || c === NEWLINE || (quotes && c === QUOTE)) break;
  }
  if (i === text.length) return text;
  let out = text.slice(0, i);
  let from = i;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let rep: string;
    if (c === BACKSLASH) rep = '\\\\';
    else if (c === NEWLINE) rep = '\\n';
    else if (quotes && c === QUOTE) rep = '\\"';
    else continue;
    out += text.slice(from, i) + rep;
    from = i + 1;
  }
  return out + text.slice(from);
}

/**
 * formatValue spells a sample value: integers without exponent or decimal point (`1700000000`), other
 * finite numbers as JavaScript's shortest round-trip form (`0.25`, `1e-7`), and `NaN`, `+Inf`, `-Inf`
 * exactly as both formats spell them.
 */
export function formatValue(value: number): string {
  if (Number.isInteger(value)) {
    // String() switches to exponent form at 1e21; BigInt prints the same integer in full.
    return value < 1e21 && value > -1e21 ? String(value) : BigInt(value).toString();
  }
  if (value !== value) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/**
 * formatGoFloat renders like Go's strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form
 * when the decimal exponent is < -4 or >= 6 (with at least two exponent digits: `1e-05`, `1e+06`).
 * Prometheus's Go client writes `le` this way, so text 0.0.4 bucket labels match it.
 */
export function formatGoFloat(value: number): string {
  if (value !== value) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (value === 0) return '0';
  const exponential = value.toExponential(); // shortest round-trip digits, like Go's -1 precision
  const e = exponential.indexOf('e');
  const exp = Number(exponential.slice(e + 1));
  if (exp >= -4 && exp < 6) return String(value); // JS prints [1e-6, 1e21) in fixed notation
  const digits = exp < 0 ? String(-exp) : String(exp);
  return `${exponential.slice(0, e)}e${exp < 0 ? '-' : '+'}${digits.length < 2 ? `0${digits}` : digits}`;
}

/**
 * formatCanonicalFloat renders an OpenMetrics canonical number for `le` and `quantile` label values:
 * Go's `%g` with `.0` appended when there is neither a decimal point nor an exponent
 * (`0.001`, `1.0`, `100000.0`, `1e+06`, `+Inf`).
 */
export function formatCanonicalFloat(value: number): string {
  const s = formatGoFloat(value);
  if (!Number.isFinite(value) || s.includes('.') || s.includes('e')) return s;
  return `${s}.0`;
}

// `le` strings repeat across every histogram sample of a publish; remember them (bounded, so a config
// with unusual buckets cannot grow the caches without limit).
const LE_CACHE_LIMIT = 4096;
const textLeCache = new Map<number, string>();
const canonicalLeCache = new Map<number, string>();

function cached(cache: Map<number, string>, value: number, format: (v: number) => string): string {
  let s = cache.get(value);
  if (s === undefined) {
    s = format(value);
    if (cache.size >= LE_CACHE_LIMIT) cache.clear();
    cache.set(value, s);
  }
  return s;
}

function formatLe(value: number): string {
  return cached(textLeCache, value, formatGoFloat);
}

function formatCanonicalLe(value: number): string {
  return cached(canonicalLeCache, value, formatCanonicalFloat);
}
