/**
 * How far one probex process scales: the build (PROBEX_ENTRY=dist, as `npm run start:dist` runs it) with
 * 1,000, 5,000 and 10,000 synthetic targets at `interval: 1s` and 1,000 at 100 ms, one process per row.
 * Each row warms up, then over a window reads from /proc the process's CPU (cores) and RSS (mean and
 * peak) and, from probex's own self-metrics in a text+gzip scrape every SCRAPE_EVERY_MS, each publish's
 * duration (probex_publish_duration_seconds, one reading per snapshot generation), the rounds skipped
 * (probex_probes_skipped_total) and the probes run (probex_probes_total, all targets) in the
 * window. At the end of the window it reads the body of each format (text, OpenMetrics, protobuf) plain
 * and gzipped (asking until the format itself is rendered: only text is, until asked for). Beside each row, when installed, blackbox_exporter probes a local TCP port at the same
 * rate through /probe (bench/lib/blackbox.ts), its CPU and RSS read the same way.
 *
 *   npm run bench:scale [-- --quick] [-- --only 10000] [-- --no-blackbox] [-- --warmup 60 --window 60]
 *                       [-- --hdr-digits 2]   (the config's hdr.significantDigits; default 3)
 *
 * The goal is 0 skipped rounds, publish ≤ 25% of the publish interval, ≤ 1 core and ≤ 400 MiB RSS at
 * 10,000 targets × 1 Hz and 1,000 × 10 Hz; the table marks each figure against it. Results also go to
 * bench/results/scale-<time>.json.
 */
import { createServer, type Socket } from 'node:net';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { startBlackbox, BLACKBOX, type BlackboxCounts } from '../lib/blackbox.ts';
import { syntheticTargetsYaml } from '../lib/fixtures.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc-cpu.ts';
import { RssSampler, type RssFigures } from '../lib/proc-rss.ts';
import { SCALE as GOAL } from '../budgets.ts';
import { fmt, writeResult } from '../lib/report.ts';

/** SCRAPE_EVERY_MS: the bench scrapes text+gzip this often (as a Prometheus with a 1 s scrape interval). */
const SCRAPE_EVERY_MS = 1_000;
const PUBLISH_INTERVAL_MS = 1_000;

const ACCEPT = {
  text: 'text/plain;version=0.0.4',
  om: 'application/openmetrics-text;version=1.0.0',
  pb: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited',
} as const;
type Format = keyof typeof ACCEPT;

interface RowSpec {
  readonly targets: number;
  readonly interval: '1s' | '100ms';
  readonly hz: number;
}
const ROWS: RowSpec[] = [
  { targets: 1_000, interval: '1s', hz: 1 },
  { targets: 5_000, interval: '1s', hz: 1 },
  { targets: 10_000, interval: '1s', hz: 1 },
  { targets: 1_000, interval: '100ms', hz: 10 },
];
const rowName = (r: RowSpec): string => `${fmt(r.targets)} × ${r.hz} Hz`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    warmup: { type: 'string' },
    window: { type: 'string' },
    only: { type: 'string' },
    'no-blackbox': { type: 'boolean', default: false },
    'hdr-digits': { type: 'string', default: '3' },
  },
});
const warmupS = Number(values.warmup ?? (values.quick ? 10 : 60));
const windowS = Number(values.window ?? (values.quick ? 10 : 60));
const rows = ROWS.filter((r) => values.only === undefined || rowName(r).replace(/,/g, '').includes(values.only));

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

