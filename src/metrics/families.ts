/**
 * buildFamilies turns the publish-time model (one TargetSnapshot per configured target, plus SelfStats)
 * into the metric families both text renderers read. Pure: no clock, no process access, so the same
 * input always renders the same bytes (the golden files rely on it).
 *
 * Profiles:
 * - `probex`: Prometheus naming, base unit seconds (families listed in metrics/names.ts).
 * - `directus`: mysql, postgres, sqlite, redis and storage targets appear as Directus's own `/metrics` families
 *   (`directus_db_mysql_response_time_ms`, `directus_db_pg_*`, `directus_db_sqlite3_*`, `..._connection_errors`,
 *   named with METRICS_NAME_PREFIX, in ms, with Directus's HELP text and
 *   buckets, counters without `_total` in text 0.0.4). Directus has no family for http, tcp or synthetic
 *   checks, so those targets keep the probex duration and error families: inventing `directus_http_*`
 *   names would look like Directus's but match nothing Directus emits. Every target also keeps
 *   `probex_probe_up`, `probex_probes_total` and `probex_probe_last_timestamp_seconds` (Directus has no up
 *   signal, and a dead dependency must show as up 0), and the probex self-metrics stay as they are.
 */
import { FAILURE_REASONS, type ProbeFailureReason, type ProbeKind } from '../probes/probe.ts';
import type {
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  HistogramSample,
  Labels,
  MetricFamily,
  ScalarSample,
  SelfStats,
  TargetSnapshot,
} from './model.ts';
import {
  DIRECTUS_PREFIX,
  type MetricName,
  PROBE_METRICS,
  PROCESS_METRICS,
  SELF_METRICS,
  directusDbMetrics,
  directusRedisMetrics,
  directusStorageMetrics,
  type Profile,
} from './names.ts';

/**
 * ALWAYS_EMITTED_REASONS are the error reasons every target exposes from its first publish, even at 0.
 * A counter series that appears only at its first increment loses that increment to rate() and
 * increase(), so the likely failures are initialised: `timeout` for every kind (every probe has a
 * deadline) and the kind's most common other failure (nothing listening for network kinds, local I/O
 * for storage, the drawn failure for synthetic). All 11 reasons for every target would be 11 series per
 * target (mostly impossible ones, e.g. `status` for redis) and would dominate the body at thousands of
 * synthetic targets; any other reason appears once it is non-zero and, being cumulative, stays.
 */
export const ALWAYS_EMITTED_REASONS: Readonly<Record<ProbeKind, readonly ProbeFailureReason[]>> = Object.freeze({
  mysql: ['timeout', 'refused'],
  redis: ['timeout', 'refused'],
  http: ['timeout', 'refused'],
  tcp: ['timeout', 'refused'],
  storage: ['timeout', 'io'],
  synthetic: ['timeout', 'other'],
  postgres: ['timeout', 'refused'],
  sqlite: ['timeout', 'busy'],
});

/**
 * buildFamilies builds every family of one publish, in a stable order; families without series are left out.
 * `directusNamePrefix` starts the directus profile's family names (Directus's METRICS_NAME_PREFIX).
 */
export function buildFamilies(
  targets: readonly TargetSnapshot[],
  self: SelfStats,
  profile: Profile,
  directusNamePrefix = DIRECTUS_PREFIX,
): MetricFamily[] {
  const families: MetricFamily[] = [];
  const probexTargets = profile === 'directus' ? pushDirectusFamilies(targets, families, directusNamePrefix) : targets;
  pushProbeFamilies(probexTargets, targets, families);
  pushSelfFamilies(self, families);
  return families.filter((family) => family.samples.length > 0);
}

/** totalErrors is the number of failed probes of a target, all reasons together. */
export function totalErrors(snapshot: TargetSnapshot): number {
  let total = 0;
  for (const reason of FAILURE_REASONS) total += snapshot.errors[reason] ?? 0;
  return total;
}

function pushProbeFamilies(
  detailed: readonly TargetSnapshot[],
  all: readonly TargetSnapshot[],
  families: MetricFamily[],
): void {
  const duration: HistogramSample[] = [];
  const errors: ScalarSample[] = [];
  for (const snapshot of detailed) {
    const labels = targetLabels(snapshot);
    const created = snapshot.createdSeconds;
    duration.push({
      labels,
      bounds: snapshot.target.buckets,
      cumulative: cumulativeOf(snapshot),
      count: snapshot.count,
      sum: snapshot.sumSeconds,
      ...(created === undefined ? {} : { created }),
      ...(snapshot.native === undefined ? {} : { native: snapshot.native }),
    });
    const always = ALWAYS_EMITTED_REASONS[snapshot.kind];
    for (const reason of FAILURE_REASONS) {
      const value = snapshot.errors[reason] ?? 0;
      if (value > 0 || always.includes(reason))
        errors.push(counterSample(targetLabels(snapshot, reason), value, created));
    }
  }
  const up: ScalarSample[] = [];
  const last: ScalarSample[] = [];
  const probes: ScalarSample[] = [];
  for (const snapshot of all) {
    const labels = targetLabels(snapshot);
    up.push({ labels, value: snapshot.up });
    last.push({ labels, value: snapshot.lastProbeMs / 1000 });
    probes.push(counterSample(labels, snapshot.probes, snapshot.createdSeconds));
  }
  families.push(
    histogram(PROBE_METRICS.duration, duration),
    counter(PROBE_METRICS.errors, errors),
    gauge(PROBE_METRICS.up, up),
    gauge(PROBE_METRICS.lastTimestamp, last),
    counter(PROBE_METRICS.probes, probes),
  );
}

