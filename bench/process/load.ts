/**
 * GET /metrics under load, three servers in one run, each its own process:
 *   probex       the real process (dist/ under `npm run bench:load`) with --targets synthetic targets;
 *   prom-client  bench/lib/baseline-prom-client.ts: the same families and series in a prom-client Registry,
 *                served by node:http with `await register.metrics()` and a per-request gzip, as Node users do;
 *   raw uWS      bench/lib/raw-uws.ts: uWebSockets.js answering with the very bytes probex served, the limit.
 * Each is driven by the load generator (below) at 1, 10 and 64 connections, without and with Accept-Encoding: gzip, for
 * --seconds after a 1 s warm-up. Printed: req/s, p50 and p99 per server, probex/raw and probex/prom-client.
 *   npm run bench:load [-- --seconds 5 --targets 28 --rounds 1 --generator wrk]   results also go to bench/results/
 *   npm run bench:scaling                                 probex alone at 50, 1,000 and 10,000 series: c=64 req/s,
 *                                                         publish time and RSS
 *   npm run bench:guard                                   c=64 only; exits 1 naming each LOAD budget missed
 *                                                         (bench/budgets.ts): probex against raw uWS serving the
 *                                                         same bytes, req/s and main-thread CPU per response,
 *                                                         and probex's main-thread CPU per response. The
 *                                                         prom-client ratio is printed, not guarded: it measures
 *                                                         prom-client and, at c=64, the load generator.
 *   --protobuf                                            every request sends the Accept header of Prometheus 3
 *                                                         with native histograms: probex and raw uWS serve the
 *                                                         protobuf body (the same bytes); prom-client, which has
 *                                                         no protobuf, still serves text
 *
 * Load generator: wrk when it is on PATH (apt-get install wrk), else autocannon (`--generator` picks).
 * wrk is C on epoll; one wrk thread drives ~50k responses/s of this body from one core, leaving the other
 * core to the server under test, so on a 2-core machine it measures the servers, not itself. autocannon
 * (node) saturates its own core at about 10-15k responses/s, below what raw uWS or probex can serve; then
 * load.ts runs one autocannon child per core, sharing the connections (c=1 has one), and the ratios say
 * more about the generator than the servers. Children rather than autocannon's `workers` because they
 * keep this process's event loop out of the hot path and report µs latencies (autocannon's own histogram
 * has 1 ms resolution). The CPU table shows whether a server was the limit: its cores near 1. Server
 * µs/req (its CPU time per response, all threads) compares servers even when it was not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { findSamples, parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { servingUws } from '../../support/uws-build.ts';
import { LOAD as BUDGET } from '../budgets.ts';
import { syntheticTargetsYaml, targetsForSeries } from '../lib/fixtures.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc-cpu.ts';
import { fmt, writeResult } from '../lib/report.ts';
import { writeCapture, type CapturedBody, type GeneratorReport, type GeneratorTask } from '../lib/load-ipc.ts';
import { HAS_WRK, runWrk } from '../lib/wrk.ts';

/** DEFAULT_TARGETS synthetic targets make a text body of about 45 KB (44,779 bytes measured). */
const DEFAULT_TARGETS = 28;
const DEFAULT_SECONDS = 5;
const WARMUP_SECONDS = 1;
/** BODY_SETTLE_MS bounds the wait for probex's body to stop growing before it is captured (bodySettled). */
const BODY_SETTLE_MS = 20_000;
const CONNECTIONS = [1, 10, 64] as const;
/** SCALING_SERIES are the exposition sizes of `--scaling` (README's scaling table). */
const SCALING_SERIES = [50, 1_000, 10_000] as const;
/** MAX_BODY_SIZE_DEVIATION bounds how far the prom-client text body may be from probex's. */
const MAX_BODY_SIZE_DEVIATION = 0.2;
/** REPEATED_HEADERS are the response headers a baseline repeats to send what probex sends. */
const REPEATED_HEADERS = ['content-type', 'content-encoding', 'vary', 'cache-control'];
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const GZIP_HEADERS = { 'accept-encoding': 'gzip' };
/** PROTOBUF_ACCEPT is what Prometheus 3 sends with native histograms on (http/negotiate.ts cites it). */
const PROTOBUF_ACCEPT =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,' +
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,' +
  'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1';
