/**
 * HdrHistogram's interchange formats, written from an hdr-histogram-js histogram of latencies in
 * microseconds, byte-for-byte as HdrHistogram's Java reference implementation (2.1.x) writes them:
 * - encodeHistogram: the V2 compressed encoding in base64 (`HISTFAAA...`), which every HdrHistogram
 *   implementation decodes;
 * - percentileDistribution: the `.hgrm` text of AbstractHistogram.outputPercentileDistribution (what
 *   wrk2 prints), values in milliseconds, with the `#[Mean ...]`, `#[Max ...]` and `#[Buckets ...]` footer;
 * - intervalLogHeader / intervalLogLine: HistogramLogWriter's interval log (`.hlog`), which
 *   HistogramLogProcessor reads.
 * hdr-histogram-js has its own outputPercentileDistribution and HistogramLogWriter, but they differ from
 * Java's: its footer's Max is the raw maximum (Java's is the highest equivalent value), it rounds numbers
 * as JS does (Java rounds half-up on the shortest digits, see java-format.ts), and its log writer pads
 * timestamps and adds a blank line after StartTime. So the iteration and the formatting are ported here.
 * Pure: no I/O.
 */
import * as hdr from 'hdr-histogram-js';
import { formatFixed, formatInt, javaDateUtc } from './java-format.ts';

/** HdrHistogram is the part of hdr-histogram-js's JS histograms these writers read. */
export type HdrHistogram = hdr.JsHistogram;

/** US_PER_MS is the unit ratio that turns recorded microseconds into the milliseconds wrk2 prints. */
const US_PER_MS = 1000;

/** HGRM_TICKS_PER_HALF_DISTANCE is outputPercentileDistribution's default (and wrk2's) percentile steps. */
const HGRM_TICKS_PER_HALF_DISTANCE = 5;

/** HLOG_FORMAT_VERSION is the interval log format HistogramLogWriter 2.1.x writes. */
const HLOG_FORMAT_VERSION = '1.3';

/** HLOG_LEGEND is the interval log's column legend line (without its newline). */
const HLOG_LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"';

/** encodeHistogram returns h in HdrHistogram's V2 compressed encoding, base64 (no newline). */
export function encodeHistogram(h: HdrHistogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** PercentileDistributionOptions are outputPercentileDistribution's arguments. */
export interface PercentileDistributionOptions {
  /** ticksPerHalfDistance: percentile steps per halving of the distance to 100% (default 5). */
  readonly ticksPerHalfDistance?: number;
  /** unitRatio divides every recorded value before printing (default US_PER_MS: µs → ms). */
  readonly unitRatio?: number;
}

/**
 * percentileDistribution is AbstractHistogram.outputPercentileDistribution(out, ticks, unitRatio) in the
 * plain (non-CSV) format. An empty histogram gives the header and the footer, as Java prints it.
 */
export function percentileDistribution(h: HdrHistogram, opts: PercentileDistributionOptions = {}): string {
  const ticks = opts.ticksPerHalfDistance ?? HGRM_TICKS_PER_HALF_DISTANCE;
  const ratio = opts.unitRatio ?? US_PER_MS;
  const digits = h.numberOfSignificantValueDigits;
  let out = `${'Value'.padStart(12)} ${'Percentile'.padStart(14)} ${'TotalCount'.padStart(10)} 1/(1-Percentile)\n\n`;
  for (const step of percentileSteps(h, ticks)) {
    const value = formatFixed(step.value / ratio, digits, 12);
    const level = step.percentile / 100;
    out += `${value} ${formatFixed(level, 12, 2)} ${formatInt(step.totalCount, 10)}`;
    out += step.percentile !== 100 ? ` ${formatFixed(1 / (1 - level), 2, 14)}\n` : '\n';
  }
  const { mean, stdDeviation } = meanAndStdDeviation(h);
  out += `#[Mean    = ${formatFixed(mean / ratio, digits, 12)}, StdDeviation   = ${formatFixed(stdDeviation / ratio, digits, 12)}]\n`;
  out += `#[Max     = ${formatFixed(maxValue(h) / ratio, digits, 12)}, Total count    = ${formatInt(h.totalCount, 12)}]\n`;
  out += `#[Buckets = ${formatInt(h.bucketCount, 12)}, SubBuckets     = ${formatInt(h.subBucketCount, 12)}]\n`;
  return out;
}

/** PercentileStep is one line of a percentile distribution. */
export interface PercentileStep {
  /** value is the highest value equivalent to the step's bucket, in recorded units. */
  readonly value: number;
  /** percentile is the level iterated to, 0 to 100. */
  readonly percentile: number;
  /** totalCount is the number of recorded values at or below `value`. */
  readonly totalCount: number;
}

/**
 * percentileSteps walks h as Java's PercentileIterator does: fixed-size percentile ticks in each half of
 * the remaining distance to 100% (ticksPerHalfDistance per half), one step per tick that a bucket's
 * cumulative count reaches, and a last step at 100%. It reads each bucket once.
 */
export function percentileSteps(
  h: HdrHistogram,
  ticksPerHalfDistance = HGRM_TICKS_PER_HALF_DISTANCE,
): PercentileStep[] {
  const steps: PercentileStep[] = [];
  const total = h.totalCount;
  if (total === 0) return steps;
  const length = h.countsArrayLength;
  let level = 0;
  let seen = 0;
  let last = 0;
  for (let i = 0; i < length && seen < total; i++) {
    const count = h.getCountAtIndex(i);
    if (count === 0) continue;
    seen += count;
    last = i;
    while ((100 * seen) / total >= level) {
      steps.push({ value: h.highestEquivalentValue(h.valueFromIndex(i)), percentile: level, totalCount: seen });
      // Java: ticks * (long) Math.pow(2, (long) (Math.log(100 / (100 - level)) / Math.log(2)) + 1).
      const reportingTicks = ticksPerHalfDistance * 2 ** (Math.trunc(Math.log(100 / (100 - level)) / Math.log(2)) + 1);
      level += 100 / reportingTicks;
      if (seen === total) break; // the iterator has no next step once every count is seen
    }
  }
  steps.push({ value: h.highestEquivalentValue(h.valueFromIndex(last)), percentile: 100, totalCount: total });
  return steps;
}

/**
 * meanAndStdDeviation are AbstractHistogram.getMean and getStdDeviation: each bucket counts as its median
 * equivalent value, summed in bucket order in doubles (so the digits printed are Java's).
 */
export function meanAndStdDeviation(h: HdrHistogram): { mean: number; stdDeviation: number } {
  const total = h.totalCount;
  if (total === 0) return { mean: 0, stdDeviation: 0 };
  const length = h.countsArrayLength;
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const count = h.getCountAtIndex(i);
    if (count !== 0) sum += h.medianEquivalentValue(h.valueFromIndex(i)) * count;
  }
  const mean = sum / total;
  let squares = 0;
  for (let i = 0; i < length; i++) {
    const count = h.getCountAtIndex(i);
    if (count === 0) continue;
    const deviation = h.medianEquivalentValue(h.valueFromIndex(i)) - mean;
    squares += deviation * deviation * count;
  }
  return { mean, stdDeviation: Math.sqrt(squares / total) };
}

