/**
 * The background thread: a thin adapter around src/process/background.ts (scheduler, probe
 * pool and publisher). Config, the main thread's stats and `stop` come in on parentPort; a larger snapshot
 * buffer goes out to the main thread (`snapshot-buffer`), whose reader attaches it, and `stopped` once
 * stopped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Background } from '../src/process/background.ts';
import { SCHEDULER_THREAD_MIN_TARGETS } from '../src/process/scheduler-thread.ts';
import { createLogger } from '../src/log.ts';
import type { BackgroundInit, BackgroundMessage, BackgroundReport } from '../src/pool/messages.ts';
import { Publisher } from '../src/publisher.ts';
import { linuxThreadId, lowerThreadPriority } from '../src/process/thread-priority.ts';

const init = workerData as BackgroundInit;
const port = parentPort!;
const report = (msg: BackgroundReport): void => port.postMessage(msg);
const log = createLogger(init.config.log.level, 'background');
// Before the pool starts its threads: the probe workers inherit this thread's priority.
const niceFailed = lowerThreadPriority(init.config.backgroundNice);
if (niceFailed !== undefined) log.warn(niceFailed);
// The thread's Linux id, for `top -H` and per-thread tools.
log.info({ tid: linuxThreadId() }, 'background thread started');
const publisher = new Publisher({
  config: init.config,
  buffer: init.snapshot,
  version: init.version,
  startTimeSeconds: init.startTimeSeconds,
  log,
  handOver: (buffer) => report({ type: 'snapshot-buffer', buffer }),
  // Rendering on demand pays at scale; below it a publish takes milliseconds, and every body stays fresh.
  onDemand: init.config.targets.length >= SCHEDULER_THREAD_MIN_TARGETS,
});
// The publisher owns the buffer from here on; workerData would otherwise keep the first one alive after a
// larger one replaces it.
Reflect.deleteProperty(init, 'snapshot');
const background = new Background(init.config, publisher, init.results, log);

port.on('message', (msg: BackgroundMessage) => {
  switch (msg.type) {
    case 'config':
      background.configure(msg.config);
      break;
    case 'stats':
      background.setMainStats(msg.stats);
      break;
    case 'stop':
      void background.stop(msg.graceMs).then(() => {
        report({ type: 'stopped' });
        port.close();
      });
      break;
  }
});
