/**
 * Never frozen, never blinded, in the real probex process: a reload that makes the snapshot outgrow its
 * buffer, and a background thread (the publisher) that stops. Scrapes run all along; /readyz must tell the truth.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { test, type TestContext } from 'node:test';
import { findSamples, parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { stopThread, type StoppedThread } from '../helpers/stop-thread.ts';

/**
 * config renders a probex config of n synthetic targets s0..; snapshotBytes is the smallest allowed, 64 KiB.
 * A snapshot is stale after 3 publish intervals: the stall test publishes every 100 ms to see that soon; the
 * growth test every 1 s (the default), as a publish of hundreds of targets on a loaded CI box may take longer
 * than 300 ms, which /readyz would rightly report.
 */
const config = (n: number, publishIntervalMs: number): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: ${publishIntervalMs}ms
snapshotBytes: 65536
threads: 1
targets:
${Array.from({ length: n }, (_, i) => `  - { name: s${i}, kind: synthetic, interval: 200ms, distribution: { type: constant, valueMs: 1 } }`).join('\n')}
`;

async function start(t: TestContext, yaml: string): Promise<ProbexProcess> {
  const probex = await startProbex(yaml);
  t.after(async () => {
    await probex.stop();
    if (probex.configPath !== undefined) rmSync(dirname(probex.configPath), { recursive: true, force: true });
  });
  return probex;
}

interface Scrape {
  generation: number;
  targets: number;
  failures: number;
}

async function scrape(probex: ProbexProcess): Promise<Scrape> {
  const res = await fetch(`${probex.url}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(res.status, 200);
  const samples = parseExposition(await res.text());
  return {
    generation: sampleValue(samples, 'probex_snapshot_generation'),
    targets: findSamples(samples, 'probex_probes_total').filter((s) => s.value > 0).length,
    failures: sampleValue(samples, 'probex_publish_failures_total'),
  };
}

async function readyz(probex: ProbexProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`${probex.url}/readyz`);
  return { status: res.status, body: await res.text() };
}

test('a reload that outgrows a 64 KiB snapshot moves it to a larger buffer: every target served, never stale', async (t) => {
  const probex = await start(t, config(2, 1000));
  const before = await waitFor(
    'both targets probed',
    async () => {
      const s = await scrape(probex);
      return s.targets === 2 ? s : undefined;
    },
    15_000,
  );

  writeFileSync(probex.configPath!, config(300, 1000)); // ~2 MB of bodies: 30 times the first buffer
  assert.ok(probex.child.kill('SIGHUP'));
  // Scrape and ask /readyz all along: the generation only grows and the process stays ready.
  const seen: Scrape[] = [before];
  const notReady: string[] = [];
  const after = await waitFor(
    'all 300 targets in /metrics',
    async () => {
      const [s, ready] = await Promise.all([scrape(probex), readyz(probex)]);
      seen.push(s);
      if (ready.status !== 200) notReady.push(`${ready.status} ${ready.body}`);
      return s.targets === 300 ? s : undefined;
    },
    30_000,
  );
  for (let i = 1; i < seen.length; i++) {
    assert.ok(
      seen[i]!.generation >= seen[i - 1]!.generation,
      `generation went back: ${seen.map((s) => s.generation).join(' ')}`,
    );
  }
  assert.ok(after.generation > before.generation);
  assert.deepEqual(notReady, [], '/readyz said 200 throughout');
  assert.equal(after.failures, 0, 'no publish failed');
  const grown = probex.logs.find((l) => l.msg === 'snapshot outgrew its buffer; it moved to a larger one');
  assert.ok(grown, 'the switch is logged');
  assert.equal(grown.previousSlotBytes, 65536);
  assert.ok((grown.slotBytes as number) >= 1.5 * (grown.neededBytes as number) - 65536);

  // The JSON API reads the same new buffer, and later publishes keep going into it.
  const containers = await (
    await fetch(`${probex.url}/system/v1/metrics/v0/containers`, { headers: { accept: 'application/json' } })
  ).json();
  assert.equal((containers as string[]).length, 300);
  const later = await waitFor(
    'later generations',
    async () => {
      const s = await scrape(probex);
      return s.generation > after.generation + 2 ? s : undefined;
    },
    15_000,
  );
  assert.equal(later.targets, 300);
  assert.equal((await readyz(probex)).status, 200);
});

test('a background thread (the publisher) that stops makes /readyz 503 after 3 publish intervals, and 200 once it runs again', async (t) => {
  const probex = await start(t, config(2, 100));
  const started = await waitFor("the background thread's id in the log", async () =>
    probex.logs.find((l) => l.msg === 'background thread started' && typeof l.tid === 'number'),
  );
  await waitFor('a first snapshot', async () => ((await scrape(probex)).targets === 2 ? true : undefined), 15_000);
  assert.equal((await readyz(probex)).status, 200);

  let stopped: StoppedThread;
  try {
    stopped = await stopThread(started.tid as number);
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    t.skip(`cannot stop a thread with ptrace here (${(err as Error).message}); needs perl and ptrace permission`);
    return;
  }
  let frozen: Scrape;
  try {
    frozen = await scrape(probex);
    const stale = await waitFor('/readyz to answer 503', async () => {
      const r = await readyz(probex);
      return r.status === 503 ? r : undefined;
    });
    assert.match(
      stale.body,
      /^snapshot is stale: its data is \d+\.\d\ds old, more than the 0\.3s its publisher allows/,
    );
    const ageS = Number(/data is (\d+\.\d\d)s old/.exec(stale.body)![1]);
    assert.ok(ageS >= 0.3, `stale at ${ageS}s`);
    // The front end goes on serving the last snapshot, unchanged, and says it is alive.
    const during = await scrape(probex);
    assert.equal(during.generation, frozen.generation);
    assert.equal((await fetch(`${probex.url}/healthz`)).status, 200);
  } finally {
    await stopped.resume(); // before the process is stopped (t.after): a stopped thread cannot exit
  }
  await waitFor('/readyz to answer 200 again', async () => ((await readyz(probex)).status === 200 ? true : undefined));
  const resumed = await waitFor('new generations', async () => {
    const s = await scrape(probex);
    return s.generation > frozen.generation ? s : undefined;
  });
  assert.equal(resumed.targets, 2);
});
