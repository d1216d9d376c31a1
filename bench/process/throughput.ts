/**
 * Probe throughput and scrape latency under probe load, in one run:
 *   1. Redis PING at concurrency 64: a bare node-redis loop in this process, then probex (a real process,
 *      one continuous redis target with concurrency 64), each for --seconds. probes/s and the ratio. The
 *      bare loop runs twice: with node-redis's defaults (what `createClient()` and `ping()` give you; the
 *      issue's baseline) and without its 5 s default command timeout (the library at its fastest, which
 *      is ~5× faster: that default costs an AbortSignal.timeout, a timer and a listener per command).
 *   2. Scrape latency of one probex process serving 1,000 synthetic targets, idle (interval 1 h: same
 *      series, no probing) and under load (every target at 10 Hz = 10,000 probes/s), switched by config
 *      reload (SIGHUP), --rounds times each way. GET /metrics with gzip, as Prometheus asks, all the time,
 *      one at a time: while the reload loads (the slowest of those is the reload stall), for SETTLE_MS
 *      after it applied (untimed), then timed for --window seconds back to back (a stress: the client
 *      keeps one core busy) and --window seconds paced at PACE_HZ (a scraper that leaves the cores to
 *      probex). Each side's latencies are pooled per kind: p50/p99 and the ratio. One process, alternating
 *      windows: the host's drift (this 2-core VM's scrape p99 wanders between 0.2 and 1.5 ms over
 *      minutes) hits both sides alike, which separate runs did not manage. Peak RSS under load.
 * `npm run bench:throughput [-- --seconds 5 --window 2 --rounds 10 --part all|ping|scrape
 * --background-nice N --aa]` builds dist/ and runs probex from it (what `npm run start:dist` and the
 * container run). Results also go to bench/results/throughput-<time>.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { createClient } from 'redis';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { REDIS_URL } from '../../support/services.ts';
import { THROUGHPUT as BUDGET } from '../budgets.ts';
import { fmt, writeResult } from '../lib/report.ts';

const CONCURRENCY = 64;
const SYNTHETIC_TARGETS = 1_000;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    window: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '10' },
    /** part runs only `ping` or only `scrape` (while working on one of them); the default runs both. */
    part: { type: 'string', default: 'all' },
    /** background-nice sets probex's backgroundNice (default: probex's own default), to compare settings. */
    'background-nice': { type: 'string' },
    /**
     * aa runs both sides idle (an A/A test): the spread of their p99 ratio is this machine's noise floor,
     * what a ratio must clear before it says anything about the probe load.
     */
    aa: { type: 'boolean', default: false },
  },
});
/** COMMON_YAML goes into every probex config the bench runs. */
const COMMON_YAML = `listen: { port: 0 }\nlog: { level: error }\nthreads: 2\n${
  values['background-nice'] === undefined ? '' : `backgroundNice: ${Number(values['background-nice'])}\n`
}`;
const seconds = Number(values.seconds);
/** rounds of idle-then-loaded windows of `windowMs` each, in one process. */
const rounds = Number(values.rounds);
const windowMs = Number(values.window) * 1000;
/** SETTLE_MS after a reload applied are not timed: the reload's own publish and the rounds it starts or ends. */
const SETTLE_MS = 500;
/**
 * PACE_HZ is the rate of the paced scrapes: one every 4 ms, hundreds of times Prometheus's usual rate, yet
 * leaving the cores to probex (back-to-back scrapes keep one of this VM's two cores busy in the client).
 */
const PACE_HZ = 250;
/** RELOAD_TIMEOUT_MS bounds how long a window waits for its reload to apply. */
const RELOAD_TIMEOUT_MS = 10_000;

/** bareRedisLoop keeps CONCURRENCY PINGs in flight on one node-redis client for `ms`; returns PINGs/s. */
async function bareRedisLoop(ms: number, commandTimeout: 'default' | 'off'): Promise<number> {
  const client = createClient({
    url: REDIS_URL,
    RESP: 2,
    ...(commandTimeout === 'off' ? { commandOptions: { timeout: 0 } } : {}),
  });
  await client.connect();
  let done = 0;
  const until = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await client.ping();
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - t0) / 1000);
  client.destroy();
  return rate;
}

async function scrape(p: ProbexProcess): Promise<string> {
  return (await fetch(`${p.url}/metrics`)).text();
}

