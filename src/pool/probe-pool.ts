/**
 * The Piscina pool that runs probe batches (workers/probe-worker.ts). Only this file knows Piscina.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { isProbeProgress, type PoolStats, type ProbeBatch, type ProbeProgress, type ProbeResults } from './messages.ts';

/** PROBE_WORKER_URL is the worker entry, with this file's extension (.ts under tsx, .js when compiled). */
export const PROBE_WORKER_URL = new URL(`../../workers/probe-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

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
  close(): Promise<void>;
}

/**
 * createProbePool starts `threads` probe workers. Why these options:
 * - `atomics: 'disabled'`: an idle Piscina worker normally blocks in Atomics.wait, which would freeze
 *   the event loop that keeps probe clients alive (reconnect timers, keep-alive, the prober sweep).
 * - `concurrentTasksPerWorker`: probes are I/O-bound; a batch waiting on a slow target must not keep
 *   other batches from starting in the same worker (one target's slowness never delays another's).
 * - `idleTimeout: Infinity` with min = max threads: clients stay open between rounds.
 * - `maxYoungGenerationSizeMb`: a worker allocates a little per probe, thousands of times a second; V8's
 *   default young generation would grow to tens of MB per thread before collecting it (RSS, not speed).
 */
export function createProbePool(threads: number): ProbePool {
  const pool = new Piscina<ProbeBatch, ProbeResults>({
    filename: PROBE_WORKER_URL.href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    concurrentTasksPerWorker: 256,
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  const listeners: Array<(progress: ProbeProgress) => void> = [];
  // A worker's parentPort.postMessage becomes a 'message' event of the pool (piscina's onWorkerMessage).
  pool.on('message', (msg: unknown) => {
    if (isProbeProgress(msg)) for (const listener of listeners) listener(msg);
  });
  return {
    run: (batch) => pool.run(batch),
    onProgress: (listener) => void listeners.push(listener),
    stats: () => ({ threads: pool.threads.length, utilization: pool.utilization, queueSize: pool.queueSize }),
    close: () => pool.close({ force: true }),
  };
}
