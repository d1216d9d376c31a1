/**
 * What backgroundNice does to the probes when the CPU is taken: probex probes the local Redis (PING every
 * 20 ms) for --seconds while HOGS CPU-bound processes run, at backgroundNice 0 and 10, with the hogs
 * (a) absent, (b) in a session of their own, as a benchmark started from another terminal, (c) in
 * probex's own session, as a script that starts both. Linux schedules a session (autogroup), a container
 * or a systemd unit as one group: nice only weighs threads of the same group against each other.
 * Reports probes run (counted from the first published probe on) and the HDR p50/p99/max of their latency
 * (the JSON API's), twice in alternating order.
 * `npm run bench:contention [-- --seconds 15]` builds dist/ and runs probex from it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { REDIS_URL } from '../../support/services.ts';
import { fmt, writeResult } from '../lib/report.ts';

/** HOGS busy processes: twice this VM's cores, so every core has a queue. */
const HOGS = 4;
const HOG_PLACES = ['none', 'own session', 'probex session'] as const;
type HogPlace = (typeof HOG_PLACES)[number];

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '15' } } });
const seconds = Number(values.seconds);

interface Row {
  readonly nice: number;
  readonly hogs: HogPlace;
  readonly probes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

async function run(nice: number, hogs: HogPlace): Promise<Row> {
  const hogProcs: ChildProcess[] = [];
  for (let i = 0; hogs !== 'none' && i < HOGS; i++) {
    // detached: setsid, so a session (and autogroup) of its own.
    hogProcs.push(
      spawn(process.execPath, ['-e', 'for (;;) {}'], { detached: hogs === 'own session', stdio: 'ignore' }),
    );
  }
  const p = await startProbex(
    `listen: { port: 0 }\nlog: { level: error }\nbackgroundNice: ${nice}\ntargets:\n` +
      `  - { name: r, kind: redis, url: "${REDIS_URL}", interval: 20ms }\n`,
  );
  const route = `${p.url}/system/v1/metrics/v0/containers/r`;
  try {
    // 204 until the first probe is published; the timed part starts from there.
    await waitFor('the first probe', async () => ((await fetch(route)).status === 200 ? true : undefined), 20_000);
    await sleep(seconds * 1000);
    const res = await fetch(route);
    const { datapoints } = (await res.json()) as { datapoints: Array<{ name: string; value: number }> };
    const value = (name: string): number => datapoints.find((d) => d.name === name)?.value ?? Number.NaN;
    return {
      nice,
      hogs,
      probes: value('probe.count'),
      p50Ms: value('probe.latency.p50') * 1e3,
      p99Ms: value('probe.latency.p99') * 1e3,
      maxMs: value('probe.latency.max') * 1e3,
    };
  } finally {
    await p.stop();
    for (const h of hogProcs) h.kill('SIGKILL');
  }
}

const rows: Row[] = [];
for (const order of [
  [0, 10],
  [10, 0],
]) {
  for (const hogs of HOG_PLACES) for (const nice of order) rows.push(await run(nice, hogs));
}
console.log(
  `\nRedis PING every 20 ms for ${seconds} s (${Math.round(seconds * 50)} rounds), ${HOGS} CPU-bound processes`,
);
console.table(
  rows.map((r) => ({
    backgroundNice: r.nice,
    'CPU hogs': r.hogs,
    probes: r.probes,
    'p50 ms': fmt(r.p50Ms, 3),
    'p99 ms': fmt(r.p99Ms, 3),
    'max ms': fmt(r.maxMs, 1),
  })),
);
console.log(`results: ${writeResult('contention', { seconds, hogs: HOGS, rows })}`);
