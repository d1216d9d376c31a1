import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../src/log.ts';
import { FAILURE_REASONS } from '../src/probes/probe.ts';
import type { ProbeBatch, ProbeBatchResult, ProbeProgress, ProbeResults } from '../src/pool/messages.ts';
import type { ProbePool } from '../src/pool/probe-pool.ts';
import { decodeTargetTable, encodeTargetTable, markDone, TableCache } from '../src/pool/target-table.ts';
import type { ProbeTarget } from '../src/probes/registry.ts';
import { Scheduler, spread } from '../src/scheduler.ts';
import { waitFor } from '../support/probex-process.ts';

test('a continuous target is spread over the worker threads, keeping its total concurrency', () => {
  assert.deepEqual(spread(64, 2), [32, 32]);
  assert.deepEqual(spread(5, 2), [3, 2]);
  assert.deepEqual(spread(10, 4), [3, 3, 2, 2]);
});

test('a target with less concurrency than threads gets one loop per lane', () => {
  assert.deepEqual(spread(1, 4), [1]);
  assert.deepEqual(spread(3, 8), [1, 1, 1]);
});

/** synthetic is a probe target that never does I/O, probed every intervalMs. */
const synthetic = (name: string, intervalMs: number): ProbeTarget => ({
  name,
  kind: 'synthetic',
  intervalMs,
  timeoutMs: intervalMs,
  concurrency: 1,
  labels: {},
  buckets: [1],
  distribution: { type: 'constant', valueMs: 1 },
  errorRate: 0,
});

/** fakePool is a one-thread pool whose batches `run` answers. */
const fakePool = (run: (batch: ProbeBatch) => Promise<ProbeResults>): ProbePool => ({
  run,
  onProgress: () => {},
  stats: () => ({ threads: 1, utilization: 0, queueSize: 0 }),
  retire: () => {},
  close: () => Promise.resolve(),
});

test("a target still probing skips its own next round, not its batch-mates' rounds", async () => {
  // A pool that finishes every target at once except `slow`, whose round (and so its batch) never ends.
  const runs: string[][] = [];
  const pool = fakePool((batch) => {
    const table = decodeTargetTable(batch.table);
    runs.push(batch.targets.map((i) => table.targets[i]!.name));
    for (const i of batch.targets) if (table.targets[i]!.name !== 'slow') markDone(table, i);
    return new Promise(() => {});
  });
  const target = (name: string): ProbeTarget => synthetic(name, 20);
  const scheduler = new Scheduler(pool, () => {}, 1, createLogger('silent', 'test'));
  // 20 ms / MIN_SLOT_MS = 2 slots: `slow` and `b` share one (and its batches), `a` has the other.
  scheduler.start([target('slow'), target('a'), target('b')]);
  const count = (name: string): number => runs.filter((r) => r.includes(name)).length;
  await waitFor('six rounds of b next to slow', async () => (count('b') >= 6 ? true : undefined));
  scheduler.start([]);
  assert.equal(count('slow'), 1, 'slow never finished its first round');
  // b shares slow's slot and batches: were it held back with slow it would stop at 1 round. a, on a slot
  // of its own, is the yardstick; timers on a loaded machine may give either a round more.
  assert.ok(count('b') >= count('a') - 1, `a ${count('a')}, b ${count('b')}`);
  assert.equal(
    scheduler.stats().probesSkippedTotal,
    count('b') - 1,
    'every later round of slow was skipped and counted',
  );
});

test('a batch whose worker fails is delivered as one `worker` failure per target, and its targets go on', async () => {
  let calls = 0;
  const pool = fakePool(() => (++calls % 2 === 1 ? Promise.reject(new Error('worker died')) : new Promise(() => {})));
  const delivered: ProbeResults[] = [];
  const scheduler = new Scheduler(pool, (r) => delivered.push(r), 1, createLogger('silent', 'test'));
  scheduler.start([synthetic('a', 10), synthetic('b', 10)]);
  // Had the failure left a and b busy, their next round would have been skipped and this would time out.
  await waitFor('the round after the failed one', async () => (calls >= 2 ? true : undefined));
  scheduler.start([]);
  const [first] = delivered;
  assert.ok(first, 'the failed batch was delivered');
  assert.deepEqual(first.names, ['a', 'b']);
  assert.deepEqual(
    [...first.result.reason],
    [1, 1].map(() => FAILURE_REASONS.indexOf('worker') + 1),
  );
  assert.deepEqual([...first.result.target], [0, 1]);
  assert.deepEqual(first.result.failure, ['Error: worker died', 'Error: worker died']);
});

