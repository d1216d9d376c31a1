/**
 * Scheduler (on the background thread, workers/background-worker.ts): decides when each target is probed,
 * hands batches to the pool and delivers each batch's results (to the publisher beside it): the runs a worker
 * reports early (ProbeProgress: those a slow batch-mate would hold back) as they come, the rest when the
 * batch is done. It never probes, merges or renders. For a batch whose worker failed it delivers one
 * `worker` failure per target that had not finished, so those probes are still counted.
 *
 * Targets with the same interval form a group. A group's interval is cut into phase slots (at most one
 * per MIN_SLOT_MS) and its targets are spread over them, so 1,000 targets at 10 Hz become ten batches
 * per 100 ms rather than one burst of 1,000: even load for the workers, no jitter for the front end.
 * Slots fire on absolute due times (clock), so a busy thread delays rounds without shifting the schedule.
 * Continuous targets (interval 0) run back-to-back bursts instead, one loop per worker thread.
 *
 * Every target has a home worker (homeOf: a hash of its name), and its rounds run only there: a worker keeps
 * one prober per target it has run, so a target whose rounds went to any worker would hold up to `threads`
 * times its `concurrency` connections to the server it watches. A continuous target's loops have homes
 * next to each other, one loop per worker. A reload tells every worker the new target list (ProbePool.retire),
 * so each closes the probers of targets that were removed or changed at once.
 *
 * A batch names its targets by index into the config's TargetTable (shared memory), so a dispatch costs
 * the background thread a few numbers, not a clone of every target object.
 */
import { PoolClosedError } from './errors.ts';
import type { Logger } from './log.ts';
import { FAILURE_REASONS } from './probes/probe.ts';
import type { ProbeTarget } from './probes/registry.ts';
import type { ProbeBatch, ProbeBatchResult, ProbeProgress, ProbeResults, SchedulerStats } from './pool/messages.ts';
import type { ProbePool } from './pool/probe-pool.ts';
import { encodeTargetTable, markDone, type TargetTable } from './pool/target-table.ts';

/** MIN_SLOT_MS is the finest phase granularity of the scheduler. */
const MIN_SLOT_MS = 10;
/** MAX_BATCH caps the targets of one batch, so one task never holds up a large share of the work. */
const MAX_BATCH = 64;
/** BURST_MS is how long one batch of a continuous target runs before its results are handed on. */
const BURST_MS = 200;

/** Deliver receives every batch's results: the worker's, or the synthesized `worker` failures. */
export type Deliver = (results: ProbeResults) => void;

/** BatchSpec is a batch as the scheduler plans it; dispatch gives it its owner and id. */
type BatchSpec = Omit<ProbeBatch, 'owner' | 'id'>;

let schedulers = 0;

/** Scheduler runs the probe rounds of the current target list. */
export class Scheduler {
  private timers: NodeJS.Timeout[] = [];
  private readonly pending = new Set<Promise<boolean>>();
  /** table is the running config's; loops of an earlier one end when it is replaced. */
  private table: TargetTable | undefined;
  /**
   * skipped counts target rounds not run: the target's previous round had not finished, or the round was a
   * whole interval overdue.
   */
  private skipped = 0;
  /** owner tells this scheduler's batches from another's on a shared pool (tests share one). */
  private readonly owner = ++schedulers;
  private lastBatch = 0;
  /** finished maps each batch in flight to a flag per target, set once a progress report says it is done. */
  private readonly finished = new Map<number, Uint8Array>();

  constructor(
    private readonly pool: ProbePool,
    private readonly deliver: Deliver,
    private readonly threads: number,
    private readonly log: Logger,
  ) {
    pool.onProgress((progress) => this.progress(progress));
  }

  /** stats are the scheduler's self-metrics: its pool's and the rounds it skipped. */
  stats(): SchedulerStats {
    return { ...this.pool.stats(), probesSkippedTotal: this.skipped };
  }

  /** start (or restart, on reload) scheduling `targets`; rounds already running finish normally. */
  start(targets: readonly ProbeTarget[]): void {
    this.clear();
    const table = encodeTargetTable(targets);
    this.table = table;
    this.pool.retire(table);
    const homes = targets.map((t) => homeOf(t.name, this.threads));
    const groups = new Map<number, number[]>();
    targets.forEach((t, i) => {
      if (t.intervalMs === 0) {
        for (const { lanes, home } of placements(t, this.threads)) void this.loop(table, i, t.name, lanes!, home);
        return;
      }
      groups.set(t.intervalMs, [...(groups.get(t.intervalMs) ?? []), i]);
    });
    for (const [intervalMs, members] of groups) {
      const slots = Math.max(1, Math.min(members.length, Math.floor(intervalMs / MIN_SLOT_MS)));
      const bySlot: number[][] = Array.from({ length: slots }, () => []);
      members.forEach((t, i) => bySlot[i % slots]!.push(t));
      this.clock(intervalMs, bySlot, (slot, dueAtMs) => this.round(table, targets, homes, slot, dueAtMs));
    }
  }

  /**
   * clock fires a group's slots in turn, one every intervalMs / slots, on absolute due times: a timer that
   * fires late (this thread was busy publishing) fires every slot whose time has come, each with the time
   * it was due, rather than shift the whole schedule. A slot whose round is a whole interval overdue has
   * missed that round: it is counted as skipped and the slot fires once, for its latest due time.
   */
  private clock(
    intervalMs: number,
    bySlot: readonly (readonly number[])[],
    fire: (slot: readonly number[], dueAtMs: number) => void,
  ): void {
    const period = intervalMs / bySlot.length;
    let next = 0;
    let due = performance.now();
    const index = this.timers.length;
    const tick = (): void => {
      const now = performance.now();
      for (; due <= now; due += period, next = (next + 1) % bySlot.length) {
        const slot = bySlot[next]!;
        if (now - due >= intervalMs) this.skipped += slot.length;
        else fire(slot, performance.timeOrigin + due);
      }
      this.timers[index] = setTimeout(tick, due - now);
    };
    tick(); // the first slot fires at once
  }

