/**
 * The background thread's work (workers/background-worker.ts wires it to its messages): the publisher's
 * timer, which publishes once per publish interval, and the probe results and scheduler stats it counts.
 * The scheduler and its Piscina probe pool run on a thread of their own (src/process/scheduler-thread.ts), started
 * here, so that a publish never holds up a round; for a config of fewer than SCHEDULER_THREAD_MIN_TARGETS
 * targets at start, whose publishes take milliseconds, they run here instead and save that thread's
 * isolate. With `results` set, another thread already schedules (`probex run --listen`) and this one only
 * publishes what arrives on that port.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { isSchedulerStats, type MainStats, type ResultsMessage } from '../pool/messages.ts';
import type { Publisher } from '../publisher.ts';
import {
  runScheduling,
  SCHEDULER_THREAD_MIN_TARGETS,
  startSchedulerThread,
  type SchedulerThread,
  type Scheduling,
} from './scheduler-thread.ts';

/**
 * SCHEDULER_CLOSE_MS is how long stop waits, after the grace, for the scheduler thread to close the pool;
 * it stays within what shutdown gives this thread (src/process/shutdown.ts POOL_CLOSE_MS).
 */
const SCHEDULER_CLOSE_MS = 800;

export class Background {
  readonly #publisher: Publisher;
  readonly #results: MessagePort | undefined;
  /** #scheduler runs on its own thread; #scheduling on this one (one of the two at most). */
  readonly #scheduler: SchedulerThread | undefined;
  readonly #scheduling: Scheduling | undefined;
  #timer: NodeJS.Timeout;

  constructor(config: Config, publisher: Publisher, results: MessagePort | undefined, log: Logger) {
    this.#publisher = publisher;
    const receive = (msg: ResultsMessage): void => {
      if (isSchedulerStats(msg)) publisher.setSchedulerStats(msg.stats);
      else publisher.record(msg);
    };
    if (results === undefined && config.targets.length >= SCHEDULER_THREAD_MIN_TARGETS) {
      const channel = new MessageChannel();
      results = channel.port1;
      this.#scheduler = startSchedulerThread(config, channel.port2, log);
    } else if (results === undefined) {
      this.#scheduling = runScheduling(config, receive, log);
    }
    this.#results = results;
    results?.on('message', receive);
    this.#timer = setInterval(() => this.#publish(), config.publishIntervalMs);
    this.#publish();
  }

  /** configure makes a reloaded config the running one: rendering, targets and the publish interval. */
  configure(config: Config): void {
    this.#publisher.configure(config);
    this.#scheduler?.configure(config);
    this.#scheduling?.configure(config);
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#publish(), config.publishIntervalMs);
    this.#publish();
  }

  /** setMainStats keeps the main thread's latest self-metrics for the next publish. */
  setMainStats(stats: MainStats): void {
    this.#publisher.setMainStats(stats);
  }

  /** stop ends publishing and scheduling: the rounds in flight get up to graceMs, then the pool closes. */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.#timer);
    await this.#scheduler?.stop(graceMs, SCHEDULER_CLOSE_MS);
    await this.#scheduling?.stop(graceMs);
    this.#results?.close();
  }

  #publish(): void {
    void this.#publisher.publish();
  }
}
