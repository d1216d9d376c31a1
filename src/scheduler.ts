/**
 * Scheduler (on the scheduler thread, workers/scheduler-worker.ts): decides when each target is probed,
 * hands batches to the pool and delivers each batch's results (to the publisher thread). It never probes,
 * merges or renders. For a batch whose worker failed it delivers one `worker` failure per target, so
 * those probes are still counted.
 *
 * Targets with the same interval form a group. A group's interval is cut into phase slots (at most one
 * per MIN_SLOT_MS) and its targets are spread over them, so 1,000 targets at 10 Hz become ten batches
 * per 100 ms rather than one burst of 1,000: even load for the workers, no jitter for the front end.
 * Continuous targets (interval 0) run back-to-back bursts instead, one loop per worker thread.
 *
 * A batch names its targets by index into the config's TargetTable (shared memory), so a dispatch costs
 * the scheduler thread a few numbers, not a clone of every target object.
 */
import type { Logger } from './log.ts';
import { FAILURE_REASONS, type ProbeTarget } from './probes/probe.ts';
import type { ProbeBatch, ProbeBatchResult, ProbeResults } from './pool/messages.ts';
import type { ProbePool } from './pool/probe-pool.ts';
import { encodeTargetTable, markDone, type TargetTable } from './pool/target-table.ts';

/** MIN_SLOT_MS is the finest phase granularity of the scheduler. */
export const MIN_SLOT_MS = 10;
/** MAX_BATCH caps the targets of one batch, so one task never holds up a large share of the work. */
export const MAX_BATCH = 64;
/** BURST_MS is how long one batch of a continuous target runs before its results are handed on. */
export const BURST_MS = 200;

/** Deliver receives every batch's results: the worker's, or the synthesized `worker` failures. */
export type Deliver = (results: ProbeResults) => void;

/** Scheduler runs the probe rounds of the current target list. */
export class Scheduler {
  private timers: NodeJS.Timeout[] = [];
  private readonly pending = new Set<Promise<boolean>>();
  /** table is the running config's; loops of an earlier one end when it is replaced. */
  private table: TargetTable | undefined;
  private skipped = 0;

  constructor(private readonly pool: ProbePool, private readonly deliver: Deliver,
    private readonly threads: number, private readonly log: Logger) {}

  /** probesSkipped counts rounds skipped because the target's previous round had not finished. */
  get probesSkipped(): number {
    return this.skipped;
  }

  /** start (or restart, on reload) scheduling `targets`; rounds already running finish normally. */
  start(targets: readonly ProbeTarget[]): void {
    this.clear();
    const table = encodeTargetTable(targets);
    this.table = table;
    const groups = new Map<number, number[]>();
    targets.forEach((t, i) => {
      if (t.intervalMs === 0) {
        for (const lanes of spread(t.concurrency, this.threads)) void this.loop(table, i, t.name, lanes);
        return;
      }
      groups.set(t.intervalMs, [...(groups.get(t.intervalMs) ?? []), i]);
    });
    for (const [intervalMs, members] of groups) {
      const slots = Math.max(1, Math.min(members.length, Math.floor(intervalMs / MIN_SLOT_MS)));
      const bySlot: number[][] = Array.from({ length: slots }, () => []);
      members.forEach((t, i) => bySlot[i % slots]!.push(t));
      let next = 0;
      const fire = (): void => {
        this.round(table, targets, bySlot[next]!);
        next = (next + 1) % slots;
      };
      fire();
      this.timers.push(setInterval(fire, intervalMs / slots));
    }
  }

  /** stop ends scheduling and waits for the rounds in flight (each is bounded by its targets' timeouts). */
  async stop(): Promise<void> {
    this.clear();
    this.table = undefined;
    await Promise.allSettled([...this.pending]);
  }

  private clear(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private round(table: TargetTable, targets: readonly ProbeTarget[], slot: readonly number[]): void {
    const due = slot.filter((i) => Atomics.load(table.busy, i) === 0);
    this.skipped += slot.length - due.length;
    if (due.length === 0) return;
    const size = Math.min(MAX_BATCH, Math.ceil(due.length / this.threads));
    for (let i = 0; i < due.length; i += size) {
      const batch = due.slice(i, i + size);
      void this.dispatch({ table, targets: batch, burstMs: 0 }, batch.map((t) => targets[t]!.name));
    }
  }

  private async loop(table: TargetTable, target: number, name: string, lanes: number): Promise<void> {
    const batch: ProbeBatch = { table, targets: [target], lanes, burstMs: BURST_MS };
    const names = [name];
    while (table === this.table) {
      // A failing worker resolves at once; back off so a broken target cannot spin the scheduler thread.
      if (!(await this.dispatch(batch, names))) await new Promise((r) => setTimeout(r, BURST_MS));
    }
  }

  /**
   * dispatch runs one batch (`names` are its targets') and delivers its results; it resolves true when the
   * worker answered, false when it failed. Its targets are busy until the worker marks each one done (or
   * the batch fails).
   */
  private dispatch(batch: ProbeBatch, names: readonly string[]): Promise<boolean> {
    const { busy } = batch.table;
    for (const i of batch.targets) Atomics.store(busy, i, 1);
    const done = this.pool.run(batch)
      .then((results) => {
        this.deliver(results);
        return true;
      }, (err: unknown) => {
        for (const i of batch.targets) markDone(batch.table, i);
        this.log.error({ err, targets: names }, 'probe batch failed in its worker; counted as reason worker');
        this.deliver({ names, result: workerFailure(names.length, String(err)) });
        return false;
      })
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
    return done;
  }
}

/**
 * spread splits a continuous target's concurrency into one loop per worker thread (as even as it goes),
 * so its lanes run on every worker rather than on whichever one took its single batch.
 */
export function spread(concurrency: number, threads: number): number[] {
  const loops = Math.min(threads, concurrency);
  return Array.from({ length: loops }, (_, i) => Math.floor(concurrency / loops) + (i < concurrency % loops ? 1 : 0));
}

/** workerFailure is the result of a batch whose worker failed: one `worker` failure per target. */
export function workerFailure(targets: number, message: string): ProbeBatchResult {
  const code = FAILURE_REASONS.indexOf('worker') + 1;
  const now = Date.now();
  return {
    target: Uint32Array.from({ length: targets }, (_, i) => i),
    latencyUs: new Float64Array(targets),
    reason: new Uint8Array(targets).fill(code),
    endedAtMs: new Float64Array(targets).fill(now),
    app: new Array(targets).fill(null),
    failure: new Array(targets).fill(message),
  };
}
