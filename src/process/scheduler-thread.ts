/**
 * The scheduler thread: the Scheduler and the Piscina probe pool it owns, on a thread of their own, so a
 * publish (seconds of rendering at 10,000 targets) never holds up a round's timer. Its results and its
 * stats travel to the publisher on a results port (ResultsMessage), as `probex run --listen`'s do.
 *
 * The background thread starts it (startSchedulerThread) for a config of SCHEDULER_THREAD_MIN_TARGETS
 * targets or more at start, and tells it of reloads and of `stop`; workers/scheduler-worker.ts wires
 * runScheduling to those messages. A smaller config is scheduled on the background thread itself. The probe workers it starts inherit
 * its priority, which is the background thread's (backgroundNice).
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ResultsMessage } from '../pool/messages.ts';
import { ProbeEngine } from './engine.ts';
import { workerBootstrap, workerUrl } from './threads.ts';

/** SchedulerInit is the scheduler thread's workerData. */
export interface SchedulerInit {
  readonly config: Config;
  /** results is where the thread posts every batch's ProbeResults and, once per publish interval, its stats. */
  readonly results: MessagePort;
}

/** SchedulerMessage is what the background thread posts to the scheduler thread. */
export type SchedulerMessage =
  /** config schedules a reloaded config's targets; rounds already running finish. */
  | { readonly type: 'config'; readonly config: Config }
  /** stop ends scheduling, waits up to `graceMs` for the rounds in flight, closes the pool and answers `stopped`. */
  | { readonly type: 'stop'; readonly graceMs: number };

/** SchedulerReport is what the scheduler thread answers: that it has stopped. */
export type SchedulerReport = { readonly type: 'stopped' };

/** Scheduling is the scheduler thread's running work. */
export interface Scheduling {
  configure(config: Config): void;
  stop(graceMs: number): Promise<void>;
}

/**
 * runScheduling starts the pool and the scheduler for `config` and posts their results, and the
 * scheduler's stats once per publish interval: on the scheduler thread to its results port, or, below
 * SCHEDULER_THREAD_MIN_TARGETS, straight to the publisher beside it.
 */
export function runScheduling(config: Config, post: (msg: ResultsMessage) => void, log: Logger): Scheduling {
  const engine = new ProbeEngine(config.threads, post, log);
  const postStats = (): void => post({ type: 'scheduler-stats', stats: engine.stats() });
  let timer = setInterval(postStats, config.publishIntervalMs);
  engine.start(config.targets);
  postStats();
  return {
    configure(next) {
      engine.start(next.targets);
      clearInterval(timer);
      timer = setInterval(postStats, next.publishIntervalMs);
    },
    async stop(graceMs) {
      clearInterval(timer);
      await engine.stop(graceMs);
      postStats(); // the last count of skipped rounds
    },
  };
}

/**
 * SCHEDULER_THREAD_MIN_TARGETS is how many targets a config needs at start for the scheduler to get a
 * thread of its own. Below it a publish takes milliseconds and the thread's isolate (~9 MiB) would be most
 * of a small sidecar's growth, so the scheduler runs on the background thread, beside the publisher.
 */
export const SCHEDULER_THREAD_MIN_TARGETS = 500;

/** SchedulerThread is the background thread's handle on the scheduler thread. */
export interface SchedulerThread {
  configure(config: Config): void;
  /** stop asks the thread to stop (grace `graceMs`) and ends it once it answers, or after graceMs + closeMs. */
  stop(graceMs: number, closeMs: number): Promise<void>;
}

/**
 * startSchedulerThread starts the scheduler thread for `config`, posting to `results`. The thread failing
 * fails the calling thread too (an uncaught error), so that probex exits rather than publish a snapshot
 * that no longer changes (src/process/threads.ts startThread).
 */
export function startSchedulerThread(config: Config, results: MessagePort, log: Logger): SchedulerThread {
  const thread = new Worker(workerBootstrap(workerUrl('scheduler-worker')), {
    eval: true,
    workerData: { config, results } satisfies SchedulerInit,
    transferList: [results],
  });
  log.info({ targets: config.targets.length }, 'scheduler thread started');
  thread.on('error', (err) => {
    log.fatal({ err }, 'scheduler thread failed');
    throw err;
  });
  return {
    configure(next) {
      thread.postMessage({ type: 'config', config: next } satisfies SchedulerMessage);
    },
    async stop(graceMs, closeMs) {
      const stopped = new Promise<void>((resolve) => {
        thread.on('message', (msg: SchedulerReport) => {
          if (msg.type === 'stopped') resolve();
        });
        thread.once('exit', () => resolve());
      });
      thread.postMessage({ type: 'stop', graceMs } satisfies SchedulerMessage);
      await Promise.race([stopped, new Promise((r) => setTimeout(r, graceMs + closeMs).unref())]);
      await thread.terminate();
    },
  };
}
