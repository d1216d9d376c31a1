/**
 * RunPush feeds `probex run --remote-write`: it keeps the run's cumulative metrics as the exporter's
 * publisher does (an Aggregator of the same batches the run records), builds the same families as
 * /metrics every REMOTE_WRITE_INTERVAL_MS and hands them to one RemoteWriteSender per receiver.
 *
 * The self-metrics of a front end and a publisher (scrapes, snapshots, publishes, event-loop delay,
 * reloads) mean nothing for a run without --listen, so they are left out; the build info, the pool's,
 * the skipped rounds and the process families are pushed with the run's values.
 */
import type { Config } from '../config/schema.ts';
import { Aggregator } from '../metrics/aggregator.ts';
import { buildFamilies } from '../metrics/families.ts';
import type { MetricFamily, SelfStats } from '../metrics/model.ts';
import { SELF_METRICS } from '../metrics/names.ts';
import type { ProbeResults, SchedulerStats } from '../pool/messages.ts';
import { VERSION } from '../version.ts';
import {
  REMOTE_WRITE_FINAL_MS,
  REMOTE_WRITE_INTERVAL_MS,
  RemoteWriteSender,
  type RemoteWriteEndpoint,
  type RemoteWriteReport,
} from './remote-write.ts';

/** FRONT_END_METRICS are the self-metric families a run without a front end leaves out. */
const FRONT_END_METRICS: ReadonlySet<string> = new Set(
  (
    [
      'scrapes',
      'apiRequests',
      'snapshotGeneration',
      'snapshotTimestamp',
      'snapshotAge',
      'snapshotSize',
      'publishDuration',
      'publishFailures',
      'eventLoopDelayP50',
      'eventLoopDelayP99',
      'eventLoopDelayMax',
      'configReloads',
      'configReloadFailures',
      'configLastReloadSuccessful',
    ] as const
  ).map((key) => SELF_METRICS[key].name),
);

/** RunPushOptions: the receivers, the `run` label's value and where warnings go. */
export interface RunPushOptions {
  readonly endpoints: readonly RemoteWriteEndpoint[];
  readonly runId: string;
  readonly warn: (line: string) => void;
  readonly intervalMs?: number;
}

/** RunPush pushes a run's series while it lasts and once at its end. */
export class RunPush {
  readonly #config: Config;
  readonly #aggregator: Aggregator;
  readonly #senders: RemoteWriteSender[];
  readonly #startTimeSeconds = Date.now() / 1000;
  readonly #stats: () => SchedulerStats;
  #timer: NodeJS.Timeout | undefined;

  constructor(config: Config, stats: () => SchedulerStats, options: RunPushOptions) {
    this.#config = config;
    this.#stats = stats;
    this.#aggregator = new Aggregator({ native: config.nativeHistograms });
    this.#aggregator.setTargets(config.targets);
    this.#senders = options.endpoints.map(
      (endpoint) => new RemoteWriteSender(endpoint, { labels: { run: options.runId }, warn: options.warn }),
    );
    this.#timer = setInterval(() => this.#pushAll(), options.intervalMs ?? REMOTE_WRITE_INTERVAL_MS);
  }

  /** record adds one delivery of probe results. */
  record({ names, result }: ProbeResults): void {
    this.#aggregator.record(names, result);
  }

  /** finish pushes the final values and waits for every receiver, at most `deadlineMs`. */
  async finish(deadlineMs = REMOTE_WRITE_FINAL_MS): Promise<RemoteWriteReport[]> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const families = this.families();
    const now = Date.now();
    return Promise.all(this.#senders.map((s) => s.close(families, now, deadlineMs)));
  }

  /** families are the families a push carries now. */
  families(): MetricFamily[] {
    return buildFamilies(
      this.#aggregator.snapshot(),
      this.#selfStats(),
      this.#config.profile,
      this.#config.directus.namePrefix,
    ).filter((f) => !FRONT_END_METRICS.has(f.name));
  }

  #pushAll(): void {
    const families = this.families();
    const now = Date.now();
    for (const sender of this.#senders) sender.push(families, now);
  }

  #selfStats(): SelfStats {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const pool = this.#stats();
    return {
      version: VERSION,
      startTimeSeconds: this.#startTimeSeconds,
      scrapesTotal: 0,
      apiRequestsTotal: 0,
      generation: 0,
      publishDurationSeconds: 0,
      publishFailuresTotal: 0,
      snapshotAgeSeconds: 0,
      snapshotTimestampSeconds: 0,
      snapshotBytes: 0,
      poolThreads: pool.threads,
      poolUtilization: pool.utilization,
      poolQueueSize: pool.queueSize,
      probesSkippedTotal: pool.probesSkippedTotal,
      eventLoopDelay: { p50: 0, p99: 0, max: 0 },
      cpuUserSecondsTotal: cpu.user / 1e6,
      cpuSystemSecondsTotal: cpu.system / 1e6,
      residentMemoryBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      configReloadsTotal: 0,
      configReloadFailuresTotal: 0,
      configLastReloadSuccessful: 1,
    };
  }
}
