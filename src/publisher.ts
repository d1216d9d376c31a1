/**
 * Publisher: the background thread's rendering (src/process/background.ts runs its timer and feeds it results).
 * It owns the cumulative state (Aggregator) and the only SnapshotWriter. Each publish builds the model,
 * renders Prometheus text, OpenMetrics, their gzip and every JSON body, and writes them into the shared
 * snapshot, so the front end only ever sends bytes rendered before the request arrived.
 *
 * Never frozen, never blinded:
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
import type { Config } from './config/schema.ts';
import { RateLimitedLog, type Logger } from './log.ts';
import { Aggregator, type HistogramSettings } from './metrics/aggregator.ts';
import { ModelBuilder } from './metrics/families.ts';
import type { SelfStats, TargetSnapshot } from './metrics/model.ts';
import { collectNodeStats, FilesystemReader, type StatFs } from './metrics/host.ts';
import { kOk, type MainStats, type ProbeBatchResult, type ProbeResults, type SchedulerStats } from './pool/messages.ts';
import { FAILURE_REASONS } from './probes/probe.ts';
import { renderJsonBodies } from './render/json.ts';
import { SnapshotOverflowError } from './errors.ts';
import { createSnapshotBuffer, grownSlotBytes, MAX_SLOT_BYTES, nextGeneration } from './snapshot/layout.ts';
import { SnapshotWriter, type PublishOptions } from './snapshot/writer.ts';
import { HDR_EXPORT_BUDGET_SHARE, HdrExportRotation } from './hdr/export-rotation.ts';
import { isHdrKey } from './snapshot/keys.ts';
import { RateWindow } from './metrics/rate-window.ts';
import { statusModel } from './render/status-model.ts';
import { renderStatusPage } from './render/status-page.ts';
import { RenderPlan, type BodyGroup } from './render/plan.ts';
import { formatBodies, METRICS_FORMATS, newTextWriters, renderSelfBodies } from './render/bodies.ts';

/** STATUS_REFRESH_SECONDS is how often the status page asks the browser to reload it (a meta refresh). */
const STATUS_REFRESH_SECONDS = 10;

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
  /**
   * onDemand renders text and each other body group (a /metrics format, the JSON API, the status page, the
   * HDR exports) only while it is asked for, and holds none of the others (src/render/plan.ts). Without it
   * every publish renders everything.
   */
  readonly onDemand?: boolean;
}