/** probexPingRate runs probex with one continuous Redis target and reads its probe count from /metrics. */
async function probexPingRate(ms: number): Promise<number> {
  const p = await startProbex(`${COMMON_YAML}targets:
  - { name: ping, kind: redis, url: "${REDIS_URL}", interval: 0, concurrency: ${CONCURRENCY} }
`);
  try {
    const probes = async (): Promise<number> => {
      const samples = parseExposition(await scrape(p));
      return (
        sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'ping' }) +
        samples
          .filter((s) => s.name === 'probex_probe_errors_total' && s.labels.target === 'ping')
          .reduce((a, s) => a + s.value, 0)
      );
    };
    await waitFor('first probes', async () => ((await probes()) > 0 ? true : undefined), 20_000);
    await sleep(1_000); // warm: workers loaded, connections open
    const [c0, t0] = [await probes(), performance.now()];
    await sleep(ms);
    const [c1, t1] = [await probes(), performance.now()];
    // Counts are published once a second: the error of one publish is bounded by the rate × 1 s / window.
    return (c1 - c0) / ((t1 - t0) / 1000);
  } finally {
    await p.stop();
  }
}

/** Latency summarizes one kind of scrape of one side. */
interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  scrapes: number;
}

interface ScrapeStats extends Latency {
  bodyBytes: number;
  rssBytes: number;
  /** p99 of each window, in order (how much one window's tail varies). */
  windowP99Ms: number[];
  /** publishMs is the publisher's render + gzip + snapshot write, as of each window's end (the median). */
  publishMs: number;
  /**
   * probedTargets[w] is how many targets the snapshot at window w's end showed probed since that window's
   * reload, so a reload that did not switch the load cannot go unnoticed.
   */
  probedTargets: number[];
  /** reloadMaxMs is the slowest scrape between a SIGHUP and the end of its settling time (the reload stall). */
  reloadMaxMs: number;
  /** paced: the same, for scrapes sent PACE_HZ times a second rather than back to back. */
  paced: Latency;
}

/** Side is one side of the comparison: its config, and what its windows measured. */
interface Side {
  readonly yaml: string;
  readonly histogram: hdr.Histogram;
  readonly windowP99Ms: number[];
  readonly publishMs: number[];
  bodyBytes: number;
  rssBytes: number;
  /** probedTargets[w] is how many targets the snapshot at window w's end showed probed since its reload. */
  readonly probedTargets: number[];
  reloadMaxMs: number;
  /** paced holds the latencies of the paced scrapes, which follow each window's back-to-back ones. */
  readonly paced: hdr.Histogram;
}

function syntheticConfig(interval: string): string {
  const targets = Array.from(
    { length: SYNTHETIC_TARGETS },
    (_, i) =>
      `  - { name: s${i}, kind: synthetic, interval: ${interval}, distribution: { type: lognormal, medianMs: 2, sigma: 0.5 } }`,
  ).join('\n');
  return `${COMMON_YAML}targets:\n${targets}\n`;
}

/**
 * scrapeLatency runs one probex with 1,000 synthetic targets and scrapes it back to back while its config
 * alternates between idle and loaded every window.
 */
async function scrapeLatency(): Promise<{ idle: ScrapeStats; loaded: ScrapeStats }> {
  const side = (interval: string): Side => ({
    yaml: syntheticConfig(interval),
    histogram: hdr.build({ numberOfSignificantValueDigits: 3 }),
    windowP99Ms: [],
    publishMs: [],
    bodyBytes: 0,
    rssBytes: 0,
    probedTargets: [],
    reloadMaxMs: 0,
    paced: hdr.build({ numberOfSignificantValueDigits: 3 }),
  });
  const idle = side('1h');
  const loaded = side(values.aa ? '1h' : '100ms');
  const p = await startProbex(idle.yaml);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await waitFor(
      'a snapshot with every target',
      async () => ((await scrape(p)).includes(`target="s${SYNTHETIC_TARGETS - 1}"`) ? true : undefined),
      30_000,
    );
    for (let r = 0; r < rounds; r++) {
      for (const s of [idle, loaded]) await scrapeWindow(p, agent, s);
    }
  } finally {
    agent.destroy();
    await p.stop();
  }
  return { idle: stats(idle), loaded: stats(loaded) };
}

/**
 * scrapeWindow reloads probex into the side's config and scrapes until the window ends: untimed while the
 * reload loads and for SETTLE_MS after it applied (its slowest scrape is the side's reload stall), then
 * back to back for windowMs into the side's histogram, then paced for windowMs into its paced one.
 */