/** scrapeHeaders are sent with every /metrics request of a run: the protobuf Accept under --protobuf. */
let scrapeHeaders: Readonly<Record<string, string>> = {};
/** GENERATORS is how many autocannon processes share a run's connections: one per core. */
const GENERATORS = availableParallelism();
type GeneratorName = 'wrk' | 'autocannon';

const SERVERS = ['probex', 'prom-client', 'raw uWS'] as const;
type ServerName = (typeof SERVERS)[number];

/** Server is one running server process under test. */
interface Server {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Measurement is one cell: what the load generators and the server's CPU time showed for one server at one setting. */
interface Measurement {
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  /** serverCpu is the server process's CPU time over the run in cores (1 = one core busy throughout). */
  readonly serverCpu: number;
  readonly serverCpuUsPerRequest: number;
  /**
   * mainCpuUsPerRequest is the main thread's CPU time per response: probex's front end alone, without its
   * background thread and probe workers (which the whole-process figure counts).
   */
  readonly mainCpuUsPerRequest: number;
  /** generatorCpu is the load generators' CPU time over the run in cores (wrk: the rest of the machine's busy time). */
  readonly generatorCpu: number;
}

/** Row is one (connections, gzip) setting measured on every server. */
interface Row {
  readonly connections: number;
  readonly gzip: boolean;
  readonly results: Record<ServerName, Measurement>;
  readonly probexOverRaw: number;
  /** probexOverRawMainCpu is probex's main-thread CPU per response over raw uWS's. */
  readonly probexOverRawMainCpu: number;
  readonly probexOverPromClient: number;
}

/** BodySizes are the bytes each server sends for /metrics, plain and gzip, and the series in the text. */
type BodySizes = Record<ServerName, { plain: number; gzip: number; series: number; text: number }>;

/** startProbexServer runs probex with `targets` synthetic targets and resolves once every target has latencies. */
async function startProbexServer(targets: number): Promise<Server> {
  const p = await startProbex(`listen: { port: 0 }\nlog: { level: error }\n${syntheticTargetsYaml(targets)}\n`);
  runtime.uws = servingUws(p.logs).build;
  const server = { url: p.url, pid: p.child.pid!, stop: () => p.stop() };
  try {
    await waitFor(
      'a probe count for every target',
      async () => {
        const counts = findSamples(parseExposition(await text(server)), 'probex_probe_duration_seconds_count');
        return counts.length === targets && counts.every((s) => s.value > 0) ? true : undefined;
      },
      STARTUP_TIMEOUT_MS,
    );
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/**
 * runtime is what the servers ran on, printed and written with the results: this Node (the servers' too:
 * they are started with process.execPath) and the uWebSockets.js build probex served from (raw uWS loads
 * it with the same loader), as probex's start log names it.
 */
const runtime = { node: process.version, uws: 'not started' };

/** ChildScript is a bench/ script running under tsx in its own process. */
interface ChildScript {
  readonly pid: number;
  /** firstLine resolves with the first line the script prints, or rejects if it exits or times out first. */
  readonly firstLine: Promise<string>;
  stop(): Promise<void>;
}

/** spawnScript starts a bench/ script under tsx with one argument; its stderr goes to ours. */
function spawnScript(script: string, arg: string, timeoutMs: number): ChildScript {
  const path = fileURLToPath(new URL(`../lib/${script}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, arg], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const firstLine = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} printed nothing within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${child.exitCode ?? child.signalCode} before printing a line`));
    });
  });
  return { pid: child.pid!, firstLine, stop: () => stopChild(child, exited) };
}

