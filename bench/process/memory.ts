/**
 * Memory of the build, run as `npm run start:dist` runs it (MALLOC_ARENA_MAX, node flags, dist/src/main.js),
 * one process at a time, in one run:
 *   container     deploy/probex.container.yaml (listening on 0.0.0.0 with a METRICS_TOKENS token, as the image does)
 *   default       the embedded default config (no --config)
 *   1,000 × 10 Hz 1,000 synthetic targets probed every 100 ms
 * Each runs for --seconds (40) and is scraped (gzip, with its token) every SCRAPE_EVERY_MS; VmRSS is sampled
 * every SAMPLE_EVERY_MS. Steady RSS is the mean of the last STEADY_S seconds; peak RSS is the larger of the
 * kernel's VmHWM (start-up included) and the sampled maximum. Beside the container probex, blackbox_exporter
 * (when installed) probes the same kind of targets a few times a second through its /probe endpoint, and its
 * RSS is sampled the same way.
 *
 * Then the front end's CPU cost per scrape: in the 1,000-target process, windows of back-to-back gzip scrapes
 * alternate between idle (the same targets at interval 1 h, switched by reload) and loaded (10 Hz); the main
 * thread's CPU time (/proc/<pid>/task/<pid>/stat utime + stime; schedstat's ns beside it) over each window,
 * divided by the scrapes in it. Budget: loaded ≤ MEMORY.cpuPerScrapeRatio × idle (bench/budgets.ts). p99s are printed beside it.
 *
 * `npm run bench:memory [-- --seconds 40 --baseline DIR --rounds 1 --flags=...]`. --baseline runs a second build (the root
 * of another checkout, built, with node_modules) scenario by scenario interleaved with this one, for
 * before/after figures from one run. Results also go to bench/results/memory-<time>.json.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, onLines, waitFor } from '../../support/probex-process.ts';
import { startDist } from '../../support/start-dist.ts';
import { MEMORY as BUDGET } from '../budgets.ts';
import { syntheticTargetsYaml } from '../lib/fixtures.ts';
import { cpuSeconds } from '../lib/proc-cpu.ts';
import { RssSampler, type RssFigures } from '../lib/proc-rss.ts';
import { BLACKBOX, startBlackbox } from '../lib/blackbox.ts';
import { fmt, writeResult } from '../lib/report.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'bench-memory-token';
const SAMPLE_EVERY_MS = 250;
const SCRAPE_EVERY_MS = 5_000;
const STEADY_S = 10;
const SYNTHETIC_TARGETS = 1_000;
/** BLACKBOX_PROBE_HZ: each blackbox target is probed this often (Prometheus at a 250 ms scrape interval). */
const BLACKBOX_PROBE_HZ = 4;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    /** cpu-windows: idle/loaded window pairs of the CPU-per-scrape part. */
    'cpu-windows': { type: 'string', default: '4' },
    /** cpu-window: seconds of back-to-back scrapes per window. */
    'cpu-window': { type: 'string', default: '3' },
    /** only runs the scenarios whose name contains this. */
    only: { type: 'string' },
    /**
     * flags: more node/V8 flags for this build only, space-separated (`--flags=--optimize-for-size`); with
     * `--baseline .` the same build runs without them, interleaved: a flag's before/after from one run.
     */
    flags: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (!(seconds > STEADY_S)) throw new Error(`--seconds must be more than ${STEADY_S}`);
const rounds = Number(values.rounds);
const cpuWindows = Number(values['cpu-windows']);
const cpuWindowMs = Number(values['cpu-window']) * 1000;

