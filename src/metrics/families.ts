/**
 * buildFamilies turns the publish-time model (one TargetSnapshot per configured target, plus SelfStats)
 * into the metric families both text renderers read. Pure: no clock, no process access, so the same
 * input always renders the same bytes (the golden files rely on it).
 *
 * Profiles:
 * - `probex`: Prometheus naming, base unit seconds (families listed in metrics/names.ts).
 * - `directus`: the families Directus's own `/metrics` writes, and only those, in the order and shape
 *   Directus 12 writes them (api/src/metrics/lib/create-metrics.ts, rendered by prom-client): the database's
 *   `directus_db_<client>_response_time_ms` histogram (in ms, Directus's buckets and HELP), then the
 *   `_connection_errors` counters of the database, the cache, Redis and each storage location (no `_total`
 *   in text 0.0.4), named with METRICS_NAME_PREFIX. Directus has no histogram for Redis or storage and no
 *   family at all for http, tcp or synthetic checks, so those targets' latencies and failure reasons stay in
 *   the probex duration and error families: a name that looks like Directus's must mean what Directus
 *   means. Every target also keeps `probex_probe_up`, `probex_probes_total` and
 *   `probex_probe_last_timestamp_seconds` (Directus has no up signal, and a dead dependency must show as
 *   up 0), and the probex self-metrics stay as they are, after Directus's families.
 */
import { FAILURE_REASONS, type ProbeFailureReason } from '../probes/probe.ts';
import type { ProbeKind } from '../probes/registry.ts';
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
 * alwaysEmittedReasons are the error reasons every target of `kind` exposes from its first publish, even at 0.
 * A counter series that appears only at its first increment loses that increment to rate() and
 * increase(), so the likely failures are initialised: `timeout` for every kind (every probe has a
 * deadline) and the kind's most common other failure (nothing listening for network kinds, local I/O
 * for storage, the drawn failure for synthetic). All 11 reasons for every target would be 11 series per
 * target (mostly impossible ones, e.g. `status` for redis) and would dominate the body at thousands of
 * synthetic targets; any other reason appears once it is non-zero and, being cumulative, stays.
 */
export function alwaysEmittedReasons(kind: ProbeKind): readonly ProbeFailureReason[] {
  return OWN_ALWAYS_EMITTED[kind] ?? NETWORK_ALWAYS_EMITTED;
}

