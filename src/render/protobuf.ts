/**
 * Protobuf exposition: metric families → length-delimited io.prometheus.client.MetricFamily messages,
 * the format Prometheus asks for first when it scrapes native histograms
 * (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`).
 * Pure, like render/text.ts: the publisher calls it once per publish.
 *
 * Messages are encoded by protobufjs from Prometheus's own metrics.proto (render/proto/io/prometheus/client/,
 * verbatim from prometheus/client_model; metrics-proto.ts is its descriptor). The layout follows
 * client_golang: counters are named as in text 0.0.4 (`<name>_total`), a histogram carries its classic
 * buckets (no +Inf bucket: sample_count is it) and, when the model has one, its native histogram in the
 * same message, and counters and histograms carry created_timestamp when the model knows it.
 */
import protobuf from 'protobufjs/light.js';
import type { HistogramSample, Labels, MetricFamily, ScalarSample } from '../metrics/model.ts';
import { METRICS_PROTO } from './metrics-proto.ts';

/** PROTOBUF_CONTENT_TYPE is the Content-Type of a renderProtobuf body (client_golang's FmtProtoDelim). */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

const root = protobuf.Root.fromJSON(METRICS_PROTO);

/** MetricFamilyMessage is the protobufjs type of io.prometheus.client.MetricFamily (tests decode with it). */
export const MetricFamilyMessage = root.lookupType('io.prometheus.client.MetricFamily');

/** MetricType values of metrics.proto. */
const METRIC_TYPE = { counter: 0, gauge: 1, histogram: 4 } as const;

interface LabelPair { readonly name: string; readonly value: string }
interface Timestamp { readonly seconds: number; readonly nanos: number }

/** RenderCache shares label pairs and timestamps between the series of one render call. */
interface RenderCache {
  readonly labels: Map<Labels, LabelPair[]>;
  readonly timestamps: Map<number, Timestamp>;
}

/**
 * renderProtobuf encodes families as delimited MetricFamily messages (each prefixed with its length as a
 * varint), in order. Families without samples are skipped: an empty MetricFamily is invalid.
 */
export function renderProtobuf(families: readonly MetricFamily[]): Uint8Array {
  const writer = protobuf.Writer.create();
  const cache: RenderCache = { labels: new Map(), timestamps: new Map() };
  for (const family of families) {
    if (family.samples.length === 0) continue;
    MetricFamilyMessage.encodeDelimited(familyMessage(family, cache), writer);
  }
  return writer.finish();
}

function familyMessage(family: MetricFamily, cache: RenderCache): object {
  const metric = new Array<object>(family.samples.length);
  if (family.type === 'histogram') {
    for (let i = 0; i < metric.length; i++) metric[i] = histogramMetric(family.samples[i]!, cache);
  } else {
    const counter = family.type === 'counter';
    for (let i = 0; i < metric.length; i++) metric[i] = scalarMetric(family.samples[i]!, counter, cache);
  }
  return {
    name: family.type === 'counter' ? (family.textName ?? `${family.name}_total`) : family.name,
    ...(family.help === '' ? {} : { help: family.help }),
    type: METRIC_TYPE[family.type],
    metric,
    ...(family.unit === undefined || family.unit === '' ? {} : { unit: family.unit }),
  };
}

function scalarMetric(sample: ScalarSample, counter: boolean, cache: RenderCache): object {
  const label = labelPairs(sample.labels, cache);
  if (!counter) return { label, gauge: { value: sample.value } };
  return {
    label,
    counter: sample.created === undefined
      ? { value: sample.value }
      : { value: sample.value, createdTimestamp: timestamp(sample.created, cache) },
  };
}

function histogramMetric(sample: HistogramSample, cache: RenderCache): object {
  const bucket = new Array<object>(sample.bounds.length);
  for (let b = 0; b < bucket.length; b++) {
    bucket[b] = { cumulativeCount: sample.cumulative[b] ?? 0, upperBound: sample.bounds[b]! };
  }
  const histogram: Record<string, unknown> = { sampleCount: sample.count, sampleSum: sample.sum, bucket };
  if (sample.created !== undefined) histogram.createdTimestamp = timestamp(sample.created, cache);
  const native = sample.native;
  if (native !== undefined) {
    histogram.schema = native.schema;
    histogram.zeroThreshold = native.zeroThreshold;
    histogram.zeroCount = native.zeroCount;
    histogram.positiveSpan = native.positiveSpans;
    histogram.positiveDelta = native.positiveDeltas;
  }
  return { label: labelPairs(sample.labels, cache), histogram };
}

function labelPairs(labels: Labels, cache: RenderCache): LabelPair[] {
  let pairs = cache.labels.get(labels);
  if (pairs === undefined) {
    pairs = [];
    for (const name in labels) pairs.push({ name, value: labels[name]! });
    cache.labels.set(labels, pairs);
  }
  return pairs;
}

/** timestamp splits Unix seconds into google.protobuf.Timestamp's whole seconds and nanoseconds. */
function timestamp(unixSeconds: number, cache: RenderCache): Timestamp {
  let ts = cache.timestamps.get(unixSeconds);
  if (ts === undefined) {
    let seconds = Math.floor(unixSeconds);
    let nanos = Math.round((unixSeconds - seconds) * 1e9);
    if (nanos >= 1e9) {
      seconds++;
      nanos -= 1e9;
    }
    ts = { seconds, nanos };
    cache.timestamps.set(unixSeconds, ts);
  }
  return ts;
}
