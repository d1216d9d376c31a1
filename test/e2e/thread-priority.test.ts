/**
 * Thread priorities of the real probex process, read from /proc as `ps -L -o tid,nice` shows them: the
 * front end (main thread) keeps probex's own nice value; with backgroundNice the background thread, every
 * probe worker and the threads they start run that many steps below it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { processThreadNices } from '../helpers/nice.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

const linuxOnly = process.platform === 'linux' ? {} : { skip: 'thread priorities are set on Linux only' };
const THREADS = 3;

const config = (backgroundNice?: number): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
threads: ${THREADS}
${backgroundNice === undefined ? '' : `backgroundNice: ${backgroundNice}`}
targets:
  - { name: a, kind: synthetic, interval: 20ms, concurrency: ${THREADS} }
`;

/** started runs probex and waits until its pool runs all its probe workers and the target is up. */
async function started(yaml: string): Promise<ProbexProcess> {
  const probex = await startProbex(yaml);
  await waitFor(
    'probe workers and a first probe',
    async () => {
      const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
      return sampleValue(samples, 'probex_pool_threads') === THREADS &&
        sampleValue(samples, 'probex_probe_up', { target: 'a' }) === 1
        ? true
        : undefined;
    },
    30_000,
  );
  return probex;
}

/** niceCounts counts probex's threads per nice value, relative to its main thread's (whose ID is the pid). */
function niceCounts(pid: number): Map<number, number> {
  const nices = processThreadNices(pid);
  const main = nices.get(pid)!;
  const counts = new Map<number, number>();
  for (const nice of nices.values()) counts.set(nice - main, (counts.get(nice - main) ?? 0) + 1);
  return counts;
}

test(
  'backgroundNice: 10 runs the background thread and probe workers 10 nice steps below the front end',
  linuxOnly,
  async (t) => {
    const probex = await started(config(10));
    t.after(() => probex.stop());
    const counts = niceCounts(probex.child.pid!);
    // Node's own threads that the main thread started (V8's platform threads, ...) stay with it at +0; a
    // thread a background thread starts inherits +10 (on Node 20, libuv's pool when a worker's I/O is its
    // first use; on Node 24 no such thread is left at +10).
    assert.deepEqual(
      [...counts.keys()].sort((a, b) => a - b),
      [0, 10],
      `threads per relative nice: ${[...counts]}`,
    );
    assert.ok(
      counts.get(10)! >= THREADS + 1,
      `${THREADS} probe workers and the background thread at +10: ${[...counts]}`,
    );

    // backgroundNice is read at start-up only: a reload asking for another says so and changes nothing.
    const pid = probex.child.pid!;
    const threadsBefore = new Set(processThreadNices(pid).keys());
    writeFileSync(probex.configPath!, config(3));
    probex.child.kill('SIGHUP');
    await waitFor('the reload', async () => (probex.logs.some((l) => l.msg === 'config reloaded') ? true : undefined));
    assert.ok(probex.logs.some((l) => l.level === 40 && /backgroundNice change only on restart/.test(String(l.msg))));
    // The reload reads the file on a one-shot thread at backgroundNice, which answers before it ends: count
    // once every thread that was not there before the SIGHUP has left /proc/<pid>/task.
    await waitFor('the reload thread to end', async () => {
      const added = [...processThreadNices(pid).keys()].filter((tid) => !threadsBefore.has(tid));
      return added.length === 0 ? true : undefined;
    });
    assert.deepEqual(niceCounts(pid).get(10), counts.get(10));
  },
);

test("by default every thread runs at the front end's priority", linuxOnly, async (t) => {
  const probex = await started(config());
  t.after(() => probex.stop());
  const counts = niceCounts(probex.child.pid!);
  assert.deepEqual([...counts.keys()], [0], `threads per relative nice: ${[...counts]}`);
  assert.ok(
    counts.get(0)! >= THREADS + 3,
    'main, the background thread, the probe workers and a thread Node started were all counted',
  );
});