test('runs reported before a batch is done are delivered at once; a failing worker then fails only the unfinished targets', async () => {
  let listener: ((p: ProbeProgress) => void) | undefined;
  let failBatch: (err: Error) => void = () => {};
  const sent: ProbeBatch[] = [];
  const pool: ProbePool = {
    ...fakePool((batch) => {
      sent.push(batch);
      return new Promise((_, reject) => {
        failBatch = reject;
      });
    }),
    onProgress: (l) => {
      listener = l;
    },
  };
  const delivered: ProbeResults[] = [];
  const scheduler = new Scheduler(pool, (r) => delivered.push(r), 1, createLogger('silent', 'test'));
  // One slot (10 ms / MIN_SLOT_MS), so a and b share the batch.
  scheduler.start([synthetic('a', 10), synthetic('b', 10)]);
  scheduler.start([]); // no second round
  const [batch] = sent;
  assert.ok(batch && listener);
  const ok = (targets: number[]): ProbeBatchResult => ({
    target: Uint32Array.from(targets),
    latencyUs: new Float64Array(targets.length).fill(1000),
    reason: new Uint8Array(targets.length),
    endedAtMs: new Float64Array(targets.length).fill(Date.now()),
    app: [null, null],
    failure: [null, null],
  });
  // Another scheduler's report on the same pool is not ours.
  listener({
    type: 'probe-progress',
    owner: batch.owner + 1000,
    batch: batch.id,
    names: ['x', 'y'],
    result: ok([0]),
    done: [0],
  });
  assert.equal(delivered.length, 0);
  listener({
    type: 'probe-progress',
    owner: batch.owner,
    batch: batch.id,
    names: ['a', 'b'],
    result: ok([0]),
    done: [0],
  });
  assert.equal(delivered.length, 1, 'delivered before the batch is done');
  assert.deepEqual([...delivered[0]!.result.target], [0]);

  failBatch(new Error('worker died'));
  await scheduler.stop();
  assert.equal(delivered.length, 2);
  const failed = delivered[1]!;
  assert.deepEqual(failed.names, ['a', 'b']);
  assert.deepEqual([...failed.result.target], [1], 'a finished before the worker died: only b failed');
  assert.deepEqual([...failed.result.reason], [FAILURE_REASONS.indexOf('worker') + 1]);
  assert.deepEqual(failed.result.failure, [null, 'Error: worker died']);

  // A report that arrives after its batch settled still carries real runs: delivered.
  listener({
    type: 'probe-progress',
    owner: batch.owner,
    batch: batch.id,
    names: ['a', 'b'],
    result: ok([0]),
    done: [],
  });
  assert.equal(delivered.length, 3);
});

test('a target table round-trips every target', () => {
  const targets: ProbeTarget[] = [
    {
      name: 'a',
      kind: 'synthetic',
      intervalMs: 0,
      timeoutMs: 1000,
      concurrency: 3,
      labels: { team: 'ü' },
      buckets: [1],
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    },
    {
      name: 'b',
      kind: 'tcp',
      intervalMs: 1000,
      timeoutMs: 500,
      concurrency: 1,
      labels: {},
      buckets: [0.1, 1],
      host: '::1',
      port: 1,
    },
  ];
  const decoded = decodeTargetTable(encodeTargetTable(targets));
  assert.deepEqual(decoded.targets, targets);
});

test("the table cache keeps the newest epoch and decodes an older batch's table without replacing it", () => {
  const target = (name: string): ProbeTarget => ({
    name,
    kind: 'tcp',
    intervalMs: 1000,
    timeoutMs: 500,
    concurrency: 1,
    labels: {},
    buckets: [1],
    host: 'localhost',
    port: 1,
  });
  const cache = new TableCache();
  const v1 = encodeTargetTable([target('old')]);
  const v2 = encodeTargetTable([target('new')]);
  const first = cache.get(v2);
  assert.equal(cache.get(v2), first, 'the same epoch is parsed once');
  assert.equal(cache.get(v1).targets[0]!.name, 'old');
  assert.equal(cache.get(v2), first, 'an older table does not evict the newest');
});

test('a scheduled round carries when it fired, so runs can report how late they started; a continuous one does not', async () => {
  const batches: ProbeBatch[] = [];
  const pool = fakePool((batch) => {
    batches.push(batch);
    const table = decodeTargetTable(batch.table);
    for (const i of batch.targets) markDone(table, i);
    return new Promise(() => {});
  });
  const scheduler = new Scheduler(pool, () => {}, 1, createLogger('silent', 'test'));
  const before = performance.timeOrigin + performance.now();
  scheduler.start([synthetic('a', 10), { ...synthetic('c', 0), intervalMs: 0 }]);
  await waitFor('a few rounds of a', async () =>
    batches.filter((b) => b.burstMs === 0).length >= 3 ? true : undefined,
  );
  scheduler.start([]);
  const after = performance.timeOrigin + performance.now();
  const scheduled = batches.filter((b) => b.burstMs === 0);
  for (const b of scheduled)
    assert.ok(b.dueAtMs! >= before && b.dueAtMs! <= after, `dueAtMs ${b.dueAtMs} in [${before}, ${after}]`);
  assert.ok(
    scheduled.every((b, i) => i === 0 || b.dueAtMs! > scheduled[i - 1]!.dueAtMs!),
    'each round fired after the one before',
  );
  const continuous = batches.filter((b) => b.burstMs > 0);
  assert.ok(continuous.length > 0);
  assert.ok(continuous.every((b) => b.dueAtMs === undefined));
});

