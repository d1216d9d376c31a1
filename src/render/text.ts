/**
 * Text exposition: metric families → Prometheus text 0.0.4 or OpenMetrics 1.0 text. Pure functions with
 * no I/O; the publisher calls them once per publish over every series, so they write bytes into a
 * ByteWriter it keeps (no string per line), escape and encode each sample's labels once (histograms reuse
 * them for every bucket line), cache `le` strings, and escape with a char scan instead of a regex per value.
 *
 * Formats: https://prometheus.io/docs/instrumenting/exposition_formats/ (0.0.4) and
 * https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md (1.0).
 */
import type { HistogramSample, Labels, MetricFamily, ScalarSample } from '../metrics/model.ts';
import { ByteWriter } from './byte-writer.ts';

/** PROM_TEXT_CONTENT_TYPE is the Content-Type of a renderText body. */
export const PROM_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** OPENMETRICS_CONTENT_TYPE is the Content-Type of a renderOpenMetrics body. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * TextLayout is how families are laid out in text 0.0.4: `compact` writes them back to back; `prom-client`
 * puts an empty line between two families, as prom-client's registry (and so Directus) does. Both parse
 * the same: the format ignores empty lines.
 */
export type TextLayout = 'compact' | 'prom-client';

/** renderText renders families as Prometheus text format 0.0.4 (counters as `textName`, default `<name>_total`). */
export function renderText(families: readonly MetricFamily[], layout: TextLayout = 'compact'): string {
  const writer = new ByteWriter();
  writeText(writer, families, layout);
  return writer.toString();
}

/** renderOpenMetrics renders families as OpenMetrics 1.0 text (see writeOpenMetrics). */
export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  const writer = new ByteWriter();
  writeOpenMetrics(writer, families);
  return writer.toString();
}

/** writeText writes renderText's body into `writer`, from its start (the publisher's path: no string is built). */
export function writeText(writer: ByteWriter, families: readonly MetricFamily[], layout: TextLayout = 'compact'): void {
  writer.reset();
  for (let i = 0; i < families.length; i++) {
    const family = families[i]!;
    if (i > 0 && layout === 'prom-client') writer.byte(NEWLINE);
    const name = family.type === 'counter' ? (family.textName ?? `${family.name}_total`) : family.name;
    if (family.help !== '') writer.text(`# HELP ${name} ${escapeHelp(family.help)}\n`);
    writer.text(`# TYPE ${name} ${family.type}\n`);
    if (family.type === 'histogram') histogramLines(writer, name, family.samples, formatLe, false);
    else scalarLines(writer, name, family.samples);
  }
}

/**
 * writeOpenMetrics writes families as OpenMetrics 1.0 text: TYPE, UNIT, HELP metadata, counter samples
 * named `<name>_total`, canonical `le` values (`1.0`, `0.001`, `+Inf`), and a final `# EOF` line. A
 * counter or histogram sample whose model carries `created` gets a `<name>_created` line (Unix seconds)
 * after its other samples, as client_golang writes them.
 */
export function writeOpenMetrics(writer: ByteWriter, families: readonly MetricFamily[]): void {
  writer.reset();
  for (const family of families) {
    const name = family.name;
    writer.text(`# TYPE ${name} ${family.type}\n`);
    if (family.unit !== undefined && family.unit !== '') writer.text(`# UNIT ${name} ${family.unit}\n`);
    if (family.help !== '') writer.text(`# HELP ${name} ${escapeOpenMetricsString(family.help)}\n`);
    if (family.type === 'histogram') histogramLines(writer, name, family.samples, formatCanonicalLe, true);
    else if (family.type === 'counter') scalarLines(writer, `${name}_total`, family.samples, `${name}_created`);
    else scalarLines(writer, name, family.samples);
  }
  writer.bytes(EOF_LINE);
}

const EOF_LINE = encode('# EOF\n');
const INF_TAIL = encode('+Inf"} ');

/** scalarLines writes one line per sample, plus its `createdName` line when given and the sample has `created`. */
function scalarLines(writer: ByteWriter, name: string, samples: readonly ScalarSample[], createdName?: string): void {
  const nameBytes = encode(name);
  const createdBytes = createdName === undefined ? undefined : encode(createdName);
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    const suffix = labelBytes(sample.labels).suffix;
    writer.line(nameBytes, suffix, sample.value, formatValue);
    if (createdBytes !== undefined && sample.created !== undefined)
      writer.line(createdBytes, suffix, sample.created, formatValue);
  }
}

