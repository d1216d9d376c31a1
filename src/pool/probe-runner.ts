/**
 * ProbeRunner: the work of a probe worker thread (workers/probe-worker.ts wires it to Piscina). It reads a
 * batch's targets from their TargetTable (parsed once per config), looks each target's Prober up (one per
 * target per worker, created on first use and kept, so clients stay open between rounds), runs the probes
 * concurrently on Lanes (each keeps its AbortController across rounds), measures them, and reports the runs
 * as flat typed arrays (the background thread's scheduler hands them to its publisher).
 *
 * A batch answers its task once every target in it is done, but no run waits for that longer than
 * RESULT_FLUSH_MS: runs held that long are posted at once as a ProbeProgress (transferred, not copied), so a
 * target that hangs until its timeout never holds back its batch-mates' results. A batch whose targets all
 * finish within RESULT_FLUSH_MS of each other (nearly all) is still one message.
 *
 * The worker measures; the background thread records into HDR. Keeping histograms out of the workers
 * means a crashed worker loses only the runs it had not posted yet (its unfinished targets are counted
 * as reason `worker` by the scheduler), never counts accumulated since the last flush, and no
 * cross-worker merge is needed.
 */
import { performance } from 'node:perf_hooks';
import type { ProbeTarget, Prober } from '../probes/probe.ts';
import { Lane } from '../probes/deadline.ts';
import { createProber, loadProbes } from '../probes/registry.ts';
import { RESULT_FLUSH_MS, type ProbeBatch, type ProbeProgress, type ProbeResults } from './messages.ts';
import { RunLog, transferables } from './run-log.ts';
import { markDone, TableCache } from './target-table.ts';

/** SWEEP_INTERVAL_MS is how often a runner closes the probers of targets it has not run for a while. */
export const SWEEP_INTERVAL_MS = 30_000;

/** PostProgress sends a ProbeProgress to the scheduler (on the background thread), moving the given buffers. */
export type PostProgress = (progress: ProbeProgress, transfer: ArrayBuffer[]) => void;

interface LiveProber {
  readonly key: string;
  readonly prober: Prober;
  /** lanes not running now, kept for the target's next round (a Lane keeps its AbortController). */
  readonly idleLanes: Lane[];
  lastUsedMs: number;
  readonly idleMs: number;
}

/** ProbeRunner runs probe batches and keeps each target's prober between them. */
export class ProbeRunner {
  readonly #probers = new Map<string, LiveProber>();
  readonly #tables = new TableCache();
  readonly #post: PostProgress | undefined;
  #sweeping = false;

  /**
   * `post` carries early runs to the scheduler; without it (a plain thread, the worker bench) a
   * batch reports everything when it ends.
   */
  constructor(post?: PostProgress) {
    this.#post = post;
  }

  /** run runs every target of the batch and answers with every run not posted yet. */
  async run(batch: ProbeBatch): Promise<ProbeResults> {
    const table = this.#tables.get(batch.table);
    const names = batch.targets.map((index) => table.targets[index]!.name);
    // A kind's client library loads in this thread with the first batch that has a target of that kind.
    await loadProbes(batch.targets.map((index) => table.targets[index]!.kind));
    const runs = new RunLog(batch.targets.length);
    const flusher = new Flusher(batch, names, runs, this.#post);
    const deadlineAt = batch.burstMs > 0 ? performance.now() + batch.burstMs : 0;
    const running: Promise<void>[] = [];
    batch.targets.forEach((index, t) => {
      const target = table.targets[index]!;
      const live = this.#proberFor(target, table.keys[index]!);
      const concurrency = batch.lanes ?? target.concurrency;
      let lanes = this.#runLane(live, target, t, deadlineAt, flusher, batch.dueAtMs);
      if (concurrency > 1) {
        const more = [lanes];
        for (let lane = 1; lane < concurrency; lane++)
          more.push(this.#runLane(live, target, t, deadlineAt, flusher, batch.dueAtMs));
        lanes = Promise.all(more).then(noop);
      }
      // The target's next round may go out now, whatever its batch-mates are still doing.
      running.push(
        lanes.then(() => {
          markDone(table, index);
          runs.finish(t);
        }),
      );
    });
    await Promise.all(running);
    flusher.close();
    return { names, result: runs.take().result };
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
   * #runLane runs one lane of a target: once, or back to back until burstUntil. Its first run reports how
   * late it started against the round's due time (dueAtMs), for coordinated-omission correction.
   */
  async #runLane(
    live: LiveProber,
    target: ProbeTarget,
    t: number,
    burstUntil: number,
    flusher: Flusher,
    dueAtMs: number | undefined,
  ): Promise<void> {
    const lane = live.idleLanes.pop() ?? new Lane(target.timeoutMs);
    let first = true;
    do {
      const t0 = performance.now();
      // performance.timeOrigin + now() is the wall clock at sub-ms precision, comparable across threads.
      const startDelayUs =
        first && dueAtMs !== undefined ? Math.max(0, (performance.timeOrigin + t0 - dueAtMs) * 1000) : 0;
      first = false;
      const outcome = await lane.run(live.prober);
      const elapsedUs = (performance.now() - t0) * 1000;
      flusher.runs.add(t, outcome, elapsedUs, startDelayUs);
      flusher.ran();
    } while (performance.now() < burstUntil);
    lane.close();
    if (this.#probers.get(target.name) === live) live.idleLanes.push(lane); // else the prober was retired meanwhile
  }

  /** #proberFor returns the target's live prober; `key` (the target as JSON) tells a changed target apart. */
  #proberFor(target: ProbeTarget, key: string): LiveProber {
    const now = Date.now();
    const live = this.#probers.get(target.name);
    if (live !== undefined && live.key === key) {
      live.lastUsedMs = now;
      return live;
    }
    if (live !== undefined) void live.prober.close(); // the target changed on reload: new client
    const fresh: LiveProber = {
      key,
      prober: createProber(target),
      idleLanes: [],
      lastUsedMs: now,
      idleMs: Math.max(60_000, target.intervalMs * 10),
    };
    this.#probers.set(target.name, fresh);
    return fresh;
  }
}

/** Flusher posts a batch's runs as a ProbeProgress once the oldest of them has waited RESULT_FLUSH_MS. */
class Flusher {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly batch: ProbeBatch,
    private readonly names: readonly string[],
    readonly runs: RunLog,
    private readonly post: PostProgress | undefined,
  ) {}

  /** ran is called after each run is added: the first run since the last flush starts the wait. */
  ran(): void {
    if (this.timer !== undefined || this.closed || this.post === undefined) return;
    this.timer = setTimeout(() => this.flush(), RESULT_FLUSH_MS);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed || this.runs.size === 0) return;
    const { result, done } = this.runs.take();
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
