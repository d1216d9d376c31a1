/**
 * The background thread (DESIGN.md data flow): a thin adapter around src/scheduler.ts and src/publisher.ts,
 * which share it. The scheduler owns the Piscina probe pool and hands every batch's results straight to
 * the publisher; a timer publishes once per publish interval; a larger snapshot buffer goes out to the
 * main thread (`snapshot-buffer`), whose reader attaches it. Config, the main thread's stats and `stop`
 * come in on parentPort. With BackgroundInit.results set, another thread schedules and this one only
 * publishes what arrives on that port.
 *
 * One thread for both: each V8 isolate costs ~9 MiB and its own copy of the libraries it loads, and a
 * publish holding the thread delays rounds without losing them (the scheduler fires on absolute due
 * times; probes run, and are timed, on the probe workers).
 */
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import {
  isSchedulerStats,
  type BackgroundInit,
  type BackgroundMessage,
  type BackgroundReport,
  type ResultsMessage,
} from '../src/pool/messages.ts';
import { createProbePool } from '../src/pool/probe-pool.ts';
import { Publisher } from '../src/publisher.ts';
import { Scheduler } from '../src/scheduler.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const init = workerData as BackgroundInit;
const port = parentPort!;
let config = init.config;
const report = (msg: BackgroundReport): void => port.postMessage(msg);
const log = createLogger(config.log.level, 'background');
// Before the pool starts its threads: the probe workers inherit this thread's priority.
const niceFailed = lowerThreadPriority(config.backgroundNice);
if (niceFailed !== undefined) log.warn(niceFailed);
const publisher = new Publisher({
  config,
  buffer: init.snapshot,
  version: init.version,
  startTimeSeconds: init.startTimeSeconds,
  log,
  handOver: (buffer) => report({ type: 'snapshot-buffer', buffer }),
});
// The publisher owns the buffer from here on; workerData would otherwise keep the first one alive after a
// larger one replaces it.
Reflect.deleteProperty(init, 'snapshot');
// The thread's Linux id, for `top -H` and per-thread tools (/proc/thread-self is this thread's /proc entry).
log.info({ tid: threadId() }, 'background thread started');

const results = init.results;
results?.on('message', (msg: ResultsMessage) => {
  if (isSchedulerStats(msg)) publisher.setSchedulerStats(msg.stats);
  else publisher.record(msg);
});
const pool =
  results !== undefined
    ? undefined
    : createProbePool(config.threads, (err) =>
        log.error({ err }, 'a probe worker failed between tasks; Piscina replaces it'),
      );
const scheduler =
  pool === undefined ? undefined : new Scheduler(pool, (batch) => publisher.record(batch), config.threads, log);
scheduler?.start(config.targets);

/** publish renders and writes a snapshot, with the scheduler's stats as of now. */
function publish(): void {
  if (pool !== undefined && scheduler !== undefined)
    publisher.setSchedulerStats({ ...pool.stats(), probesSkippedTotal: scheduler.probesSkipped });
  void publisher.publish();
}

port.on('message', (msg: BackgroundMessage) => {
  switch (msg.type) {
    case 'config':
      config = msg.config;
      publisher.configure(config);
      scheduler?.start(config.targets);
      restartTimer();
      publish();
      break;
    case 'stats':
      publisher.setMainStats(msg.stats);
      break;
    case 'stop':
      void stop(msg.graceMs);
      break;
  }
});

let timer = setInterval(publish, config.publishIntervalMs);
function restartTimer(): void {
  clearInterval(timer);
  timer = setInterval(publish, config.publishIntervalMs);
}
publish();

/** stop ends publishing and scheduling, gives the rounds in flight up to graceMs, closes the pool and reports `stopped`. */
async function stop(graceMs: number): Promise<void> {
  clearInterval(timer);
  results?.close();
  if (scheduler !== undefined) await Promise.race([scheduler.stop(), new Promise((r) => setTimeout(r, graceMs))]);
  await pool?.close();
  report({ type: 'stopped' });
  port.close();
}

/** threadId is this thread's Linux thread id, or undefined where /proc/thread-self does not exist. */
function threadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch (err) {
    log.debug({ err }, 'no /proc/thread-self: the thread id is not known');
    return undefined;
  }
}
