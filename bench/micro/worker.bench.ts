/*
 * worker.bench.ts: a probe worker's own work per batch (tinybench v2), run in this thread without Piscina:
 * ProbeRunner.run (src/pool/probe-runner.ts, what workers/probe-worker.ts runs) over 50 synthetic targets (one probe each, answered at once), as
 * the scheduler sends them at 1,000 targets at 10 Hz. What it measures is probex's per-probe overhead:
 * target lookup, lane and deadline, timing, and the result's typed arrays.
 *   npm run bench:worker
 */
import { Bench } from 'tinybench';
import { ProbeRunner } from '../../src/pool/probe-runner.ts';
import { encodeTargetTable } from '../../src/pool/target-table.ts';
import { syntheticConfig } from '../lib/fixtures.ts';

const BATCH = 50;
const table = encodeTargetTable(syntheticConfig(1_000).targets);
const batches = Array.from({ length: 1_000 / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, i) => b * BATCH + i));
let next = 0;
let sink = 0;
const runner = new ProbeRunner();

const bench = new Bench({ time: 2_000 });
bench.add(`ProbeRunner.run: ${BATCH} synthetic targets, one probe each`, async () => {
  const { result } = await runner.run({
    owner: 0,
    id: next,
    table,
    targets: batches[next++ % batches.length]!,
    burstMs: 0,
  });
  sink += result.target.length;
});

await bench.warmup();
await bench.run();
console.table(bench.table());
const task = bench.tasks[0]!.result!;
console.log(`${((task.mean * 1000) / BATCH).toFixed(2)} µs per probe (mean over the batch)`);
if (sink === 0) console.log('unreachable: keeps results alive');
process.exit(0); // the worker module keeps an idle-prober sweep timer (unref'd) and probers open
