/**
 * ProbeRunner: the work of a probe worker thread (workers/probe-worker.ts wires it to Piscina). It reads a
 * batch's targets from their TargetTable (parsed once per config), looks each target's Prober up (one per
 * target per worker, created on first use and kept, so clients stay open between rounds), runs the probes
 * concurrently on Lanes (each keeps its AbortController across rounds), measures them, and reports their
 * outcomes as flat typed arrays (BatchResults) (the background thread's scheduler hands them to its publisher). Every failure
 * message leaves through publicOutcome: the target's secrets scrubbed, then cut to one short line.
 *
 * A batch answers its task once every target in it is done, but no result waits for that longer than
 * RESULT_FLUSH_MS: results held that long are posted at once as a ProbeProgress (transferred, not copied), so a
 * target that hangs until its timeout never holds back its batch-mates' results. A batch whose targets all
 * finish within RESULT_FLUSH_MS of each other (nearly all) is still one message.
 *
 * A worker's probers hold connections to the servers they watch, so none is left to chance: a table newer
 * than any seen before (a reload) closes the probers of targets it no longer has, or has changed, and
 * close() closes them all (shutdown); each prober cancels on its server what it still runs.
 *
 * The worker measures; the background thread records into HDR. Keeping histograms out of the workers
 * means a crashed worker loses only the results it had not posted yet (its unfinished targets are counted
 * as reason `worker` by the scheduler), never counts accumulated since the last flush, and no
 * cross-worker merge is needed.
 */
import { performance } from 'node:perf_hooks';
import type { Prober } from '../probes/probe.ts';
import type { ProbeTarget } from '../probes/registry.ts';
import { publicOutcome, scrubberFor, type MessageScrub } from '../probes/classify.ts';
import { Lane } from '../probes/deadline.ts';
import { createProber, loadProbes } from '../probes/registry.ts';
import { RESULT_FLUSH_MS, type ProbeBatch, type ProbeProgress, type ProbeResults } from './messages.ts';
import { BatchResults, transferables } from './batch-results.ts';
import { markDone, TableCache, type DecodedTable, type TargetTable } from './target-table.ts';

/** SWEEP_INTERVAL_MS is how often a runner closes the probers of targets it has not run for a while. */
const SWEEP_INTERVAL_MS = 30_000;

/** PostProgress sends a ProbeProgress to the scheduler (on the background thread), moving the given buffers. */
export type PostProgress = (progress: ProbeProgress, transfer: ArrayBuffer[]) => void;

interface LiveProber {
  /**
   * target is what the prober was made for, as the newest table that has it unchanged holds it: the same
   * object means the same target; another object is compared as JSON once (sameTarget) and then adopted.
   */
  target: ProbeTarget;
  readonly prober: Prober;
  /** scrub removes the target's secrets from a failure message (publicOutcome). */
  readonly scrub: MessageScrub | undefined;
  lastUsedMs: number;
  readonly idleMs: number;
  /** ready is the prober's start-up (Prober.ready, at most READY_WAIT_MS), awaited before its first run. */
  ready: Promise<void> | undefined;
}

/** READY_WAIT_MS bounds a prober's start-up wait: past it, runs go ahead (and fail on their own if they must). */
const READY_WAIT_MS = 10_000;

/**
 * MAX_IDLE_LANES bounds the lanes a runner keeps for each deadline between runs: as many as ran at once,
 * up to this.
 */
const MAX_IDLE_LANES = 1024;

/** ProbeRunner runs probe batches and keeps each target's prober between them. */
export class ProbeRunner {
  readonly #probers = new Map<string, LiveProber>();
  /**
   * #idleLanes are lanes not running now, by deadline, for any target's next run. A Lane keeps its
   * AbortController and signal (~0.9 KB): one kept per target would be ~9 MB a worker at 10,000 targets,
   * a shared pool holds only as many as ran at once.
   */
  readonly #idleLanes = new Map<number, Lane[]>();
  readonly #tables = new TableCache();
  readonly #post: PostProgress | undefined;
  #sweeping = false;
  /** #epoch is the newest table's (TargetTable.epoch): a newer one retires the probers it has no target for. */
  #epoch = 0;

