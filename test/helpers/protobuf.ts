/**
 * Reading probex's protobuf exposition back in tests: decode the delimited MetricFamily messages with
 * the library (protobufjs, Prometheus's metrics.proto) and spell them as the text format's samples.
 */
import protobuf from 'protobufjs';
import { timestamp, type Timestamp } from '../../src/render/protobuf.ts';
import { MetricFamilyMessage } from './protobuf-schema.ts';
import { formatGoFloat } from '../../src/render/text.ts';
import type { HistogramSample, Labels, MetricFamily, ScalarSample } from '../../src/metrics/model.ts';
import type { ExpositionSample } from '../../support/exposition.ts';

/** DecodedFamily is one io.prometheus.client.MetricFamily as protobufjs's toObject gives it (int64 as numbers). */
export interface DecodedFamily {
  name: string;
  help?: string;
  type: number;
  unit?: string;
  metric: {
    label?: { name: string; value: string }[];
    gauge?: { value: number };
    counter?: { value: number; createdTimestamp?: { seconds: number; nanos?: number } };
    histogram?: {
      sampleCount: number;
      sampleSum: number;
      bucket?: { cumulativeCount: number; upperBound: number }[];
      createdTimestamp?: { seconds: number; nanos: number };
      schema?: number;
      zeroThreshold?: number;
      zeroCount?: number;
      positiveSpan?: { offset?: number; length?: number }[];
      positiveDelta?: number[];
    };
  }[];
}

/** decodeFamilies reads a delimited body back into plain MetricFamily objects. */
export function decodeFamilies(body: Uint8Array): DecodedFamily[] {
  const reader = protobuf.Reader.create(body);
  const out: DecodedFamily[] = [];
  while (reader.pos < reader.len) {
    out.push(
      MetricFamilyMessage.toObject(MetricFamilyMessage.decodeDelimited(reader), { longs: Number }) as DecodedFamily,
    );
  }
  return out;
}

/** asTextSamples spells decoded families as the text format's samples (buckets with `le`, +Inf, _sum, _count). */
export function asTextSamples(families: DecodedFamily[]): ExpositionSample[] {
  const out: ExpositionSample[] = [];
  for (const f of families) {
    for (const m of f.metric) {
      const labels = Object.fromEntries((m.label ?? []).map((l) => [l.name, l.value]));
      if (m.gauge !== undefined) out.push({ name: f.name, labels, value: m.gauge.value });
      else if (m.counter !== undefined) out.push({ name: f.name, labels, value: m.counter.value });
      else {
        const h = m.histogram!;
        for (const b of h.bucket ?? []) {
          out.push({
            name: `${f.name}_bucket`,
            labels: { ...labels, le: formatGoFloat(b.upperBound) },
            value: b.cumulativeCount,
          });
        }
        out.push({ name: `${f.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.sampleCount });
        out.push({ name: `${f.name}_sum`, labels, value: h.sampleSum });
        out.push({ name: `${f.name}_count`, labels, value: h.sampleCount });
      }
    }
  }
  return out;
}

/** METRIC_TYPE values of metrics.proto. */
const METRIC_TYPE = { counter: 0, gauge: 1, histogram: 4 } as const;

interface LabelPair {
  readonly name: string;
  readonly value: string;
}
/** RenderCache shares label pairs and timestamps between the series of one render call. */
interface RenderCache {
  readonly labels: Map<Labels, LabelPair[]>;
  readonly timestamps: Map<number, Timestamp>;
}

/**
 * encodeWithMessages is the reference for renderProtobuf's hand-written bytes: the same families built
 * as plain message objects and encoded by protobufjs's own MetricFamilyMessage.encodeDelimited.
 */
export function encodeWithMessages(families: readonly MetricFamily[]): Uint8Array {
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
    counter:
      sample.created === undefined
        ? { value: sample.value }
        : { value: sample.value, createdTimestamp: timestamp(sample.created, cache.timestamps) },
  };
}

function histogramMetric(sample: HistogramSample, cache: RenderCache): object {
  const bucket = new Array<object>(sample.bounds.length);
  for (let b = 0; b < bucket.length; b++) {
    bucket[b] = { cumulativeCount: sample.cumulative[b] ?? 0, upperBound: sample.bounds[b]! };
  }
  const histogram: Record<string, unknown> = { sampleCount: sample.count, sampleSum: sample.sum, bucket };
  if (sample.created !== undefined) histogram.createdTimestamp = timestamp(sample.created, cache.timestamps);
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
