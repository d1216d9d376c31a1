/**
 * Synthetic targets for the status page tests, fed through the real Aggregator and RateWindow so the page
 * is rendered from exactly what the publisher holds: a fast Redis, a MariaDB with stalls, a dead TCP
 * target whose error text is hostile HTML, a flapping HTTP target, one never probed, and one with the
 * longest name config allows.
 */
import { DEFAULT_LATENCY_BUCKETS_SECONDS } from '../../src/config/defaults.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { RateWindow } from '../../src/metrics/rate-window.ts';
import { kOk, type ProbeBatchResult } from '../../src/pool/messages.ts';
import { FAILURE_REASONS, type ProbeFailureReason } from '../../src/probes/probe.ts';
import type { ProbeKind, ProbeTarget } from '../../src/probes/registry.ts';
import { statusModel, type StatusModelInput } from '../../src/render/status-model.ts';
import { mulberry32 } from '../../support/rng.ts';

/** NOW_MS is the fixtures' publish time. */
export const NOW_MS = Date.UTC(2026, 2, 14, 9, 30, 0);
/** HOSTILE_ERROR is the dead target's last error: markup that must show as text. */
export const HOSTILE_ERROR =
  'connect ECONNREFUSED 127.0.0.1:1 <script>alert("x")</script> <img src=x onerror=alert(1)> & \'q\'';
/** LONG_NAME is as long as a target name may be, with no place to break. */
export const LONG_NAME = `a${'-very-long-target-name'.repeat(5)}`.slice(0, 128);

interface Spec {
  name: string;
  kind: ProbeKind;
  /** latency draws one successful latency in µs. */
  latency?: (rand: () => number) => number;
  /** failure gives the reason of a failed run (or undefined for success), per run index. */
  failure?: (i: number, rand: () => number) => ProbeFailureReason | undefined;
  runs: number;
  message?: string;
}

function lognormal(rand: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return median * Math.exp(sigma * z);
}

export const SPECS: Spec[] = [
  {
    name: 'redis',
    kind: 'redis',
    runs: 20_000,
    latency: (r) => lognormal(r, 180, 0.35) + (r() < 0.002 ? 4000 * r() : 0),
    failure: (i) => (i === 12_345 ? 'timeout' : undefined),
    message: 'deadline of 1000 ms exceeded',
  },
  {
    name: 'mysql',
    kind: 'mysql',
    runs: 6000,
    latency: (r) => (r() < 0.01 ? lognormal(r, 45_000, 0.3) : lognormal(r, 900, 0.25)),
  },
  { name: 'dead-tcp', kind: 'tcp', runs: 300, failure: () => 'refused', message: HOSTILE_ERROR },
  {
    name: 'api-http',
    kind: 'http',
    runs: 2000,
    latency: (r) => lognormal(r, 60_000, 0.8),
    failure: (i, r) => (i >= 1990 ? 'status' : r() < 0.05 ? (r() < 0.5 ? 'timeout' : 'reset') : undefined),
    message: 'HTTP 503 Service Unavailable (expected 200)',
  },
  { name: 'storage-local', kind: 'storage', runs: 900, latency: (r) => lognormal(r, 2200, 0.15) },
  { name: LONG_NAME, kind: 'synthetic', runs: 500, latency: (r) => 10 + 30 * r() },
  { name: 'not-yet', kind: 'redis', runs: 0 },
];

function target(name: string, kind: ProbeKind): ProbeTarget {
  return {
    name,
    kind,
    intervalMs: 1000,
    timeoutMs: 1000,
    concurrency: 1,
    labels: {},
    buckets: DEFAULT_LATENCY_BUCKETS_SECONDS,
  } as unknown as ProbeTarget;
}

/** buildInput runs every spec through an Aggregator (two publishes a minute apart, for rates). */
export function buildInput(specs: readonly Spec[] = SPECS): StatusModelInput {
  const agg = new Aggregator();
  agg.setTargets(specs.map((s) => target(s.name, s.kind)));
  const names = specs.map((s) => s.name);
  const rates = new RateWindow();
  const publish = (half: 0 | 1): void => {
    specs.forEach((s, t) => {
      const rand = mulberry32(1000 + t * 7 + half);
      const from = half === 0 ? 0 : Math.floor(s.runs / 2);
      const to = half === 0 ? Math.floor(s.runs / 2) : s.runs;
      const n = to - from;
      const end = NOW_MS - (half === 0 ? 60_000 : 0) - (s.kind === 'tcp' ? 1500 : 300);
      const result: ProbeBatchResult = {
        target: new Uint32Array(n).fill(t),
        latencyUs: new Float64Array(n),
        reason: new Uint8Array(n),
        endedAtMs: Float64Array.from({ length: n }, (_, i) => end - (n - i) * 2),
        app: names.map(() => null),
        failure: names.map((_, j) => (j === t ? (s.message ?? null) : null)),
      };
      for (let i = 0; i < n; i++) {
        const reason = s.failure?.(from + i, rand);
        result.reason[i] = reason === undefined ? kOk : FAILURE_REASONS.indexOf(reason) + 1;
        result.latencyUs[i] = reason === undefined ? s.latency!(rand) : 0;
      }
      if (n > 0) agg.record(names, result);
    });
    rates.update(NOW_MS - (half === 0 ? 60_000 : 0), agg.snapshot());
  };
  publish(0);
  publish(1);
  const snapshot = agg.snapshot();
  return {
    targets: snapshot,
    histogram: (name) => agg.histogram(name),
    nowMs: NOW_MS,
    rates: rates.update(NOW_MS, snapshot),
    version: '0.1.0',
    generation: 4242,
    refreshSeconds: 10,
  };
}

/** fixtureModel is statusModel over buildInput(). */
export const fixtureModel = (): ReturnType<typeof statusModel> => statusModel(buildInput());
