import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SyntheticDistribution, SyntheticTarget } from '../../src/probes/synthetic.ts';
import { sampler, syntheticProbe } from '../../src/probes/synthetic.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';

const DRAWS = 10_000;

function target(distribution: SyntheticDistribution, errorRate = 0): SyntheticTarget {
  return { ...TARGET_DEFAULTS, name: 'synthetic-test', kind: 'synthetic', distribution, errorRate };
}

async function runMany(t: SyntheticTarget, n: number): Promise<{ latencies: number[]; failures: number }> {
  const prober = syntheticProbe.create(t);
  const signal = new AbortController().signal;
  const latencies: number[] = [];
  let failures = 0;
  for (let i = 0; i < n; i++) {
    const outcome = await prober.run(signal);
    if (outcome.ok) latencies.push(outcome.latencyUs ?? Number.NaN);
    else {
      assert.deepEqual(outcome, { ok: false, reason: 'other', message: 'synthetic failure' });
      failures++;
    }
  }
  await prober.close();
  return { latencies, failures };
}

test('a constant distribution reports exactly its value in microseconds', async () => {
  const { latencies, failures } = await runMany(target({ type: 'constant', valueMs: 2.5 }), 100);
  assert.equal(failures, 0);
  assert.ok(latencies.every((us) => us === 2500));
});

test('a uniform distribution stays within its bounds and covers them', async () => {
  const { latencies } = await runMany(target({ type: 'uniform', minMs: 3, maxMs: 7 }), DRAWS);
  assert.ok(latencies.every((us) => us >= 3000 && us <= 7000));
  // Each half of the range holds about 5000 draws; below 4000 would be a >20-sigma event.
  assert.ok(latencies.filter((us) => us < 5000).length > 4000);
  assert.ok(latencies.filter((us) => us >= 5000).length > 4000);
});

test('a lognormal distribution has its median at medianMs', () => {
  const draw = sampler({ type: 'lognormal', medianMs: 10, sigma: 0.5 });
  const values = Array.from({ length: DRAWS }, draw).sort((a, b) => a - b);
  assert.ok(values.every((v) => v > 0));
  const median = values[DRAWS / 2]!;
  // The sample median's standard error here is about 0.06 ms; 1 ms is more than 15 of them.
  assert.ok(Math.abs(median - 10) < 1, `median ${median}`);
});

test('a lognormal distribution with sigma 0 is constant', () => {
  const draw = sampler({ type: 'lognormal', medianMs: 4, sigma: 0 });
  for (let i = 0; i < 100; i++) assert.equal(draw(), 4);
});

test('an exponential distribution has its mean at meanMs and no negative values', () => {
  const draw = sampler({ type: 'exponential', meanMs: 5 });
  const values = Array.from({ length: DRAWS }, draw);
  assert.ok(values.every((v) => v >= 0 && Number.isFinite(v)));
  const mean = values.reduce((a, b) => a + b, 0) / DRAWS;
  // Standard error of the mean is 5 / 100 = 0.05 ms; 0.75 ms is 15 of them.
  assert.ok(Math.abs(mean - 5) < 0.75, `mean ${mean}`);
});

test('the error rate is honoured over 10k runs', async () => {
  const { failures } = await runMany(target({ type: 'constant', valueMs: 1 }, 0.1), DRAWS);
  // Binomial(10000, 0.1): mean 1000, sigma 30; ±200 is more than 6 sigma.
  assert.ok(Math.abs(failures - 1000) < 200, `failures ${failures}`);
});

test('an error rate of 0 never fails and 1 always fails', async () => {
  assert.equal((await runMany(target({ type: 'constant', valueMs: 1 }, 0), 1000)).failures, 0);
  assert.equal((await runMany(target({ type: 'constant', valueMs: 1 }, 1), 1000)).failures, 1000);
});

test('a run whose signal has already aborted answers timeout', async () => {
  const prober = syntheticProbe.create(target({ type: 'constant', valueMs: 1 }));
  const outcome = await prober.run(AbortSignal.abort());
  assert.equal(outcome.ok === false ? outcome.reason : 'ok', 'timeout');
});

test('ten thousand runs take well under a second', async () => {
  const prober = syntheticProbe.create(target({ type: 'lognormal', medianMs: 2, sigma: 0.5 }, 0.01));
  const signal = new AbortController().signal;
  const t0 = performance.now();
  for (let i = 0; i < DRAWS; i++) await prober.run(signal);
  assert.ok(performance.now() - t0 < 1000);
});