/** maxValue is AbstractHistogram.getMaxValue: the highest value equivalent to the largest recorded, 0 if none. */
export function maxValue(h: HdrHistogram): number {
  return h.maxValue === 0 ? 0 : h.highestEquivalentValue(h.maxValue);
}

/** IntervalLogHeader is what an interval log says before its first interval. */
export interface IntervalLogHeader {
  /** startTimeMs is the Unix time in ms the log's intervals are measured from (`#[StartTime: ...]`). */
  readonly startTimeMs: number;
  /**
   * baseTimeMs, when set, writes `#[BaseTime: ...]`: interval timestamps are then seconds since it. Without it
   * the reader takes timestamps as absolute, or as relative to StartTime when they are over a year before it.
   */
  readonly baseTimeMs?: number;
  /** comment lines (without `#`), written first; one per entry, each one line. */
  readonly comments?: readonly string[];
}

/**
 * intervalLogHeader is what HistogramLogWriter writes for outputComment (each comment),
 * outputLogFormatVersion, outputStartTime, outputBaseTime (when set) and outputLegend, in that order.
 * Dates are UTC, as Java writes them under `-Duser.timezone=UTC` (readers skip the date text).
 */
export function intervalLogHeader(header: IntervalLogHeader): string {
  let out = '';
  for (const comment of header.comments ?? []) {
    if (/[\r\n]/.test(comment)) throw new RangeError('interval log comments must be one line each');
    out += `#${comment}\n`;
  }
  out += `#[Histogram log format version ${HLOG_FORMAT_VERSION}]\n`;
  out += `#[StartTime: ${formatFixed(header.startTimeMs / 1000, 3)} (seconds since epoch), ${javaDateUtc(header.startTimeMs)}]\n`;
  if (header.baseTimeMs !== undefined)
    out += `#[BaseTime: ${formatFixed(header.baseTimeMs / 1000, 3)} (seconds since epoch)]\n`;
  return `${out}${HLOG_LEGEND}\n`;
}

/** IntervalLogEntry is one interval histogram and the time it covers. */
export interface IntervalLogEntry {
  /** startSec and endSec are seconds since the log's BaseTime (or since the epoch without one). */
  readonly startSec: number;
  readonly endSec: number;
  readonly histogram: HdrHistogram;
  /** tag, when set, prefixes the line with `Tag=<tag>,`; it cannot contain commas, spaces or line breaks. */
  readonly tag?: string;
  /** maxValueUnitRatio divides the histogram's max for the Interval_Max column (default US_PER_MS). */
  readonly maxValueUnitRatio?: number;
}

/** TAG_RE is what an interval log tag may hold: HistogramLogScanner splits lines on commas, spaces and line breaks. */
const TAG_RE = /^[^,\s]+$/;

/** intervalLogLine is HistogramLogWriter.outputIntervalHistogram's line for one interval, newline included. */
export function intervalLogLine(entry: IntervalLogEntry): string {
  const ratio = entry.maxValueUnitRatio ?? US_PER_MS;
  const line =
    `${formatFixed(entry.startSec, 3)},${formatFixed(entry.endSec - entry.startSec, 3)},` +
    `${formatFixed(maxValue(entry.histogram) / ratio, 3)},${encodeHistogram(entry.histogram)}\n`;
  if (entry.tag === undefined) return line;
  if (!TAG_RE.test(entry.tag))
    throw new RangeError(`interval log tag ${JSON.stringify(entry.tag)} contains a comma, space or line break`);
  return `Tag=${entry.tag},${line}`;
}
