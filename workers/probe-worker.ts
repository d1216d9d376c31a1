/**
 * Piscina entry: runs one ProbeBatch. A thin adapter (STYLE.md): it reads the batch's targets from their
 * TargetTable (parsed once per config), looks each target's Prober up (one per target per worker, created
 * on first use and kept, so clients stay open between rounds), runs the probes concurrently on Lanes
 * (each keeps its AbortController across rounds), measures them, and answers the task with the runs as
 * flat typed arrays (the scheduler thread passes them on to the publisher thread).
 *
 * The worker measures; the publisher thread records into HDR. Keeping histograms out of the workers
 * means a crashed worker loses only the batch in flight (counted as reason `worker` by the scheduler),
 * never counts accumulated since the last flush, and no cross-worker merge is needed.
 */
import { performance } from 'node:perf_hooks';
import { FAILURE_REASONS, type ProbeOutcome, type ProbeTarget, type Prober } from '../src/probes/probe.ts';
import { Lane } from '../src/probes/deadline.ts';
import { createProber } from '../src/probes/registry.ts';
import { markDone, TableCache } from '../src/pool/target-table.ts';
import { kOk, type ProbeBatch, type ProbeBatchResult, type ProbeResults } from '../src/pool/messages.ts';

interface LiveProber {
  readonly key: string;
  readonly prober: Prober;
  /** lanes not running now, kept for the target's next round (a Lane keeps its AbortController). */
  readonly idleLanes: Lane[];
  lastUsedMs: number;
  readonly idleMs: number;
}

const probers = new Map<string, LiveProber>();
const tables = new TableCache();
const reasonCode = new Map(FAILURE_REASONS.map((r, i) => [r, i + 1]));

/** runProbeBatch is the default task: run every target of the batch and answer with every run. */
export default async function runProbeBatch(batch: ProbeBatch): Promise<ProbeResults> {
  const table = tables.get(batch.table);
  const runs = new RunLog(batch.targets.length);
  const deadlineAt = batch.burstMs > 0 ? performance.now() + batch.burstMs : 0;
  const running: Promise<void>[] = [];
  batch.targets.forEach((index, t) => {
    const target = table.targets[index]!;
    const live = proberFor(target, table.keys[index]!);
    const concurrency = batch.lanes ?? target.concurrency;
    let lanes = runLane(live, target, t, deadlineAt, runs);
    if (concurrency > 1) {
      const more = [lanes];
      for (let lane = 1; lane < concurrency; lane++) more.push(runLane(live, target, t, deadlineAt, runs));
      lanes = Promise.all(more).then(noop);
    }
    // The target's next round may go out now, whatever its batch-mates are still doing.
    running.push(lanes.then(() => markDone(table, index)));
  });
  await Promise.all(running);
  return { names: batch.targets.map((index) => table.targets[index]!.name), result: runs.result() };
}

function noop(): void {}

async function runLane(live: LiveProber, target: ProbeTarget, t: number, burstUntil: number, runs: RunLog): Promise<void> {
  const lane = live.idleLanes.pop() ?? new Lane(target.timeoutMs);
  do {
    const t0 = performance.now();
    const outcome = await lane.run(live.prober);
    const elapsedUs = (performance.now() - t0) * 1000;
    runs.add(t, outcome, elapsedUs);
  } while (performance.now() < burstUntil);
  lane.close();
  if (probers.get(target.name) === live) live.idleLanes.push(lane); // else the prober was retired meanwhile
}

/** proberFor returns the target's live prober; `key` (the target as JSON) tells a changed target apart. */
function proberFor(target: ProbeTarget, key: string): LiveProber {
  const now = Date.now();
  const live = probers.get(target.name);
  if (live !== undefined && live.key === key) {
    live.lastUsedMs = now;
    return live;
  }
  if (live !== undefined) void live.prober.close(); // the target changed on reload: new client
  const fresh: LiveProber = { key, prober: createProber(target), idleLanes: [], lastUsedMs: now, idleMs: Math.max(60_000, target.intervalMs * 10) };
  probers.set(target.name, fresh);
  return fresh;
}

/*
 * Probers of targets that were removed on reload (or moved to another worker) would otherwise keep
 * their clients open forever. Piscina runs this worker with `atomics: 'disabled'`, so the event loop
 * stays alive between tasks and this sweep (and the clients' own timers) keep running.
 */
setInterval(() => {
  const now = Date.now();
  for (const [name, live] of probers) {
    if (now - live.lastUsedMs > live.idleMs) {
      probers.delete(name);
      void live.prober.close();
    }
  }
}, 30_000).unref();

/** RunLog accumulates runs and converts them to the transferable result shape. */
class RunLog {
  private readonly target: number[] = [];
  private readonly latencyUs: number[] = [];
  private readonly reason: number[] = [];
  private readonly endedAtMs: number[] = [];
  private readonly app: (Readonly<Record<string, number>> | null)[];
  private readonly failure: (string | null)[];

  constructor(targets: number) {
    this.app = new Array(targets).fill(null);
    this.failure = new Array(targets).fill(null);
  }

  add(t: number, outcome: ProbeOutcome, elapsedUs: number): void {
    this.target.push(t);
    this.endedAtMs.push(Date.now());
    if (outcome.ok) {
      this.latencyUs.push(outcome.latencyUs ?? elapsedUs);
      this.reason.push(kOk);
      if (outcome.app !== undefined) this.app[t] = outcome.app;
    } else {
      this.latencyUs.push(elapsedUs);
      this.reason.push(reasonCode.get(outcome.reason) ?? reasonCode.get('other')!);
      this.failure[t] = outcome.message;
    }
  }

  result(): ProbeBatchResult {
    return {
      target: Uint32Array.from(this.target),
      latencyUs: Float64Array.from(this.latencyUs),
      reason: Uint8Array.from(this.reason),
      endedAtMs: Float64Array.from(this.endedAtMs),
      app: this.app,
      failure: this.failure,
    };
  }
}
