/**
 * A hung target must not hold back its batch-mates' results: the real Piscina pool running
 * workers/probe-worker.ts, the real Scheduler and the Aggregator the background thread uses, with an http
 * target on a loopback server that accepts and never answers (timeout 30 min) in one batch with fast targets.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import type { ProbeBatch, ProbeResults } from '../../src/pool/messages.ts';
import { createProbePool, type ProbePool } from '../../src/pool/probe-pool.ts';
import { decodeTargetTable } from '../../src/pool/target-table.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { Scheduler } from '../../src/scheduler.ts';
import { waitFor } from '../../support/probex-process.ts';
import { startSilentServer, type SilentServer } from '../helpers/silent-server.ts';

/** rethrow fails the run on a pool error no task was waiting on (none is expected here). */
const rethrow = (err: unknown): never => {
  throw err;
};

const INTERVAL_MS = 100;
const HUNG_TIMEOUT_MS = 30 * 60_000;
/** ONE_PUBLISH_INTERVAL_MS is the default publish interval: a run must reach the publisher within it. */
const ONE_PUBLISH_INTERVAL_MS = 1000;

let pool: ProbePool;
let silent: SilentServer;
before(async () => {
  // One worker thread: the scheduler puts all of a slot's due targets into one batch.
  pool = createProbePool(1, rethrow);
  silent = await startSilentServer();
});
after(async () => {
  // The silent server first: its sockets close, so the hung probe ends and the pool has nothing to wait for.
  await silent.close();
  await pool.close();
});

interface Delivery {
  readonly atMs: number;
  readonly results: ProbeResults;
}

test('the fast batch-mates of a target that hangs for 30 minutes reach the publisher within a publish interval', async () => {
  const base = { intervalMs: INTERVAL_MS, concurrency: 1, labels: {}, buckets: [0.001, 0.01, 0.1] };
  // 40 targets at 100 ms share 10 phase slots, 4 to a slot: hung (index 0) with f10, f20 and f30.
  const targets = [
    {
      ...base,
      timeoutMs: HUNG_TIMEOUT_MS,
      name: 'hung',
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/`,
      expectStatus: [],
      headers: {},
    },
    ...Array.from({ length: 39 }, (_, i) => ({
      ...base,
      timeoutMs: INTERVAL_MS,
      name: `f${i + 1}`,
      kind: 'synthetic',
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    })),
  ] as ProbeTarget[];
  const batches: string[][] = [];
  const observed: ProbePool = {
    ...pool,
    run(batch: ProbeBatch) {
      const table = decodeTargetTable(batch.table);
      batches.push(batch.targets.map((i) => table.targets[i]!.name));
      return pool.run(batch);
    },
  };
  const aggregator = new Aggregator();
  aggregator.setTargets(targets);
  const deliveries: Delivery[] = [];
  const scheduler = new Scheduler(
    observed,
    (results) => {
      deliveries.push({ atMs: Date.now(), results });
      aggregator.record(results.names, results.result);
    },
    1,
    createLogger('silent', 'test'),
  );
  scheduler.start(targets);
  try {
    const hungBatch = batches.find((names) => names.includes('hung'));
    assert.ok(hungBatch, 'hung was dispatched');
    const mates = hungBatch.filter((n) => n !== 'hung');
    assert.deepEqual(mates, ['f10', 'f20', 'f30'], 'hung shares its batch with fast targets');

    // The runs of hung's batch-mates arrive while hung is still waiting for its answer.
    const early = await waitFor("the fast batch-mates' runs of hung's batch", async () =>
      deliveries.find((d) => d.results.names.includes('hung') && d.results.result.target.length > 0),
    );
    const { names, result } = early.results;
    const reported = [...result.target].map((t) => names[t]!);
    assert.deepEqual([...reported].sort(), mates, 'one run of each batch-mate, none of hung');
    for (let i = 0; i < result.target.length; i++) {
      const lagMs = early.atMs - result.endedAtMs[i]!;
      assert.ok(
        lagMs <= ONE_PUBLISH_INTERVAL_MS,
        `${reported[i]}'s run reached the scheduler ${lagMs} ms after it ended`,
      );
    }

    // And every round of the batch-mates reaches the aggregator, the first one (with hung) included, while
    // hung stays silent: their probes_total grows every interval.
    const probes = (name: string): number => aggregator.snapshot().find((s) => s.name === name)!.probes;
    const dispatched = (name: string): number => batches.filter((b) => b.includes(name)).length;
    const start = new Map(mates.map((n) => [n, dispatched(n)]));
    const t0 = Date.now();
    await waitFor('2 s of rounds', async () => (Date.now() - t0 >= 2_000 ? true : undefined));
    const rounds = (Date.now() - t0) / INTERVAL_MS;
    const end = new Map(mates.map((n) => [n, dispatched(n)]));
    for (const name of mates) {
      assert.ok(
        end.get(name)! - start.get(name)! >= rounds / 2,
        `${name}: ${end.get(name)! - start.get(name)!} rounds in ${rounds} intervals`,
      );
    }
    await waitFor('every round dispatched so far delivered', async () =>
      mates.every((n) => probes(n) >= end.get(n)!) ? true : undefined,
    );
    assert.equal(probes('hung'), 0, 'hung is still waiting');
  } finally {
    scheduler.start([]); // stop dispatching; the hung round ends when the pool closes
  }
});
