/**
 * The Piscina pool that runs probe batches (workers/probe-worker.ts). Only this file knows Piscina.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ProbeBatch, ProbeResults } from './messages.ts';

/** PROBE_WORKER_URL is the worker entry, with this file's extension (.ts under tsx, .js when compiled). */
export const PROBE_WORKER_URL = new URL(`../../workers/probe-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** WORKER_YOUNG_GENERATION_MB bounds each probe worker's young generation (see createProbePool). */
export const WORKER_YOUNG_GENERATION_MB = 4;

/** PoolStats are the pool's self-metrics. */
export interface PoolStats {
  readonly threads: number;
  readonly utilization: number;
  readonly queueSize: number;
}

/** ProbePool runs probe batches on worker threads. */
export interface ProbePool {
  /** run resolves with the batch's results once all its probes are done. */
  run(batch: ProbeBatch): Promise<ProbeResults>;
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
  return {
    run: (batch) => pool.run(batch),
    stats: () => ({ threads: pool.threads.length, utilization: pool.utilization, queueSize: pool.queueSize }),
    close: () => pool.close({ force: true }),
  };
}