/** targetLabels is `{target, kind[, reason], ...target.labels}`, in that order. */
function targetLabels(snapshot: TargetSnapshot, reason?: ProbeFailureReason): Labels {
  const labels: Record<string, string> = { target: snapshot.name, kind: snapshot.kind };
  if (reason !== undefined) labels.reason = reason;
  return Object.assign(labels, snapshot.target.labels);
}

/**
 * cumulativeOf passes the aggregator's cumulative bucket counts through untouched (exactness is the
 * aggregator's job). A target with no observations may come without counts; it gets zeros. Any other
 * length mismatch is a bug upstream and fails the publish, which keeps the last good snapshot.
 */
function cumulativeOf(snapshot: TargetSnapshot): readonly number[] {
  const bounds = snapshot.target.buckets.length;
  if (snapshot.bucketCounts.length === bounds) return snapshot.bucketCounts;
  if (snapshot.count === 0) return new Array<number>(bounds).fill(0);
  throw new RangeError(
    `target ${snapshot.name}: bucketCounts has ${snapshot.bucketCounts.length} entries for ${bounds} buckets`,
  );
}

/** DirectusFamily collects one Directus family's series: a histogram's or a counter's. */
interface DirectusFamily {
  readonly name: MetricName;
  readonly type: 'histogram' | 'counter';
  readonly members: TargetSnapshot[];
}

/**
 * pushDirectusFamilies appends the Directus-shaped families and returns the targets it did not map.
 *
 * Redis: Directus checks its Redis twice, as `directus_redis_connection_errors` (the shared Redis) and,
 * when CACHE_STORE=redis, as `directus_cache_redis_connection_errors` (the cache). A redis target stands
 * for the services its `directusServices` lists (default both: one Redis serving both, as Directus's
 * REDIS does), so its failures feed each of those counters and dashboards built on either name keep
 * working; its latency goes to `directus_redis_response_time_ms` (`directus_cache_redis_response_time_ms`
 * for a Redis that only serves the cache).
 *
 * Directus has one database and one Redis, so its families carry no labels. When several targets map
 * onto one family name (two mysql targets, two redis targets, two storage targets with the same
 * location), each series gets a `target` label so they stay distinct; a family with a single target keeps
 * Directus's exact label-less shape. Configured target labels are added either way.
 */
function pushDirectusFamilies(
  targets: readonly TargetSnapshot[],
  families: MetricFamily[],
  prefix: string,
): TargetSnapshot[] {
  const byName = new Map<string, DirectusFamily>();
  const unmapped: TargetSnapshot[] = [];
  const add = (name: MetricName, type: DirectusFamily['type'], snapshot: TargetSnapshot): void => {
    let family = byName.get(name.name);
    if (family === undefined) {
      family = { name, type, members: [] };
      byName.set(name.name, family);
    }
    family.members.push(snapshot);
  };
  for (const snapshot of targets) {
    const names = directusNames(snapshot, prefix);
    if (names === undefined) {
      unmapped.push(snapshot);
      continue;
    }
    add(names.responseTime, 'histogram', snapshot);
    for (const counterName of names.counters) add(counterName, 'counter', snapshot);
  }
  for (const family of byName.values()) {
    const distinct = family.members.length > 1;
    const labelsOf = (snapshot: TargetSnapshot): Labels =>
      distinct ? { target: snapshot.name, ...snapshot.target.labels } : snapshot.target.labels;
    if (family.type === 'histogram') {
      // Directus's families stay classic: their unit is ms, and native buckets are counted in seconds.
      families.push(
        histogram(
          family.name,
          family.members.map((snapshot) => ({
            labels: labelsOf(snapshot),
            bounds: boundsInMs(snapshot.target.buckets),
            cumulative: cumulativeOf(snapshot),
            count: snapshot.count,
            sum: secondsToMs(snapshot.sumSeconds),
            ...(snapshot.createdSeconds === undefined ? {} : { created: snapshot.createdSeconds }),
          })),
        ),
      );
    } else {
      // prom-client writes Directus's counters under their own name in text 0.0.4 (no `_total`).
      const errors = family.members.map((snapshot) =>
        counterSample(labelsOf(snapshot), totalErrors(snapshot), snapshot.createdSeconds),
      );
      families.push({ ...counter(family.name, errors), textName: family.name.name });
    }
  }
  return unmapped;
}

