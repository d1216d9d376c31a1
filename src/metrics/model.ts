/**
 * The single data model the renderers read. The publisher (background thread) builds it from the aggregator's
 * cumulative state once per publish; render/text.ts turns families into exposition text,
 * render/protobuf.ts into delimited io.prometheus.client messages, render/json.ts turns target and node
 * snapshots into DC/OS-shaped JSON bodies.
 */
import type { ProbeFailureReason } from '../probes/probe.ts';
import type { ProbeKind, ProbeTarget } from '../probes/registry.ts';
import type { NativeBuckets } from './native-histogram.ts';

export type Labels = Readonly<Record<string, string>>;

/**
 * HdrDigits is the precision of the per-target HDR histograms (config `hdr.significantDigits`): recorded
 * values within 0.1% (3) or 1% (2) of each other are indistinguishable.
 */
export type HdrDigits = 2 | 3;
/** HDR_DEFAULT_DIGITS is the HDR precision when the config does not set one. */
export const HDR_DEFAULT_DIGITS: HdrDigits = 3;

/** ScalarSample is one counter or gauge series. */
export interface ScalarSample {
  readonly labels: Labels;
  readonly value: number;
  /**
   * created is when a counter series started counting from 0, in Unix seconds (OpenMetrics `_created`,
   * protobuf `created_timestamp`). Absent on gauges and where it is unknown.
   */
  readonly created?: number;
}

/** HistogramSample is one histogram series: cumulative counts per upper bound, +Inf implied by `count`. */
export interface HistogramSample {
  readonly labels: Labels;
  /** bounds are the finite upper bounds in the family's unit, ascending. */
  readonly bounds: readonly number[];
  /** cumulative[i] is the number of observations <= bounds[i]; same length as bounds. */
  readonly cumulative: readonly number[];
  /** count is the total number of observations; it is the +Inf bucket. */
  readonly count: number;
  readonly sum: number;
  /** created is when the histogram started counting from 0, in Unix seconds (see ScalarSample.created). */
  readonly created?: number;
  /**
   * native is the same observations counted into exponential buckets (a native histogram). It shares
   * `count` and `sum` with the classic buckets; only the protobuf exposition carries it.
   */
  readonly native?: NativeBuckets;
}

interface FamilyBase {
  /** name is the family name as OpenMetrics spells it (counters without `_total`). */
  readonly name: string;
  readonly help: string;
  /** unit, when set, is emitted as `# UNIT` in OpenMetrics; the name must end with `_<unit>`. */
  readonly unit?: string;
}
export interface CounterFamily extends FamilyBase {
  readonly type: 'counter';
  /**
   * textName is the name used in Prometheus text 0.0.4 for the TYPE line and samples. Default:
   * `${name}_total`. The directus profile sets it to `name`, as prom-client renders Directus's counters.
   */
  readonly textName?: string;
  readonly samples: readonly ScalarSample[];
}
export interface GaugeFamily extends FamilyBase {
  readonly type: 'gauge';
  readonly samples: readonly ScalarSample[];
}
export interface HistogramFamily extends FamilyBase {
  readonly type: 'histogram';
  readonly samples: readonly HistogramSample[];
}
export type MetricFamily = CounterFamily | GaugeFamily | HistogramFamily;

/** LatencySummary holds HDR-derived latency statistics in seconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly min: number;
  readonly mean: number;
}

/**
 * TargetSnapshot is one target's cumulative state at publish time. Every configured target has one,
 * including targets that have not been probed yet (`probes === 0`, `up === 0`).
 */
