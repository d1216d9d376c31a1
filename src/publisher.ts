/**
 * Publisher: the background thread's rendering (src/background.ts runs its timer and feeds it results).
 * It owns the cumulative state (Aggregator) and the only SnapshotWriter. Each publish builds the model,
 * renders Prometheus text, OpenMetrics, their gzip and every JSON body, and writes them into the shared
 * snapshot, so the front end only ever sends bytes rendered before the request arrived.
 *
 * Never frozen, never blinded (DESIGN.md invariant 7):
 * - The snapshot grows to fit. `snapshotBytes` is only the first buffer's size: bodies that outgrow it go
 *   into a new, larger buffer (grownSlotBytes: 1.5× what is needed, up to 1 GiB a slot), which is handed
 *   to the front end once a complete snapshot is in it.
 * - A publish that still fails (the render throws, the buffer cannot grow) is counted, and a reduced
 *   snapshot is published in its place: the self-metrics (with `probex_publish_failures_total` and the age
 *   of the last complete snapshot's data) and the last complete JSON bodies, whose datapoints carry their
 *   own timestamps. The target families are left out rather than served again as if they were new.
 * - Every snapshot carries the time its probe data was read and how old it may grow (3 publish intervals);
 *   the front end answers /readyz with 503 past that, whether the publisher fails or stalls.
 */
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import type { Config } from './config.ts';
import { RateLimitedLog, type Logger } from './log.ts';
import { Aggregator } from './metrics/aggregator.ts';
import { buildFamilies } from './metrics/families.ts';
import type { MetricFamily, SelfStats, TargetSnapshot } from './metrics/model.ts';
import { collectNodeStats, FilesystemReader, type NodeStats, type StatFs } from './metrics/node.ts';
import { kOk, type MainStats, type ProbeBatchResult, type ProbeResults, type SchedulerStats } from './pool/messages.ts';
import { FAILURE_REASONS } from './probes/probe.ts';
import { renderJsonBodies } from './render/json.ts';
import { renderProtobuf } from './render/protobuf.ts';
import { renderOpenMetrics, renderText } from './render/text.ts';
import { SnapshotOverflowError } from './errors.ts';
import {
  createSnapshotBuffer,
  grownSlotBytes,
  MAX_SLOT_BYTES,
  nextGeneration,
  type FixedKey,
} from './snapshot/layout.ts';
import { SnapshotWriter, type PublishOptions } from './snapshot/writer.ts';
import { HDR_EXPORT_BUDGET_SHARE, HdrExportRotation } from './hdr/export-rotation.ts';
import { isHdrKey } from './snapshot/keys.ts';
import { RateWindow } from './metrics/rate-window.ts';
import { renderStatusPage, statusModel } from './render/status-page.ts';

/** STATUS_REFRESH_SECONDS is how often the status page asks the browser to reload it (a meta refresh). */
export const STATUS_REFRESH_SECONDS = 10;

/**
 * STATUS_MIN_INTERVAL_MS is the least time between two renders of the status page: its plots cost
 * milliseconds per target, too much for every 100 ms publish. In between, the page is carried over.
 */
export const STATUS_MIN_INTERVAL_MS = 1000;

/** STALE_AFTER_INTERVALS is how many publish intervals old a snapshot's data may be before /readyz says 503. */
export const STALE_AFTER_INTERVALS = 3;

/** PublisherOptions are a Publisher's fixed inputs. */
export interface PublisherOptions {
  readonly config: Config;
  /** buffer is the first snapshot buffer, which the front end reads from the start. */
  readonly buffer: SharedArrayBuffer;
  readonly version: string;
  readonly startTimeSeconds: number;
  readonly log: Logger;
  /** handOver receives each larger buffer, with a complete snapshot already in it, for the front end to attach. */
  readonly handOver: (buffer: SharedArrayBuffer) => void;
  /** maxSlotBytes caps how large a slot may grow (MAX_SLOT_BYTES when not given). */
  readonly maxSlotBytes?: number;
  /** statfs reads a storage path's filesystem (fs.promises.statfs when not given). */
  readonly statfs?: StatFs;
}

/** ZERO_MAIN_STATS are the main thread's stats before its first report. */
const ZERO_MAIN_STATS: MainStats = {
  scrapesTotal: 0,
  apiRequestsTotal: 0,
  eventLoopDelay: { p50: 0, p99: 0, max: 0 },
  configReloadsTotal: 0,
  configReloadFailuresTotal: 0,
  configLastReloadSuccessful: 1,
};

