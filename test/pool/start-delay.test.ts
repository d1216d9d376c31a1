/**
 * workers/probe-worker.ts reports how late each run started after its round was due: called here in the
 * test's own thread (no parent port, so every run comes back in the batch's answer).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import runProbeBatch from '../../workers/probe-worker.ts';
import { encodeTargetTable } from '../../src/pool/target-table.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';

const target = (name: string, concurrency = 1): ProbeTarget => ({
  name,
  kind: 'synthetic',
  intervalMs: 1000,
  timeoutMs: 1000,
  concurrency,
  labels: {},
  buckets: [1],
  distribution: { type: 'constant', valueMs: 1 },
  errorRate: 0,
});

test('a run that starts after its round was due reports the delay; without a due time it reports 0', async () => {
  const table = encodeTargetTable([target('late', 2), target('plain')]);
  const dueAtMs = performance.timeOrigin + performance.now() - 250; // the round fired 250 ms ago
  const late = await runProbeBatch({ owner: 99, id: 1, table, targets: [0], burstMs: 0, dueAtMs });
  const delays = [...late.result.startDelayUs!];
  assert.equal(delays.length, 2, 'one run per lane');
  for (const d of delays) assert.ok(d >= 250_000 && d < 60_000_000, `delay ${d} µs`);

  const plain = await runProbeBatch({ owner: 99, id: 2, table, targets: [1], burstMs: 0 });
  assert.deepEqual([...plain.result.startDelayUs!], [0]);
});