  /**
   * `post` carries early results to the scheduler; without it (a plain thread, the worker bench) a
   * batch reports everything when it ends.
   */
  constructor(post?: PostProgress) {
    this.#post = post;
  }

  /** run runs every target of the batch and answers with every result not posted yet. */
  async run(batch: ProbeBatch): Promise<ProbeResults> {
    const table = this.#tables.get(batch.table);
    if (table.epoch > this.#epoch) this.#retireAbsent(table);
    const names = batch.targets.map((index) => table.targets[index]!.name);
    // A kind's client library loads in this thread with the first batch that has a target of that kind.
    await loadProbes(batch.targets.map((index) => table.targets[index]!.kind));
    const results = new BatchResults(batch.targets.length);
    const flusher = new Flusher(batch, names, results, this.#post);
    const deadlineAt = batch.burstMs > 0 ? performance.now() + batch.burstMs : 0;
    const running: Promise<void>[] = [];
    batch.targets.forEach((index, t) => {
      const target = table.targets[index]!;
      const concurrency = batch.lanes ?? target.concurrency;
      const live = this.#proberFor(target, concurrency);
      let lanes = this.#probeLane(live, target, t, deadlineAt, flusher, batch.dueAtMs);
      if (concurrency > 1) {
        const more = [lanes];
        for (let lane = 1; lane < concurrency; lane++)
          more.push(this.#probeLane(live, target, t, deadlineAt, flusher, batch.dueAtMs));
        lanes = Promise.all(more).then(noop);
      }
      // The target's next round may go out now, whatever its batch-mates are still doing.
      running.push(
        lanes.then(() => {
          markDone(table, index);
          results.finish(t);
        }),
      );
    });
    await Promise.all(running);
    flusher.close();
    return { names, result: results.take().result };
  }

  /**
   * startSweep closes, every SWEEP_INTERVAL_MS, the probers of targets not run for a while: those removed on
   * reload (or moved to another worker) would otherwise keep their clients open forever. The timer does
   * not keep the thread alive.
   */
  startSweep(): void {
    if (this.#sweeping) return;
    this.#sweeping = true;
    setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS).unref();
  }

  /**
   * close closes every prober and resolves once they all have (each bounds its own close); the runner
   * then holds no client.
   */
  async close(): Promise<void> {
    const closing = [...this.#probers.values()].map((live) => live.prober.close());
    this.#probers.clear();
    await Promise.allSettled(closing);
  }

  /** retire closes the probers of targets `table` (a reloaded config's) does not have as they are. */
  retire(table: TargetTable): void {
    const decoded = this.#tables.get(table);
    if (decoded.epoch > this.#epoch) this.#retireAbsent(decoded);
  }

  /** #retireAbsent makes `table` the newest, closing the probers of targets it does not have as they are. */
  #retireAbsent(table: DecodedTable): void {
    this.#epoch = table.epoch;
    const byName = new Map(table.targets.map((t) => [t.name, t]));
    for (const [name, live] of this.#probers) {
      const target = byName.get(name);
      if (target !== undefined && sameTarget(live, target)) continue;
      this.#probers.delete(name);
      void live.prober.close();
    }
  }

  /** sweep closes the probers idle longer than their idle time at `nowMs`. */
  sweep(nowMs: number): void {
    for (const [name, live] of this.#probers) {
      if (nowMs - live.lastUsedMs > live.idleMs) {
        this.#probers.delete(name);
        void live.prober.close();
      }
    }
  }

  /**
   * #probeLane probes a target on one lane: once, or back to back until burstUntil. Its first probe reports how
   * late it started against the round's due time (dueAtMs), for coordinated-omission correction.
   */
  async #probeLane(
    live: LiveProber,
    target: ProbeTarget,
    t: number,
    burstUntil: number,
    flusher: Flusher,
    dueAtMs: number | undefined,
  ): Promise<void> {
    if (live.ready !== undefined) {
      await live.ready;
      live.ready = undefined;
    }
    const lane = this.#idleLanes.get(target.timeoutMs)?.pop() ?? new Lane(target.timeoutMs);
    let first = true;
    do {
      const t0 = performance.now();
      // performance.timeOrigin + now() is the wall clock at sub-ms precision, comparable across threads.
      const startDelayUs =
        first && dueAtMs !== undefined ? Math.max(0, (performance.timeOrigin + t0 - dueAtMs) * 1000) : 0;
      first = false;
      const outcome = publicOutcome(await lane.run(live.prober), live.scrub);
      const elapsedUs = (performance.now() - t0) * 1000;
      flusher.results.add(t, outcome, elapsedUs, startDelayUs);
      flusher.added();
    } while (performance.now() < burstUntil);
    lane.close();
    const idle = this.#idleLanes.get(target.timeoutMs);
    if (idle === undefined) this.#idleLanes.set(target.timeoutMs, [lane]);
    else if (idle.length < MAX_IDLE_LANES) idle.push(lane);
  }

  /**
   * #proberFor returns the target's live prober, or a new one when the target changed (on reload). A new
   * prober is made for the `lanes` this worker runs of the target (its connection bound).
   */
  #proberFor(target: ProbeTarget, lanes: number): LiveProber {
    const now = Date.now();
    const live = this.#probers.get(target.name);
    if (live !== undefined && sameTarget(live, target)) {
      live.lastUsedMs = now;
      return live;
    }
    if (live !== undefined) void live.prober.close(); // the target changed on reload: new client
    const prober = createProber(lanes === target.concurrency ? target : { ...target, concurrency: lanes });
    const fresh: LiveProber = {
      target,
      prober,
      ready:
        prober.ready === undefined
          ? undefined
          : Promise.race([prober.ready(), new Promise<void>((r) => setTimeout(r, READY_WAIT_MS).unref())]),
      scrub: scrubberFor(target),
      lastUsedMs: now,
      idleMs: Math.max(60_000, target.intervalMs * 10),
    };
    this.#probers.set(target.name, fresh);
    return fresh;
  }
}

/** Flusher posts a batch's results as a ProbeProgress once the oldest of them has waited RESULT_FLUSH_MS. */
class Flusher {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly batch: ProbeBatch,
    private readonly names: readonly string[],
    readonly results: BatchResults,
    private readonly post: PostProgress | undefined,
  ) {}

  /** added is called after each result is added: the first since the last flush starts the wait. */
  added(): void {
    if (this.timer !== undefined || this.closed || this.post === undefined) return;
    this.timer = setTimeout(() => this.flush(), RESULT_FLUSH_MS);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed || this.results.size === 0) return;
    const { result, done } = this.results.take();
    const progress: ProbeProgress = {
      type: 'probe-progress',
      owner: this.batch.owner,
      batch: this.batch.id,
      names: this.names,
      result,
      done,
    };
    this.post!(progress, transferables(result));
  }
}

function noop(): void {}

/**
 * sameTarget tells whether `live`'s prober serves `target` as it is: the same object, or, from another
 * table (a reload, or a batch of an older one), equal as JSON; an equal one is adopted, so the next
 * lookup is an identity check. Keeping each target's JSON instead would cost ~2.5 MB a worker at 10,000
 * targets.
 */
function sameTarget(live: LiveProber, target: ProbeTarget): boolean {
  if (live.target === target) return true;
  if (JSON.stringify(live.target) !== JSON.stringify(target)) return false;
  live.target = target;
  return true;
}