function directusNames(
  snapshot: TargetSnapshot,
  prefix: string,
): { responseTime: MetricName; counters: MetricName[] } | undefined {
  const target = snapshot.target;
  switch (target.kind) {
    case 'mysql':
    case 'postgres':
    case 'sqlite': {
      // Directus names its database families after DB_CLIENT: mysql, pg (or postgres, cockroachdb), sqlite3.
      const client =
        target.kind === 'mysql' ? 'mysql' : target.kind === 'sqlite' ? 'sqlite3' : (target.directusClient ?? 'pg');
      const m = directusDbMetrics(client, prefix);
      return { responseTime: m.responseTime, counters: [m.errors] };
    }
    case 'redis': {
      const m = directusRedisMetrics(prefix);
      const services = target.directusServices ?? ['redis', 'cache'];
      const counters = [
        ...(services.includes('redis') ? [m.errors] : []),
        ...(services.includes('cache') ? [m.cacheErrors] : []),
      ];
      return { responseTime: services.includes('redis') ? m.responseTime : m.cacheResponseTime, counters };
    }
    case 'storage': {
      const m = directusStorageMetrics(target.location, prefix);
      return { responseTime: m.responseTime, counters: [m.errors] };
    }
    case 'http':
    case 'tcp':
    case 'synthetic':
      return undefined;
  }
}

// Targets share their bucket arrays (the config default is one frozen array), so the ms bounds are
// computed once per distinct array and reused by the renderer's per-bounds `le` cache.
const msBounds = new WeakMap<readonly number[], readonly number[]>();

function boundsInMs(seconds: readonly number[]): readonly number[] {
  let ms = msBounds.get(seconds);
  if (ms === undefined) {
    ms = Object.freeze(seconds.map(secondsToMs));
    msBounds.set(seconds, ms);
  }
  return ms;
}

/** secondsToMs converts at nanosecond resolution, so 0.06 s is 60 ms and not 60.00000000000001. */
function secondsToMs(seconds: number): number {
  return Math.round(seconds * 1e9) / 1e6;
}

/**
 * pushSelfFamilies appends probex's own families. Its counters start at 0 when the process starts, so
 * their created timestamp is the start time.
 */
function pushSelfFamilies(self: SelfStats, families: MetricFamily[]): void {
  const m = SELF_METRICS;
  const p = PROCESS_METRICS;
  const since = (value: number): ScalarSample[] => [counterSample(NO_LABELS, value, self.startTimeSeconds)];
  families.push(
    gauge(m.buildInfo, [{ labels: { version: self.version }, value: 1 }]),
    counter(m.scrapes, since(self.scrapesTotal)),
    counter(m.apiRequests, since(self.apiRequestsTotal)),
    gauge(m.snapshotGeneration, one(self.generation)),
    gauge(m.snapshotTimestamp, one(self.snapshotTimestampSeconds)),
    gauge(m.snapshotAge, one(self.snapshotAgeSeconds)),
    gauge(m.snapshotSize, one(self.snapshotBytes)),
    gauge(m.publishDuration, one(self.publishDurationSeconds)),
    counter(m.publishFailures, since(self.publishFailuresTotal)),
    gauge(m.poolThreads, one(self.poolThreads)),
    gauge(m.poolUtilization, one(self.poolUtilization)),
    gauge(m.poolQueueSize, one(self.poolQueueSize)),
    counter(m.probesSkipped, since(self.probesSkippedTotal)),
    gauge(m.eventLoopDelayP50, one(self.eventLoopDelay.p50)),
    gauge(m.eventLoopDelayP99, one(self.eventLoopDelay.p99)),
    gauge(m.eventLoopDelayMax, one(self.eventLoopDelay.max)),
    counter(m.configReloads, since(self.configReloadsTotal)),
    counter(m.configReloadFailures, since(self.configReloadFailuresTotal)),
    gauge(m.configLastReloadSuccessful, one(self.configLastReloadSuccessful)),
    counter(p.cpuUser, since(self.cpuUserSecondsTotal)),
    counter(p.cpuSystem, since(self.cpuSystemSecondsTotal)),
    counter(p.cpu, since(self.cpuUserSecondsTotal + self.cpuSystemSecondsTotal)),
    gauge(p.residentMemory, one(self.residentMemoryBytes)),
    gauge(p.heapUsed, one(self.heapUsedBytes)),
    gauge(p.startTime, one(self.startTimeSeconds)),
  );
}

const NO_LABELS: Labels = Object.freeze({});

function one(value: number): ScalarSample[] {
  return [{ labels: NO_LABELS, value }];
}

/** counterSample is a counter series, with its created timestamp when it is known. */
function counterSample(labels: Labels, value: number, created: number | undefined): ScalarSample {
  return created === undefined ? { labels, value } : { labels, value, created };
}

function counter(name: MetricName, samples: readonly ScalarSample[]): CounterFamily {
  return { type: 'counter', ...name, samples };
}

function gauge(name: MetricName, samples: readonly ScalarSample[]): GaugeFamily {
  return { type: 'gauge', ...name, samples };
}

function histogram(name: MetricName, samples: readonly HistogramSample[]): HistogramFamily {
  return { type: 'histogram', ...name, samples };
}