  /** stop ends scheduling and waits for the rounds in flight (each is bounded by its targets' timeouts). */
  async stop(): Promise<void> {
    this.clear();
    this.table = undefined;
    await Promise.allSettled([...this.pending]);
  }

  private clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /**
   * round dispatches a slot's targets whose previous round is done, one batch per home worker (of at most
   * MAX_BATCH targets); dueAtMs is when the round was due (Unix ms).
   */
  private round(
    table: TargetTable,
    targets: readonly ProbeTarget[],
    homes: readonly number[],
    slot: readonly number[],
    dueAtMs: number,
  ): void {
    const byHome = new Map<number, number[]>();
    for (const i of slot) {
      if (Atomics.load(table.busy, i) !== 0) {
        this.skipped++;
        continue;
      }
      const home = homes[i]!;
      const batch = byHome.get(home);
      if (batch === undefined) byHome.set(home, [i]);
      else batch.push(i);
    }
    for (const [home, due] of byHome) {
      for (let i = 0; i < due.length; i += MAX_BATCH) {
        const batch = due.slice(i, i + MAX_BATCH);
        void this.dispatch(
          { table, targets: batch, burstMs: 0, dueAtMs, home },
          batch.map((t) => targets[t]!.name),
        );
      }
    }
  }

  private async loop(table: TargetTable, target: number, name: string, lanes: number, home: number): Promise<void> {
    const batch: BatchSpec = { table, targets: [target], lanes, burstMs: BURST_MS, home };
    const names = [name];
    while (table === this.table) {
      // A failing worker resolves at once; back off so a broken target cannot spin the background thread.
      if (!(await this.dispatch(batch, names))) await new Promise((r) => setTimeout(r, BURST_MS));
    }
  }

  /**
   * dispatch runs one batch (`names` are its targets') and delivers its results; it resolves true when the
   * worker answered, false when it failed. Its targets are busy until the worker marks each one done (or
   * the batch fails).
   */
  private dispatch(spec: BatchSpec, names: readonly string[]): Promise<boolean> {
    const batch: ProbeBatch = { ...spec, owner: this.owner, id: ++this.lastBatch };
    const { busy } = batch.table;
    for (const i of batch.targets) Atomics.store(busy, i, 1);
    const finished = new Uint8Array(batch.targets.length);
    this.finished.set(batch.id, finished);
    const done = this.pool
      .run(batch)
      .then(
        (results) => {
          this.deliver(results);
          return true;
        },
        (err: unknown) => {
          for (const i of batch.targets) markDone(batch.table, i);
          // Shutdown cutting a batch short is not its probes' fault: nothing to count.
          if (err instanceof PoolClosedError) return false;
          // Targets the worker reported finished have had their runs delivered: only the others failed.
          const failed = [...finished.keys()].filter((t) => finished[t] === 0);
          this.log.error(
            { err, targets: failed.map((t) => names[t]) },
            'probe batch failed in its worker; counted as reason worker',
          );
          if (failed.length > 0) this.deliver({ names, result: workerFailure(failed, names.length, String(err)) });
          return false;
        },
      )
      .finally(() => {
        this.pending.delete(done);
        this.finished.delete(batch.id);
      });
    this.pending.add(done);
    return done;
  }

  /**
   * progress delivers the runs a worker reported before its batch was done. A report may come after the
   * batch has settled (the two travel on different ports): its runs are delivered all the same.
   */
  private progress({ owner, batch, names, result, done }: ProbeProgress): void {
    if (owner !== this.owner) return;
    const finished = this.finished.get(batch);
    if (finished !== undefined) for (const t of done) finished[t] = 1;
    this.deliver({ names, result });
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

/**
 * placements are the workers a target's rounds run on: its home, or for a continuous target one loop per
 * worker (spread), each on the home after the previous loop's, with its share of the lanes.
 */
export function placements(target: ProbeTarget, threads: number): Array<{ home: number; lanes?: number }> {
  const home = homeOf(target.name, threads);
  if (target.intervalMs !== 0) return [{ home }];
  return spread(target.concurrency, threads).map((lanes, loop) => ({ home: (home + loop) % threads, lanes }));
}

/**
 * homeOf is the home worker of the target named `name` among `threads`: a hash of the name (FNV-1a), so a
 * target keeps its home, and its open clients, across reloads.
 */
function homeOf(name: string, threads: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % threads;
}

/**
 * workerFailure is the result of a batch of `size` targets whose worker failed: one `worker` failure for
 * each of the batch positions in `targets`.
 */
function workerFailure(targets: readonly number[], size: number, message: string): ProbeBatchResult {
  const code = FAILURE_REASONS.indexOf('worker') + 1;
  const now = Date.now();
  const failure = new Array<string | null>(size).fill(null);
  for (const t of targets) failure[t] = message;
  return {
    target: Uint32Array.from(targets),
    latencyUs: new Float64Array(targets.length),
    reason: new Uint8Array(targets.length).fill(code),
    endedAtMs: new Float64Array(targets.length).fill(now),
    app: new Array(size).fill(null),
    failure,
  };
}
