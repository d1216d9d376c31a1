/**
 * Probe throughput and scrape latency under probe load (issue #3), in one run:
 *   1. Redis PING at concurrency 64: a bare node-redis loop in this process, then probex (a real process,
 *      one continuous redis target with concurrency 64), each for --seconds. probes/s and the ratio. The
 *      bare loop runs twice: with node-redis's defaults (what `createClient()` and `ping()` give you; the
 *      issue's baseline) and without its 5 s default command timeout (the library at its fastest, which
 *      is ~5× faster: that default costs an AbortSignal.timeout, a timer and a listener per command).
 *   2. Scrape latency of probex serving 1,000 synthetic targets, idle (interval 1 h: same series, no
 *      probing) and under load (every target at 10 Hz = 10,000 probes/s). Sequential GET /metrics with
 *      gzip, as Prometheus asks; p50/p99 and the ratio. Peak RSS of the probex process while scraped.
 *      --rounds alternations of idle and loaded; each side's median round by p99 is reported.
 * `npm run bench:throughput [-- --seconds 5 --rounds 5 --part all|ping|scrape]` builds dist/ and runs probex from it (what `npm run start:dist`
 * and the container run). Results also go to bench/results/throughput-<time>.json.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { createClient } from 'redis';
import { parseExposition, sampleValue } from '../test/helpers/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../test/helpers/probex-process.ts';
import { fmt, writeResult } from './report.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 64;
const SYNTHETIC_TARGETS = 1_000;
/** Targets from issue #3. */
const BUDGET = { pingRatio: 0.6, scrapeP99Ratio: 1.5, rssBytes: 256 * 1024 * 1024 };

const { values } = parseArgs({ options: {
  seconds: { type: 'string', default: '5' },
  rounds: { type: 'string', default: '5' },
  /** part runs only `ping` or only `scrape` (while working on one of them); the default runs both. */
  part: { type: 'string', default: 'all' },
} });
const seconds = Number(values.seconds);
/** rounds of idle-then-loaded scrape runs; each side reports its median round by p99 (one bad round is common here). */
const rounds = Number(values.rounds);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** bareRedisLoop keeps CONCURRENCY PINGs in flight on one node-redis client for `ms`; returns PINGs/s. */
async function bareRedisLoop(ms: number, commandTimeout: 'default' | 'off'): Promise<number> {
  const client = createClient({ url: REDIS_URL, RESP: 2, ...(commandTimeout === 'off' ? { commandOptions: { timeout: 0 } } : {}) });
  await client.connect();
  let done = 0;
  const until = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < until) {
      await client.ping();
      done++;
    }
  }));
  const rate = done / ((performance.now() - t0) / 1000);
  client.destroy();
  return rate;
}

async function scrape(p: ProbexProcess): Promise<string> {
  return (await fetch(`${p.url}/metrics`)).text();
}

/** probexPingRate runs probex with one continuous Redis target and reads its probe count from /metrics. */
async function probexPingRate(ms: number): Promise<number> {
  const p = await startProbex(`
listen: { port: 0 }
log: { level: error }
targets:
  - { name: ping, kind: redis, url: "${REDIS_URL}", interval: 0, concurrency: ${CONCURRENCY} }
`);
  try {
    const probes = async (): Promise<number> => {
      const samples = parseExposition(await scrape(p));
      return sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'ping' })
        + samples.filter((s) => s.name === 'probex_probe_errors_total' && s.labels.target === 'ping').reduce((a, s) => a + s.value, 0);
    };
    await waitFor('first probes', async () => (await probes()) > 0 ? true : undefined, 20_000);
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

interface ScrapeStats {
  p50Ms: number; p99Ms: number; maxMs: number; scrapes: number; bodyBytes: number; rssBytes: number;
  /** publishMs is the publisher's last render + gzip + snapshot write; snapshotAgeMs how old the served one was. */
  publishMs: number; snapshotAgeMs: number;
}