/** get GETs a path and resolves with the status, headers and the whole body (gunzipped when it came gzipped). */
function get(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; wire: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const wire = Buffer.concat(chunks);
          const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(wire) : wire;
          resolve({ status: res.statusCode!, headers: res.headers, wire: wire.byteLength, body });
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** SelfReading is what one scrape says about the process itself. */
interface SelfReading {
  generation: number;
  publishSeconds: number;
  skipped: number;
  probes: number;
}

/** sample reads one self-metric line's value (no labels) from the text body. */
function sample(text: string, name: string, from: number): number {
  const at = text.indexOf(`\n${name} `, from);
  if (at < 0) return NaN;
  return Number(text.slice(at + name.length + 2, text.indexOf('\n', at + 1)));
}

/** readSelf reads the self-metrics (at the end of the body) and, with `probes`, sums every target's probe count. */
function readSelf(body: Buffer, probes: boolean): SelfReading {
  const text = body.toString('latin1');
  const self = Math.max(0, text.lastIndexOf('# HELP probex_build_info'));
  let total = NaN;
  if (probes) {
    total = 0;
    const re = /^probex_probes_total\{[^}]*\} (\S+)$/gm;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) total += Number(m[1]);
  }
  return {
    generation: sample(text, 'probex_snapshot_generation', self - 1),
    publishSeconds: sample(text, 'probex_publish_duration_seconds', self - 1),
    skipped: sample(text, 'probex_probes_skipped_total', self - 1),
    probes: total,
  };
}

/** BodySize is one format's body as served: plain and gzip bytes. */
type BodySize = { plain: number; gzip: number };

interface ProbexRow {
  row: string;
  targets: number;
  hz: number;
  publishes: number;
  publishP50Ms: number;
  publishP90Ms: number;
  publishMaxMs: number;
  /** publishMs are the publish durations read in the window, one per generation seen, in order. */
  publishMs: number[];
  skipped: number;
  probesPerSecond: number;
  cores: number;
  rss: RssFigures;
  scrapes: number;
  scrapeP50Ms: number;
  scrapeMaxMs: number;
  bodies: Record<Format, BodySize>;
  /** otherCores: what the rest of the machine (this bench included) kept busy during the window. */
  otherCores: number;
  loadavg: number[];
}

interface BlackboxRow {
  row: string;
  probesPerSecond: number;
  skipped: number;
  failures: number;
  cores: number;
  rss: RssFigures;
  driverCores: number;
}

function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
}

/** measureProbex runs one row: start, warm up, measure the window, read the bodies, stop. */
async function measureProbex(spec: RowSpec): Promise<ProbexRow> {
  const yaml =
    `listen: { port: 0 }\nlog: { level: warn }\npublishInterval: ${PUBLISH_INTERVAL_MS}ms\n` +
    `hdr: { significantDigits: ${values['hdr-digits']} }\n` +
    syntheticTargetsYaml(spec.targets).replaceAll('interval: 1s', `interval: ${spec.interval}`);
  const avg0 = loadavg();
  const p = await startProbex(`${yaml}\n`);
  try {
    const scrape = async (): Promise<{ ms: number; body: Buffer }> => {
      const t0 = performance.now();
      const r = await get(p.port, '/metrics', { 'accept-encoding': 'gzip' });
      if (r.status !== 200) throw new Error(`${rowName(spec)}: /metrics answered ${r.status}`);
      return { ms: performance.now() - t0, body: r.body };
    };
    await waitFor(
      'the first snapshot',
      async () => ((await scrape().catch(() => undefined)) ? true : undefined),
      60_000,
    );
    const warmEnd = performance.now() + warmupS * 1000;
    while (performance.now() < warmEnd) {
      await scrape();
      await sleep(SCRAPE_EVERY_MS);
    }
    const first = readSelf((await scrape()).body, true);
    const cpu0 = cpuSeconds(p.child.pid!);
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const rss = new RssSampler(p.child.pid!, windowS);
    const publishes = new Map<number, number>();
    const scrapeMs: number[] = [];
    let last = first;
    while (performance.now() - t0 < windowS * 1000) {
      const started = performance.now();
      const { ms, body } = await scrape();
      scrapeMs.push(ms);
      last = readSelf(body, false);
      if (last.generation !== first.generation) publishes.set(last.generation, last.publishSeconds * 1000);
      await sleep(Math.max(0, SCRAPE_EVERY_MS - (performance.now() - started)));
    }
    const end = readSelf((await scrape()).body, true);
    const seconds = (performance.now() - t0) / 1000;
    const cores = (cpuSeconds(p.child.pid!) - cpu0) / seconds;
    const otherCores = (machineBusySeconds() - busy0) / seconds - cores;
    const rssFigures = rss.finish();
    const bodies = {} as Record<Format, BodySize>;
    for (const format of Object.keys(ACCEPT) as Format[]) {
      // From 500 targets a format nobody asked for is rendered from the publish after its first request
      // (text stands in until then): ask until the answer is the format itself.
      const media = ACCEPT[format].split(';')[0]!;
      const plain = await waitFor(`${format} rendered`, async () => {
        const r = await get(p.port, '/metrics', { accept: ACCEPT[format] });
        return String(r.headers['content-type']).startsWith(format === 'text' ? 'text/plain' : media) ? r : undefined;
      });
      const gzip = await get(p.port, '/metrics', { accept: ACCEPT[format], 'accept-encoding': 'gzip' });
      bodies[format] = { plain: plain.wire, gzip: gzip.wire };
    }
    const durations = [...publishes.values()];
    return {
      row: rowName(spec),
      targets: spec.targets,
      hz: spec.hz,
      publishes: end.generation - first.generation,
      publishP50Ms: quantile(durations, 0.5),
      publishP90Ms: quantile(durations, 0.9),
      publishMaxMs: Math.max(...durations),
      publishMs: durations.map((ms) => Math.round(ms * 10) / 10),
      skipped: end.skipped - first.skipped,
      probesPerSecond: (end.probes - first.probes) / seconds,
      cores,
      rss: rssFigures,
      scrapes: scrapeMs.length,
      scrapeP50Ms: quantile(scrapeMs, 0.5),
      scrapeMaxMs: Math.max(...scrapeMs),
      bodies,
      otherCores,
      loadavg: avg0,
    };
  } finally {
    await p.stop();
  }
}

