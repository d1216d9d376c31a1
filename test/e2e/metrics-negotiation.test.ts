/**
 * /metrics of a real probex process, negotiated: the protobuf body (native histograms next to the classic
 * buckets) decoded with the library and checked family by family against the text body of the same
 * snapshot, and the Content-Type and Content-Encoding answered for what Prometheus 2 and 3 send.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseExposition, sampleValue, type ExpositionSample } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { asTextSamples, decodeFamilies } from '../helpers/protobuf.ts';

const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
const PROTOBUF_RANGE = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';
// What Prometheus sends (prometheus/prometheus config.ScrapeProtocolsHeaders), 3.x and 2.x, with and without native histograms.
const PROM3_DEFAULT =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,' +
  'application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,' +
  'text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const PROM3_NATIVE =
  `${PROTOBUF_RANGE};q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,` +
  'application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,' +
  'text/plain;version=0.0.4;q=0.2,*/*;q=0.1';
const PROM2_DEFAULT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PROM2_NATIVE =
  `${PROTOBUF_RANGE},application/openmetrics-text;version=1.0.0;q=0.8,` +
  'application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const CONFIG = `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 500ms
nativeHistograms: { schema: 4 }
targets:
  - { name: spread, kind: synthetic, interval: 20ms, distribution: { type: lognormal, medianMs: 5, sigma: 1 } }
  - { name: flaky, kind: synthetic, interval: 50ms, errorRate: 0.3, distribution: { type: uniform, minMs: 1, maxMs: 40 } }
`;

let probex: ProbexProcess;
before(async () => {
  probex = await startProbex(CONFIG);
  await waitFor(
    'both targets probed and published',
    async () => {
      const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
      return ['spread', 'flaky'].every((target) => sampleValue(samples, 'probex_probes_total', { target }) > 30)
        ? true
        : undefined;
    },
    30_000,
  );
});
after(() => probex.stop());

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** get fetches /metrics with exactly these headers (no automatic Accept-Encoding or decoding). */
function get(headers: Record<string, string>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    request(`${probex.url}/metrics`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const key = (s: ExpositionSample): string => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
const sorted = (samples: ExpositionSample[]): ExpositionSample[] =>
  [...samples].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

test('the served protobuf body holds every family and sample of the text body of the same snapshot, native buckets included', async () => {
  // Text, protobuf, text again: when both texts are equal and the protobuf body says it was rendered by the
  // same publish (its own probex_snapshot_generation), it came from the same snapshot. A format not asked
  // for lately is rendered every few publishes only, so the first protobuf scrapes may be older.
  const { text, families } = await waitFor(
    'a protobuf scrape between two equal text scrapes, rendered by the same publish',
    async () => {
      const before = (await get({})).body.toString('utf8');
      const pb = await get({ accept: PROM3_NATIVE });
      const pbGz = await get({ accept: PROM3_NATIVE, 'accept-encoding': 'gzip' });
      const afterText = (await get({})).body.toString('utf8');
      if (before !== afterText) return undefined;
      assert.deepEqual(gunzipSync(pbGz.body), pb.body, 'the gzip body is the protobuf body compressed');
      const decoded = decodeFamilies(pb.body);
      const generation = (body: ReturnType<typeof asTextSamples>): number | undefined =>
        sampleValue(body, 'probex_snapshot_generation');
      if (generation(asTextSamples(decoded)) !== generation(parseExposition(before))) return undefined;
      return { text: before, families: decoded };
    },
    20_000,
  );

  const textSamples = parseExposition(text);
  assert.deepEqual(sorted(asTextSamples(families)), sorted(textSamples));
  const typeLines = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual(
    new Map(families.map((f) => [f.name, ['counter', 'gauge', '', '', 'histogram'][f.type]!])),
    typeLines,
  );

  const duration = families.find((f) => f.name === 'probex_probe_duration_seconds')!;
  for (const target of ['spread', 'flaky']) {
    const h = duration.metric.find((m) => m.label!.some((l) => l.name === 'target' && l.value === target))!.histogram!;
    assert.equal(h.schema, 4, 'the configured schema');
    assert.ok(h.createdTimestamp !== undefined && h.createdTimestamp.seconds > 1_700_000_000);
    // The native buckets count the same observations as the classic ones.
    let total = h.zeroCount ?? 0;
    let count = 0;
    for (const delta of h.positiveDelta ?? []) total += count += delta;
    assert.equal(total, h.sampleCount, `${target}: native buckets hold every observation`);
    assert.equal(h.sampleCount, sampleValue(textSamples, 'probex_probe_duration_seconds_count', { target }));
    assert.ok((h.positiveDelta ?? []).length > 5, `${target}: observations spread over several native buckets`);
  }
});

test('each Accept header Prometheus sends gets the Content-Type it asks for, gzipped when allowed', async () => {
  const cases: Array<[string | undefined, string, 'pb' | 'om' | 'text']> = [
    [PROM3_NATIVE, PROTOBUF_CONTENT_TYPE, 'pb'],
    [PROM2_NATIVE, PROTOBUF_CONTENT_TYPE, 'pb'],
    [PROM3_DEFAULT, 'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8', 'om'],
    [
      PROM3_DEFAULT.replaceAll('allow-utf-8', 'underscores'),
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores',
      'om',
    ],
    [PROM2_DEFAULT, 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'om'],
    ['application/openmetrics-text;version=0.0.1', 'application/openmetrics-text; version=0.0.1; charset=utf-8', 'om'],
    [
      'text/plain;version=1.0.0;escaping=allow-utf-8',
      'text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8',
      'text',
    ],
    [undefined, 'text/plain; version=0.0.4; charset=utf-8', 'text'],
    ['*/*', 'text/plain; version=0.0.4; charset=utf-8', 'text'],
    ['application/json;q=0.9, garbage', 'text/plain; version=0.0.4; charset=utf-8', 'text'],
  ];
  for (const [accept, contentType, format] of cases) {
    for (const encoding of [undefined, 'gzip']) {
      const headers: Record<string, string> = {};
      if (accept !== undefined) headers.accept = accept;
      if (encoding !== undefined) headers['accept-encoding'] = encoding;
      const res = await get(headers);
      const what = `${accept} / ${encoding}`;
      assert.equal(res.status, 200, what);
      assert.equal(res.headers['content-type'], contentType, what);
      assert.equal(res.headers['content-encoding'], encoding, what);
      assert.equal(res.headers.vary, 'Accept, Accept-Encoding', what);
      const body = encoding === 'gzip' ? gunzipSync(res.body) : res.body;
      if (format === 'pb') {
        assert.ok(
          decodeFamilies(body).some((f) => f.name === 'probex_probe_duration_seconds'),
          what,
        );
      } else {
        const text = body.toString('utf8');
        assert.match(text, /^# (HELP|TYPE) /, what);
        assert.equal(text.endsWith('# EOF\n'), format === 'om', what);
      }
    }
  }
});
