/**
 * Protobuf exposition: metric families → length-delimited io.prometheus.client.MetricFamily messages,
 * the format Prometheus asks for first when it scrapes native histograms
 * (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`).
 * Pure, like render/text.ts: the publisher calls it once per publish.
 *
 * Messages follow Prometheus's own metrics.proto (prometheus/client_model; a verbatim copy is in
 * test/fixtures/proto/io/prometheus/client/, and the tests decode with its protobufjs type).
 * They are written field by field with protobufjs's Writer rather than built as objects for
 * MetricFamilyMessage.encode: the same bytes in about half the time and without an object per bucket,
 * which keeps the publish within its budget (docs/benchmarks.md, "Protobuf exposition").
 * The layout follows client_golang: counters are named as in text 0.0.4 (`<name>_total`), a histogram carries its classic
 * buckets (no +Inf bucket: sample_count is it) and, when the model has one, its native histogram in the
 * same message, and counters and histograms carry created_timestamp when the model knows it.
 */
import protobuf from 'protobufjs/minimal.js';
import type { HistogramSample, Labels, MetricFamily, ScalarSample } from '../metrics/model.ts';

/** PROTOBUF_CONTENT_TYPE is the Content-Type of a renderProtobuf body (client_golang's FmtProtoDelim). */
export const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** MetricType values of metrics.proto. */
const METRIC_TYPE = { counter: 0, gauge: 1, histogram: 4 } as const;

/** Timestamp is a google.protobuf.Timestamp. */
export interface Timestamp {
  readonly seconds: number;
  readonly nanos: number;
}

/**
 * renderProtobuf encodes families as delimited MetricFamily messages (each prefixed with its length as a
 * varint), in order. Families without samples are skipped: an empty MetricFamily is invalid.
 */
export function renderProtobuf(families: readonly MetricFamily[]): Uint8Array {
  const writer = protobuf.Writer.create();
  const timestamps = new Map<number, Timestamp>();
  for (const family of families) {
    if (family.samples.length > 0) writeFamily(writer, family, timestamps);
  }
  return writer.finish();
}

/*
 * Wire format (https://protobuf.dev/programming-guides/encoding/): a tag is (field number << 3 | wire type);
 * wire type 0 varint, 1 64-bit (double), 2 length-delimited (string, message). Fields are written in
 * field-number order and proto2 repeated scalars unpacked, as protobufjs's generated encoder writes them,
 * so the bytes equal MetricFamilyMessage.encodeDelimited's (test/render/protobuf.test.ts checks that).
 */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const tag = (field: number, wireType: number): number => (field << 3) | wireType;

/** writeFamily writes one MetricFamily, length-delimited. */
function writeFamily(w: protobuf.Writer, family: MetricFamily, timestamps: Map<number, Timestamp>): void {
  w.fork();
  w.uint32(tag(1, LENGTH_DELIMITED)).string(
    family.type === 'counter' ? (family.textName ?? `${family.name}_total`) : family.name,
  );
  if (family.help !== '') w.uint32(tag(2, LENGTH_DELIMITED)).string(family.help);
  w.uint32(tag(3, VARINT)).int32(METRIC_TYPE[family.type]);
  if (family.type === 'histogram') {
    for (const sample of family.samples) writeHistogramMetric(w, sample, timestamps);
  } else {
    const counter = family.type === 'counter';
    for (const sample of family.samples) writeScalarMetric(w, sample, counter, timestamps);
  }
  if (family.unit !== undefined && family.unit !== '') w.uint32(tag(5, LENGTH_DELIMITED)).string(family.unit);
  w.ldelim();
}

function writeLabels(w: protobuf.Writer, labels: Labels): void {
  for (const name in labels) {
    w.uint32(tag(1, LENGTH_DELIMITED)).fork();
    w.uint32(tag(1, LENGTH_DELIMITED)).string(name);
    w.uint32(tag(2, LENGTH_DELIMITED)).string(labels[name]!);
    w.ldelim();
  }
}

function writeScalarMetric(
  w: protobuf.Writer,
  sample: ScalarSample,
  counter: boolean,
  timestamps: Map<number, Timestamp>,
): void {
  w.uint32(tag(4, LENGTH_DELIMITED)).fork();
  writeLabels(w, sample.labels);
  w.uint32(tag(counter ? 3 : 2, LENGTH_DELIMITED)).fork();
  w.uint32(tag(1, FIXED64)).double(sample.value);
  if (counter && sample.created !== undefined) writeTimestamp(w, 3, timestamp(sample.created, timestamps));
  w.ldelim();
  w.ldelim();
}

function writeHistogramMetric(w: protobuf.Writer, sample: HistogramSample, timestamps: Map<number, Timestamp>): void {
  w.uint32(tag(4, LENGTH_DELIMITED)).fork();
  writeLabels(w, sample.labels);
  w.uint32(tag(7, LENGTH_DELIMITED)).fork();
  w.uint32(tag(1, VARINT)).uint64(sample.count);
  w.uint32(tag(2, FIXED64)).double(sample.sum);
  for (let b = 0; b < sample.bounds.length; b++) {
    w.uint32(tag(3, LENGTH_DELIMITED)).fork();
    w.uint32(tag(1, VARINT)).uint64(sample.cumulative[b] ?? 0);
    w.uint32(tag(2, FIXED64)).double(sample.bounds[b]!);
    w.ldelim();
  }
  const native = sample.native;
  if (native !== undefined) {
    w.uint32(tag(5, VARINT)).sint32(native.schema);
    w.uint32(tag(6, FIXED64)).double(native.zeroThreshold);
    w.uint32(tag(7, VARINT)).uint64(native.zeroCount);
    for (const span of native.positiveSpans) {
      w.uint32(tag(12, LENGTH_DELIMITED)).fork();
      w.uint32(tag(1, VARINT)).sint32(span.offset);
      w.uint32(tag(2, VARINT)).uint32(span.length);
      w.ldelim();
    }
    for (const delta of native.positiveDeltas) w.uint32(tag(13, VARINT)).sint64(delta);
  }
  if (sample.created !== undefined) writeTimestamp(w, 15, timestamp(sample.created, timestamps));
  w.ldelim();
  w.ldelim();
}

function writeTimestamp(w: protobuf.Writer, field: number, ts: Timestamp): void {
  w.uint32(tag(field, LENGTH_DELIMITED)).fork();
  // google.protobuf.Timestamp is proto3: a field at its zero value is not written.
  if (ts.seconds !== 0) w.uint32(tag(1, VARINT)).int64(ts.seconds);
  if (ts.nanos !== 0) w.uint32(tag(2, VARINT)).int32(ts.nanos);
  w.ldelim();
}

/**
 * timestamp splits Unix seconds into google.protobuf.Timestamp's whole seconds and nanoseconds, once per
 * distinct value in `cache` (one render's).
 */
export function timestamp(unixSeconds: number, cache: Map<number, Timestamp>): Timestamp {
  let ts = cache.get(unixSeconds);
  if (ts === undefined) {
    let seconds = Math.floor(unixSeconds);
    let nanos = Math.round((unixSeconds - seconds) * 1e9);
    if (nanos >= 1e9) {
      seconds++;
      nanos -= 1e9;
    }
    ts = { seconds, nanos };
    cache.set(unixSeconds, ts);
  }
  return ts;
}
