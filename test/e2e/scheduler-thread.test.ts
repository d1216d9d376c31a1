/**
 * The scheduler on a thread of its own (src/process/scheduler-thread.ts), in the real probex process: a config of
 * SCHEDULER_THREAD_MIN_TARGETS targets starts it, every target's probes reach the publisher and are
 * counted, a reload reaches it, and SIGTERM ends it with the rest. A smaller config has no such thread.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { SCHEDULER_THREAD_MIN_TARGETS } from '../../src/process/scheduler-thread.ts';
import { findSamples, parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

const config = (n: number, first = 0): string =>
  `listen: { port: 0 }\npublishInterval: 200ms\nthreads: 1\ntargets:\n` +
  Array.from({ length: n }, (_, i) => `  - { name: t${first + i}, kind: synthetic, interval: 500ms }`).join('\n') +
  '\n';

/** probes maps each target to its probex_probes_total. */
async function probes(probex: ProbexProcess): Promise<{ counts: Map<string, number>; skipped: number }> {
  const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
  const counts = new Map(findSamples(samples, 'probex_probes_total').map((s) => [s.labels.target!, s.value]));
  return { counts, skipped: sampleValue(samples, 'probex_probes_skipped_total') ?? NaN };
}

const started = (probex: ProbexProcess): boolean => probex.logs.some((l) => l.msg === 'scheduler thread started');

test('a large config is scheduled on its own thread: every target is probed, a reload reaches it, SIGTERM ends it', async (t) => {
  const n = SCHEDULER_THREAD_MIN_TARGETS;
  const probex = await startProbex(config(n));
  t.after(() => probex.stop());
  await waitFor(
    'every target probed at least twice',
    async () => {
      const { counts } = await probes(probex);
      return counts.size === n && [...counts.values()].every((c) => c >= 2) ? true : undefined;
    },
    30_000,
  );
  assert.ok(started(probex), 'the scheduler thread says it started');

  // The reload replaces every target but one: the new ones are probed, the kept one counts on.
  writeFileSync(probex.configPath!, config(3, n - 1));
  probex.child.kill('SIGHUP');
  const before = (await probes(probex)).counts.get(`t${n - 1}`)!;
  const after = await waitFor(
    'the reloaded targets probed',
    async () => {
      const { counts } = await probes(probex);
      return counts.size === 3 && [...counts.values()].every((c) => c >= 2) ? counts : undefined;
    },
    15_000,
  );
  assert.ok(after.get(`t${n - 1}`)! > before, 'the kept target keeps its count');

  probex.child.kill('SIGTERM');
  const exit = await probex.exited;
  assert.equal(exit.code, 0);
});

test('a small config is scheduled beside the publisher, without a thread of its own', async (t) => {
  const probex = await startProbex(config(3));
  t.after(() => probex.stop());
  await waitFor('every target probed', async () => ((await probes(probex)).counts.size === 3 ? true : undefined));
  assert.equal(started(probex), false);
});