/** ZERO_SCHEDULER_STATS are the scheduler's stats before its first report. */
const ZERO_SCHEDULER_STATS: SchedulerStats = { threads: 0, utilization: 0, queueSize: 0, probesSkippedTotal: 0 };

/** Publisher aggregates probe results and publishes snapshots of them. */
export class Publisher {
  readonly #options: PublisherOptions;
  readonly #log: Logger;
  readonly #probeLog: RateLimitedLog;
  readonly #aggregator = new Aggregator();
  readonly #filesystems: FilesystemReader;
  #config: Config;
  #writer: SnapshotWriter;
  #main: MainStats = ZERO_MAIN_STATS;
  #scheduler: SchedulerStats = ZERO_SCHEDULER_STATS;
  #failures = 0;
  /** #completeAtMs / #completeAsOfNs: when the last complete snapshot was rendered (Unix ms) and its data read (hrtime). */
  #completeAtMs = 0;
  #completeAsOfNs = 0n;
  #lastDurationSeconds = 0;
  #lastSizeBytes = 0;
  #publishing = false;
  /** #hdrExports renders the changed targets' HDR exports within a budget; #rates gives the status page probes/s. */
  readonly #hdrExports = new HdrExportRotation();
  readonly #rates = new RateWindow();
  /** #statusAtMs is when the status page in the snapshot was rendered (0: never). */
  #statusAtMs = 0;

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#probeLog = new RateLimitedLog(options.log);
    this.#config = options.config;
    this.#aggregator.setTargets(this.#config.targets, this.#config.nativeHistograms);
    this.#writer = new SnapshotWriter(options.buffer);
    this.#filesystems = new FilesystemReader(options.statfs);
  }

  /** publishFailures is the number of publishes that could not publish a complete snapshot. */
  get publishFailures(): number {
    return this.#failures;
  }

  /** capacity is the payload size of each slot of the buffer published into now. */
  get capacity(): number {
    return this.#writer.capacity;
  }

  /** record adds one batch's runs (or part of them) and logs the targets' outages and recoveries. */
  record({ names, result }: ProbeResults): void {
    this.#aggregator.record(names, result);
    this.#logFailures(names, result);
  }

  /**
   * configure installs a reloaded config (targets, intervals, profile, native histogram options); the caller
   * restarts its timer. Changed native options re-shape every histogram that carries them (Aggregator.setTargets).
   */
  configure(config: Config): void {
    this.#config = config;
    this.#aggregator.setTargets(config.targets, config.nativeHistograms);
    this.#probeLog.retain(new Set(config.targets.map((t) => t.name)));
  }

  /** setMainStats keeps the main thread's latest self-metrics for the next publish. */
  setMainStats(stats: MainStats): void {
    this.#main = stats;
  }

  /** setSchedulerStats keeps the scheduler's latest self-metrics (its pool's) for the next publish. */
  setSchedulerStats(stats: SchedulerStats): void {
    this.#scheduler = stats;
  }

  /**
   * publish renders and publishes one snapshot. It never throws: a publish that fails is counted
   * (probex_publish_failures_total) and logged, and a reduced snapshot says so until the next one succeeds.
   */
  async publish(): Promise<void> {
    if (this.#publishing) return; // a slow publish (huge config, slow statfs) must not pile up behind itself
    this.#publishing = true;
    const t0 = performance.now();
    const config = this.#config;
    const stamp: PublishOptions = {
      asOfNs: process.hrtime.bigint(),
      maxAgeMs: STALE_AFTER_INTERVALS * config.publishIntervalMs,
    };
    try {
      const targets = this.#aggregator.snapshot();
      const storagePaths = config.targets.flatMap((t) => (t.kind === 'storage' ? [t.path] : []));
      const node = await collectNodeStats(storagePaths, this.#filesystems);
      const nowMs = Date.now();
      const self = this.#selfStats(nowMs);
      const bodies = renderBodies(targets, self, node, config, nowMs);
      const carry = this.#addStatusAndExports(bodies, targets, self.generation, nowMs);
      this.#write(bodies, { ...stamp, carry: (key) => carry.has(key) });
      this.#completeAtMs = nowMs;
      this.#completeAsOfNs = stamp.asOfNs!;
    } catch (err) {
      this.#failures++;
      this.#hdrExports.invalidate(); // exports rendered by this publish may not have reached the snapshot
      this.#log.error({ err, failures: this.#failures }, 'publish failed; a snapshot of the self-metrics says so');
      this.#publishReduced(stamp.maxAgeMs!);
    } finally {
      this.#lastDurationSeconds = (performance.now() - t0) / 1000;
      this.#publishing = false;
    }
  }

  /**
   * #publishReduced publishes the self-metrics (failures, the age of the last complete data) and carries the
   * last complete JSON bodies over. Its data time stays that of the last complete snapshot, so it ages on
   * and /readyz turns 503 once it is too old. If even this fails, the current snapshot stays and ages.
   */
  #publishReduced(maxAgeMs: number): void {
    try {
      const nowMs = Date.now();
      const bodies = renderSelfBodies(this.#selfStats(nowMs), this.#config);
      // Before any complete snapshot the data time stays 0: readers report "no complete snapshot yet".
      // The status page and HDR exports say when they were made, as the JSON datapoints do: carried too.
      this.#write(bodies, {
        asOfNs: this.#completeAsOfNs,
        maxAgeMs,
        carry: (key) => key.startsWith('json:') || key === 'status' || key === 'status.gz' || isHdrKey(key),
      });
    } catch (err) {
      this.#log.error({ err }, 'the reduced snapshot failed too; the previous snapshot stays and ages');
    }
  }

  /**
   * #write publishes bodies, growing the buffer when they outgrow it: a new buffer 1.5× what is needed
   * (grownSlotBytes), published into by a writer that continues the generations, and only then handed over.
   */
  #write(bodies: ReadonlyMap<string, Uint8Array>, stamp: PublishOptions): void {
    try {
      this.#writer.publish(bodies, stamp);
    } catch (err) {
      if (!(err instanceof SnapshotOverflowError)) throw err;
      const slotBytes = grownSlotBytes(err.neededBytes, this.#options.maxSlotBytes ?? MAX_SLOT_BYTES);
      if (slotBytes === undefined) {
        throw new SnapshotOverflowError(
          `${err.message}, and slots may not grow past ${this.#options.maxSlotBytes ?? MAX_SLOT_BYTES} bytes`,
          err.neededBytes,
          err.capacityBytes,
          { cause: err },
        );
      }
      const buffer = createSnapshotBuffer(slotBytes);
      const writer = new SnapshotWriter(buffer, this.#writer.generation);
      // The new buffer holds nothing to carry from: the carried bodies come from the current one.
      writer.publish(stamp.carry === undefined ? bodies : this.#writer.carried(bodies, stamp.carry), {
        ...stamp,
        carry: undefined,
      });
      this.#writer = writer;
      this.#options.handOver(buffer);
      this.#log.info(
        { slotBytes, previousSlotBytes: err.capacityBytes, neededBytes: err.neededBytes },
        'snapshot outgrew its buffer; it moved to a larger one',
      );
    }
    this.#lastSizeBytes = 0;
    for (const body of bodies.values()) this.#lastSizeBytes += body.byteLength;
  }

  /**
   * #addStatusAndExports adds the status page (and its gzip, at most once per STATUS_MIN_INTERVAL_MS) and
   * this publish's share of HDR exports (HdrExportRotation) to bodies, and returns the keys of those it
   * did not render, to carry over from the current snapshot.
   */
  #addStatusAndExports(
    bodies: Map<string, Uint8Array>,
    targets: readonly TargetSnapshot[],
    generation: number,
    nowMs: number,
  ): ReadonlySet<string> {
    const histogram = (name: string): ReturnType<Aggregator['histogram']> => this.#aggregator.histogram(name);
    const carry = new Set<string>();
    if (this.#statusAtMs === 0 || nowMs - this.#statusAtMs >= STATUS_MIN_INTERVAL_MS) {
      const page = encoder.encode(
        renderStatusPage(
          statusModel({
            targets,
            histogram,
            nowMs,
            generation,
            rates: this.#rates.update(nowMs, targets),
            version: this.#options.version,
            refreshSeconds: STATUS_REFRESH_SECONDS,
          }),
        ),
      );
      bodies.set('status', page);
      bodies.set('status.gz', gzipSync(page));
      this.#statusAtMs = nowMs;
    } else {
      carry.add('status').add('status.gz');
    }
    const budgetMs = HDR_EXPORT_BUDGET_SHARE * this.#config.publishIntervalMs;
    const exports = this.#hdrExports.next(
      targets.map((t) => ({ name: t.name, histogram: histogram(t.name) })),
      budgetMs,
      () => performance.now(),
    );
    for (const [key, body] of exports.bodies) bodies.set(key, body);
    for (const key of exports.carry) carry.add(key);
    return carry;
  }

  #selfStats(nowMs: number): SelfStats {
    const cpu = process.cpuUsage(); // process-wide: every thread's CPU time
    const mem = process.memoryUsage();
    const pool = this.#scheduler;
    return {
      ...this.#main,
      poolThreads: pool.threads,
      poolUtilization: pool.utilization,
      poolQueueSize: pool.queueSize,
      probesSkippedTotal: pool.probesSkippedTotal,
      version: this.#options.version,
      startTimeSeconds: this.#options.startTimeSeconds,
      generation: nextGeneration(this.#writer.generation),
      publishDurationSeconds: this.#lastDurationSeconds,
      publishFailuresTotal: this.#failures,
      snapshotAgeSeconds: this.#completeAtMs === 0 ? 0 : (nowMs - this.#completeAtMs) / 1000,
      snapshotTimestampSeconds: nowMs / 1000,
      snapshotBytes: this.#lastSizeBytes,
      cpuUserSecondsTotal: cpu.user / 1e6,
      cpuSystemSecondsTotal: cpu.system / 1e6,
      residentMemoryBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
    };
  }

  /** #logFailures logs each target's last run of the batch: a failure (rate-limited) or a recovery. */
  #logFailures(names: readonly string[], result: ProbeBatchResult): void {
    const lastReason = new Array<number>(names.length).fill(-1);
    for (let i = 0; i < result.target.length; i++) lastReason[result.target[i]!] = result.reason[i]!;
    names.forEach((name, t) => {
      const code = lastReason[t]!;
      if (code < 0) return;
      if (code === kOk) {
        this.#probeLog.recovered(name, { target: name }, 'probe recovered');
      } else {
        const reason = FAILURE_REASONS[code - 1]!;
        this.#probeLog.failure(
          name,
          reason,
          { target: name, reason },
          `probe failed: ${result.failure[t] ?? 'no message'}`,
        );
      }
    });
  }
}

