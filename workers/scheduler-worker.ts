/**
 * The scheduler thread: owns the Piscina probe pool and the Scheduler, so the main thread does nothing
 * per probe round: the scheduler's timers, task posts and task completions (hundreds a second with
 * many targets) stay off the front end's event loop. A thin adapter (STYLE.md): messages in; `stopped` out; every batch's results and the thread's
 * stats on to the publisher thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import type { ResultsMessage, SchedulerInit, SchedulerMessage, SchedulerReport } from '../src/pool/messages.ts';
import { createProbePool } from '../src/pool/probe-pool.ts';
import { Scheduler } from '../src/scheduler.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const init = workerData as SchedulerInit;
const port = parentPort!;
const log = createLogger(init.logLevel, 'scheduler');
const report = (msg: SchedulerReport): void => port.postMessage(msg);
// Before the pool starts its threads: the probe workers inherit this thread's priority.
const niceFailed = lowerThreadPriority(init.nice);
if (niceFailed !== undefined) log.warn(niceFailed);
const pool = createProbePool(init.threads, (err) =>
  log.error({ err }, 'a probe worker failed between tasks; Piscina replaces it'),
);
const scheduler = new Scheduler(pool, (results) => init.results.postMessage(results), init.threads, log);

const statsTimer = setInterval(() => {
  init.results.postMessage({
    type: 'scheduler-stats',
    stats: { ...pool.stats(), probesSkippedTotal: scheduler.probesSkipped },
  } satisfies ResultsMessage);
}, init.statsIntervalMs);
scheduler.start(init.targets);

port.on('message', (msg: SchedulerMessage) => {
  switch (msg.type) {
    case 'targets':
      scheduler.start(msg.targets);
      break;
    case 'stop':
      void stop(msg.graceMs);
      break;
  }
});

/** stop ends scheduling, gives the rounds in flight up to graceMs, closes the pool and reports `stopped`. */
async function stop(graceMs: number): Promise<void> {
  clearInterval(statsTimer);
  await Promise.race([scheduler.stop(), new Promise((r) => setTimeout(r, graceMs))]);
  await pool.close();
  init.results.close();
  report({ type: 'stopped' });
  port.close();
}