/** ZERO_MAIN_STATS are the main thread's stats before its first report. */
export const ZERO_MAIN_STATS: MainStats = {
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
  /** #hdrWanted are targets whose export was asked for and missing: the rotation renders them first. */
  readonly #hdrWanted = new Set<string>();
  readonly #rates = new RateWindow();
  /** #statusAtMs is when the status page in the snapshot was rendered (0: never). */
  #statusAtMs = 0;
  readonly #plan: RenderPlan;
  /** #writers hold the text and OpenMetrics bodies from render to snapshot (see TextWriters). */
  readonly #writers = newTextWriters();
  /** #model keeps the targets' sample objects from publish to publish (see ModelBuilder). */
  readonly #model = new ModelBuilder();

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#probeLog = new RateLimitedLog(options.log);
    this.#config = options.config;
    this.#aggregator.setTargets(this.#config.targets, histogramSettings(this.#config));
    this.#writer = new SnapshotWriter(options.buffer);
    this.#filesystems = new FilesystemReader(options.statfs);
    this.#plan = new RenderPlan(options.onDemand ?? false);
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
   * configure installs a reloaded config (targets, intervals, profile, histogram settings); the caller
   * restarts its timer. Changed native options re-shape every histogram that carries them, a changed HDR
   * precision re-records the HDR counts (Aggregator.setTargets).
   */
  configure(config: Config): void {
    this.#config = config;
    this.#aggregator.setTargets(config.targets, histogramSettings(config));
    this.#probeLog.retain(new Set(config.targets.map((t) => t.name)));
  }

  /** setMainStats keeps the main thread's latest self-metrics for the next publish. */
  setMainStats(stats: MainStats): void {
    this.#main = stats;
    this.#plan.observe(stats.demand, Date.now());
    for (const name of stats.hdrWanted ?? []) this.#hdrWanted.add(name);
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
      const plan = this.#plan.next(Date.now());
      // Only the JSON API and the status page read the HDR summaries; recomputing them is the largest
      // share of a publish at thousands of targets. Only protobuf carries the native buckets.
      const targets = this.#aggregator.view({
        latency: plan.has('json') || plan.has('status'),
        native: plan.has('pb'),
      });
      const storagePaths = config.targets.flatMap((t) => (t.kind === 'storage' ? [t.path] : []));
      const node = await collectNodeStats(storagePaths, this.#filesystems);
      const nowMs = Date.now();
      const self = this.#selfStats(nowMs);
      const families = this.#model.build(targets, self, config.profile, config.directus.namePrefix);
      const bodies = new Map<string, Uint8Array>();
      // Each step yields to the thread's messages, so probe results arriving meanwhile are counted in
      // turn rather than queued behind a whole publish. Everything a step reads was copied above. A group
      // the plan leaves out is not carried over either: it is absent until it is asked for.
      for (const format of METRICS_FORMATS) {
        await yieldToTimers();
        if (plan.has(format))
          for (const [key, body] of formatBodies(format, families, config.profile, this.#writers))
            bodies.set(key, body);
      }
      await yieldToTimers();
      if (plan.has('json')) {
        const shard = config.shard === undefined ? {} : { shard: config.shard };
        for (const [key, body] of renderJsonBodies(targets, node, { agentId: config.agentId, nowMs, ...shard }))
          bodies.set(key, body);
      }
      await yieldToTimers();
      const carried = this.#addStatusAndExports(bodies, targets, self.generation, nowMs, plan);
      this.#write(bodies, { ...stamp, carry: (key) => carried.has(key) });
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
   * this publish's share of HDR exports (HdrExportRotation) to bodies, when the plan has them, and returns
   * the keys of those it did not render, to carry over from the current snapshot.
   */
  #addStatusAndExports(
    bodies: Map<string, Uint8Array>,
    targets: readonly TargetSnapshot[],
    generation: number,
    nowMs: number,
    plan: ReadonlySet<BodyGroup>,
  ): ReadonlySet<string> {
    const histogram = (name: string): ReturnType<Aggregator['histogram']> => this.#aggregator.histogram(name);
    const carry = new Set<string>();
    if (!plan.has('status')) {
      this.#statusAtMs = 0; // not held: rendered at once when it is asked for again
    } else if (this.#statusDue(nowMs)) {
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
            hdrDigits: this.#config.hdr.significantDigits,
            ...(this.#config.shard === undefined ? {} : { shard: this.#config.shard }),
          }),
        ),
      );
      bodies.set('status', page);
      bodies.set('status.gz', gzipSync(page));
      this.#statusAtMs = nowMs;
    } else {
      carry.add('status').add('status.gz');
    }
    if (!plan.has('hdr')) {
      this.#hdrExports.forget(); // not held: every export is rendered again once they are asked for
      return carry;
    }
    const budgetMs = HDR_EXPORT_BUDGET_SHARE * this.#config.publishIntervalMs;
    const exports = this.#hdrExports.next(
      targets.map((t) => ({ name: t.name, histogram: histogram(t.name) })),
      budgetMs,
      () => performance.now(),
      this.#hdrWanted,
    );
    this.#hdrWanted.clear(); // first in line this time; one still missing is named again by its client's retry
    for (const [key, body] of exports.bodies) bodies.set(key, body);
    for (const key of exports.carry) carry.add(key);
    return carry;
  }

  /** #statusDue tells whether the status page may be rendered again (at most once per STATUS_MIN_INTERVAL_MS). */
  #statusDue(nowMs: number): boolean {
    return this.#statusAtMs === 0 || nowMs - this.#statusAtMs >= STATUS_MIN_INTERVAL_MS;
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
      ...(this.#config.shard === undefined ? {} : { shard: this.#config.shard }),
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
 * yieldToTimers lets the thread's messages waiting (probe results) and due timers run between two steps
 * of a publish: a timeout, not setImmediate, whose callback would run before the event loop came round
 * to its timers again.
 */
function yieldToTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** histogramSettings are the config's native and HDR histogram settings, as the aggregator takes them. */
function histogramSettings(config: Config): HistogramSettings {
  return { native: config.nativeHistograms, hdrDigits: config.hdr.significantDigits };
}
