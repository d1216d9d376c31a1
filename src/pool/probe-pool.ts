/**
 * The Piscina pool that runs probe batches (workers/probe-worker.ts). Only this file knows Piscina.
 *
 * A batch with a `home` runs on that worker slot (homeBalancer), so a target's probers, and the
 * connections they hold, exist in one worker only. Closing the pool first has every worker close its
 * probers (each cancels what it runs on its server and ends its sessions), within PROBER_CLOSE_MS.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { PoolClosedError } from '../errors.ts';
import { isProbeProgress, type PoolStats, type ProbeBatch, type ProbeProgress, type ProbeResults } from './messages.ts';
import type { TargetTable } from './target-table.ts';

/** PROBE_WORKER_URL is the worker entry, with this file's extension (.ts under tsx, .js when compiled). */
const PROBE_WORKER_URL = new URL(
  `../../workers/probe-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * PROBER_CLOSE_MS bounds how long close() waits for the workers to close their probers before it ends the
 * threads: enough for a database kind to cancel a running query (CANCEL_GRACE_MS in src/probes/sessions.ts).
 */
const PROBER_CLOSE_MS = 700;

/** MAX_TASKS_PER_WORKER is Piscina's concurrentTasksPerWorker (see createProbePool). */
const MAX_TASKS_PER_WORKER = 256;

/** WORKER_YOUNG_GENERATION_MB bounds each probe worker's young generation (see createProbePool). */
const WORKER_YOUNG_GENERATION_MB = 4;

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
   * retire tells every worker the config's new target table: each closes at once the probers of targets
   * the table no longer has, or has changed (a reload), rather than when they would have idled out.
   */
  retire(table: TargetTable): void;
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
    concurrentTasksPerWorker: MAX_TASKS_PER_WORKER,
    atomics: 'disabled',
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    loadBalancer: homeBalancer(threads),
  });
  let closing = false;
  // Piscina emits 'error' for a worker failure no task is waiting on; unhandled, it would throw in this thread.
  // Once closing, it also emits one for a batch that answers after destroy() has rejected it ("Unexpected
  // message from Worker"): teardown, not a failure, and the batch's caller already has its rejection.
  pool.on('error', (err: unknown) => {
    if (!closing) onError(err);
  });
  const listeners: Array<(progress: ProbeProgress) => void> = [];
  // A worker's parentPort.postMessage becomes a 'message' event of the pool (piscina's onWorkerMessage).
  pool.on('message', (msg: unknown) => {
    if (isProbeProgress(msg)) for (const listener of listeners) listener(msg);
  });
  /** everyWorker runs one of the worker entry's other tasks (not a batch) on the worker in slot `home`. */
  const everyWorker = (home: number, name: 'retire' | 'closeProbers', task: object): Promise<void> =>
    (pool as unknown as Piscina<object, void>).run(homed(task, home), { name });
  return {
    run: (batch) =>
      pool.run(homed(batch, batch.home)).catch((err: unknown) => {
        throw closing ? new PoolClosedError('the probe pool closed while the batch ran', { cause: err }) : err;
      }),
    onProgress: (listener) => void listeners.push(listener),
    stats: () => ({ threads: pool.threads.length, utilization: pool.utilization, queueSize: pool.queueSize }),
    retire: (table) => {
      for (let home = 0; home < threads; home++) void everyWorker(home, 'retire', { table }).catch(() => {});
    },
    close: async () => {
      closing = true;
      // A worker whose entry has no closeProbers (a test fixture) fails its task: nothing to close there.
      const closed = Promise.allSettled(
        Array.from({ length: threads }, (_, home) => everyWorker(home, 'closeProbers', {})),
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, PROBER_CLOSE_MS)))]);
      clearTimeout(timer);
      return pool.destroy();
    },
  };
}

/** Home is what a task tells homeBalancer, under Piscina's queue-options symbol. */
interface Home {
  readonly home: number | undefined;
}

/** homed gives a task its home worker slot (a symbol property: the worker never sees it). */
function homed<T extends object>(task: T, home: number | undefined): T {
  return home === undefined ? task : { ...task, [Piscina.queueOptionsSymbol]: { home } satisfies Home };
}

type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;
type PoolWorker = Parameters<LoadBalancer>[1][number];

/**
 * homeBalancer hands a task with a home to the worker in that slot, and any other task to the least busy
 * worker. A worker keeps its slot until it is destroyed; a new worker (Piscina replacing one that died)
 * takes the first free slot. A task whose home worker is not ready yet, or is full, waits for it: null
 * leaves the task queued until a worker becomes available, when Piscina asks again.
 */
function homeBalancer(threads: number): LoadBalancer {
  const slots = new Array<PoolWorker | undefined>(threads).fill(undefined);
  const seated = new Set<number>();
  return (task, workers) => {
    const home = (task as unknown as Record<symbol, Home | null>)[Piscina.queueOptionsSymbol]?.home;
    if (home === undefined) return leastBusy(workers);
    for (let s = 0; s < threads; s++) {
      const worker = slots[s];
      if (worker !== undefined && (worker.destroyed || worker.terminating)) {
        seated.delete(worker.id);
        slots[s] = undefined;
      }
    }
    for (const worker of workers) {
      if (seated.has(worker.id) || worker.destroyed || worker.terminating) continue;
      const free = slots.indexOf(undefined);
      if (free < 0) break;
      slots[free] = worker;
      seated.add(worker.id);
    }
    const id = slots[home % threads]?.id;
    const worker = workers.find((w) => w.id === id);
    return worker !== undefined && worker.currentUsage < MAX_TASKS_PER_WORKER ? worker : null;
  };
}

/** leastBusy is Piscina's default choice for a task that cannot be aborted: an idle worker, else the least busy. */
function leastBusy(workers: readonly PoolWorker[]): PoolWorker | null {
  let best: PoolWorker | null = null;
  for (const worker of workers) {
    if (worker.currentUsage === 0) return worker;
    if (worker.currentUsage < (best?.currentUsage ?? MAX_TASKS_PER_WORKER)) best = worker;
  }
  return best;
}
