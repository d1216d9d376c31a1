/**
 * Soak: is probex's memory and handle use flat under everything at once, and does it leave nothing behind?
 * One probex process from the build (as `npm run start:dist` runs it) probes SYNTHETIC_TARGETS synthetic
 * targets at 10 Hz, the real Redis and MariaDB, and three hostile targets: a PostgreSQL query that sleeps
 * past its deadline (pg_sleep), a SQLite query that never ends and one that fails after half a second. It
 * is scraped every SCRAPE_EVERY_MS with gzip (and its JSON API now and then), and reloads (SIGHUP) every
 * RELOAD_EVERY_MS, alternating two configs so each reload really changes targets (the hostile ones are
 * re-created each time). Every SAMPLE_EVERY_MS it samples the process's RSS (/proc/<pid>/status VmRSS),
 * open file descriptors (/proc/<pid>/fd), threads (/proc/<pid>/task), descendant processes (the sqlite
 * children) and probex's PostgreSQL backends (pg_stat_activity, application_name `probex:…`). At the end it
 * compares the minute after a minute's warm-up with the last minute, then sends SIGTERM and times the exit.
 *
 * `npm run bench:soak [-- --minutes 5]`. Exit 1 when RSS, fds, threads or processes grew beyond their budgets
 * (bench/budgets.ts SOAK), a scrape failed, probex held more PostgreSQL backends than its concurrency, probex did not exit 0
 * within 5 s of SIGTERM, or a backend or process of probex's outlived it by 2 s. Results also go to
 * bench/results/soak-<time>.json.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL } from '../../support/services.ts';
import { SOAK as BUDGET } from '../budgets.ts';
import { fmt, writeResult } from '../lib/report.ts';

const SYNTHETIC_TARGETS = 500;
const SCRAPE_EVERY_MS = 100;
const RELOAD_EVERY_MS = 4_000;
const SAMPLE_EVERY_MS = 2_000;
/** PG_CONCURRENCY is the slow PostgreSQL target's concurrency: probex may hold that many backends, never more. */
const PG_CONCURRENCY = 2;

const sqliteDir = mkdtempSync(join(tmpdir(), 'probex-soak-'));
const sqlitePath = join(sqliteDir, 'soak.db');
new Database(sqlitePath).exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)').close();
/** NEVER_ENDS counts without end; FAILS_LATE overflows abs() after about 0.5 s of work (3M rows). */
const NEVER_ENDS = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';
const FAILS_LATE =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000000) ' +
  'SELECT abs(-9223372036854775807-1+count(*)-count(*)) FROM c';

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
    // Each reload re-creates the hostile targets: a new name retires the old prober with its work in flight.
    `  - { name: pg-slow-${variant}, kind: postgres, url: "${POSTGRES_URL}", query: "SELECT pg_sleep(30)", timeout: 200ms, interval: 500ms, concurrency: ${PG_CONCURRENCY} }`,
    `  - { name: sqlite-forever-${variant}, kind: sqlite, path: "${sqlitePath}", query: "${NEVER_ENDS}", timeout: 300ms, interval: 1s }`,
    `  - { name: sqlite-fails-${variant}, kind: sqlite, path: "${sqlitePath}", query: "${FAILS_LATE}", timeout: 2s, interval: 2s }`,
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
  threads: number;
  processes: number;
  backends: number;
}

/** descendants lists every live process below pid (/proc/<n>/stat's ppid, field 4), zombies left out. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') parents.set(Number(entry), Number(ppid));
    } catch {
      // Gone between the listing and the read.
    }
  }
  const below = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents)
      if (below.has(parent) && !below.has(child)) {
        below.add(child);
        grew = true;
      }
  }
  below.delete(pid);
  return [...below];
}

const watcher = new pg.Client({ connectionString: POSTGRES_URL, application_name: 'soak-watcher' });
await watcher.connect();
/**
 * probexBackends counts the PostgreSQL backends of the slow target's name that has the most (a reload
 * renames it, and the old name's sessions close while the new one's open: the bound is per target).
 */
async function probexBackends(): Promise<number> {
  const { rows } = await watcher.query<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE 'probex:pg-slow%' GROUP BY application_name",
  );
  return Math.max(0, ...rows.map((r) => Number(r.n)));
}