const encoder = new TextEncoder();

/**
 * renderBodies renders every body of one complete snapshot: Prometheus text, OpenMetrics, protobuf, the
 * gzip of each (compressed once here, not per scrape) and every JSON body.
 */
export function renderBodies(
  targets: readonly TargetSnapshot[],
  self: SelfStats,
  node: NodeStats,
  config: Pick<Config, 'profile' | 'agentId' | 'directus'>,
  nowMs: number,
): Map<string, Uint8Array> {
  const families = buildFamilies(targets, self, config.profile, config.directus.namePrefix);
  return new Map<string, Uint8Array>([
    ...metricsBodies(families),
    ...renderJsonBodies(targets, node, { agentId: config.agentId, nowMs }),
  ]);
}

/** renderSelfBodies renders the `/metrics` bodies with the self-metrics alone (a reduced snapshot). */
export function renderSelfBodies(
  self: SelfStats,
  config: Pick<Config, 'profile' | 'directus'>,
): Map<string, Uint8Array> {
  return new Map<string, Uint8Array>(
    metricsBodies(buildFamilies([], self, config.profile, config.directus.namePrefix)),
  );
}

/**
 * PROTOBUF_GZIP_LEVEL compresses the protobuf body at zlib level 1, not the default 6: at 1,000 targets
 * that takes ~6 ms instead of ~21 ms of each publish, for a body ~17% larger (76 KB instead of 65 KB,
 * still below the 82 KB of gzipped text), which keeps a publish with protobuf within 1.3x of one without
 * (docs/benchmarks.md, "Protobuf exposition").
 */
export const PROTOBUF_GZIP_LEVEL = 1;

/** metricsBodies are the six `/metrics` bodies (snapshot/layout.ts FIXED_KEYS): each format and its gzip. */
function metricsBodies(families: readonly MetricFamily[]): Array<[FixedKey, Uint8Array]> {
  const text = encoder.encode(renderText(families));
  const om = encoder.encode(renderOpenMetrics(families));
  const pb = renderProtobuf(families);
  return [
    ['text', text],
    ['text.gz', gzipSync(text)],
    ['om', om],
    ['om.gz', gzipSync(om)],
    ['pb', pb],
    ['pb.gz', gzipSync(pb, { level: PROTOBUF_GZIP_LEVEL })],
  ];
}
