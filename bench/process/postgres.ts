/**
 * PostgreSQL `SELECT 1` throughput through probex against a bare pg loop, in one run (as bench:throughput
 * compares Redis PING): the bare loop keeps --concurrency pg clients in this process each running
 * `SELECT 1` back to back; probex (a real process, from dist/) runs one continuous postgres target with the
 * same concurrency, spread over its 2 probe worker threads. Each side runs --seconds, alternating --rounds
 * times (this VM drifts over minutes; alternating exposes both sides to it alike), and the ratio of the
 * medians is checked against PROBE_RATE.ratio (bench/budgets.ts). Both sides share the one local server and its two cores: the
 * server's own work per query is most of the cost on both sides.
 * `npm run bench:postgres [-- --seconds 5 --rounds 3 --concurrency 8]`. Results also go to
 * bench/results/postgres-<time>.json.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { POSTGRES_URL } from '../../support/services.ts';
import { PROBE_RATE as BUDGET } from '../budgets.ts';
import { cpuSeconds } from '../lib/proc-cpu.ts';
import { fmt, writeResult } from '../lib/report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);

/** Rate is one side's queries per second and its own CPU per query (the server's is not in it). */
interface Rate {
  readonly rate: number;
  readonly cpuUsPerQuery: number;
}

/** bareLoop runs `concurrency` clients, each with one SELECT 1 in flight, for `ms`. */
async function bareLoop(ms: number): Promise<Rate> {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      return client;
    }),
  );
  try {
    for (const client of clients) await client.query('SELECT 1'); // warm: connections open, plans cached alike
    let done = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const until = t0 + ms;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < until) {
          await client.query({ text: 'SELECT 1', rowMode: 'array' });
          done++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { rate: done / ((performance.now() - t0) / 1000), cpuUsPerQuery: (cpu.user + cpu.system) / done };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/**
 * probexRate runs probex with one continuous postgres target and reads its probe count from /metrics; its
 * CPU per probe is the whole process's (probing, scheduling, publishing, serving these scrapes).
 */
async function probexRate(ms: number): Promise<Rate & { errors: number }> {
  const p = await startProbex(`listen: { port: 0 }\nlog: { level: error }\nthreads: 2\ntargets:
  - { name: pg, kind: postgres, url: "${POSTGRES_URL}", interval: 0, concurrency: ${concurrency} }
`);
  try {
    const counts = async (): Promise<{ ok: number; errors: number }> => {
      const samples = parseExposition(await (await fetch(`${p.url}/metrics`)).text());
      const ok = sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'pg' });
      const errors = samples
        .filter((s) => s.name === 'probex_probe_errors_total' && s.labels.target === 'pg')
        .reduce((a, s) => a + s.value, 0);
      return { ok, errors };
    };
    await waitFor('first probes', async () => ((await counts()).ok > 0 ? true : undefined), 20_000);
    await sleep(1_000); // warm: workers loaded, connections open
    const [c0, t0, cpu0] = [await counts(), performance.now(), cpuSeconds(p.child.pid!)];
    await sleep(ms);
    const [c1, t1, cpu1] = [await counts(), performance.now(), cpuSeconds(p.child.pid!)];
    // Counts are published once a second: the error of one publish is bounded by the rate × 1 s / window.
    const probes = c1.ok + c1.errors - c0.ok - c0.errors;
    return {
      rate: probes / ((t1 - t0) / 1000),
      cpuUsPerQuery: ((cpu1 - cpu0) * 1e6) / probes,
      errors: c1.errors - c0.errors,
    };
  } finally {
    await p.stop();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bare: Rate[] = [];
const probex: Rate[] = [];
let errors = 0;
for (let r = 0; r < rounds; r++) {
  const b = await bareLoop(seconds * 1000);
  const p = await probexRate(seconds * 1000);
  bare.push(b);
  probex.push(p);
  errors += p.errors;
  console.log(
    `round ${r + 1}: bare pg ${fmt(b.rate)} q/s (${fmt(b.cpuUsPerQuery, 1)} µs CPU each), ` +
      `probex ${fmt(p.rate)} probes/s (${fmt(p.cpuUsPerQuery, 1)} µs CPU each, ${p.errors} failed), ratio ${fmt(p.rate / b.rate, 2)}×`,
  );
}
const rates = (side: Rate[]): number[] => side.map((x) => x.rate);
const ratio = median(rates(probex)) / median(rates(bare));
console.log(`\nSELECT 1 at concurrency ${concurrency}, ${rounds} × ${seconds} s each side:`);
console.log(
  `  bare pg loop   median ${fmt(median(rates(bare)))} q/s      (${rates(bare)
    .map((x) => fmt(x))
    .join(', ')}), ` + `${fmt(median(bare.map((x) => x.cpuUsPerQuery)), 1)} µs CPU per query`,
);
console.log(
  `  through probex median ${fmt(median(rates(probex)))} probes/s (${rates(probex)
    .map((x) => fmt(x))
    .join(', ')}), ` +
    `${fmt(median(probex.map((x) => x.cpuUsPerQuery)), 1)} µs CPU per probe (whole process), ${errors} failed`,
);
console.log(`  ratio ${fmt(ratio, 2)}× (budget ≥ ${BUDGET.ratio}×)`);
const file = writeResult('postgres', { seconds, rounds, concurrency, bare, probex, errors, ratio, budget: BUDGET });
console.log(`  results: ${file}`);
if (ratio < BUDGET.ratio || errors > 0) process.exitCode = 1;
