/**
 * Metric names, HELP text and the name/label rules, in one place. families.ts builds families from
 * these; nothing else spells a metric name. Counter names are given as OpenMetrics spells the family
 * (without `_total`); the text renderer appends `_total` unless a family sets `textName`.
 */

/** NAMESPACE is the prefix of every probex-owned family name. */
const NAMESPACE = 'probex';

// These are from https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
/** METRIC_NAME_RE matches a valid metric name. */
const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** PROFILES are the metric namings: probex (Prometheus conventions) and directus (the seed's families). */
export const PROFILES = ['probex', 'directus'] as const;
/** Profile selects the naming of the per-target families. */
export type Profile = (typeof PROFILES)[number];

/** LABEL_NAME_RE matches a valid label name (names starting with `__` are reserved on top of this). */
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** isValidMetricName reports whether name is a valid Prometheus metric name. */
export function isValidMetricName(name: string): boolean {
  return METRIC_NAME_RE.test(name);
}

/** isValidLabelName reports whether name is a valid, non-reserved label name. */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME_RE.test(name) && !name.startsWith('__');
}

/** MetricName is a family name plus its HELP text (and unit, when the name ends in one). */
export interface MetricName {
  readonly name: string;
  readonly help: string;
  readonly unit?: string;
}

function metric(suffix: string, help: string, unit?: string): MetricName {
  const name = `${NAMESPACE}_${suffix}`;
  return unit === undefined ? { name, help } : { name, help, unit };
}

/** PROBE_METRICS are the per-target families of the probex profile. */
export const PROBE_METRICS = {
  duration: metric('probe_duration_seconds', 'Duration of successful probes in seconds.', 'seconds'),
  errors: metric('probe_errors', 'Failed probes by reason.'),
  up: metric('probe_up', 'Whether the last probe of the target succeeded (1) or not (0); 0 before the first probe.'),
  lastTimestamp: metric(
    'probe_last_timestamp_seconds',
    'Unix time of the last recorded probe of the target in seconds; 0 before the first probe.',
    'seconds',
  ),
  probes: metric('probes', 'Probe runs recorded, successful or failed.'),
  certNotBefore: metric(
    'tls_cert_not_before_seconds',
    'Unix time from which the leaf certificate the target last presented is valid, in seconds (also when it failed verification).',
    'seconds',
  ),
  certNotAfter: metric(
    'tls_cert_not_after_seconds',
    'Unix time at which the leaf certificate the target last presented expires, in seconds (also when it failed verification).',
    'seconds',
  ),
} as const;

/**
 * SELF_METRICS are probex's own families, emitted in every profile. Counter names omit `_total`.
 * The event-loop delay is three gauges (`_p50`, `_p99`, `_max`), as prom-client's nodejs_eventloop_lag_*:
 * a gauge with a `quantile` label would claim to be a summary without `_sum`/`_count`.
 */
export const SELF_METRICS = {
  buildInfo: metric('build_info', 'A metric with a constant 1 value labeled by the probex version.'),
  scrapes: metric('scrapes', 'Scrapes of /metrics served.'),
  apiRequests: metric('api_requests', 'Requests served by the JSON metrics API.'),
  snapshotGeneration: metric('snapshot_generation', 'Generation number of the published snapshot.'),
  snapshotTimestamp: metric('snapshot_timestamp_seconds', 'Unix time the snapshot was rendered in seconds.', 'seconds'),
  snapshotAge: metric(
    'snapshot_age_seconds',
    'How long the last complete snapshot had been served when this one was rendered, in seconds (about one publish interval; it grows while publishes fail).',
    'seconds',
  ),
  snapshotSize: metric('snapshot_size_bytes', 'Size of the previous published snapshot in bytes.', 'bytes'),
  publishDuration: metric(
    'publish_duration_seconds',
    'Duration of the previous publish (build, render, compress, write) in seconds.',
    'seconds',
  ),
  publishFailures: metric(
    'publish_failures',
    'Publishes that could not publish a complete snapshot; meanwhile only the self-metrics are served.',
  ),
  poolThreads: metric('pool_threads', 'Probe worker threads.'),
  poolUtilization: metric(
    'pool_utilization_ratio',
    'Share of time the probe worker threads were busy (0 to 1).',
    'ratio',
  ),
  poolQueueSize: metric('pool_queue_size', 'Probe tasks waiting for a worker thread.'),
  probesSkipped: metric(
    'probes_skipped',
    'Probe rounds skipped because the previous round of the target was still running.',
  ),
  eventLoopDelayP50: metric(
    'event_loop_delay_p50_seconds',
    'Median event loop delay of the front-end thread in seconds.',
    'seconds',
  ),
  eventLoopDelayP99: metric(
    'event_loop_delay_p99_seconds',
    '99th percentile event loop delay of the front-end thread in seconds.',
    'seconds',
  ),
  eventLoopDelayMax: metric(
    'event_loop_delay_max_seconds',
    'Maximum event loop delay of the front-end thread in seconds.',
    'seconds',
  ),
  configReloads: metric('config_reloads', 'Configuration reloads attempted.'),
  configReloadFailures: metric(
    'config_reload_failures',
    'Configuration reloads that failed; the running configuration was kept.',
  ),
  configLastReloadSuccessful: metric(
    'config_last_reload_successful',
    'Whether the last configuration reload succeeded (1) or not (0).',
  ),
  tlsCertificateExpiry: metric(
    'tls_certificate_expiry_timestamp_seconds',
    'When the certificate the listener serves expires, in Unix seconds.',
    'seconds',
  ),
  tlsCertificateReloads: metric(
    'tls_certificate_reloads',
    'Certificates (with their key and client CA) served since start in place of the previous ones.',
  ),
  tlsCertificateReloadFailures: metric(
    'tls_certificate_reload_failures',
    'Changed certificate, key or client CA files whose new contents were refused; the previous ones stayed.',
  ),
  rateLimited: metric('http_rate_limited_requests', 'Requests refused with 429 by the web config rate_limit.'),
  basicAuthChecks: metric('basic_auth_bcrypt_checks', 'bcrypt checks of basic-auth credentials not seen before.'),
  shardInfo: metric(
    'shard_info',
    "This replica's shard (label shard, from 0) of shards (PROBEX_SHARD); constant 1. Only when sharded.",
  ),
  shardTargetsSkipped: metric(
    'shard_targets_skipped',
    'Configured targets this replica leaves to the other shards. Only when sharded.',
  ),
  basicAuthBusy: metric(
    'basic_auth_busy_requests',
    'Requests refused with 503 because too many new basic-auth credentials were waiting for bcrypt.',
  ),
} as const;

