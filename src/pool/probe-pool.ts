/**
 * The Piscina pool that runs probe batches (workers/probe-worker.ts). Only this file knows Piscina.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { PoolClosedError } from '../errors.ts';
import { isProbeProgress, type PoolStats, type ProbeBatch, type ProbeProgress, type ProbeResults } from './messages.ts';

/** PROBE_WORKER_URL is the worker entry, with this file's extension (.ts under tsx, .js when compiled). */
export const PROBE_WORKER_URL = new URL(
  `../../workers/probe-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/** WORKER_YOUNG_GENERATION_MB bounds each probe worker's young generation (see createProbePool). */
export const WORKER_YOUNG_GENERATION_MB = 4;

/** ProbePool runs probe batches on worker threads. */
export interface ProbePool {
  /**
   * run resolves once all the batch's probes are done, with the runs not already reported to onProgress's
   * listeners (ProbeProgress: the runs a slow batch-mate would otherwise hold back).
   */
  run(batch: ProbeBatch): Promise<ProbeResults>;
  /** onProgress adds a listener for every ProbeProgress of every batch (each carries its batch's owner and id). */
  onProgress(listener: (progress: ProbeProgress) => void): void;
  stats(): PoolStats;
  /**
   * close ends the workers now: batches still running reject with a PoolClosedError, so a caller
   * gives the rounds in flight their grace first (Scheduler.stop). Piscina's own close would wait for every
   * running task, up to its closeTimeout of 30 s, which a probe hung on a dead dependency may well reach.
   */
  close(): Promise<void>;
}

/**
 * PoolErrorHandler receives a worker failure that belongs to no task (an error thrown in a worker between
 * tasks); failures of a task reject that task's run instead.
 */
export type PoolErrorHandler = (err: unknown) => void;

/**
 * createProbePool starts `threads` probe workers running `filename` (tests give a fixture). Why these options:
 * - `atomics: 'disabled'`: an idle Piscina worker normally blocks in Atomics.wait, which would freeze
 *   the event loop that keeps probe clients alive (reconnect timers, keep-alive, the prober sweep).
 * - `concurrentTasksPerWorker`: probes are I/O-bound; a batch waiting on a slow target must not keep
 *   other batches from starting in the same worker (one target's slowness never delays another's).
 * - `idleTimeout: Infinity` with min = max threads: clients stay open between rounds.
 * - `maxYoungGenerationSizeMb`: a worker allocates a little per probe, thousands of times a second; V8's
 *   default young generation would grow to tens of MB per thread before collecting it (RSS, not speed).
 */
export function createProbePool(
  threads: number,
  onError: PoolErrorHandler,
  filename = PROBE_WORKER_URL.href,
): ProbePool {
  const pool = new Piscina<ProbeBatch, ProbeResults>({
    filename,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    concurrentTasksPerWorker: 256,
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  // Piscina emits 'error' for a worker failure no task is waiting on; unhandled, it would throw in this thread.
  pool.on('error', onError);
  const listeners: Array<(progress: ProbeProgress) => void> = [];
  // A worker's parentPort.postMessage becomes a 'message' event of the pool (piscina's onWorkerMessage).
  pool.on('message', (msg: unknown) => {
    if (isProbeProgress(msg)) for (const listener of listeners) listener(msg);
  });
  let closing = false;
  return {
    run: (batch) =>
      pool.run(batch).catch((err: unknown) => {
        throw closing ? new PoolClosedError('the probe pool closed while the batch ran', { cause: err }) : err;
      }),
    onProgress: (listener) => void listeners.push(listener),
    stats: () => ({ threads: pool.threads.length, utilization: pool.utilization, queueSize: pool.queueSize }),
    close: () => {
      closing = true;
      return pool.destroy();
    },
  };
}