/** scrapeLatency starts probex with 1,000 synthetic targets at `interval` and times sequential gzip scrapes. */
async function scrapeLatency(interval: string, ms: number): Promise<ScrapeStats> {
  const targets = Array.from({ length: SYNTHETIC_TARGETS }, (_, i) =>
    `  - { name: s${i}, kind: synthetic, interval: ${interval}, distribution: { type: lognormal, medianMs: 2, sigma: 0.5 } }`).join('\n');
  const p = await startProbex(`listen: { port: 0 }\nlog: { level: error }\ntargets:\n${targets}\n`);
  try {
    await waitFor('a snapshot with every target', async () =>
      (await scrape(p)).includes(`target="s${SYNTHETIC_TARGETS - 1}"`) ? true : undefined, 30_000);
    await sleep(2_000); // let probing reach its steady rate
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const histogram = hdr.build({ numberOfSignificantValueDigits: 3 });
    let bodyBytes = 0;
    let rssBytes = 0;
    const sampler = setInterval(() => { rssBytes = Math.max(rssBytes, rssOf(p.child.pid!)); }, 250);
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const t0 = performance.now();
      bodyBytes = await get(agent, `${p.url}/metrics`);
      histogram.recordValue(Math.round((performance.now() - t0) * 1000));
    }
    clearInterval(sampler);
    agent.destroy();
    const self = parseExposition(await scrape(p));
    const us = (q: number): number => histogram.getValueAtPercentile(q) / 1000;
    return { p50Ms: us(50), p99Ms: us(99), maxMs: histogram.maxValue / 1000, scrapes: histogram.totalCount, bodyBytes, rssBytes,
      publishMs: sampleValue(self, 'probex_publish_duration_seconds') * 1000,
      snapshotAgeMs: sampleValue(self, 'probex_snapshot_age_seconds') * 1000 };
  } finally {
    await p.stop();
  }
}

/** get fetches url with Accept-Encoding gzip and resolves with the body size in bytes. */
function get(agent: http.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => { bytes += d.length; });
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`status ${res.statusCode}`))));
    }).on('error', reject);
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

/** scrapePart times scrapes idle and under probe load, in interleaved rounds. */
async function scrapePart(): Promise<Record<string, unknown>> {
  const idleRounds: ScrapeStats[] = [];
  const loadedRounds: ScrapeStats[] = [];
  for (let r = 0; r < rounds; r++) {
    idleRounds.push(await scrapeLatency('1h', ms));
    loadedRounds.push(await scrapeLatency('100ms', ms));
  }
  const medianByP99 = (all: ScrapeStats[]): ScrapeStats => [...all].sort((a, b) => a.p99Ms - b.p99Ms)[Math.floor(all.length / 2)]!;
  // Latency from the median round; peak RSS from the worst round, not the median's.
  const idle = { ...medianByP99(idleRounds), rssBytes: Math.max(...idleRounds.map((x) => x.rssBytes)) };
  const loaded = { ...medianByP99(loadedRounds), rssBytes: Math.max(...loadedRounds.map((x) => x.rssBytes)) };
  console.log(`\nScrape latency, ${SYNTHETIC_TARGETS} synthetic targets, sequential GET /metrics with gzip, ${seconds} s each, `
    + `median of ${rounds} interleaved rounds by p99 (p99s idle ${idleRounds.map((x) => fmt(x.p99Ms, 2)).join(', ')}; `
    + `loaded ${loadedRounds.map((x) => fmt(x.p99Ms, 2)).join(', ')})`);
  const row = (s: ScrapeStats) => ({ scrapes: s.scrapes, 'body (gzip)': `${fmt(s.bodyBytes / 1024)} KiB`,
    'p50 ms': fmt(s.p50Ms, 3), 'p99 ms': fmt(s.p99Ms, 3), 'max ms': fmt(s.maxMs, 3), 'peak RSS MiB': fmt(s.rssBytes / 2 ** 20),
    'publish ms': fmt(s.publishMs, 1), 'snapshot age ms': fmt(s.snapshotAgeMs) });
  console.table({ 'idle (interval 1 h)': row(idle), 'under load (10 Hz each = 10k probes/s)': row(loaded) });
  console.log(`p99 ratio load / idle: ${fmt(loaded.p99Ms / idle.p99Ms, 2)}× (target ≤ ${BUDGET.scrapeP99Ratio}×); `
    + `peak RSS under load ${fmt(loaded.rssBytes / 2 ** 20)} MiB (target ≤ ${BUDGET.rssBytes / 2 ** 20} MiB)`);
  return { rounds, idleRounds, loadedRounds, idle, loaded, p99Ratio: loaded.p99Ms / idle.p99Ms };
}

const ping = values.part === 'scrape' ? undefined : await pingPart();
const scrapes = values.part === 'ping' ? undefined : await scrapePart();
const out = writeResult('throughput', { seconds, concurrency: CONCURRENCY, ping, scrape: scrapes, budget: BUDGET });
console.log(`results: ${out}`);
