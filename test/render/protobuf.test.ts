import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildFamilies } from '../../src/metrics/families.ts';
import type { MetricFamily } from '../../src/metrics/model.ts';
import { PROTOBUF_CONTENT_TYPE, renderProtobuf } from '../../src/render/protobuf.ts';
import { MetricFamilyMessage } from '../helpers/protobuf-schema.ts';
import { renderText } from '../../src/render/text.ts';
import { fixtureSelfStats, fixtureTargets, makeTarget, parseExposition } from '../../support/exposition.ts';
import { asTextSamples, decodeFamilies as decode, encodeWithMessages } from '../helpers/protobuf.ts';

const PROTO = fileURLToPath(new URL('../fixtures/proto/io/prometheus/client/metrics.proto', import.meta.url));
const DESCRIPTOR = fileURLToPath(new URL('../helpers/metrics-proto.ts', import.meta.url));

/** aggregatedFamilies runs known latencies through the real Aggregator, so samples carry native buckets and created times. */
function aggregatedFamilies(): MetricFamily[] {
  const agg = new Aggregator({ now: () => 1_700_000_000_250 });
  agg.setTargets([makeTarget({ name: 'db', kind: 'mysql' }), makeTarget({ name: 'idle', kind: 'tcp' })]);
  const latencyUs = [0, 800, 1000, 1000, 1200, 5000, 2_000_000];
  agg.record(['db', 'idle'], {
    target: new Uint32Array(latencyUs.length + 1),
    latencyUs: Float64Array.of(...latencyUs, 0),
    reason: Uint8Array.from([...latencyUs.map(() => 0), 1]),
    endedAtMs: new Float64Array(latencyUs.length + 1),
    app: [null, null],
    failure: [null, null],
  });
  return buildFamilies(agg.snapshot(), fixtureSelfStats(), 'probex');
}