/**
 * PROCESS_METRICS are the standard process families, named and described as prom-client does.
 * The V8 heap is `nodejs_heap_size_used_bytes` (prom-client's name for `heapUsed`): prom-client's
 * `process_heap_bytes` is the Linux VmData size, which is a different number.
 */
export const PROCESS_METRICS = {
  cpuUser: { name: 'process_cpu_user_seconds', help: 'Total user CPU time spent in seconds.', unit: 'seconds' },
  cpuSystem: { name: 'process_cpu_system_seconds', help: 'Total system CPU time spent in seconds.', unit: 'seconds' },
  cpu: { name: 'process_cpu_seconds', help: 'Total user and system CPU time spent in seconds.', unit: 'seconds' },
  residentMemory: { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', unit: 'bytes' },
  heapUsed: {
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    unit: 'bytes',
  },
  startTime: {
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    unit: 'seconds',
  },
} as const satisfies Record<string, MetricName>;

/** DIRECTUS_PREFIX is Directus's default METRICS_NAME_PREFIX. */
export const DIRECTUS_PREFIX = 'directus_';

/** DIRECTUS_BUCKETS_MS are the response-time buckets Directus registers, in milliseconds. */
export const DIRECTUS_BUCKETS_MS: readonly number[] = Object.freeze([1, 10, 20, 40, 60, 80, 100, 200, 500, 750, 1000]);

/**
 * directusDbMetrics names the database families as Directus's create-metrics.ts does for `DB_CLIENT`
 * (`directus_db_<client>_response_time_ms`, `directus_db_<client>_connection_errors`), HELP included.
 * `prefix` is Directus's METRICS_NAME_PREFIX (default `directus_`), as create-metrics.ts applies it.
 */
export function directusDbMetrics(
  client: string,
  prefix = DIRECTUS_PREFIX,
): { responseTime: MetricName; errors: MetricName } {
  return {
    responseTime: {
      name: `${prefix}db_${client}_response_time_ms`,
      help: `${client} Database connection response time`,
    },
    errors: { name: `${prefix}db_${client}_connection_errors`, help: `${client} Database connection error count` },
  };
}

/**
 * directusRedisMetrics names the Redis counters of create-metrics.ts: `directus_redis_connection_errors` (its
 * shared Redis) and `directus_cache_redis_connection_errors` (the cache when CACHE_STORE=redis, on the same
 * Redis connection settings). Directus has no Redis response-time histogram, so the directus profile invents
 * none: a Redis target's latency stays in probex_probe_duration_seconds.
 */
export function directusRedisMetrics(prefix = DIRECTUS_PREFIX): { errors: MetricName; cacheErrors: MetricName } {
  return {
    errors: { name: `${prefix}redis_connection_errors`, help: 'Redis connection error count' },
    cacheErrors: { name: `${prefix}cache_redis_connection_errors`, help: 'Cache connection error count' },
  };
}

/**
 * directusStorageMetrics names the error counter of one storage location
 * (`directus_storage_<location>_connection_errors`). Like Redis, storage has no Directus histogram.
 */
export function directusStorageMetrics(location: string, prefix = DIRECTUS_PREFIX): { errors: MetricName } {
  return {
    errors: {
      name: `${prefix}storage_${location}_connection_errors`,
      help: `${location} storage connection error count`,
    },
  };
}