/** stopChild sends SIGTERM, then SIGKILL if the child is still there after STOP_TIMEOUT_MS, and waits for its exit. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** spawnServer starts a baseline server script and resolves once it announced its port (load-ipc.ts `announcePort`). */
async function spawnServer(script: string, captureDir: string): Promise<Server> {
  const child = spawnScript(script, captureDir, STARTUP_TIMEOUT_MS);
  try {
    const { port } = JSON.parse(await child.firstLine) as { port: number };
    return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: child.stop };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** fetchMetrics GETs /metrics and returns the body as sent (not decompressed) with the headers to repeat. */
function fetchMetrics(
  server: Server,
  gzip: boolean,
  extra: Readonly<Record<string, string>> = scrapeHeaders,
): Promise<CapturedBody> {
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}/metrics`, { headers: { ...extra, ...(gzip ? GZIP_HEADERS : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`${server.url}/metrics answered ${res.statusCode}`));
            return;
          }
          const headers = Object.fromEntries(
            REPEATED_HEADERS.flatMap((h) => {
              const value = res.headers[h];
              return typeof value === 'string' ? [[h, value]] : [];
            }),
          );
          resolve({ body: Buffer.concat(chunks), headers });
        });
      })
      .on('error', reject);
  });
}

/**
 * bodySettled waits until probex's gzipped body (of the format the run scrapes) stops growing: a new
 * native bucket or another digit in a count grows it for the first seconds. raw uWS replays the body
 * captured next, so both then send bodies of the same size (bodySizes prints them), for at most
 * BODY_SETTLE_MS.
 */
async function bodySettled(server: Server): Promise<void> {
  const deadline = performance.now() + BODY_SETTLE_MS;
  let last = (await fetchMetrics(server, true)).body.byteLength;
  for (let steady = 0; steady < 3 && performance.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const size = (await fetchMetrics(server, true)).body.byteLength;
    steady = Math.abs(size / last - 1) < 0.01 ? steady + 1 : 0;
    last = size;
  }
}

/** text fetches the plain /metrics text body as a string. */
async function text(server: Server): Promise<string> {
  return (await fetchMetrics(server, false, {})).body.toString('utf8');
}

/** bodySizes measures what each server sends, and fails when prom-client's text is not comparable to probex's. */
async function bodySizes(servers: Record<ServerName, Server>): Promise<BodySizes> {
  const sizes = {} as BodySizes;
  for (const name of SERVERS) {
    const plain = await fetchMetrics(servers[name], false);
    const gzip = await fetchMetrics(servers[name], true);
    // Under --protobuf, the series are counted in the text body (raw uWS has only the protobuf one: probex's count).
    const textBody = isProtobuf(plain) ? await fetchMetrics(servers[name], false, {}) : plain;
    const series = isProtobuf(textBody) ? sizes.probex.series : parseExposition(textBody.body.toString('utf8')).length;
    sizes[name] = { plain: plain.body.byteLength, gzip: gzip.body.byteLength, series, text: textBody.body.byteLength };
  }
  const deviation = sizes['prom-client'].text / sizes.probex.text - 1;
  if (Math.abs(deviation) > MAX_BODY_SIZE_DEVIATION) {
    throw new Error(
      `prom-client text body is ${sizes['prom-client'].text} bytes, probex's ${sizes.probex.text}: ` +
        `more than ${MAX_BODY_SIZE_DEVIATION * 100}% apart`,
    );
  }
  return sizes;
}

/** isProtobuf: the response is the delimited protobuf exposition. */
function isProtobuf(body: CapturedBody): boolean {
  return body.headers['content-type']?.startsWith('application/vnd.google.protobuf') === true;
}

