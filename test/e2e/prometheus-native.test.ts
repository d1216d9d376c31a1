/**
 * A real Prometheus (Debian's 2.42, --enable-feature=native-histograms) scrapes a real probex process:
 * Prometheus asks for protobuf first, probex answers it, and the native histogram it stores agrees with
 * probex's other views of the same probes. `histogram_count(rate(...))` is the probe rate, and
 * `histogram_quantile(0.99, rate(...))` lies within one native bucket of the HDR p99 the JSON API reports
 * for the same target (a synthetic target whose latencies are uniform on 5-15 ms, so its p99 is steady).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { nativeBucketKey } from '../../src/metrics/native-histogram.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import {
  HAS_PROMETHEUS,
  queryVector,
  requirePrometheus,
  startNativeScraper,
  type PrometheusServer,
} from '../../support/prometheus.ts';

const SCHEMA = 3;
const INTERVAL_MS = 20;
const WINDOW = '15s';
const SERIES = 'probex_probe_duration_seconds{job="probex-native",target="uniform"}';

let probex: ProbexProcess | undefined;
let prometheus: PrometheusServer | undefined;

before(async () => {
  if (!HAS_PROMETHEUS) return;
  probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 250ms
nativeHistograms: { schema: ${SCHEMA} }
targets:
  - { name: uniform, kind: synthetic, interval: ${INTERVAL_MS}ms, distribution: { type: uniform, minMs: 5, maxMs: 15 } }
`);
  prometheus = await startNativeScraper('probex-native', `127.0.0.1:${probex.port}`);
});

after(async () => {
  prometheus?.stop();
  await probex?.stop();
});

/** scalar runs an instant query at `time` (Unix seconds) and returns its one value, or undefined. */
async function scalar(expr: string, time: number): Promise<number | undefined> {
  const result = await queryVector(prometheus!.url, expr, time);
  return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
}

/**
 * settled waits until the window before `time` holds a full window of native scrapes, and the series is
 * older than that window, and returns that time. A counter's rate() stops its extrapolation at the point
 * where the counter would have been zero; Prometheus 2.42 does not do that for a native histogram's
 * count. While the series' first sample lies inside the window, the two rates of the same probes differ
 * by a few percent; with samples before the window, neither is cut short.
 */
async function settled(): Promise<number> {
  const up = 'probex_probe_up{job="probex-native",target="uniform"}';
  return waitFor(
    `a ${WINDOW} window of native histogram scrapes, after another`,
    async () => {
      const time = Date.now() / 1000 - 1;
      const scrapes = await scalar(`count_over_time(${up}[${WINDOW}])`, time);
      const before = await scalar(`count_over_time(${up}[${WINDOW}] offset ${WINDOW})`, time);
      const native = await scalar(`histogram_count(${SERIES})`, time);
      const ready =
        scrapes !== undefined && scrapes >= 12 && before !== undefined && before >= 3 && native !== undefined;
      return ready ? time : undefined;
    },
    90_000,
  );
}

test('Prometheus stores probex_probe_duration_seconds as a native histogram, and its count rate is the probe rate', async (t) => {
  if (!requirePrometheus(t)) return;
  const time = await settled();
  const histogramRate = await scalar(`histogram_count(rate(${SERIES}[${WINDOW}]))`, time);
  // The successful probes' rate: every probe minus the failed ones (none expected, but a loaded machine
  // may time one out), both from the same scrapes as the histogram.
  const selector = `{job="probex-native",target="uniform"}`;
  const probeRate = await scalar(
    `rate(probex_probes_total${selector}[${WINDOW}])` +
      ` - on() (sum(rate(probex_probe_errors_total${selector}[${WINDOW}])) or on() vector(0))`,
    time,
  );
  assert.ok(histogramRate !== undefined && probeRate !== undefined, 'both rates are there');
  assert.ok(
    Math.abs(histogramRate - probeRate) <= 1e-9 * probeRate,
    `histogram_count rate ${histogramRate} vs probe rate ${probeRate}`,
  );
  // At most the target's schedule, one probe per ${INTERVAL_MS} ms (a loaded machine may run late, never early).
  const scheduled = 1000 / INTERVAL_MS;
  assert.ok(histogramRate > 0 && histogramRate < 1.1 * scheduled, `rate ${histogramRate}/s, scheduled ${scheduled}/s`);
  // Only the native histogram is stored (Prometheus 2.42 keeps no classic buckets from a native-carrying scrape).
  assert.equal(
    await scalar(`count(probex_probe_duration_seconds_bucket{job="probex-native",target="uniform"})`, time),
    undefined,
  );
});

test('histogram_quantile(0.99) of the native rate is finite and within one native bucket of the HDR p99 of the JSON API', async (t) => {
  if (!requirePrometheus(t)) return;
  const time = await settled();
  const p99 = await scalar(`histogram_quantile(0.99, rate(${SERIES}[${WINDOW}]))`, time);
  assert.ok(p99 !== undefined && Number.isFinite(p99) && p99 > 0, `p99 ${p99}`);
  const res = await fetch(`${probex!.url}/system/v1/metrics/v0/containers/uniform`, {
    headers: { accept: 'application/json' },
  });
  assert.equal(res.status, 200);
  const { datapoints } = (await res.json()) as { datapoints: Array<{ name: string; value: number; unit: string }> };
  const hdr = datapoints.find((d) => d.name === 'probe.latency.p99');
  assert.ok(hdr !== undefined && hdr.unit === 'seconds', JSON.stringify(hdr));
  // Uniform on 5-15 ms: the p99 is ~14.9 ms, in the schema-3 bucket (14.33 ms, 15.63 ms].
  assert.ok(hdr.value > 0.0145 && hdr.value < 0.0151, `HDR p99 ${hdr.value}`);
  const apart = Math.abs(nativeBucketKey(p99, SCHEMA) - nativeBucketKey(hdr.value, SCHEMA));
  assert.ok(apart <= 1, `native p99 ${p99} and HDR p99 ${hdr.value} are ${apart} schema-${SCHEMA} buckets apart`);
});
