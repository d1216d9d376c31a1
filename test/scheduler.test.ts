import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeTarget } from '../src/probes/probe.ts';
import { spread } from '../src/scheduler.ts';

const target = (concurrency: number): ProbeTarget => ({
  name: 'c', kind: 'synthetic', intervalMs: 0, timeoutMs: 1000, concurrency, labels: {}, buckets: [1],
  distribution: { type: 'constant', valueMs: 1 }, errorRate: 0,
});

test('a continuous target is spread over the worker threads, keeping its total concurrency', () => {
  assert.deepEqual(spread(target(64), 2).map((t) => t.concurrency), [32, 32]);
  assert.deepEqual(spread(target(5), 2).map((t) => t.concurrency), [3, 2]);
  assert.deepEqual(spread(target(10), 4).map((t) => t.concurrency), [3, 3, 2, 2]);
});

test('a target with less concurrency than threads gets one loop per lane', () => {
  assert.deepEqual(spread(target(1), 4).map((t) => t.concurrency), [1]);
  assert.deepEqual(spread(target(3), 8).map((t) => t.concurrency), [1, 1, 1]);
});

test('every share is the same target otherwise', () => {
  for (const share of spread(target(7), 3)) assert.deepEqual({ ...share, concurrency: 0 }, { ...target(7), concurrency: 0 });
});
