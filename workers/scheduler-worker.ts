/**
 * The scheduler thread (src/process/scheduler-thread.ts): a thin adapter around runScheduling. Reloaded configs
 * and `stop` come in on parentPort; results and stats go out on the results port in workerData, straight
 * to the publisher; `stopped` goes back once the pool is closed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import {
  runScheduling,
  type SchedulerInit,
  type SchedulerMessage,
  type SchedulerReport,
} from '../src/process/scheduler-thread.ts';

const init = workerData as SchedulerInit;
const port = parentPort!;
const log = createLogger(init.config.log.level, 'scheduler');
const scheduling = runScheduling(init.config, (msg) => init.results.postMessage(msg), log);

port.on('message', (msg: SchedulerMessage) => {
  switch (msg.type) {
    case 'config':
      scheduling.configure(msg.config);
      break;
    case 'stop':
      void scheduling.stop(msg.graceMs).then(() => {
        port.postMessage({ type: 'stopped' } satisfies SchedulerReport);
        init.results.close();
        port.close();
      });
      break;
  }
});
