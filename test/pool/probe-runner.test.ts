import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeProgress } from '../../src/pool/messages.ts';
import { ProbeRunner } from '../../src/pool/probe-runner.ts';
import { encodeTargetTable } from '../../src/pool/target-table.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { startSilentServer } from '../helpers/silent-server.ts';

const base = { intervalMs: 1000, concurrency: 1, labels: {}, buckets: [0.001, 0.01, 0.1] };

test("a runner posts a fast target's run as progress while its batch-mate is still waiting, and answers the rest at the end", async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const targets = [
    {
      ...base,
      timeoutMs: 400,
      name: 'slow',
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024,
    },
    {
      ...base,
      timeoutMs: 400,
      name: 'fast',
      kind: 'synthetic',
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    },
  ] as ProbeTarget[];
  const table = encodeTargetTable(targets);
  const progress: ProbeProgress[] = [];
  const runner = new ProbeRunner((p) => progress.push(p));
  const results = await runner.run({ owner: 1, id: 7, table, targets: [0, 1], burstMs: 0 });

  assert.equal(progress.length, 1, 'one early report');
  assert.deepEqual(
    { owner: progress[0]!.owner, batch: progress[0]!.batch, done: progress[0]!.done },
    { owner: 1, batch: 7, done: [1] },
  );
  assert.deepEqual([...progress[0]!.result.target], [1], "the early report holds the fast target's run");
  assert.deepEqual(results.names, ['slow', 'fast']);
  assert.deepEqual([...results.result.target], [0], 'the answer holds only the run not posted yet');
  assert.equal(results.result.failure[0], 'deadline of 400 ms exceeded');
  runner.sweep(Date.now() + 3_600_000);
});

test('a runner without a progress port answers every run at the end of its batch', async () => {
  const targets = [
    {
      ...base,
      timeoutMs: 400,
      name: 'a',
      kind: 'synthetic',
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    },
    {
      ...base,
      timeoutMs: 400,
      name: 'b',
      kind: 'synthetic',
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    },
  ] as ProbeTarget[];
  const runner = new ProbeRunner();
  const results = await runner.run({
    owner: 1,
    id: 1,
    table: encodeTargetTable(targets),
    targets: [0, 1],
    lanes: 3,
    burstMs: 0,
  });
  assert.deepEqual([...results.result.target].sort(), [0, 0, 0, 1, 1, 1], 'three lanes a target');
});

test("lanes are shared between targets, each run under its own target's deadline", async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const hanging = (name: string, timeoutMs: number): ProbeTarget =>
    ({
      ...base,
      timeoutMs,
      name,
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/${name}`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024,
    }) as ProbeTarget;
  const table = encodeTargetTable([hanging('short', 50), hanging('long', 300), hanging('short2', 50)]);
  const runner = new ProbeRunner();
  t.after(() => runner.close());
  for (const [index, deadline] of [
    [0, 50],
    [1, 300],
    [2, 50],
    [1, 300],
  ] as const) {
    const started = performance.now();
    const { result } = await runner.run({ owner: 1, id: index, table, targets: [index], burstMs: 0 });
    assert.equal(result.failure[0], `deadline of ${deadline} ms exceeded`);
    assert.ok(performance.now() - started >= deadline - 5, `a ${deadline} ms deadline is not cut short`);
  }
});