async function scrapeWindow(p: ProbexProcess, agent: http.Agent, s: Side): Promise<void> {
  const url = `${p.url}/metrics`;
  const window = hdr.build({ numberOfSignificantValueDigits: 3 });
  const reloadsBefore = reloadsLogged(p);
  writeFileSync(p.configPath!, s.yaml);
  p.child.kill('SIGHUP');
  const hupAt = performance.now();
  let timedFrom = Infinity;
  let appliedAtMs = 0;
  const sampler = setInterval(() => {
    s.rssBytes = Math.max(s.rssBytes, rssOf(p.child.pid!));
  }, 250);
  try {
    for (let now = hupAt; now < timedFrom + windowMs; now = performance.now()) {
      if (timedFrom === Infinity && reloadsLogged(p) > reloadsBefore) {
        timedFrom = now + SETTLE_MS;
        appliedAtMs = Date.now();
      }
      s.bodyBytes = await get(agent, url);
      const us = Math.round((performance.now() - now) * 1000);
      if (now >= timedFrom) window.recordValue(us);
      else s.reloadMaxMs = Math.max(s.reloadMaxMs, us / 1000);
      if (now - hupAt > RELOAD_TIMEOUT_MS && timedFrom === Infinity)
        throw new Error(`the reload did not apply within ${RELOAD_TIMEOUT_MS} ms`);
    }
    await pacedScrapes(agent, url, performance.now() + windowMs, s.paced);
  } finally {
    clearInterval(sampler);
  }
  s.histogram.add(window);
  s.windowP99Ms.push(window.getValueAtPercentile(99) / 1000);
  const self = parseExposition(await scrape(p));
  s.publishMs.push(sampleValue(self, 'probex_publish_duration_seconds') * 1000);
  // Count the targets probed after the untimed settling part: all of them under load, ~none when idle.
  s.probedTargets.push(
    self.filter((x) => x.name === 'probex_probe_last_timestamp_seconds' && x.value * 1000 > appliedAtMs + SETTLE_MS)
      .length,
  );
}

/**
 * pacedScrapes sends one scrape every 1/PACE_HZ s until `until`. A scrape sent late because the one before
 * was still running counts from when it was due (the server made it wait: no coordinated omission); one
 * sent late because this process's timer fired late counts from when it was sent (the client's delay).
 */
async function pacedScrapes(agent: http.Agent, url: string, until: number, into: hdr.Histogram): Promise<void> {
  const everyMs = 1000 / PACE_HZ;
  let previousEnd = 0;
  for (let due = performance.now(); due < until; due += everyMs) {
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const sent = performance.now();
    await get(agent, url);
    const end = performance.now();
    into.recordValue(Math.round((end - (previousEnd > due ? due : sent)) * 1000));
    previousEnd = end;
  }
}

/** reloadsLogged counts probex's `config reloaded` log lines so far. */
function reloadsLogged(p: ProbexProcess): number {
  return p.logs.filter((l) => l.msg === 'config reloaded').length;
}

function stats(s: Side): ScrapeStats {
  return {
    ...latency(s.histogram),
    bodyBytes: s.bodyBytes,
    rssBytes: s.rssBytes,
    windowP99Ms: s.windowP99Ms,
    publishMs: median(s.publishMs),
    probedTargets: s.probedTargets,
    reloadMaxMs: s.reloadMaxMs,
    paced: latency(s.paced),
  };
}

