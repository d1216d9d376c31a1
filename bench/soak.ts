/**
 * Soak: is probex's memory and handle use flat under everything at once? One probex process from the
 * build (as `npm run start:dist` runs it) probes SYNTHETIC_TARGETS synthetic targets at 10 Hz plus the
 * real Redis and MariaDB, is scraped every SCRAPE_EVERY_MS with gzip (and its JSON API now and then), and
 * reloads (SIGHUP) every RELOAD_EVERY_MS, alternating two configs so each reload really changes targets.
 * Every SAMPLE_EVERY_MS it samples the process's RSS (/proc/<pid>/status VmRSS) and open file descriptors
 * (/proc/<pid>/fd). At the end it compares the minute after a minute's warm-up with the last minute.
 *
 * `npm run bench:soak [-- --minutes 5]`. Exit 1 when RSS or fds grew beyond the bound below, or when a
 * scrape failed. Results also go to bench/results/soak-<time>.json.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startProbex, waitFor } from '../support/probex-process.ts';
import { MYSQL_URL, REDIS_URL } from '../support/services.ts';
import { fmt, writeResult } from './report.ts';

const SYNTHETIC_TARGETS = 500;
const SCRAPE_EVERY_MS = 100;
const RELOAD_EVERY_MS = 4_000;
const SAMPLE_EVERY_MS = 2_000;
/** RSS_GROWTH_BOUND: the last window's mean RSS over the first window's; more is a leak, not noise. */
const RSS_GROWTH_BOUND = 1.1;
/**
 * FD_GROWTH_BOUND: the last window's median fd count may exceed the first window's by this many. A median,
 * because each reload's one-shot config thread holds a few fds for a moment.
 */
const FD_GROWTH_BOUND = 4;

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' } } });
const durationMs = Number(values.minutes) * 60_000;
if (!(durationMs >= 20_000)) throw new Error('--minutes must be at least 0.34');
/**
 * WINDOW_S: after a warm-up of WINDOW_S (heaps and pools grow to their working size), the next WINDOW_S
 * seconds are compared with the last WINDOW_S: a minute each, or a fifth of a shorter run.
 */
const WINDOW_S = Math.min(60, durationMs / 5000);

function configYaml(variant: 0 | 1): string {
  const lines = [
    'listen: { port: 0 }',
    'log: { level: warn }',
    'targets:',
    `  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 100ms }`,
    `  - { name: mariadb, kind: mysql, url: "${MYSQL_URL}", interval: 100ms }`,
  ];
  // The second variant renames a tenth of the targets, so a reload retires probers and creates new ones.
  for (let i = 0; i < SYNTHETIC_TARGETS; i++) {
    const name = variant === 1 && i % 10 === 0 ? `syn-b-${i}` : `syn-${i}`;
    lines.push(`  - { name: ${name}, kind: synthetic, interval: 100ms }`);
  }
  return `${lines.join('\n')}\n`;
}

interface Sample {
  atS: number;
  rssMiB: number;
  fds: number;
}

function sample(pid: number, t0: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { atS: (Date.now() - t0) / 1000, rssMiB: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

const probex = await startProbex(configYaml(0));
const pid = probex.child.pid!;
const configPath = probex.configPath!;
let scrapes = 0;
let scrapeFailures = 0;
let apiRequests = 0;
let reloads = 0;
try {
  await waitFor(
    'the first probes',
    async () => {
      const body = await (await fetch(`${probex.url}/metrics`)).text();
      return /probex_probe_duration_seconds_count\{target="redis"[^}]*\} [1-9]/.test(body) ? true : undefined;
    },
    30_000,
  );
  const t0 = Date.now();
  const samples: Sample[] = [sample(pid, t0)];
  let stop = false;
  const scraper = (async () => {
    while (!stop) {
      const started = Date.now();
      try {
        const res = await fetch(`${probex.url}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
        await res.arrayBuffer();
        if (res.status !== 200) scrapeFailures++;
        scrapes++;
        if (scrapes % 50 === 0) {
          const api = await fetch(`${probex.url}/system/v1/metrics/v0/containers/redis`);
          await api.arrayBuffer();
          apiRequests++;
        }
      } catch {
        scrapeFailures++;
      }
      await sleep(Math.max(0, SCRAPE_EVERY_MS - (Date.now() - started)));
    }
  })();
  const reloader = (async () => {
    let variant: 0 | 1 = 0;
    while (!stop) {
      await sleep(RELOAD_EVERY_MS);
      variant = variant === 0 ? 1 : 0;
      writeFileSync(configPath, configYaml(variant));
      process.kill(pid, 'SIGHUP');
      reloads++;
    }
  })();
  while (Date.now() - t0 < durationMs) {
    await sleep(SAMPLE_EVERY_MS);
    const s = sample(pid, t0);
    samples.push(s);
    process.stdout.write(
      `${fmt(s.atS)} s  RSS ${fmt(s.rssMiB, 1)} MiB  fds ${s.fds}  scrapes ${scrapes}  reloads ${reloads}\n`,
    );
  }
  stop = true;
  await Promise.all([scraper, reloader]);

  const first = samples.filter((s) => s.atS > WINDOW_S && s.atS <= 2 * WINDOW_S);
  const last = samples.filter((s) => s.atS >= samples.at(-1)!.atS - WINDOW_S);
  const mean = (xs: Sample[]): number => xs.reduce((a, s) => a + s.rssMiB, 0) / xs.length;
  const medianFds = (xs: Sample[]): number => xs.map((s) => s.fds).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rssRatio = mean(last) / mean(first);
  const fdGrowth = medianFds(last) - medianFds(first);
  const peak = Math.max(...samples.map((s) => s.rssMiB));
  const result = {
    minutes: durationMs / 60_000,
    syntheticTargets: SYNTHETIC_TARGETS,
    scrapes,
    scrapeFailures,
    apiRequests,
    reloads,
    firstWindowRssMiB: mean(first),
    lastWindowRssMiB: mean(last),
    rssRatio,
    peakRssMiB: peak,
    firstWindowMedianFds: medianFds(first),
    lastWindowMedianFds: medianFds(last),
    samples,
  };
  console.log(
    `\nsoak ${result.minutes} min: ${scrapes} scrapes (${scrapeFailures} failed), ${apiRequests} API requests, ${reloads} reloads`,
  );
  console.log(
    `RSS  first window ${fmt(mean(first), 1)} MiB, last window ${fmt(mean(last), 1)} MiB (×${fmt(rssRatio, 3)}), peak ${fmt(peak, 1)} MiB`,
  );
  console.log(`fds  median: first window ${medianFds(first)}, last window ${medianFds(last)}`);
  console.log(`results: ${writeResult('soak', result)}`);
  const failed = rssRatio > RSS_GROWTH_BOUND || fdGrowth > FD_GROWTH_BOUND || scrapeFailures > 0;
  console.log(failed ? 'FAIL: memory or fds grew, or scrapes failed' : 'ok: RSS and fds flat');
  process.exitCode = failed ? 1 : 0;
} finally {
  await probex.stop();
}
