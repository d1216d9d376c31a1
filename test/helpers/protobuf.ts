/**
 * Reading probex's protobuf exposition back in tests: decode the delimited MetricFamily messages with
 * the library (protobufjs, Prometheus's metrics.proto) and spell them as the text format's samples.
 */
import protobuf from 'protobufjs';
import { MetricFamilyMessage } from '../../src/render/protobuf.ts';
import { formatGoFloat } from '../../src/render/text.ts';
import type { ExpositionSample } from './exposition.ts';

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
      sampleCount: number; sampleSum: number; bucket?: { cumulativeCount: number; upperBound: number }[];
      createdTimestamp?: { seconds: number; nanos: number };
      schema?: number; zeroThreshold?: number; zeroCount?: number;
      positiveSpan?: { offset?: number; length?: number }[]; positiveDelta?: number[];
    };
  }[];
}

/** decodeFamilies reads a delimited body back into plain MetricFamily objects. */
export function decodeFamilies(body: Uint8Array): DecodedFamily[] {
  const reader = protobuf.Reader.create(body);
  const out: DecodedFamily[] = [];
  while (reader.pos < reader.len) {
    out.push(MetricFamilyMessage.toObject(MetricFamilyMessage.decodeDelimited(reader), { longs: Number }) as DecodedFamily);
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
          out.push({ name: `${f.name}_bucket`, labels: { ...labels, le: formatGoFloat(b.upperBound) }, value: b.cumulativeCount });
        }
        out.push({ name: `${f.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.sampleCount });
        out.push({ name: `${f.name}_sum`, labels, value: h.sampleSum });
        out.push({ name: `${f.name}_count`, labels, value: h.sampleCount });
      }
    }
  }
  return out;
}