/** latency summarizes a histogram of scrape latencies in µs. */
function latency(h: hdr.Histogram): Latency {
  return {
    p50Ms: h.getValueAtPercentile(50) / 1000,
    p99Ms: h.getValueAtPercentile(99) / 1000,
    maxMs: h.maxValue / 1000,
    scrapes: h.totalCount,
  };
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** get fetches url with Accept-Encoding gzip and resolves with the body size in bytes. */
function get(agent: http.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`status ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** rssOf reads a process's resident set (all its threads) from /proc. */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

const ms = seconds * 1000;

/** pingPart compares PINGs/s through probex with the bare loops. */
async function pingPart(): Promise<Record<string, number>> {
  const bare = await bareRedisLoop(ms, 'default');
  const fastest = await bareRedisLoop(ms, 'off');
  const viaProbex = await probexPingRate(ms);
  console.log(`\nRedis PING, concurrency ${CONCURRENCY}, ${seconds} s each`);
  console.table({
    'bare node-redis loop (defaults)': { 'probes/s': fmt(bare) },
    'bare node-redis loop (no command timeout)': { 'probes/s': fmt(fastest) },
    'probex (2 worker threads)': { 'probes/s': fmt(viaProbex) },
    'ratio probex / bare (defaults)': { 'probes/s': `${fmt(viaProbex / bare, 2)}× (target ≥ ${BUDGET.pingRatio}×)` },
    'ratio probex / bare (no command timeout)': { 'probes/s': `${fmt(viaProbex / fastest, 2)}×` },
  });
  return { bare, fastest, viaProbex, ratio: viaProbex / bare, ratioToFastest: viaProbex / fastest };
}

/** scrapePart times scrapes idle and under probe load, in alternating windows of one process. */
async function scrapePart(): Promise<Record<string, unknown>> {
  const { idle, loaded } = await scrapeLatency();
  // Every target probed in every loaded window; in idle ones, only the one slot a reload fires at once.
  if ((!values.aa && Math.min(...loaded.probedTargets) < SYNTHETIC_TARGETS) || Math.max(...idle.probedTargets) > 5) {
    throw new Error(
      `the reloads did not switch the load: targets probed per window idle ${idle.probedTargets.join(',')}, ` +
        `loaded ${loaded.probedTargets.join(',')}`,
    );
  }
  const spread = (s: ScrapeStats): string =>
    `${fmt(Math.min(...s.windowP99Ms), 2)}-${fmt(Math.max(...s.windowP99Ms), 2)}`;
  console.log(
    `\nScrape latency, ${SYNTHETIC_TARGETS} synthetic targets, sequential GET /metrics with gzip, one process ` +
      `switching idle ↔ loaded by reload (${rounds} windows each, ${windowMs / 1000} s timed from ${SETTLE_MS} ms after the reload applied); ` +
      `single windows' p99: idle ${spread(idle)} ms, loaded ${spread(loaded)} ms`,
  );
  const row = (s: ScrapeStats) => ({
    scrapes: s.scrapes,
    'body (gzip)': `${fmt(s.bodyBytes / 1024)} KiB`,
    'p50 ms': fmt(s.p50Ms, 3),
    'p99 ms': fmt(s.p99Ms, 3),
    'max ms': fmt(s.maxMs, 3),
    [`paced ${PACE_HZ}/s: scrapes`]: s.paced.scrapes,
    'p50 ms ': fmt(s.paced.p50Ms, 3),
    'p99 ms ': fmt(s.paced.p99Ms, 3),
    'peak RSS MiB': fmt(s.rssBytes / 2 ** 20),
    'publish ms': fmt(s.publishMs, 1),
    'max ms during reload': fmt(s.reloadMaxMs, 1),
    'targets probed per window': `${Math.min(...s.probedTargets)}-${Math.max(...s.probedTargets)}`,
  });
  console.table({
    'idle (interval 1 h)': row(idle),
    [values.aa ? 'idle again (--aa)' : 'under load (10 Hz each = 10k probes/s)']: row(loaded),
  });
  const p99Ratio = loaded.p99Ms / idle.p99Ms;
  const pacedP99Ratio = loaded.paced.p99Ms / idle.paced.p99Ms;
  // Each loaded window against the idle one just before it: a burst of host noise spoils one pair, where
  // it can carry a pooled p99 on its own.
  const pairs = loaded.windowP99Ms.map((l, i) => l / idle.windowP99Ms[i]!).sort((a, b) => a - b);
  const pairedP99Ratio = (pairs[(pairs.length - 1) >> 1]! + pairs[pairs.length >> 1]!) / 2;
  console.log(
    `p99 ratio load / idle (target ≤ ${BUDGET.scrapeP99Ratio}×): back to back ${fmt(p99Ratio, 2)}×, ` +
      `paced ${PACE_HZ}/s ${fmt(pacedP99Ratio, 2)}×; back to back, median of window pairs ${fmt(pairedP99Ratio, 2)}×; ` +
      `peak RSS under load ${fmt(loaded.rssBytes / 2 ** 20)} MiB (target ≤ ${BUDGET.rssBytes / 2 ** 20} MiB)`,
  );
  return {
    rounds,
    windowMs,
    settleMs: SETTLE_MS,
    paceHz: PACE_HZ,
    idle,
    loaded,
    p99Ratio,
    pacedP99Ratio,
    pairedP99Ratio,
  };
}

const ping = values.part === 'scrape' ? undefined : await pingPart();
const scrapes = values.part === 'ping' ? undefined : await scrapePart();
const out = writeResult('throughput', {
  seconds,
  concurrency: CONCURRENCY,
  backgroundNice: values['background-nice'] ?? 'default',
  aa: values.aa,
  ping,
  scrape: scrapes,
  budget: BUDGET,
});
console.log(`results: ${out}`);