export interface TargetSnapshot {
  readonly target: ProbeTarget;
  readonly name: string;
  readonly kind: ProbeKind;
  /** probes is the number of probe runs recorded (successes and failures). */
  readonly probes: number;
  /** count is the number of latency observations (successful probes); the histogram's _count. */
  readonly count: number;
  /** sumSeconds is the sum of observed latencies in seconds; the histogram's _sum. */
  readonly sumSeconds: number;
  /** bucketCounts[i] is the number of observations <= target.buckets[i] (cumulative). */
  readonly bucketCounts: readonly number[];
  /** errors counts failed probes by reason; every reason is present (0 when none). */
  readonly errors: Readonly<Record<ProbeFailureReason, number>>;
  /** up is 1 when the last probe succeeded, else 0 (also 0 before the first probe). */
  readonly up: 0 | 1;
  /** lastProbeMs is the Unix time in ms of the last recorded probe, 0 if never probed. */
  readonly lastProbeMs: number;
  /** latency is the HDR summary, undefined until the first successful probe. */
  readonly latency?: LatencySummary;
  /** app holds the last application-level values the probe reported (rows, status, bytes ...). */
  readonly app: Readonly<Record<string, number>>;
  /**
   * createdSeconds is when this target's counters and histogram started from 0 (Unix seconds): the
   * start of probex, or the reload that added or re-shaped the target.
   */
  readonly createdSeconds?: number;
  /** native holds the successful probes' latencies in exponential buckets (seconds). */
  readonly native?: NativeBuckets;
  /** lastError is the target's most recent failure, undefined until one happens (it stays after a recovery). */
  readonly lastError?: LastError;
  /**
   * certificate is the validity of the leaf certificate the target's server last presented, verified or
   * not; undefined for a target that speaks no TLS or has not completed a handshake yet.
   */
  readonly certificate?: CertificateValidity;
}

/** CertificateValidity is a certificate's validity bounds in Unix seconds. */
export interface CertificateValidity {
  readonly notBeforeSeconds: number;
  readonly notAfterSeconds: number;
}

/** LastError is a target's most recent failed probe. */
export interface LastError {
  readonly reason: ProbeFailureReason;
  /** message is the probe's one-line failure message (describeError), as the log has it. */
  readonly message: string;
  /** atMs is the Unix time in ms the failed probe ended. */
  readonly atMs: number;
}

/** WebStats are the self-metrics of the web config: TLS rotation, the rate limit and basic auth. */
export interface WebStats {
  /** tls is set when the listener serves TLS. */
  readonly tls?: {
    readonly reloadsTotal: number;
    readonly reloadFailuresTotal: number;
    readonly notAfterSeconds: number;
  };
  readonly rateLimitedTotal: number;
  readonly basicAuthChecksTotal: number;
  readonly basicAuthBusyTotal: number;
}

/** SelfStats are probex's own measurements, gathered by the publisher at publish time. */
export interface SelfStats {
  readonly version: string;
  readonly startTimeSeconds: number;
  /** scrapes served by the front end, by route family. */
  readonly scrapesTotal: number;
  readonly apiRequestsTotal: number;
  /** generation of the snapshot being rendered. */
  readonly generation: number;
  /** publishDurationSeconds is the duration of the previous publish (build + render + gzip + write). */
  readonly publishDurationSeconds: number;
  readonly publishFailuresTotal: number;
  /** snapshotAgeSeconds: how long the last complete snapshot had been served when this one was rendered. */
  readonly snapshotAgeSeconds: number;
  readonly snapshotTimestampSeconds: number;
  readonly snapshotBytes: number;
  readonly poolThreads: number;
  readonly poolUtilization: number;
  readonly poolQueueSize: number;
  readonly probesSkippedTotal: number;
  /** eventLoopDelay of the front-end (main) thread, seconds. */
  readonly eventLoopDelay: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly cpuUserSecondsTotal: number;
  readonly cpuSystemSecondsTotal: number;
  readonly residentMemoryBytes: number;
  readonly heapUsedBytes: number;
  readonly configReloadsTotal: number;
  readonly configReloadFailuresTotal: number;
  readonly configLastReloadSuccessful: 0 | 1;
  /** web: the web config's self-metrics, when one is in force. */
  readonly web?: WebStats;
  /** shard: this replica's shard and the targets it leaves to the others, when sharded. */
  readonly shard?: ShardStats;
}

/** ShardStats say which shard a replica is and how many configured targets the other shards probe. */
export interface ShardStats {
  readonly index: number;
  readonly count: number;
  readonly skippedTargets: number;
}
