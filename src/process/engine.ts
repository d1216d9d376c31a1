/**
 * The probing engine: a Piscina probe pool and the Scheduler that drives it. The exporter's scheduling
 * (scheduler-thread.ts, on its own thread or beside the publisher) and `probex run` (benchmark/cli.ts)
 * both probe with one, and stop it the same way: the rounds in flight get a grace, then the pool closes
 * (which closes every prober on every worker, so nothing a probe opened outlives it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { SchedulerStats } from '../pool/messages.ts';
import { createProbePool, type ProbePool } from '../pool/probe-pool.ts';
import type { ProbeTarget } from '../probes/registry.ts';
import { Scheduler, type Deliver } from '../scheduler.ts';

export class ProbeEngine {
  readonly pool: ProbePool;
  readonly #scheduler: Scheduler;

  /** The pool starts `threads` workers; every batch's results go to deliver. */
  constructor(threads: number, deliver: Deliver, log: Logger) {
    this.pool = createProbePool(threads, (err) =>
      log.error({ err }, 'a probe worker failed between tasks; Piscina replaces it'),
    );
    this.#scheduler = new Scheduler(this.pool, deliver, threads, log);
  }

  /** start schedules targets: a new list replaces the running one, whose rounds in flight finish. */
  start(targets: readonly ProbeTarget[]): void {
    this.#scheduler.start(targets);
  }

  /** stats are the pool's and the scheduler's self-metrics. */
  stats(): SchedulerStats {
    return this.#scheduler.stats();
  }

  /** stop ends scheduling: the rounds in flight get up to graceMs, then the pool closes. */
  async stop(graceMs: number): Promise<void> {
    await Promise.race([this.#scheduler.stop(), sleep(graceMs)]);
    await this.pool.close();
  }
}