test('batches the pool cuts short at shutdown are neither delivered nor logged as worker failures', async (t) => {
  const { createProbePool } = await import('../src/pool/probe-pool.ts');
  const { startSilentServer } = await import('./helpers/silent-server.ts');
  const { pino } = await import('pino');
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const pool = createProbePool(1, (err) => {
    throw err;
  });
  const deliveries: ProbeResults[] = [];
  const scheduler = new Scheduler(pool, (results) => deliveries.push(results), 1, log);
  scheduler.start([
    {
      name: 'hung',
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024,
      intervalMs: 60_000,
      timeoutMs: 30 * 60_000,
      concurrency: 1,
      labels: {},
      buckets: [1],
    } as ProbeTarget,
  ]);
  await waitFor('the hung probe connected', async () => (silent.open() > 0 ? true : undefined));
  const stopped = scheduler.stop();
  await pool.close();
  await stopped;
  assert.deepEqual(deliveries, [], 'nothing delivered for the batch shutdown cut short');
  assert.deepEqual(
    lines.filter((l) => /probe batch failed/.test(l)),
    [],
    'no worker failure logged',
  );
});

/** dueTimes is a scheduler over a pool that finishes every batch at once, with the due time of each batch. */
function dueTimes(): { scheduler: Scheduler; due: number[] } {
  const due: number[] = [];
  const pool = fakePool((batch) => {
    due.push(batch.dueAtMs!);
    const table = decodeTargetTable(batch.table);
    for (const i of batch.targets) markDone(table, i);
    return Promise.resolve({ names: [], result: ok(0) });
  });
  return { scheduler: new Scheduler(pool, () => {}, 1, createLogger('silent', 'test')), due };
}

test('a thread busy for a while: the slots that came due fire at once, each with its own due time', async () => {
  const { scheduler, due } = dueTimes();
  // Four targets at 100 ms: four slots, one every 25 ms.
  scheduler.start(['a', 'b', 'c', 'd'].map((n) => synthetic(n, 100)));
  busyFor(160); // as a long publish would hold the thread
  const unblocked = performance.timeOrigin + performance.now();
  await new Promise((resolve) => setTimeout(resolve, 0)); // the scheduler's overdue timer runs first
  scheduler.start([]);
  // The slots more than an interval old when the timer ran (those due at 25 and 50 ms, or more if it ran
  // later still) missed their round and are counted; the rest fired at once, each with the time it was
  // due (25 ms apart), not the time the timer ran.
  const [first, ...overdue] = due;
  const at = overdue.map((d) => d - first!);
  assert.ok(overdue.length >= 3 && at[0]! >= 75, `fired at ${at.join(', ')}`);
  at.forEach((a, i) => assert.ok(Math.abs(a - (at[0]! + 25 * i)) < 0.001, `fired at ${at.join(', ')}`));
  for (const d of overdue) assert.ok(d > unblocked - 100 && d <= unblocked, `fired at ${at.join(', ')}`);
  assert.equal(scheduler.stats().probesSkippedTotal, Math.round(at[0]! / 25) - 1);
});

test('a slot a whole interval overdue counts its missed rounds as skipped and fires once', async () => {
  const { scheduler, due } = dueTimes();
  scheduler.start([synthetic('a', 50)]); // one slot: a round every 50 ms
  busyFor(230); // rounds due at 50, 100, 150 and 200 ms: those older than 50 ms when the timer runs are missed
  await new Promise((resolve) => setTimeout(resolve, 0));
  scheduler.start([]);
  assert.equal(due.length, 2, 'the start round and one overdue round');
  const latest = due[1]! - due[0]!;
  assert.ok(latest >= 200, `the overdue round fired for its latest due time, not ${latest} ms`);
  assert.equal(scheduler.stats().probesSkippedTotal, Math.round(latest / 50) - 1);
});

/** busyFor holds this thread for ms, as synchronous work does. */
function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** ok is an empty batch result of `n` successes. */
function ok(n: number): ProbeBatchResult {
  return {
    target: new Uint32Array(n),
    latencyUs: new Float64Array(n),
    reason: new Uint8Array(n),
    endedAtMs: new Float64Array(n),
    app: [],
    failure: [],
  };
}
