/**
 * The only shapes that cross threads (piscina's types.ts). A ProbeBatch goes from the background thread's
 * scheduler to a Piscina worker, which answers the task with the batch's ProbeResults; runs that would
 * otherwise wait for a slow batch-mate come earlier as ProbeProgress. BackgroundMessage is everything the
 * main thread tells the background thread (BackgroundReport the answers). A background thread that does not
 * schedule (`probex run --listen`) gets the results on a MessagePort instead (ResultsMessage).
 * ConfigLoadRequest and ConfigLoadResult are a reload's question to its one-shot config thread and the answer.
 */
import type { DemandCounts } from '../render/plan.ts';
import type { MessagePort } from 'node:worker_threads';
import type { LoadedConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { WebStats } from '../metrics/model.ts';
import type { TlsMaterial } from '../http/tls-material.ts';
import type { WebConfig } from '../config/web-settings.ts';
import type { TargetTable } from './target-table.ts';

/** ProbeBatch is one round of probes for a few targets, run concurrently in one worker. */
export interface ProbeBatch {
  /** owner identifies the scheduler that sent the batch, and id the batch among its batches (see ProbeProgress). */
  readonly owner: number;
  readonly id: number;
  /** table holds the config's targets; `targets` are indices into it. */
  readonly table: TargetTable;
  readonly targets: readonly number[];
  /** lanes, when set, replaces each target's `concurrency` (a continuous target's share of lanes on one worker). */
  readonly lanes?: number;
  /**
   * burstMs: 0 runs each target's `concurrency` probes once. Above 0 (continuous targets, interval 0),
   * each of the `concurrency` lanes runs probes back to back until burstMs has passed.
   */
  readonly burstMs: number;
  /**
   * dueAtMs, when set, is when the scheduler fired this round (Unix ms, sub-ms precision): a probe that
   * starts later than that reports how much later (ProbeBatchResult.startDelayUs). Unset for continuous targets.
   */
  readonly dueAtMs?: number;
  /**
   * home, when set, is the worker slot that runs the batch (0 ≤ home < threads; src/pool/probe-pool.ts): a
   * target's rounds all go to its home worker, so its clients exist once in the process. Unset: any worker.
   */
  readonly home?: number;
}

/** ProbeResults is one finished batch: the names of its targets, in batch order, and its runs. */
export interface ProbeResults {
  readonly names: readonly string[];
  readonly result: ProbeBatchResult;
}

/** RESULT_FLUSH_MS is the longest a finished run waits in its worker before it is posted, whatever its batch-mates do. */
export const RESULT_FLUSH_MS = 50;

/**
 * ProbeProgress carries runs of a batch still running: a worker posts the runs it holds once the oldest of
 * them has waited RESULT_FLUSH_MS (on the worker's parentPort; Piscina emits them as the pool's 'message'
 * events). The task's own ProbeResults then carry only the runs not reported yet. The scheduler
 * treats both alike, and uses `done` to know which targets a failing worker had already finished.
 */
export interface ProbeProgress {
  readonly type: 'probe-progress';
  readonly owner: number;
  readonly batch: number;
  /** names are the batch's target names, in batch order (result.target indexes them). */
  readonly names: readonly string[];
  readonly result: ProbeBatchResult;
  /** done holds the batch positions of targets whose round completed since the previous report. */
  readonly done: readonly number[];
}

/** isProbeProgress tells a worker's ProbeProgress from anything else a pool may emit. */
export function isProbeProgress(msg: unknown): msg is ProbeProgress {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'probe-progress';
}

/** kOk is the `reason` code of a successful run; failures are 1 + index in FAILURE_REASONS. */
export const kOk = 0;

/**
 * ProbeBatchResult holds one entry per probe run, in completion order, as flat typed arrays so a
 * burst of tens of thousands of runs crosses threads as a few memcpy'd buffers, not objects.
 */
export interface ProbeBatchResult {
  /** target[i] is the index into ProbeBatch.targets of run i. */
  readonly target: Uint32Array;
  /** latencyUs[i] is the latency of run i in µs (measured by the caller, or supplied by the probe). */
  readonly latencyUs: Float64Array;
  /** reason[i] is kOk or 1 + the FAILURE_REASONS index. */
  readonly reason: Uint8Array;
  /** endedAtMs[i] is the Unix time in ms at which run i finished (for `up` and last-probe time). */
  readonly endedAtMs: Float64Array;
  /**
   * startDelayUs[i], when present, is how late run i started after its round was due (ProbeBatch.dueAtMs),
   * in µs; 0 for runs after a lane's first and for batches without a due time. For coordinated-omission correction.
   */
  readonly startDelayUs?: Float64Array;
  /** app[t] is the last app datapoints of target t in this batch, or null. */
  readonly app: ReadonlyArray<Readonly<Record<string, number>> | null>;
  /** failure[t] is the message of target t's last failure in this batch, or null (for the log and the status page). */
  readonly failure: ReadonlyArray<string | null>;
  /**
   * certificate, present only when a run of the batch reported one (ProbeOutcome.tls), holds two entries
   * per batch position t: [2t] the notBefore and [2t + 1] the notAfter of the last certificate target t's
   * server presented, in Unix seconds; NaN for a target that reported none. A batch of targets without
   * TLS carries nothing.
   */
  readonly certificate?: Float64Array;
}

/** MainStats are the main thread's own measurements, sent to the publisher once per publish interval. */
export interface MainStats {
  readonly scrapesTotal: number;
  readonly apiRequestsTotal: number;
  readonly eventLoopDelay: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly configReloadsTotal: number;
  readonly configReloadFailuresTotal: number;
  readonly configLastReloadSuccessful: 0 | 1;
  /** web is set when a web config is in force (`--web.config.file`). */
  readonly web?: WebStats;
  /** demand counts the requests of each body group (src/render/plan.ts), for rendering on demand. */
  readonly demand?: DemandCounts;
  /** hdrWanted names targets whose HDR export was asked for and not there, to be exported first. */
  readonly hdrWanted?: readonly string[];
}

/** BackgroundInit is the background thread's workerData. */
export interface BackgroundInit {
  readonly config: Config;
  /** snapshot is the first snapshot buffer; a larger one replaces it when the snapshot outgrows it. */
  readonly snapshot: SharedArrayBuffer;
  readonly version: string;
  readonly startTimeSeconds: number;
  /**
   * results, when set, is where another thread sends its ProbeResults and SchedulerStatsReports, and the
   * background thread runs no scheduler of its own (`probex run --listen`, whose scheduler is the run's).
   */
  readonly results?: MessagePort;
}

/**
 * BackgroundReport is what the background thread posts to the main thread: a larger snapshot buffer, with
 * a complete snapshot in it, that replaces the one the front end reads (SnapshotReader.attach); or that it
 * has stopped (after `stop`).
 */
export type BackgroundReport =
  { readonly type: 'snapshot-buffer'; readonly buffer: SharedArrayBuffer } | { readonly type: 'stopped' };

/** BackgroundMessage is what the main thread posts to the background thread. */
export type BackgroundMessage =
  /** config makes a reloaded config the running one: rendering and targets; rounds already running finish. */
  | { readonly type: 'config'; readonly config: Config }
  | { readonly type: 'stats'; readonly stats: MainStats }
  /** stop ends scheduling and publishing, waits up to `graceMs` for the rounds in flight, closes the pool and answers `stopped`. */
  | { readonly type: 'stop'; readonly graceMs: number };

/** PoolStats are the probe pool's self-metrics. */
export interface PoolStats {
  readonly threads: number;
  readonly utilization: number;
  readonly queueSize: number;
}

/** SchedulerStats are the scheduler's self-metrics. */
export interface SchedulerStats extends PoolStats {
  readonly probesSkippedTotal: number;
}

/** SchedulerStatsReport carries a scheduler's stats to the publisher, on a results port. */
export interface SchedulerStatsReport {
  readonly type: 'scheduler-stats';
  readonly stats: SchedulerStats;
}

/** ResultsMessage is what travels on a results port (BackgroundInit.results) to the publisher. */
export type ResultsMessage = ProbeResults | SchedulerStatsReport;

/** isSchedulerStats tells a SchedulerStatsReport from a batch's ProbeResults. */
export function isSchedulerStats(msg: ResultsMessage): msg is SchedulerStatsReport {
  return (msg as { type?: unknown }).type === 'scheduler-stats';
}

/** ConfigLoadRequest is the workerData of the one-shot thread that loads a config, at start and on reload. */
export interface ConfigLoadRequest {
  /** path of the config file; undefined loads the embedded default (with the env's overrides). */
  readonly path: string | undefined;
  /** directusEnv, when true, builds the config from the Directus environment instead (`--directus-env`). */
  readonly directusEnv?: boolean;
  /** nice is how many steps the thread lowers its priority (the running config's backgroundNice). */
  readonly nice: number;
  /** webConfigPath is the web config file (`--web.config.file`), when there is one. */
  readonly webConfigPath?: string | undefined;
}

/** LoadedWebConfig is the web config file with its TLS material read and checked. */
export interface LoadedWebConfig {
  readonly config: WebConfig;
  readonly material: TlsMaterial | undefined;
}

/**
 * ConfigLoadResult is that thread's answer: the config, its token file's tokens and warnings (and, from the
 * Directus environment, notes on what it does not probe), the web config with its TLS material, or every
 * problem found in either.
 */
export type ConfigLoadResult =
  | ({ readonly ok: true; readonly notes?: readonly string[]; readonly web?: LoadedWebConfig } & LoadedConfig)
  | { readonly ok: false; readonly issues: readonly string[] };