async function sample(pid: number, t0: number): Promise<Sample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return {
    atS: (Date.now() - t0) / 1000,
    rssMiB: rssKb / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    threads: readdirSync(`/proc/${pid}/task`).length,
    processes: descendants(pid).length,
    backends: await probexBackends(),
  };
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
  const samples: Sample[] = [await sample(pid, t0)];
  let maxBackends = 0;
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
  // Backends are sampled more often than the rest: a leak of one per round would show between samples.
  const backendWatch = (async () => {
    while (!stop) {
      maxBackends = Math.max(maxBackends, await probexBackends());
      await sleep(250);
    }
  })();
  while (Date.now() - t0 < durationMs) {
    await sleep(SAMPLE_EVERY_MS);
    const s = await sample(pid, t0);
    samples.push(s);
    process.stdout.write(
      `${fmt(s.atS)} s  RSS ${fmt(s.rssMiB, 1)} MiB  fds ${s.fds}  threads ${s.threads}  processes ${s.processes}` +
        `  pg backends ${s.backends}  scrapes ${scrapes}  reloads ${reloads}\n`,
    );
  }
  stop = true;
  await Promise.all([scraper, reloader, backendWatch]);
  const scrapedTimeouts = await (await fetch(`${probex.url}/metrics`)).text();

  // SIGTERM: probex exits 0 within BUDGET.exitMs, and nothing it started outlives it by BUDGET.orphanMs.
  const children = descendants(pid);
  const termAt = Date.now();
  process.kill(pid, 'SIGTERM');
  const exit = await Promise.race([probex.exited, sleep(BUDGET.exitMs).then(() => undefined)]);
  const exitMs = Date.now() - termAt;
  await sleep(Math.max(0, termAt + exitMs + BUDGET.orphanMs - Date.now()));
  const orphanBackends = await probexBackends();
  const orphanProcesses = children.filter((p) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  }).length;

  const first = samples.filter((s) => s.atS > WINDOW_S && s.atS <= 2 * WINDOW_S);
  const last = samples.filter((s) => s.atS >= samples.at(-1)!.atS - WINDOW_S);
  const mean = (xs: Sample[]): number => xs.reduce((a, s) => a + s.rssMiB, 0) / xs.length;
  const medianFds = (xs: Sample[]): number => xs.map((s) => s.fds).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rssRatio = mean(last) / mean(first);
  const fdGrowth = medianFds(last) - medianFds(first);
  const peak = Math.max(...samples.map((s) => s.rssMiB));
  const most = (xs: Sample[], key: 'threads' | 'processes'): number => Math.max(...xs.map((s) => s[key]));
  const threadGrowth = most(last, 'threads') - most(first, 'threads');
  const processGrowth = most(last, 'processes') - most(first, 'processes');
  const timeouts = (name: string): number =>
    [
      ...scrapedTimeouts.matchAll(
        new RegExp(`probex_probe_errors_total\\{target="${name}-[01]"[^}]*reason="timeout"[^}]*\\} (\\d+)`, 'g'),
      ),
    ]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
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
    firstWindowMaxThreads: most(first, 'threads'),
    lastWindowMaxThreads: most(last, 'threads'),
    firstWindowMaxProcesses: most(first, 'processes'),
    lastWindowMaxProcesses: most(last, 'processes'),
    maxPgBackends: maxBackends,
    pgSlowTimeoutsAtEnd: timeouts('pg-slow'),
    sqliteForeverTimeoutsAtEnd: timeouts('sqlite-forever'),
    exit: exit ?? 'still running',
    exitMs,
    orphanBackends,
    orphanProcesses,
    samples,
  };
  console.log(
    `\nsoak ${result.minutes} min: ${scrapes} scrapes (${scrapeFailures} failed), ${apiRequests} API requests, ${reloads} reloads`,
  );
  console.log(
    `RSS  first window ${fmt(mean(first), 1)} MiB, last window ${fmt(mean(last), 1)} MiB (×${fmt(rssRatio, 3)}), peak ${fmt(peak, 1)} MiB`,
  );
  console.log(`fds  median: first window ${medianFds(first)}, last window ${medianFds(last)}`);
  console.log(
    `threads  most: first window ${most(first, 'threads')}, last window ${most(last, 'threads')}; ` +
      `processes below probex: ${most(first, 'processes')} → ${most(last, 'processes')}`,
  );
  console.log(
    `pg-slow: at most ${maxBackends} backends (concurrency ${PG_CONCURRENCY}); timeouts counted since the last reload: ` +
      `pg-slow ${result.pgSlowTimeoutsAtEnd}, sqlite-forever ${result.sqliteForeverTimeoutsAtEnd}`,
  );
  console.log(
    `SIGTERM: ${exit === undefined ? 'still running' : `exit ${exit.code ?? exit.signal}`} after ${exitMs} ms; ` +
      `${BUDGET.orphanMs / 1000} s later: ${orphanBackends} probex backends, ${orphanProcesses} of its processes alive`,
  );
  console.log(`results: ${writeResult('soak', result)}`);
  const problems = [
    rssRatio > BUDGET.rssGrowth && 'RSS grew',
    fdGrowth > BUDGET.fdGrowth && 'fds grew',
    threadGrowth > BUDGET.threadGrowth && 'threads grew',
    processGrowth > BUDGET.processGrowth && 'processes grew',
    scrapeFailures > 0 && 'scrapes failed',
    maxBackends > PG_CONCURRENCY && `more than ${PG_CONCURRENCY} PostgreSQL backends`,
    (exit === undefined || exit.code !== 0) && `no exit 0 within ${BUDGET.exitMs / 1000} s of SIGTERM`,
    orphanBackends > 0 && 'PostgreSQL backends outlived probex',
    orphanProcesses > 0 && 'processes outlived probex',
  ].filter((p): p is string => typeof p === 'string');
  console.log(problems.length > 0 ? `FAIL: ${problems.join(', ')}` : 'ok: flat, bounded, and nothing left behind');
  process.exitCode = problems.length > 0 ? 1 : 0;
} finally {
  await probex.stop();
  await watcher.end();
  rmSync(sqliteDir, { recursive: true, force: true });
}
