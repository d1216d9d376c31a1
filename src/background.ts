/**
 * The background thread's work (workers/background-worker.ts wires it to its messages): the scheduler,
 * which owns the Piscina probe pool and hands every batch's results straight to the publisher, and the
 * publisher's timer, which publishes once per publish interval. With `results` set, another thread
 * schedules (`probex run --listen`) and this one only publishes what arrives on that port.
 *
 * One thread for both: each V8 isolate costs ~9 MiB and its own copy of the libraries it loads, and a
 * publish holding the thread delays rounds without losing them (the scheduler fires on absolute due
 * times; probes run, and are timed, on the probe workers).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { isSchedulerStats, type MainStats, type ResultsMessage } from './pool/messages.ts';
import { createProbePool, type ProbePool } from './pool/probe-pool.ts';
import type { Publisher } from './publisher.ts';
import { Scheduler } from './scheduler.ts';

export class Background {
  readonly #publisher: Publisher;
  readonly #results: MessagePort | undefined;
  readonly #pool: ProbePool | undefined;
  readonly #scheduler: Scheduler | undefined;
  #timer: NodeJS.Timeout;

  constructor(config: Config, publisher: Publisher, results: MessagePort | undefined, log: Logger) {
    this.#publisher = publisher;
    this.#results = results;
    results?.on('message', (msg: ResultsMessage) => {
      if (isSchedulerStats(msg)) publisher.setSchedulerStats(msg.stats);
      else publisher.record(msg);
    });
    if (results === undefined) {
      this.#pool = createProbePool(config.threads, (err) =>
        log.error({ err }, 'a probe worker failed between tasks; Piscina replaces it'),
      );
      this.#scheduler = new Scheduler(this.#pool, (batch) => publisher.record(batch), config.threads, log);
      this.#scheduler.start(config.targets);
    }
    this.#timer = setInterval(() => this.#publish(), config.publishIntervalMs);
    this.#publish();
  }

  /** configure makes a reloaded config the running one: rendering, targets and the publish interval. */
  configure(config: Config): void {
    this.#publisher.configure(config);
    this.#scheduler?.start(config.targets);
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#publish(), config.publishIntervalMs);
    this.#publish();
  }

  /** setMainStats keeps the main thread's latest self-metrics for the next publish. */
  setMainStats(stats: MainStats): void {
    this.#publisher.setMainStats(stats);
  }

  /** stop ends publishing and scheduling, gives the rounds in flight up to graceMs and closes the pool. */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.#timer);
    this.#results?.close();
    if (this.#scheduler !== undefined)
      await Promise.race([this.#scheduler.stop(), new Promise((r) => setTimeout(r, graceMs))]);
    await this.#pool?.close();
  }

  /** #publish renders and writes a snapshot, with the scheduler's stats as of now. */
  #publish(): void {
    if (this.#scheduler !== undefined) this.#publisher.setSchedulerStats(this.#scheduler.stats());
    void this.#publisher.publish();
  }
}
