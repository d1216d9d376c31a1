/**
 * The Piscina pool that runs probe batches (workers/probe-worker.ts). Only this file knows Piscina.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ProbeBatch, ProbeBatchResult } from './messages.ts';

/** PROBE_WORKER_URL is the worker entry, with this file's extension (.ts under tsx, .js when compiled). */
export const PROBE_WORKER_URL = new URL(`../../workers/probe-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** PoolStats are the pool's self-metrics. */
export interface PoolStats {
  readonly threads: number;
  readonly utilization: number;
  readonly queueSize: number;
}

/** ProbePool runs probe batches on worker threads. */
export interface ProbePool {
  run(batch: ProbeBatch): Promise<ProbeBatchResult>;
  stats(): PoolStats;
  close(): Promise<void>;
}

/**
 * createProbePool starts `threads` workers. Why these options:
 * - `atomics: 'disabled'`: an idle Piscina worker normally blocks in Atomics.wait, which would freeze
 *   the event loop that keeps probe clients alive (reconnect timers, keep-alive, the prober sweep).
 * - `concurrentTasksPerWorker`: probes are I/O-bound; a batch waiting on a slow target must not keep
 *   other batches from starting in the same worker (one target's slowness never delays another's).
 * - `idleTimeout: Infinity` with min = max threads: clients stay open between rounds.
 */
export function createProbePool(threads: number, filename: URL = PROBE_WORKER_URL): ProbePool {
  const pool = new Piscina<ProbeBatch, ProbeBatchResult>({
    filename: filename.href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    concurrentTasksPerWorker: 256,
    atomics: 'disabled',
  });
  return {
    run: (batch) => pool.run(batch),
    stats: () => ({ threads: pool.threads.length, utilization: pool.utilization, queueSize: pool.queueSize }),
    close: () => pool.close({ force: true }),
  };
}
