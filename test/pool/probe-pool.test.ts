import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeBatch } from '../../src/pool/messages.ts';
import { createProbePool } from '../../src/pool/probe-pool.ts';
import { encodeTargetTable } from '../../src/pool/target-table.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { waitFor } from '../../support/probex-process.ts';
import { startSilentServer } from '../helpers/silent-server.ts';

const HUNG_TIMEOUT_MS = 30 * 60_000;
const rethrow = (err: unknown): never => {
  throw err;
};

// Piscina's own close waits up to its closeTimeout (30 s) for a running task: well past this test's timeout.
test(
  'closing the pool ends a probe hung on a silent server at once, and its socket with it',
  { timeout: 15_000 },
  async (t) => {
    const silent = await startSilentServer();
    t.after(() => silent.close());
    const pool = createProbePool(1, rethrow);
    const target = {
      name: 'hung',
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024,
      intervalMs: 1000,
      timeoutMs: HUNG_TIMEOUT_MS,
      concurrency: 1,
      labels: {},
      buckets: [1],
    } as ProbeTarget;
    const batch: ProbeBatch = { owner: 1, id: 1, table: encodeTargetTable([target]), targets: [0], burstMs: 0 };
    const run = pool.run(batch);
    const settled = run.then(
      () => 'answered',
      (err: unknown) => String(err),
    );
    await waitFor('the probe connected to the silent server', async () => (silent.open() > 0 ? true : undefined));
    await pool.close();
    assert.match(await settled, /PoolClosedError: the probe pool closed while the batch ran/);
    await waitFor("the hung probe's socket closed", async () => (silent.open() === 0 ? true : undefined));
  },
);

test("a worker failure that no task waits on goes to the pool's error handler, and the pool replaces the worker", async (t) => {
  const errors: unknown[] = [];
  const fixture = new URL('../fixtures/workers/throw-between-tasks.ts', import.meta.url).href;
  const pool = createProbePool(1, (err) => errors.push(err), fixture);
  t.after(() => pool.close());
  const batch = { owner: 1, id: 1, table: encodeTargetTable([]), targets: [], burstMs: 0 } satisfies ProbeBatch;
  await pool.run(batch);
  await waitFor('the error between tasks', async () => (errors.length > 0 ? true : undefined));
  assert.match(String(errors[0]), /thrown between tasks/);
  assert.deepEqual(await pool.run(batch), { names: [] }, 'a new worker answers the next task');
});

test('a batch that answers while the pool closes is neither reported as a worker failure nor lost as an error', async () => {
  const errors: unknown[] = [];
  const fixture = new URL('../fixtures/workers/answer-after-close.ts', import.meta.url).href;
  const pool = createProbePool(1, (err) => errors.push(err), fixture);
  const batch = { owner: 1, id: 1, table: encodeTargetTable([]), targets: [], burstMs: 0 } satisfies ProbeBatch;
  const settled = pool.run(batch).then(
    () => 'answered',
    (err: unknown) => String(err),
  );
  await pool.close();
  assert.match(await settled, /^answered$|PoolClosedError/);
  // A late answer would reach the error handler on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(errors.map(String), []);
});
