/**
 * A real Prometheus (Debian's 2.42, run with --enable-feature=native-histograms) scrapes a node:http server
 * that serves probex's protobuf body for a known set of latencies, rendered by the real path (Aggregator →
 * buildFamilies → renderProtobuf). Its PromQL answers must match the observations exactly: this proves
 * Prometheus parses the delimited messages, the native histogram's spans and deltas, and the counters.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { negotiateMetrics } from '../../src/http/negotiate.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildFamilies } from '../../src/metrics/families.ts';
import { nativeBucketKey, nativeBucketUpperBound } from '../../src/metrics/native-histogram.ts';
import { kOk } from '../../src/pool/messages.ts';
import { PROTOBUF_CONTENT_TYPE, renderProtobuf } from '../../src/render/protobuf.ts';
import { fixtureSelfStats, makeTarget } from '../../support/exposition.ts';
import { waitFor } from '../../support/probex-process.ts';
import {
  HAS_PROMETHEUS,
  queryVector,
  requirePrometheus,
  startNativeScraper,
  type PrometheusServer,
} from '../../support/prometheus.ts';

// Latencies in µs: 1 ms to ~1 s on a spread, a few exactly on schema-3 boundaries (1 s, 2 s), and zeros.
const LATENCY_US = [
  ...Array.from({ length: 200 }, (_, i) => 1000 + ((i * 7919) % 50_000)),
  ...Array.from({ length: 50 }, (_, i) => 100_000 + i * 17_000),
  1_000_000,
  1_000_000,
  2_000_000,
  0,
  0,
];
const SECONDS = LATENCY_US.map((us) => us / 1e6);
const ERRORS = 3;

let server: Server;
let prometheus: PrometheusServer | undefined;
const accepts: string[] = [];

function body(): Uint8Array {
  const agg = new Aggregator({ now: () => 1_700_000_000_000 });
  agg.setTargets([makeTarget({ name: 'db', kind: 'mysql' }), makeTarget({ name: 'idle', kind: 'tcp' })]);
  const n = LATENCY_US.length + ERRORS;
  agg.record(['db', 'idle'], {
    target: new Uint32Array(n),
    latencyUs: Float64Array.from([...LATENCY_US, ...Array<number>(ERRORS).fill(0)]),
    reason: Uint8Array.from([...LATENCY_US.map(() => kOk), ...Array<number>(ERRORS).fill(1)]),
    endedAtMs: Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i),
    app: [null, null],
    failure: [null, null],
  });
  return renderProtobuf(buildFamilies(agg.snapshot(), fixtureSelfStats(), 'probex'));
}

before(async () => {
  if (!HAS_PROMETHEUS) return;
  const bytes = body();
  server = createServer((req, res) => {
    accepts.push(req.headers.accept ?? '');
    res.writeHead(200, { 'content-type': PROTOBUF_CONTENT_TYPE, 'content-length': bytes.byteLength });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: targetPort } = server.address() as { port: number };

  prometheus = await startNativeScraper('native', `127.0.0.1:${targetPort}`);
});

after(async () => {
  prometheus?.stop();
  if (server !== undefined) await new Promise((resolve) => server.close(resolve));
});

/** scalar returns the one value of an instant query, waiting until the first scrape has landed. */
async function scalar(expr: string): Promise<number> {
  return waitFor(
    expr,
    async () => {
      const result = await queryVector(prometheus!.url, expr);
      return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
    },
    20_000,
  );
}

const DB = 'probex_probe_duration_seconds{job="native",target="db"}';

test('Prometheus asks for protobuf first, and negotiate.ts answers it with protobuf', async (t) => {
  if (!requirePrometheus(t)) return;
  await scalar(`histogram_count(${DB})`);
  assert.ok(accepts.length > 0);
  assert.match(
    accepts[0]!,
    /^application\/vnd\.google\.protobuf;proto=io\.prometheus\.client\.MetricFamily;encoding=delimited/,
  );
  assert.equal(negotiateMetrics(accepts[0]).contentType, PROTOBUF_CONTENT_TYPE);
});

test('histogram_count and histogram_sum of the native series equal the observations', async (t) => {
  if (!requirePrometheus(t)) return;
  assert.equal(await scalar(`histogram_count(${DB})`), LATENCY_US.length);
  const sum = SECONDS.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs((await scalar(`histogram_sum(${DB})`)) - sum) < 1e-9 * sum);
  assert.equal(
    await scalar('histogram_count(probex_probe_duration_seconds{target="idle"})'),
    0,
    'a target without observations is still a native histogram',
  );
});

test('histogram_fraction up to a bucket boundary is the exact share of observations at or below it', async (t) => {
  if (!requirePrometheus(t)) return;
  // At a boundary Prometheus needs no interpolation: the fraction is (zero bucket + buckets up to it) / count.
  for (const bound of [0.002, 0.01, 0.05, 0.5, 1, 2]) {
    const key = nativeBucketKey(bound, 3);
    const upper = nativeBucketUpperBound(key, 3);
    const atOrBelow = SECONDS.filter((v) => v <= upper).length;
    const fraction = await scalar(`histogram_fraction(0, ${upper}, ${DB})`);
    assert.ok(
      Math.abs(fraction - atOrBelow / SECONDS.length) < 1e-12,
      `le ${upper}: ${fraction} vs ${atOrBelow}/${SECONDS.length}`,
    );
  }
});

test('histogram_quantile on the native series lies in the bucket of the exact quantile', async (t) => {
  if (!requirePrometheus(t)) return;
  const sorted = [...SECONDS].sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
    const key = nativeBucketKey(exact, 3);
    const got = await scalar(`histogram_quantile(${q}, ${DB})`);
    assert.ok(
      got > nativeBucketUpperBound(key - 1, 3) && got <= nativeBucketUpperBound(key, 3),
      `p${q * 100}: ${got} outside the bucket (${nativeBucketUpperBound(key - 1, 3)}, ${nativeBucketUpperBound(key, 3)}] of ${exact}`,
    );
  }
});

test('the counters and gauges of the same body are parsed too', async (t) => {
  if (!requirePrometheus(t)) return;
  assert.equal(await scalar('probex_probe_errors_total{target="db",reason="timeout"}'), ERRORS);
  assert.equal(await scalar('probex_probes_total{target="db"}'), LATENCY_US.length + ERRORS);
  assert.equal(await scalar('probex_probe_up{target="db"}'), 0);
});