describe('renderProtobuf', () => {
  const cases: [string, () => MetricFamily[]][] = [
    ['the probex golden fixtures', () => buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex')],
    ['the directus golden fixtures', () => buildFamilies(fixtureTargets(), fixtureSelfStats(), 'directus')],
    ['aggregated targets with native histograms', aggregatedFamilies],
  ];
  for (const [name, build] of cases) {
    test(`${name}: decoded, every family and sample equals the text body's (names, labels, values)`, () => {
      const families = build();
      const decoded = decode(renderProtobuf(families));
      const text = renderText(families);
      assert.deepEqual(asTextSamples(decoded), parseExposition(text));
      // Family metadata: the text body's TYPE and HELP lines name the same families in the same order.
      const typeLines = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
      assert.deepEqual(
        decoded.map((f) => [f.name, ['counter', 'gauge', '', '', 'histogram'][f.type]]),
        typeLines,
      );
      const helpLines = new Map(
        [...text.matchAll(/^# HELP (\S+) (.*)$/gm)].map((m) => [
          m[1],
          m[2]!.replaceAll('\\n', '\n').replaceAll('\\\\', '\\'),
        ]),
      );
      for (const f of decoded) assert.equal(f.help, helpLines.get(f.name), f.name);
    });
  }

  test('histograms carry their native buckets exactly as the model has them, next to the classic buckets', () => {
    const families = aggregatedFamilies();
    const model = families.find((f) => f.name === 'probex_probe_duration_seconds')!;
    assert.equal(model.type, 'histogram');
    const decoded = decode(renderProtobuf(families)).find((f) => f.name === 'probex_probe_duration_seconds')!;
    assert.equal(decoded.unit, 'seconds');
    assert.equal(decoded.metric.length, 2);
    decoded.metric.forEach((m, i) => {
      const sample = model.samples[i]!;
      const native = sample.native!;
      const h = m.histogram!;
      assert.deepEqual(
        {
          schema: h.schema ?? 0,
          zeroThreshold: h.zeroThreshold,
          zeroCount: h.zeroCount ?? 0,
          spans: (h.positiveSpan ?? []).map((s) => [s.offset ?? 0, s.length ?? 0]),
          deltas: h.positiveDelta ?? [],
        },
        {
          schema: native.schema,
          zeroThreshold: native.zeroThreshold,
          zeroCount: native.zeroCount,
          spans: native.positiveSpans.map((s) => [s.offset, s.length]),
          deltas: [...native.positiveDeltas],
        },
      );
      assert.equal(h.bucket!.length, sample.bounds.length, 'classic buckets too, without +Inf');
      assert.deepEqual(h.createdTimestamp, { seconds: 1_700_000_000, nanos: 250_000_000 });
    });
    const db = decoded.metric[0]!.histogram!;
    assert.deepEqual([db.sampleCount, db.zeroCount, db.schema], [7, 1, 3]);
    // 0.8 ms, 1 ms, 1 ms, 1.2 ms, 5 ms, 2 s at schema 3 are buckets -82, -79 (x2), -77, -61 and 8: gaps of
    // up to two buckets stay in the span as zeros, so the spans are -82..-77, -61 and 8.
    assert.deepEqual(db.positiveSpan, [
      { offset: -82, length: 6 },
      { offset: 15, length: 1 },
      { offset: 68, length: 1 },
    ]);
    assert.deepEqual(db.positiveDelta, [1, -1, 0, 2, -2, 1, 0, 0]);
    const idle = decoded.metric[1]!.histogram!;
    assert.deepEqual(
      [idle.sampleCount, idle.positiveSpan ?? [], idle.zeroThreshold],
      [0, [], 2 ** -128],
      'an unprobed target is an empty native histogram with a zero threshold > 0, so scrapers still see it as native',
    );
  });

  test('counters carry created_timestamp; gauges have none; counters are named as in text 0.0.4', () => {
    const decoded = decode(renderProtobuf(aggregatedFamilies()));
    const errors = decoded.find((f) => f.name === 'probex_probe_errors_total')!;
    assert.ok(errors.metric.every((m) => m.counter?.createdTimestamp?.seconds === 1_700_000_000));
    const scrapes = decoded.find((f) => f.name === 'probex_scrapes_total')!;
    const created = scrapes.metric[0]!.counter!.createdTimestamp!;
    assert.deepEqual([created.seconds, created.nanos ?? 0], [fixtureSelfStats().startTimeSeconds, 0]);
    const up = decoded.find((f) => f.name === 'probex_probe_up')!;
    assert.ok(up.metric.every((m) => m.gauge !== undefined && m.counter === undefined));
    const directus = decode(renderProtobuf(buildFamilies(fixtureTargets(), fixtureSelfStats(), 'directus')));
    assert.ok(
      directus.some((f) => f.name === 'directus_db_mysql_connection_errors' && f.type === 0),
      'the textName is kept',
    );
  });

  test('the body is a sequence of varint-length-prefixed messages, and families without samples are left out', () => {
    const families = aggregatedFamilies();
    const body = renderProtobuf([...families, { type: 'gauge', name: 'empty', help: '', samples: [] }]);
    let at = 0;
    let messages = 0;
    while (at < body.length) {
      let length = 0;
      let shift = 0;
      for (;;) {
        const byte = body[at++]!;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (byte < 0x80) break;
      }
      MetricFamilyMessage.decode(body.subarray(at, at + length));
      at += length;
      messages++;
    }
    assert.equal(at, body.length);
    assert.equal(messages, families.length);
    assert.equal(renderProtobuf([]).length, 0);
  });

  test('values that are not integers or not finite survive exactly', () => {
    const family: MetricFamily = {
      type: 'gauge',
      name: 'x',
      help: 'X.',
      samples: [
        { labels: { v: 'nan' }, value: NaN },
        { labels: { v: 'inf' }, value: Infinity },
        { labels: {}, value: 0.1 + 0.2 },
        { labels: {}, value: -0 },
        { labels: {}, value: 2 ** 60 },
      ],
    };
    const values = decode(renderProtobuf([family]))[0]!.metric.map((m) => m.gauge!.value);
    assert.ok(Number.isNaN(values[0]));
    assert.deepEqual(values.slice(1), [Infinity, 0.1 + 0.2, -0, 2 ** 60]);
  });

  test('the hand-written bytes are the bytes protobufjs encodes for the same message objects', () => {
    const created = 1_700_000_000; // whole seconds: the Timestamp's nanos (proto3, zero) must be left out
    const edge: MetricFamily[] = [
      {
        type: 'gauge',
        name: 'g',
        help: '',
        samples: [
          { labels: {}, value: Number.NaN },
          { labels: { a: '' }, value: -0 },
          { labels: { a: 'ü"\\' }, value: Number.POSITIVE_INFINITY },
          { labels: {}, value: 2 ** 60 },
        ],
      },
      {
        type: 'counter',
        name: 'c',
        help: 'h',
        unit: 'seconds',
        samples: [
          { labels: {}, value: 0, created },
          { labels: {}, value: 1.5 },
        ],
      },
      {
        type: 'histogram',
        name: 'h',
        help: 'h',
        samples: [{ labels: {}, bounds: [], cumulative: [], count: 0, sum: 0, created: 0.5 }],
      },
    ];
    for (const families of [
      buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex'),
      buildFamilies(fixtureTargets(), fixtureSelfStats(), 'directus'),
      aggregatedFamilies(),
      edge,
    ]) {
      assert.deepEqual(Buffer.from(renderProtobuf(families)), Buffer.from(encodeWithMessages(families)));
    }
  });

  test("the content type is client_golang's delimited protobuf format", () => {
    assert.equal(
      PROTOBUF_CONTENT_TYPE,
      'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
    );
  });
});

describe('metrics.proto', () => {
  test('metrics-proto.ts is the descriptor of the committed metrics.proto (UPDATE_GOLDEN=1 regenerates it)', () => {
    const descriptor = protobuf.loadSync(PROTO).toJSON();
    const generated = `/**
 * Generated from test/fixtures/proto/io/prometheus/client/metrics.proto (prometheus/client_model, verbatim) by
 * protobufjs's parser: \`UPDATE_GOLDEN=1 npx tsx --test test/render/protobuf.test.ts\`. Do not edit.
 */

/** METRICS_PROTO is the io.prometheus.client package, with google.protobuf.Timestamp (protobufjs JSON). */
export const METRICS_PROTO = ${JSON.stringify(descriptor, null, 2)};
`;
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(DESCRIPTOR, generated);
    assert.equal(readFileSync(DESCRIPTOR, 'utf8'), generated);
  });

  test('the proto declares the native histogram fields with the numbers Prometheus reads', () => {
    const histogram = protobuf.loadSync(PROTO).lookupType('io.prometheus.client.Histogram');
    const ids = Object.fromEntries(Object.values(histogram.fields).map((f) => [f.name, [f.id, f.type]]));
    // protobufjs names fields in camelCase (zero_threshold is zeroThreshold).
    assert.deepEqual(ids.schema, [5, 'sint32']);
    assert.deepEqual(ids.zeroThreshold, [6, 'double']);
    assert.deepEqual(ids.zeroCount, [7, 'uint64']);
    assert.deepEqual(ids.positiveSpan, [12, 'BucketSpan']);
    assert.deepEqual(ids.positiveDelta, [13, 'sint64']);
    assert.deepEqual(ids.createdTimestamp, [15, 'google.protobuf.Timestamp']);
  });
});