/**
 * histogramLines writes, per sample, the cumulative buckets, the `+Inf` bucket (always equal to `_count`),
 * `_sum` and `_count`. OpenMetrics puts `_count` before `_sum`, as the spec's examples do, then `_created`
 * when the sample has it; 0.0.4 follows the Go and JS clients (`_sum` first, no `_created`). `le` is the
 * last label, as the Go client writes it.
 */
function histogramLines(
  writer: ByteWriter,
  name: string,
  samples: readonly HistogramSample[],
  le: (v: number) => string,
  om: boolean,
): void {
  const sumName = encode(`${name}_sum`);
  const countName = encode(`${name}_count`);
  const createdName = encode(`${name}_created`);
  let lastBounds: readonly number[] | undefined;
  // leTails[b] is `<le>"} `: each bucket line is then prefix + tail + value + newline.
  let leTails: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    if (lastBounds === undefined || !sameBounds(sample.bounds, lastBounds)) {
      lastBounds = sample.bounds;
      leTails = sample.bounds.map((b) => encode(`${le(b)}"} `));
    }
    const labels = labelBytes(sample.labels);
    const suffix = labels.suffix;
    const prefix = bucketPrefix(labels, name);
    const cumulative = sample.cumulative;
    for (let b = 0; b < leTails.length; b++) writer.line(prefix, leTails[b]!, cumulative[b] ?? 0, formatValue);
    writer.line(prefix, INF_TAIL, sample.count, formatValue);
    if (om) {
      writer.line(countName, suffix, sample.count, formatValue);
      writer.line(sumName, suffix, sample.sum, formatValue);
      if (sample.created !== undefined) writer.line(createdName, suffix, sample.created, formatValue);
    } else {
      writer.line(sumName, suffix, sample.sum, formatValue);
      writer.line(countName, suffix, sample.count, formatValue);
    }
  }
}

/** sameBounds: every target has bounds of its own, most of them equal to the previous target's. */
function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * labelBytes gives the bytes between a sample's name and its value for a Labels object: `{a="x",b="y"} `
 * in the labels' own key order, or a space when there are none; both formats escape label values alike,
 * so they share them. families.ts hands the same object to a target's series in every publish, so at
 * 10,000 targets a publish renders no label again: the entries live as long as their Labels object (a
 * WeakMap). Only bytes are kept, no string: the pairs built by concatenation would be kept as trees of
 * their pieces (~9 MB at 10,000 targets). Labels made for one render only (the self-metrics) are rendered
 * each time and collected with their object.
 */
function labelBytes(labels: Labels): LabelBytes {
  let entry = renderedLabels.get(labels);
  if (entry === undefined) {
    let pairs = '';
    for (const key in labels) {
      const value = escapeLabelValue(labels[key]!);
      pairs += pairs === '' ? `${key}="${value}"` : `,${key}="${value}"`;
    }
    entry = { suffix: pairs === '' ? SPACE : encode(`{${pairs}} `) };
    renderedLabels.set(labels, entry);
  }
  return entry;
}

interface LabelBytes {
  /** suffix is `{<pairs>} `, or a space when there are no labels. */
  readonly suffix: Uint8Array;
  /** bucket is `<name>_bucket{<pairs>,le="` for the histogram that last used these labels. */
  bucket?: { readonly name: string; readonly prefix: Uint8Array };
}

/**
 * bucketPrefix is the start of a bucket line of histogram `name` up to its `le` value, kept with the labels:
 * the suffix's `{<pairs>` between the name and `,le="`.
 */
function bucketPrefix(labels: LabelBytes, name: string): Uint8Array {
  if (labels.bucket?.name !== name) {
    const suffix = labels.suffix;
    const prefix =
      suffix === SPACE
        ? encode(`${name}_bucket{le="`)
        : Buffer.concat([encode(`${name}_bucket`), suffix.subarray(0, suffix.byteLength - 2), LE_START]);
    labels.bucket = { name, prefix };
  }
  return labels.bucket.prefix;
}

const renderedLabels = new WeakMap<Labels, LabelBytes>();

const SPACE = encode(' ');
const LE_START = encode(',le="');

/** encode is a string's UTF-8 bytes (small ones share Node's buffer pool). */
function encode(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
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