/** NETWORK_ALWAYS_EMITTED are a kind's that connects to a server: its deadline, or nothing listening. */
const NETWORK_ALWAYS_EMITTED: readonly ProbeFailureReason[] = Object.freeze(['timeout', 'refused']);
/** OWN_ALWAYS_EMITTED are those of the kinds whose common failure is another. */
const OWN_ALWAYS_EMITTED: Readonly<Partial<Record<ProbeKind, readonly ProbeFailureReason[]>>> = Object.freeze({
  storage: ['timeout', 'io'],
  synthetic: ['timeout', 'other'],
  sqlite: ['timeout', 'busy'],
  dns: ['timeout', 'dns'],
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
  return build(targets, self, profile, directusNamePrefix, newSamples);
}

/**
 * ModelBuilder builds the families of each publish as buildFamilies does, but keeps each configured target's
 * probe samples (duration, errors, up, last timestamp, probes) from build to build and sets their values in
 * place, as targets keep their label objects: at 10,000 targets a model then allocates ~3 MB instead of
 * ~24 MB, which the publisher's small young generation would otherwise promote and collect in long pauses
 * (docs/benchmarks.md). The families a build returns are valid until the next build of the same builder
 * (the publisher renders them at once).
 */
export class ModelBuilder {
  readonly #kept = new WeakMap<TargetSnapshot['target'], TargetSamples>();

  build(
    targets: readonly TargetSnapshot[],
    self: SelfStats,
    profile: Profile,
    directusNamePrefix = DIRECTUS_PREFIX,
  ): MetricFamily[] {
    return build(targets, self, profile, directusNamePrefix, (snapshot) => {
      let kept = this.#kept.get(snapshot.target);
      if (kept === undefined || !kept.fits(snapshot)) {
        kept = newSamples(snapshot);
        this.#kept.set(snapshot.target, kept);
      }
      return kept;
    });
  }
}

function build(
  targets: readonly TargetSnapshot[],
  self: SelfStats,
  profile: Profile,
  directusNamePrefix: string,
  samplesOf: (snapshot: TargetSnapshot) => TargetSamples,
): MetricFamily[] {
  const families: MetricFamily[] = [];
  const probexTargets = profile === 'directus' ? pushDirectusFamilies(targets, families, directusNamePrefix) : targets;
  pushProbeFamilies(probexTargets, targets, families, samplesOf);
  pushCertificateFamilies(targets, families);
  pushSelfFamilies(self, families);
  return families.filter((family) => family.samples.length > 0);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** TargetSamples are one target's probe sample objects; pushProbeFamilies sets their values. */
interface TargetSamples {
  readonly duration: Mutable<HistogramSample>;
  readonly up: Mutable<ScalarSample>;
  readonly last: Mutable<ScalarSample>;
  readonly probes: Mutable<ScalarSample>;
  readonly errors: Partial<Record<ProbeFailureReason, Mutable<ScalarSample>>>;
  /** fits tells whether these objects can carry `snapshot`: same labels, created time and native buckets or none. */
  fits(snapshot: TargetSnapshot): boolean;
}

/** newSamples makes a target's sample objects, with the fields a snapshot like this one has. */
function newSamples(snapshot: TargetSnapshot): TargetSamples {
  const labels = targetLabels(snapshot);
  const created = snapshot.createdSeconds;
  const native = snapshot.native !== undefined;
  const duration: Mutable<HistogramSample> = {
    labels,
    bounds: snapshot.target.buckets,
    cumulative: [],
    count: 0,
    sum: 0,
  };
  if (created !== undefined) duration.created = created;
  if (native) duration.native = snapshot.native;
  return {
    duration,
    up: { labels, value: 0 },
    last: { labels, value: 0 },
    probes: counterSample(labels, 0, created),
    errors: {},
    fits: (s) => targetLabels(s) === labels && s.createdSeconds === created && (s.native !== undefined) === native,
  };
}

/** totalErrors is the number of failed probes of a target, all reasons together. */
function totalErrors(snapshot: TargetSnapshot): number {
  let total = 0;
  for (const reason of FAILURE_REASONS) total += snapshot.errors[reason] ?? 0;
  return total;
}

function pushProbeFamilies(
  detailed: readonly TargetSnapshot[],
  all: readonly TargetSnapshot[],
  families: MetricFamily[],
  samplesOf: (snapshot: TargetSnapshot) => TargetSamples,
): void {
  const duration: HistogramSample[] = [];
  const errors: ScalarSample[] = [];
  for (const snapshot of detailed) {
    const samples = samplesOf(snapshot);
    const sample = samples.duration;
    sample.cumulative = cumulativeOf(snapshot);
    sample.count = snapshot.count;
    sample.sum = snapshot.sumSeconds;
    if (snapshot.native !== undefined) sample.native = snapshot.native;
    duration.push(sample);
    const always = alwaysEmittedReasons(snapshot.kind);
    for (let r = 0; r < FAILURE_REASONS.length; r++) {
      const reason = FAILURE_REASONS[r]!;
      const value = snapshot.errors[reason] ?? 0;
      if (value === 0 && !always.includes(reason)) continue;
      const error = (samples.errors[reason] ??= counterSample(
        targetLabels(snapshot, reason),
        0,
        snapshot.createdSeconds,
      ));
      error.value = value;
      errors.push(error);
    }
  }
  const up: ScalarSample[] = [];
  const last: ScalarSample[] = [];
  const probes: ScalarSample[] = [];
  for (const snapshot of all) {
    const samples = samplesOf(snapshot);
    samples.up.value = snapshot.up;
    samples.last.value = snapshot.lastProbeMs / 1000;
    samples.probes.value = snapshot.probes;
    up.push(samples.up);
    last.push(samples.last);
    probes.push(samples.probes);
  }
  families.push(
    histogram(PROBE_METRICS.duration, duration),
    counter(PROBE_METRICS.errors, errors),
    gauge(PROBE_METRICS.up, up),
    gauge(PROBE_METRICS.lastTimestamp, last),
    counter(PROBE_METRICS.probes, probes),
  );
}

/**
 * pushCertificateFamilies appends the validity of each TLS target's last certificate (TargetSnapshot's
 * certificate), in every profile: Directus has no such family, so these are probex's own.
 */
function pushCertificateFamilies(all: readonly TargetSnapshot[], families: MetricFamily[]): void {
  const notBefore: ScalarSample[] = [];
  const notAfter: ScalarSample[] = [];
  for (const snapshot of all) {
    const certificate = snapshot.certificate;
    if (certificate === undefined) continue;
    const labels = targetLabels(snapshot);
    notBefore.push({ labels, value: certificate.notBeforeSeconds });
    notAfter.push({ labels, value: certificate.notAfterSeconds });
  }
  families.push(gauge(PROBE_METRICS.certNotAfter, notAfter), gauge(PROBE_METRICS.certNotBefore, notBefore));
}

/**
 * targetLabels is `{target, kind[, reason], ...target.labels}`, in that order. Each target's label objects
 * are made once and kept for as long as its configuration object lives (a reload replaces it), so every
 * publish hands the renderers the same objects and they keep each one's rendered bytes (render/text.ts).
 */
function targetLabels(snapshot: TargetSnapshot, reason?: ProbeFailureReason): Labels {
  let kept = keptLabels.get(snapshot.target);
  if (kept === undefined || kept.base.target !== snapshot.name || kept.base.kind !== snapshot.kind) {
    kept = { base: labelsOf(snapshot), reasons: {} };
    keptLabels.set(snapshot.target, kept);
  }
  if (reason === undefined) return kept.base;
  return (kept.reasons[reason] ??= labelsOf(snapshot, reason));
}

/** keptLabels are each configured target's label objects (see targetLabels). */
const keptLabels = new WeakMap<
  TargetSnapshot['target'],
  { readonly base: Labels; readonly reasons: Partial<Record<ProbeFailureReason, Labels>> }
>();

function labelsOf(snapshot: TargetSnapshot, reason?: ProbeFailureReason): Labels {
  const labels: Record<string, string> = { target: snapshot.name, kind: snapshot.kind };
  if (reason !== undefined) labels.reason = reason;
  return Object.freeze(Object.assign(labels, snapshot.target.labels));
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

/**
 * DirectusRank orders Directus's families as its registry holds them: prom-client writes families in the
 * order they were registered, and Directus registers the database histogram with its first query, then
 * the database, cache, Redis and storage counters at its first health check, in that order.
 */
const DirectusRank = { DbResponseTime: 0, DbErrors: 1, CacheErrors: 2, RedisErrors: 3, StorageErrors: 4 } as const;
type DirectusRank = (typeof DirectusRank)[keyof typeof DirectusRank];

/** DirectusFamily collects one Directus family's series: a histogram's or a counter's. */
interface DirectusFamily {
  readonly name: MetricName;
  readonly rank: DirectusRank;
  readonly members: TargetSnapshot[];
}

/**
 * pushDirectusFamilies appends the Directus families and returns the targets Directus has no histogram
 * for (all but the databases), whose latencies and failure reasons the probex families carry.
 *
 * Redis: Directus checks its Redis twice, as `directus_redis_connection_errors` (the shared Redis) and,
 * when CACHE_STORE=redis, as `directus_cache_redis_connection_errors` (the cache). A redis target stands
 * for the services its `directusServices` lists (default both: one Redis serving both, as Directus's
 * REDIS does), so its failures feed each of those counters and dashboards built on either name keep
 * working.
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
  const withoutHistogram: TargetSnapshot[] = [];
  const add = (name: MetricName, rank: DirectusRank, snapshot: TargetSnapshot): void => {
    let family = byName.get(name.name);
    if (family === undefined) {
      family = { name, rank, members: [] };
      byName.set(name.name, family);
    }
    family.members.push(snapshot);
  };
  for (const snapshot of targets) {
    const target = snapshot.target;
    switch (target.kind) {
      case 'mysql':
      case 'postgres':
      case 'sqlite': {
        // Directus names its database families after DB_CLIENT: mysql, pg (or postgres, cockroachdb), sqlite3.
        const client =
          target.kind === 'mysql' ? 'mysql' : target.kind === 'sqlite' ? 'sqlite3' : (target.directusClient ?? 'pg');
        const m = directusDbMetrics(client, prefix);
        add(m.responseTime, DirectusRank.DbResponseTime, snapshot);
        add(m.errors, DirectusRank.DbErrors, snapshot);
        break;
      }
      case 'redis': {
        const m = directusRedisMetrics(prefix);
        const services = target.directusServices ?? ['redis', 'cache'];
        if (services.includes('cache')) add(m.cacheErrors, DirectusRank.CacheErrors, snapshot);
        if (services.includes('redis')) add(m.errors, DirectusRank.RedisErrors, snapshot);
        break;
      }
      case 'storage':
        add(directusStorageMetrics(target.location, prefix).errors, DirectusRank.StorageErrors, snapshot);
        break;
    }
    // Every other kind, present or future, has no Directus family and keeps the probex ones.
    if (target.kind !== 'mysql' && target.kind !== 'postgres' && target.kind !== 'sqlite')
      withoutHistogram.push(snapshot);
  }
  // Array.prototype.sort is stable: within a rank, families keep the order of their first target.
  for (const family of [...byName.values()].sort((a, b) => a.rank - b.rank)) {
    const distinct = family.members.length > 1;
    const labelsOf = (snapshot: TargetSnapshot): Labels =>
      distinct ? { target: snapshot.name, ...snapshot.target.labels } : snapshot.target.labels;
    if (family.rank === DirectusRank.DbResponseTime) {
      // Directus's histogram stays classic: its unit is ms, and native buckets are counted in seconds.
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
  return withoutHistogram;
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
  if (self.shard !== undefined) {
    const { index, count, skippedTargets } = self.shard;
    families.push(
      gauge(m.shardInfo, [{ labels: { shard: String(index), shards: String(count) }, value: 1 }]),
      gauge(m.shardTargetsSkipped, one(skippedTargets)),
    );
  }
  const { web } = self;
  if (web === undefined) return;
  if (web.tls !== undefined)
    families.push(
      gauge(m.tlsCertificateExpiry, one(web.tls.notAfterSeconds)),
      counter(m.tlsCertificateReloads, since(web.tls.reloadsTotal)),
      counter(m.tlsCertificateReloadFailures, since(web.tls.reloadFailuresTotal)),
    );
  families.push(
    counter(m.rateLimited, since(web.rateLimitedTotal)),
    counter(m.basicAuthChecks, since(web.basicAuthChecksTotal)),
    counter(m.basicAuthBusy, since(web.basicAuthBusyTotal)),
  );
}

const NO_LABELS: Labels = Object.freeze({});

function one(value: number): ScalarSample[] {
  return [{ labels: NO_LABELS, value }];
}

/** counterSample is a counter series, with its created timestamp when it is known. */
function counterSample(labels: Labels, value: number, created: number | undefined): Mutable<ScalarSample> {
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