/** splitConnections spreads `connections` over at most GENERATORS generators, as evenly as possible. */
function splitConnections(connections: number): number[] {
  const n = Math.min(GENERATORS, connections);
  return Array.from({ length: n }, (_, i) => Math.floor(connections / n) + (i < connections % n ? 1 : 0));
}

/** Generated is what the load generators measured together during one cell. */
interface Generated {
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** cpuSeconds is the generators' CPU time (wrk: the machine's busy time minus the server's). */
  readonly cpuSeconds: number;
}

/** Load is a way to drive `url` with `connections` connections for `seconds`. */
type Load = (url: string, connections: number, gzip: boolean, seconds: number) => Promise<Generated>;

/** runAutocannon runs load-generator.ts children that together hold `connections` connections to url. */
async function runAutocannon(url: string, connections: number, gzip: boolean, seconds: number): Promise<Generated> {
  const children = splitConnections(connections).map((c) => {
    const task: GeneratorTask = {
      url,
      connections: c,
      seconds,
      headers: { ...scrapeHeaders, ...(gzip ? GZIP_HEADERS : {}) },
    };
    return spawnScript('load-generator.ts', JSON.stringify(task), seconds * 1000 + STARTUP_TIMEOUT_MS);
  });
  let reports: GeneratorReport[];
  try {
    reports = await Promise.all(children.map(async (child) => JSON.parse(await child.firstLine) as GeneratorReport));
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
  const latencyUs = hdr.build({ numberOfSignificantValueDigits: 3 });
  for (const r of reports) latencyUs.add(hdr.decodeFromCompressedBase64(r.latencyUsBase64));
  const sum = (f: (r: GeneratorReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  return {
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    seconds: Math.max(...reports.map((r) => r.seconds)),
    p50Ms: latencyUs.getValueAtPercentile(50) / 1000,
    p99Ms: latencyUs.getValueAtPercentile(99) / 1000,
    cpuSeconds: sum((r) => r.cpuSeconds),
  };
}

/** runWrkBusy runs one single-threaded wrk (lib/wrk.ts); its CPU is the machine's busy time meanwhile. */
async function runWrkBusy(url: string, connections: number, gzip: boolean, seconds: number): Promise<Generated> {
  const busy0 = machineBusySeconds();
  const r = await runWrk(url, connections, seconds, { ...scrapeHeaders, ...(gzip ? GZIP_HEADERS : {}) });
  return { ...r, cpuSeconds: machineBusySeconds() - busy0 };
}

/** measure warms up, then loads server's /metrics for `seconds` and reports what the generators and /proc showed. */
async function measure(
  load: Load,
  server: Server,
  connections: number,
  gzip: boolean,
  seconds: number,
): Promise<Measurement> {
  const url = `${server.url}/metrics`;
  await load(url, connections, gzip, WARMUP_SECONDS);
  const cpu0 = cpuSeconds(server.pid);
  const main0 = cpuSeconds(server.pid, server.pid);
  const g = await load(url, connections, gzip, seconds);
  const serverCpuSeconds = cpuSeconds(server.pid) - cpu0;
  const mainCpuSeconds = cpuSeconds(server.pid, server.pid) - main0;
  if (g.non2xx > 0) throw new Error(`${url} answered ${g.non2xx} non-2xx responses under load`);
  return {
    reqPerSec: g.ok / g.seconds,
    p50Ms: g.p50Ms,
    p99Ms: g.p99Ms,
    requests: g.ok,
    errors: g.errors,
    serverCpu: serverCpuSeconds / g.seconds,
    serverCpuUsPerRequest: (serverCpuSeconds * 1e6) / g.ok,
    mainCpuUsPerRequest: (mainCpuSeconds * 1e6) / g.ok,
    // wrk's figure is the machine's busy time, which includes the server's: take that out.
    generatorCpu: (load === runWrkBusy ? g.cpuSeconds - serverCpuSeconds : g.cpuSeconds) / g.seconds,
  };
}

/**
 * measureRow measures every server at one setting, `rounds` times in turn (probex, prom-client, raw uWS,
 * probex, ...), keeps each server's median round by req/s and computes the ratios. Interleaving spreads
 * whatever else the machine does over all three; the median drops one unlucky round.
 */
async function measureRow(
  load: Load,
  servers: Record<ServerName, Server>,
  connections: number,
  gzip: boolean,
  seconds: number,
  rounds: number,
): Promise<Row> {
  const all = Object.fromEntries(SERVERS.map((name) => [name, [] as Measurement[]])) as Record<
    ServerName,
    Measurement[]
  >;
  for (let round = 0; round < rounds; round++) {
    for (const name of SERVERS) all[name].push(await measure(load, servers[name], connections, gzip, seconds));
  }
  const median = (ms: Measurement[]): Measurement =>
    [...ms].sort((a, b) => a.reqPerSec - b.reqPerSec)[Math.floor(ms.length / 2)]!;
  const results = Object.fromEntries(SERVERS.map((name) => [name, median(all[name])])) as Record<
    ServerName,
    Measurement
  >;
  return {
    connections,
    gzip,
    results,
    probexOverRaw: results.probex.reqPerSec / results['raw uWS'].reqPerSec,
    probexOverRawMainCpu: results.probex.mainCpuUsPerRequest / results['raw uWS'].mainCpuUsPerRequest,
    probexOverPromClient: results.probex.reqPerSec / results['prom-client'].reqPerSec,
  };
}

/** LoadResult is the whole run, as written to bench/results/. */
interface LoadResult {
  readonly generator: GeneratorName;
  readonly rounds: number;
  readonly targets: number;
  readonly seconds: number;
  readonly bodies: BodySizes;
  readonly rows: Row[];
}

/**
 * runLoad starts the three servers, measures each setting and stops every child process, also on errors.
 * The baselines get probex's captured responses through a temp dir.
 */
async function runLoad(
  load: Load,
  generator: GeneratorName,
  rounds: number,
  targets: number,
  seconds: number,
  connections: readonly number[],
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'probex-load-'));
  const started: Server[] = [];
  try {
    const probex = await startProbexServer(targets);
    started.push(probex);
    await bodySettled(probex);
    writeCapture(
      dir,
      await fetchMetrics(probex, false, {}),
      await fetchMetrics(probex, true, {}),
      values.protobuf
        ? { plain: await fetchMetrics(probex, false), gzip: await fetchMetrics(probex, true) }
        : undefined,
    );
    const promClient = await spawnServer('baseline-prom-client.ts', dir);
    started.push(promClient);
    const raw = await spawnServer('raw-uws.ts', dir);
    started.push(raw);
    const servers = { probex, 'prom-client': promClient, 'raw uWS': raw };
    const bodies = await bodySizes(servers);
    const rows: Row[] = [];
    for (const c of connections) {
      for (const gzip of [false, true]) rows.push(await measureRow(load, servers, c, gzip, seconds, rounds));
    }
    return { generator, rounds, targets, seconds, bodies, rows };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** rowLabel names a row in the tables: `c=64 gzip`. */
function rowLabel(row: Row): string {
  return `c=${row.connections} ${row.gzip ? 'gzip' : 'plain'}`;
}

/** printResult prints the body sizes, the results table and the CPU table. */
function printResult({ generator, rounds, targets, seconds, bodies, rows }: LoadResult): void {
  console.log(
    `\nGET /metrics${values.protobuf ? ' (protobuf Accept)' : ''}, ${targets} synthetic targets, ${generator} ${seconds} s per cell (median of ${rounds} interleaved rounds) after a ${WARMUP_SECONDS} s warm-up; Node ${runtime.node}, ${runtime.uws}`,
  );
  console.table(
    Object.fromEntries(
      SERVERS.map((name) => [
        name,
        {
          'body bytes': bodies[name].plain,
          'gzip bytes': bodies[name].gzip,
          'text bytes': bodies[name].text,
          series: bodies[name].series,
        },
      ]),
    ),
  );
  console.table(
    Object.fromEntries(
      rows.map((row) => [
        rowLabel(row),
        {
          ...Object.fromEntries(
            SERVERS.flatMap((name) => [
              [`${name} req/s`, fmt(row.results[name].reqPerSec)],
              [`${name} p50/p99 ms`, `${fmt(row.results[name].p50Ms, 2)} / ${fmt(row.results[name].p99Ms, 2)}`],
            ]),
          ),
          'probex/raw': `${fmt(row.probexOverRaw, 2)}×`,
          'probex/raw main µs/req': `${fmt(row.probexOverRawMainCpu, 2)}×`,
          'probex/prom-client': `${fmt(row.probexOverPromClient, 1)}×`,
        },
      ]),
    ),
  );
  console.log(
    'CPU during each cell, in cores (1.00 = one core busy throughout), and server CPU per request (of it the main thread):',
  );
  console.table(
    Object.fromEntries(
      rows.map((row) => [
        rowLabel(row),
        Object.fromEntries(
          SERVERS.flatMap((name) => [
            [
              `${name} server/generators`,
              `${fmt(row.results[name].serverCpu, 2)} / ${fmt(row.results[name].generatorCpu, 2)}`,
            ],
            [
              `${name} µs/req (main thread)`,
              `${fmt(row.results[name].serverCpuUsPerRequest, 1)} (${fmt(row.results[name].mainCpuUsPerRequest, 1)})`,
            ],
          ]),
        ),
      ]),
    ),
  );
}

/**
 * budgetFailures names every LOAD budget a row at the guard's concurrency missed. Only what probex
 * controls: its req/s and main-thread CPU per response against raw uWS sending the same bytes from the
 * same uWS build, and its own main-thread CPU per response. Not prom-client's ratio (printed beside).
 */
function budgetFailures(rows: readonly Row[]): string[] {
  return rows
    .filter((row) => row.connections === BUDGET.connections)
    .flatMap((row) => {
      const at = rowLabel(row);
      const mainUs = row.results.probex.mainCpuUsPerRequest;
      return [
        ...(row.probexOverRaw < BUDGET.probexOverRawReqPerSec
          ? [
              `probex/raw uWS req/s at ${at} is ${fmt(row.probexOverRaw, 2)}×, budget ≥ ${BUDGET.probexOverRawReqPerSec}×`,
            ]
          : []),
        ...(row.probexOverRawMainCpu > BUDGET.probexOverRawMainCpuPerRequest
          ? [
              `probex/raw uWS main-thread CPU per response at ${at} is ${fmt(row.probexOverRawMainCpu, 2)}×, budget ≤ ${BUDGET.probexOverRawMainCpuPerRequest}×`,
            ]
          : []),
        ...(mainUs > BUDGET.probexMainCpuUsPerRequest
          ? [
              `probex main-thread CPU per response at ${at} is ${fmt(mainUs, 1)} µs, budget ≤ ${BUDGET.probexMainCpuUsPerRequest} µs`,
            ]
          : []),
      ];
    });
}

/** ScalingRow is probex alone at one exposition size. */
interface ScalingRow {
  readonly series: number;
  readonly targets: number;
  readonly textBytes: number;
  readonly gzipBytes: number;
  readonly plain: Measurement;
  readonly gzip: Measurement;
  /** publishMs is the publisher's last render + gzip + snapshot write, read from probex's self-metrics. */
  readonly publishMs: number;
  readonly rssMiB: number;
}

/** runScaling measures probex alone at each SCALING_SERIES size: c=64 scrapes plain and gzip, publish time, RSS. */
async function runScaling(load: Load, seconds: number): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  for (const wanted of SCALING_SERIES) {
    const targets = targetsForSeries(wanted);
    const server = await startProbexServer(targets);
    try {
      const plainBody = await fetchMetrics(server, false);
      const gzipBody = await fetchMetrics(server, true);
      const plain = await measure(load, server, BUDGET.connections, false, seconds);
      const gzip = await measure(load, server, BUDGET.connections, true, seconds);
      const self = parseExposition(await text(server));
      rows.push({
        series: parseExposition(plainBody.body.toString('utf8')).length,
        targets,
        textBytes: plainBody.body.byteLength,
        gzipBytes: gzipBody.body.byteLength,
        plain,
        gzip,
        publishMs: sampleValue(self, 'probex_publish_duration_seconds') * 1000,
        rssMiB: sampleValue(self, 'process_resident_memory_bytes') / 2 ** 20,
      });
    } finally {
      await server.stop();
    }
  }
  return rows;
}

/** printScaling prints the scaling table. */
function printScaling(generator: GeneratorName, seconds: number, rows: readonly ScalingRow[]): void {
  console.log(
    `\nprobex alone, GET /metrics at c=${BUDGET.connections}, ${generator} ${seconds} s per cell; Node ${runtime.node}, ${runtime.uws}`,
  );
  console.table(
    Object.fromEntries(
      rows.map((r) => [
        `${fmt(r.series)} series`,
        {
          targets: r.targets,
          'text KiB': fmt(r.textBytes / 1024, 1),
          'gzip KiB': fmt(r.gzipBytes / 1024, 1),
          'req/s plain': fmt(r.plain.reqPerSec),
          'p99 ms plain': fmt(r.plain.p99Ms, 2),
          'req/s gzip': fmt(r.gzip.reqPerSec),
          'p99 ms gzip': fmt(r.gzip.p99Ms, 2),
          'publish ms': fmt(r.publishMs, 1),
          'RSS MiB': fmt(r.rssMiB),
        },
      ]),
    ),
  );
}

/** positiveInteger parses a CLI flag's value or throws naming the flag. */
function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new RangeError(`--${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: String(DEFAULT_TARGETS) },
    seconds: { type: 'string', default: String(DEFAULT_SECONDS) },
    guard: { type: 'boolean', default: false },
    scaling: { type: 'boolean', default: false },
    /** rounds defaults to 3 for the guard (a verdict), 1 for the full table. */
    rounds: { type: 'string' },
    generator: { type: 'string', default: HAS_WRK ? 'wrk' : 'autocannon' },
    protobuf: { type: 'boolean', default: false },
  },
});
if (values.protobuf) scrapeHeaders = { accept: PROTOBUF_ACCEPT };
if (values.generator !== 'wrk' && values.generator !== 'autocannon')
  throw new RangeError('--generator must be wrk or autocannon');
if (values.generator === 'wrk' && !HAS_WRK)
  throw new Error('--generator wrk: wrk is not installed (apt-get install wrk)');
const generator = values.generator;
const seconds = positiveInteger('seconds', values.seconds);
const load: Load = generator === 'wrk' ? runWrkBusy : runAutocannon;
if (values.scaling) {
  const rows = await runScaling(load, seconds);
  printScaling(generator, seconds, rows);
  console.log(`results: ${writeResult('scaling', { generator, seconds, ...runtime, rows })}`);
} else {
  const rounds = positiveInteger('rounds', values.rounds ?? (values.guard ? '3' : '1'));
  const result = await runLoad(
    load,
    generator,
    rounds,
    positiveInteger('targets', values.targets),
    seconds,
    values.guard ? [BUDGET.connections] : CONNECTIONS,
  );
  printResult(result);
  console.log(`results: ${writeResult('load', { ...result, ...runtime, budget: BUDGET })}`);
  if (values.guard) {
    const failures = budgetFailures(result.rows);
    for (const failure of failures) console.error(`bench:guard FAILED: ${failure}`);
    if (failures.length === 0) console.log(`bench:guard ok: every c=${BUDGET.connections} figure within budget`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  }
}