/** Build is one build of probex: a checkout root with dist/ built, and node flags beyond start:dist's. */
interface Build {
  readonly name: string;
  readonly root: string;
  readonly flags: readonly string[];
}
const extraFlags = values.flags?.split(/\s+/).filter((f) => f !== '') ?? [];
const builds: Build[] = [
  { name: extraFlags.length > 0 ? `this ${extraFlags.join(' ')}` : 'this', root: ROOT, flags: extraFlags },
];
if (values.baseline !== undefined) {
  const root = resolve(values.baseline);
  if (!existsSync(join(root, startDist().entry)))
    throw new Error(`--baseline ${root}: no ${startDist().entry} (build it first)`);
  builds.push({ name: 'baseline', root, flags: [] });
}

interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly logs: Array<Record<string, unknown>>;
  readonly configPath: string | undefined;
  stop(): Promise<void>;
}

/** startBuild starts a build as start:dist does, with `yaml` (undefined: the embedded default), once it listens. */
async function startBuild(build: Build, yaml: string | undefined, env: Record<string, string>): Promise<Running> {
  const dist = startDist();
  let configPath: string | undefined;
  if (yaml !== undefined) {
    configPath = join(mkdtempSync(join(tmpdir(), 'probex-memory-')), 'probex.yaml');
    writeFileSync(configPath, yaml);
  }
  const child = spawn(
    process.execPath,
    [...dist.nodeFlags, ...build.flags, join(build.root, dist.entry), ...(configPath ? ['--config', configPath] : [])],
    {
      cwd: build.root,
      env: { ...process.env, ...dist.env, PROBEX_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  onLines(child.stdout!, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ unparsed: line });
    }
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const listening = await Promise.race([
    waitFor('probex listening', async () => logs.find((l) => l.msg === 'probex listening'), 30_000),
    exited.then(() => {
      throw new Error(`probex exited before listening: ${stderr}`);
    }),
  ]);
  return {
    child,
    pid: child.pid!,
    port: listening.port as number,
    logs,
    configPath,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** get GETs a path and drains the body; resolves with the status and the bytes read. */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: number }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode!, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const SCRAPE_HEADERS = { authorization: `Bearer ${TOKEN}`, 'accept-encoding': 'gzip' };

interface Scenario {
  readonly name: string;
  /** setup returns the config YAML (undefined: the embedded default) and env for a process listening on `port`. */
  setup(port: number): { yaml: string | undefined; env: Record<string, string> };
  /** cpuPart: measure the front end's CPU per scrape idle vs loaded in this process afterwards. */
  readonly cpuPart?: boolean;
}

const loadedYaml = (interval: string): string =>
  `listen: { port: 0 }\nlog: { level: info }\n${syntheticTargetsYaml(SYNTHETIC_TARGETS).replaceAll('interval: 1s', `interval: ${interval}`)}\n`;

const SCENARIOS: Scenario[] = [
  {
    name: 'container config',
    setup: (port: number) => ({
      // The image's config, on a free port (its probex-self target follows the port), as the image runs it.
      yaml: readFileSync(join(ROOT, 'deploy/probex.container.yaml'), 'utf8').replaceAll('9469', String(port)),
      env: { PROBEX_HOST: '0.0.0.0', METRICS_TOKENS: TOKEN },
    }),
  },
  { name: 'embedded default', setup: (port: number) => ({ yaml: undefined, env: { PROBEX_PORT: String(port) } }) },
  { name: '1,000 targets at 10 Hz', setup: () => ({ yaml: loadedYaml('100ms'), env: {} }), cpuPart: true },
].filter((s) => values.only === undefined || s.name.includes(values.only));

interface MemoryRow extends RssFigures {
  scenario: string;
  build: string;
  scrapes: number;
  bodyBytes: number;
}

/** measureMemory runs one scenario on one build for `seconds` and returns its RSS figures (and the process, still running). */
async function measureMemory(build: Build, scenario: Scenario, port: number): Promise<{ row: MemoryRow; p: Running }> {
  const { yaml, env } = scenario.setup(port);
  const p = await startBuild(build, yaml, env);
  const sampler = new RssSampler(p.pid, STEADY_S, SAMPLE_EVERY_MS);
  const t0 = performance.now();
  let scrapes = 0;
  let bodyBytes = 0;
  // 503 until the first snapshot is published; the clock runs from the start all the same.
  await waitFor(
    'the first snapshot',
    async () => ((await get(p.port, '/metrics', SCRAPE_HEADERS)).status === 200 ? true : undefined),
    30_000,
  );
  while (performance.now() - t0 < seconds * 1000) {
    const r = await get(p.port, '/metrics', SCRAPE_HEADERS);
    if (r.status !== 200) throw new Error(`${scenario.name}: /metrics answered ${r.status}`);
    scrapes++;
    bodyBytes = r.bytes;
    await sleep(Math.min(SCRAPE_EVERY_MS, seconds * 1000 - (performance.now() - t0)));
  }
  return { row: { scenario: scenario.name, build: build.name, ...sampler.finish(), scrapes, bodyBytes }, p };
}

/** threadCpu reads a thread's CPU time: utime + stime (s, from stat) and run time (s, from schedstat). */
function threadCpu(pid: number, tid: number): { statS: number; schedS: number } {
  const statS = cpuSeconds(pid, tid);
  let schedS = NaN;
  try {
    schedS = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    // no schedstat (kernel without CONFIG_SCHEDSTATS): stat's ticks only
  }
  return { statS, schedS };
}

interface CpuSide {
  scrapes: number;
  statS: number;
  schedS: number;
  latenciesMs: number[];
}

/** reloadTo rewrites the config and SIGHUPs, resolving once the reload applied. */
async function reloadTo(p: Running, yaml: string): Promise<void> {
  const before = p.logs.filter((l) => l.msg === 'config reloaded').length;
  writeFileSync(p.configPath!, yaml);
  p.child.kill('SIGHUP');
  await waitFor(
    'the reload',
    async () => (p.logs.filter((l) => l.msg === 'config reloaded').length > before ? true : undefined),
    30_000,
  );
  await sleep(1_000); // the reload's own publish and first rounds are not what is measured
}

/** scrapeWindow scrapes back to back for cpuWindowMs and adds the main thread's CPU time and the latencies to `side`. */
async function scrapeWindow(p: Running, side: CpuSide): Promise<void> {
  const c0 = threadCpu(p.pid, p.pid);
  const t0 = performance.now();
  while (performance.now() - t0 < cpuWindowMs) {
    const s = performance.now();
    await get(p.port, '/metrics', SCRAPE_HEADERS);
    side.latenciesMs.push(performance.now() - s);
    side.scrapes++;
  }
  const c1 = threadCpu(p.pid, p.pid);
  side.statS += c1.statS - c0.statS;
  side.schedS += c1.schedS - c0.schedS;
}

function p99(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

interface CpuRow {
  build: string;
  idle: Omit<CpuSide, 'latenciesMs'> & { usPerScrape: number; schedUsPerScrape: number; p99Ms: number };
  loaded: CpuRow['idle'];
  ratio: number;
  schedRatio: number;
  p99Ratio: number;
}

/** measureCpu alternates idle and loaded windows in the running 1,000-target process. */
async function measureCpu(build: Build, p: Running): Promise<CpuRow> {
  const idle: CpuSide = { scrapes: 0, statS: 0, schedS: 0, latenciesMs: [] };
  const loaded: CpuSide = { scrapes: 0, statS: 0, schedS: 0, latenciesMs: [] };
  for (let w = 0; w < cpuWindows; w++) {
    await reloadTo(p, loadedYaml('1h'));
    await scrapeWindow(p, idle);
    await reloadTo(p, loadedYaml('100ms'));
    await scrapeWindow(p, loaded);
  }
  const side = (s: CpuSide): CpuRow['idle'] => ({
    scrapes: s.scrapes,
    statS: s.statS,
    schedS: s.schedS,
    usPerScrape: (s.statS / s.scrapes) * 1e6,
    schedUsPerScrape: (s.schedS / s.scrapes) * 1e6,
    p99Ms: p99(s.latenciesMs),
  });
  const i = side(idle);
  const l = side(loaded);
  return {
    build: build.name,
    idle: i,
    loaded: l,
    ratio: l.usPerScrape / i.usPerScrape,
    schedRatio: l.schedUsPerScrape / i.schedUsPerScrape,
    p99Ratio: l.p99Ms / i.p99Ms,
  };
}

/**
 * idleWorkerCostMiB measures what one more idle worker thread costs a bare node process (start:dist's flags):
 * the steady RSS with WORKERS idle workers minus that with none, divided by WORKERS.
 */
async function idleWorkerCostMiB(): Promise<{ perWorkerMiB: number; bareMiB: number }> {
  const WORKERS = 2;
  const dist = startDist();
  const rss = async (workers: number): Promise<number> => {
    const code = `const { Worker } = require('node:worker_threads');
for (let i = 0; i < ${workers}; i++) new Worker('setInterval(() => {}, 1e9)', { eval: true });
setTimeout(() => { console.log(process.memoryUsage().rss); process.exit(0); }, 3000);`;
    const r = spawnSync(process.execPath, [...dist.nodeFlags, '-e', code], {
      env: { ...process.env, ...dist.env },
      encoding: 'utf8',
    });
    return Number(r.stdout.trim()) / 2 ** 20;
  };
  const bare: number[] = [];
  const withWorkers: number[] = [];
  for (let i = 0; i < 3; i++) {
    bare.push(await rss(0));
    withWorkers.push(await rss(WORKERS));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  return { perWorkerMiB: (median(withWorkers) - median(bare)) / WORKERS, bareMiB: median(bare) };
}

// --- the run ---
const memory: MemoryRow[] = [];
const cpu: CpuRow[] = [];
let blackbox: (MemoryRow & { probes: number; failures: number }) | undefined;
for (let round = 0; round < rounds; round++) {
  for (const scenario of SCENARIOS) {
    // Interleaved: each scenario on every build before the next scenario.
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const withBlackbox = scenario.name === 'container config' && blackbox === undefined;
      const port = await freePort();
      // blackbox_exporter beside the container probex: its targets' kinds that blackbox has (probex's own
      // /healthz over HTTP, its port over TCP) and the local services' ports over TCP.
      const bb = withBlackbox
        ? await startBlackbox(
            [
              ['http_2xx', `http://127.0.0.1:${port}/healthz`],
              ['tcp_connect', `127.0.0.1:${port}`],
              ['tcp_connect', '127.0.0.1:6379'],
              ['tcp_connect', '127.0.0.1:3306'],
            ],
            BLACKBOX_PROBE_HZ,
          )
        : undefined;
      const bbSampler = bb === undefined ? undefined : new RssSampler(bb.pid, STEADY_S, SAMPLE_EVERY_MS);
      const measuring = measureMemory(build, scenario, port);
      const { row, p } = await measuring;
      memory.push(row);
      console.log(
        `${build.name}  ${scenario.name}: steady ${fmt(row.steadyMiB, 1)} MiB (anon ${fmt(row.steadyAnonMiB, 1)}, file ${fmt(row.steadyFileMiB, 1)}), peak ${fmt(row.peakMiB, 1)} MiB`,
      );
      if (bb !== undefined && bbSampler !== undefined) {
        const rssFigures = bbSampler.finish();
        const { probes, failures } = await bb.stop();
        blackbox = {
          scenario: 'blackbox_exporter beside it',
          build: 'blackbox',
          ...rssFigures,
          scrapes: 0,
          bodyBytes: 0,
          probes,
          failures,
        };
      }
      try {
        if (scenario.cpuPart === true) cpu.push(await measureCpu(build, p));
      } finally {
        await p.stop();
      }
    }
  }
}

const idleWorker = await idleWorkerCostMiB();
agent.destroy();

const table: Record<string, Record<string, string>> = {};
for (const r of memory) {
  table[`${r.scenario} (${r.build})`] = {
    'steady RSS MiB': fmt(r.steadyMiB, 1),
    'anon / file MiB': `${fmt(r.steadyAnonMiB, 1)} / ${fmt(r.steadyFileMiB, 1)}`,
    'peak RSS MiB': fmt(r.peakMiB, 1),
    'VmHWM MiB': fmt(r.hwmMiB, 1),
    'sampled max MiB': fmt(r.sampledMaxMiB, 1),
    scrapes: String(r.scrapes),
    'gzip body B': fmt(r.bodyBytes),
  };
}
if (blackbox !== undefined) {
  table['blackbox_exporter (beside the container probex)'] = {
    'steady RSS MiB': fmt(blackbox.steadyMiB, 1),
    'anon / file MiB': `${fmt(blackbox.steadyAnonMiB, 1)} / ${fmt(blackbox.steadyFileMiB, 1)}`,
    'peak RSS MiB': fmt(blackbox.peakMiB, 1),
    'VmHWM MiB': fmt(blackbox.hwmMiB, 1),
    'sampled max MiB': fmt(blackbox.sampledMaxMiB, 1),
    scrapes: `${blackbox.probes} probes`,
    'gzip body B': '',
  };
} else {
  console.log(`blackbox_exporter not run: ${BLACKBOX} is not installed (apt-get install prometheus-blackbox-exporter)`);
}
console.log(
  `\nRSS after ${seconds} s, steady = mean of the last ${STEADY_S} s, peak = max(VmHWM, sampled); ${cpus().length} CPUs, node ${process.version}`,
);
console.table(table);
console.log(
  `an idle worker thread adds ${fmt(idleWorker.perWorkerMiB, 1)} MiB to a bare node process of ${fmt(idleWorker.bareMiB, 1)} MiB (start:dist flags)`,
);
for (const c of cpu) {
  console.log(
    `\nfront-end (main) thread CPU per gzip scrape of ${SYNTHETIC_TARGETS} targets (${c.build}), ${cpuWindows} × ${cpuWindowMs / 1000} s windows each side:`,
  );
  console.table({
    'idle (interval 1 h)': {
      scrapes: c.idle.scrapes,
      'µs/scrape (stat)': fmt(c.idle.usPerScrape, 1),
      'µs/scrape (schedstat)': fmt(c.idle.schedUsPerScrape, 1),
      'p99 ms': fmt(c.idle.p99Ms, 2),
    },
    'loaded (10 Hz)': {
      scrapes: c.loaded.scrapes,
      'µs/scrape (stat)': fmt(c.loaded.usPerScrape, 1),
      'µs/scrape (schedstat)': fmt(c.loaded.schedUsPerScrape, 1),
      'p99 ms': fmt(c.loaded.p99Ms, 2),
    },
  });
  console.log(
    `loaded / idle: CPU per scrape ${fmt(c.ratio, 2)}× (schedstat ${fmt(c.schedRatio, 2)}×; budget ≤ ${BUDGET.cpuPerScrapeRatio}×), p99 ${fmt(c.p99Ratio, 2)}×`,
  );
}
console.log(
  `results: ${writeResult('memory', {
    seconds,
    steadyS: STEADY_S,
    builds,
    memory,
    blackbox,
    idleWorker,
    cpu,
    cpuBudget: BUDGET.cpuPerScrapeRatio,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    date: new Date().toISOString(),
  })}`,
);
const overBudget = cpu.filter((c) => c.ratio > BUDGET.cpuPerScrapeRatio);
if (overBudget.length > 0) {
  console.log(
    `front-end CPU per scrape over budget: ${overBudget.map((c) => `${c.build} ${fmt(c.ratio, 2)}×`).join(', ')}`,
  );
  process.exitCode = 1;
}
