/**
 * The publisher thread (DESIGN.md data flow): a thin adapter around src/publisher.ts. Probe results and the
 * scheduler thread's stats come in on their own port, config and main-thread stats on parentPort; a timer publishes once per publish
 * interval; a larger snapshot buffer goes out to the main thread (`snapshot-buffer`), whose reader attaches it.
 */
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import {
  isSchedulerStats,
  type PublisherInit,
  type PublisherMessage,
  type PublisherReport,
  type ResultsMessage,
} from '../src/pool/messages.ts';
import { Publisher } from '../src/publisher.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const init = workerData as PublisherInit;
const port = parentPort!;
let config = init.config;
const log = createLogger(config.log.level, 'publisher');
const niceFailed = lowerThreadPriority(config.backgroundNice);
if (niceFailed !== undefined) log.warn(niceFailed);
const publisher = new Publisher({
  config,
  buffer: init.snapshot,
  version: init.version,
  startTimeSeconds: init.startTimeSeconds,
  log,
  handOver: (buffer) => port.postMessage({ type: 'snapshot-buffer', buffer } satisfies PublisherReport),
});
// The publisher owns the buffer from here on; workerData would otherwise keep the first one alive after a
// larger one replaces it.
Reflect.deleteProperty(init, 'snapshot');
// The thread's Linux id, for `top -H` and per-thread tools (/proc/thread-self is this thread's /proc entry).
log.info({ tid: threadId() }, 'publisher thread started');

init.results.on('message', (msg: ResultsMessage) => {
  if (isSchedulerStats(msg)) publisher.setSchedulerStats(msg.stats);
  else publisher.record(msg);
});

port.on('message', (msg: PublisherMessage) => {
  switch (msg.type) {
    case 'config':
      config = msg.config;
      publisher.configure(config);
      restartTimer();
      void publisher.publish();
      break;
    case 'stats':
      publisher.setMainStats(msg.stats);
      break;
    case 'stop':
      clearInterval(timer);
      init.results.close();
      port.close();
      break;
  }
});

let timer = setInterval(() => void publisher.publish(), config.publishIntervalMs);
function restartTimer(): void {
  clearInterval(timer);
  timer = setInterval(() => void publisher.publish(), config.publishIntervalMs);
}
void publisher.publish();

/** threadId is this thread's Linux thread id, or undefined where /proc/thread-self does not exist. */
function threadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch (err) {
    log.debug({ err }, 'no /proc/thread-self: the thread id is not known');
    return undefined;
  }
}