/** measureBlackbox drives blackbox_exporter at the row's rate against a local TCP port for a short warm-up and the window. */
async function measureBlackbox(spec: RowSpec): Promise<BlackboxRow | undefined> {
  const sockets = new Set<Socket>();
  const listener = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const { port } = listener.address() as { port: number };
  const probes = Array.from({ length: spec.targets }, () => ['tcp_connect', `127.0.0.1:${port}`] as const);
  const bb = await startBlackbox(probes, spec.hz, 64);
  if (bb === undefined) {
    listener.close();
    return undefined;
  }
  try {
    await sleep(Math.min(10, warmupS) * 1000);
    const c0: BlackboxCounts = bb.counts();
    const cpu0 = cpuSeconds(bb.pid);
    const own0 = process.cpuUsage();
    const rss = new RssSampler(bb.pid, windowS);
    const t0 = performance.now();
    await sleep(windowS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const c1 = bb.counts();
    const own = process.cpuUsage(own0);
    return {
      row: rowName(spec),
      probesPerSecond: (c1.probes - c0.probes) / seconds,
      skipped: c1.skipped - c0.skipped,
      failures: c1.failures - c0.failures,
      cores: (cpuSeconds(bb.pid) - cpu0) / seconds,
      rss: rss.finish(),
      driverCores: (own.user + own.system) / 1e6 / seconds,
    };
  } finally {
    await bb.stop();
    for (const s of sockets) s.destroy();
    listener.close();
  }
}

// --- the run ---
console.log(
  `scale: warm-up ${warmupS} s, window ${windowS} s, hdr.significantDigits ${values['hdr-digits']}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const probexRows: ProbexRow[] = [];
const blackboxRows: BlackboxRow[] = [];
for (const spec of rows) {
  const r = await measureProbex(spec);
  probexRows.push(r);
  console.log(
    `probex ${r.row}: publish p50 ${fmt(r.publishP50Ms)} ms p90 ${fmt(r.publishP90Ms)} ms max ${fmt(r.publishMaxMs)} ms, skipped ${fmt(r.skipped)}, ` +
      `${fmt(r.probesPerSecond)} probes/s, ${fmt(r.cores, 2)} cores, RSS ${fmt(r.rss.steadyMiB)} MiB (peak ${fmt(r.rss.sampledMaxMiB)})`,
  );
  if (!values['no-blackbox']) {
    const b = await measureBlackbox(spec);
    if (b !== undefined) {
      blackboxRows.push(b);
      console.log(
        `blackbox ${b.row}: ${fmt(b.probesPerSecond)} probes/s, skipped ${fmt(b.skipped)}, ${fmt(b.cores, 2)} cores, RSS ${fmt(b.rss.steadyMiB)} MiB`,
      );
    }
  }
}
if (!values['no-blackbox'] && blackboxRows.length === 0)
  console.log(`blackbox_exporter not run: ${BLACKBOX} is not installed (apt-get install prometheus-blackbox-exporter)`);
agent.destroy();

const kb = (b: number): string => `${fmt(b / 1024)} KiB`;
const mark = (ok: boolean): string => (ok ? '' : ' ✗');
const table: Record<string, Record<string, string>> = {};
for (const r of probexRows) {
  const goalRow = r.targets === 10_000 || r.hz === 10;
  const check = (ok: boolean): string => (goalRow ? mark(ok) : '');
  table[`probex ${r.row}`] = {
    'publish p50/max ms':
      `${fmt(r.publishP50Ms)} / ${fmt(r.publishMaxMs)}` +
      check(r.publishMaxMs <= GOAL.publishShare * PUBLISH_INTERVAL_MS),
    'skipped rounds': fmt(r.skipped) + check(r.skipped === 0),
    'probes/s': fmt(r.probesPerSecond),
    cores: fmt(r.cores, 2) + check(r.cores <= GOAL.cores),
    'RSS avg/peak MiB':
      `${fmt(r.rss.steadyMiB)} / ${fmt(r.rss.sampledMaxMiB)}` + check(r.rss.sampledMaxMiB <= GOAL.rssMiB),
    'text (gz)': `${kb(r.bodies.text.plain)} (${kb(r.bodies.text.gzip)})`,
    'OpenMetrics (gz)': `${kb(r.bodies.om.plain)} (${kb(r.bodies.om.gzip)})`,
    'protobuf (gz)': `${kb(r.bodies.pb.plain)} (${kb(r.bodies.pb.gzip)})`,
    'scrapes/s; p50/max ms': `${fmt(r.scrapes / windowS, 1)}; ${fmt(r.scrapeP50Ms)} / ${fmt(r.scrapeMaxMs)}`,
    'rest of machine, cores': fmt(r.otherCores, 2),
  };
}
for (const b of blackboxRows) {
  table[`blackbox_exporter ${b.row}`] = {
    'publish p50/max ms': '',
    'skipped rounds': fmt(b.skipped),
    'probes/s': fmt(b.probesPerSecond),
    cores: fmt(b.cores, 2),
    'RSS avg/peak MiB': `${fmt(b.rss.steadyMiB)} / ${fmt(b.rss.sampledMaxMiB)}`,
    'text (gz)': '',
    'OpenMetrics (gz)': '',
    'protobuf (gz)': '',
    'scrapes/s; p50/max ms': `${fmt(b.failures)} failed`,
    'rest of machine, cores': `driver ${fmt(b.driverCores, 2)}`,
  };
}
console.log(
  `\nwindow ${windowS} s after ${warmupS} s; goal at 10,000 × 1 Hz and 1,000 × 10 Hz (✗ = missed): 0 skipped, ` +
    `publish ≤ ${GOAL.publishShare * PUBLISH_INTERVAL_MS} ms, ≤ ${GOAL.cores} core, peak RSS ≤ ${GOAL.rssMiB} MiB`,
);
console.table(table);
console.log(
  `results: ${writeResult('scale', {
    warmupS,
    windowS,
    goal: GOAL,
    probex: probexRows,
    blackbox: blackboxRows,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    date: new Date().toISOString(),
  })}`,
);
