/**
 * GET /metrics over TLS, probex against uWebSockets.js's own SSLApp serving the very bytes probex served
 * with the same certificate (bench/lib/raw-uws.ts with a certificate), each its own process:
 *   probex uws-tls    probex with a web config uWS serves itself (TLS 1.2-1.3, no client certificate);
 *   probex node-tls   probex with `min_version: TLS13`, which puts Node's tls in front of uWS (the listener
 *                     of RequireAndVerifyClientCert, client_allowed_sans, versions and curves: listener.ts);
 *   raw uWS TLS       the limit: SSLApp answering every GET /metrics with the captured bytes.
 * Two measures, each with wrk (C, OpenSSL; it must be installed: apt-get install wrk):
 *   keep-alive        c=1, 10, 64 connections, plain and gzip: req/s, p50/p99 and server CPU per request;
 *                     the budget is probex uws-tls ≥ 0.9× raw uWS TLS at c=64 (as bench:load's for HTTP);
 *   new connections   `Connection: close`, so each request is a new TCP connection and a full handshake
 *                     (wrk keeps no session): connections/s and server CPU per connection, the handshake's
 *                     cost (certificate: EC P-256, or RSA 2048 with --rsa).
 *   npm run bench:tls [-- --seconds 5 --rsa]           results also go to bench/results/
 * basic auth is off here: a cached credential costs what a token does (bench:auth measures the check).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { certDir } from '../../support/certs.ts';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { syntheticTargetsYaml } from '../lib/fixtures.ts';
import { writeCapture, type CapturedBody } from '../lib/load-ipc.ts';
import { cpuSeconds } from '../lib/proc-cpu.ts';
import { TLS as BUDGET } from '../budgets.ts';
import { fmt, writeResult } from '../lib/report.ts';
import { HAS_WRK, runWrk, type WrkResult } from '../lib/wrk.ts';

const TARGETS = 28;
const CONNECTIONS = [1, 10, 64] as const;
const NEW_CONNECTIONS = 16;
const WARMUP_SECONDS = 1;
const REPEATED_HEADERS = ['content-type', 'content-encoding', 'vary', 'cache-control'];
const SERVERS = ['probex uws-tls', 'probex node-tls', 'raw uWS TLS'] as const;
type ServerName = (typeof SERVERS)[number];

interface Server {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

interface Cell {
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPer: number;
  /** mainCpuUsPer is the main thread's share: probex's front end alone, without its background and probe threads. */
  readonly mainCpuUsPer: number;
  readonly errors: number;
}

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, rsa: { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds <= 0) throw new RangeError('--seconds must be a positive integer');
if (!HAS_WRK) throw new Error('bench:tls needs wrk (apt-get install wrk)');

/** get fetches /metrics over TLS with the CA and returns the body as sent with the headers to repeat. */
function get(port: number, ca: Buffer, gzip: boolean): Promise<CapturedBody> {
  return new Promise((resolve, reject) => {
    https
      .get(
        { host: '127.0.0.1', port, path: '/metrics', ca, headers: gzip ? { 'accept-encoding': 'gzip' } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new Error(`/metrics answered ${res.statusCode}`));
            const headers = Object.fromEntries(
              REPEATED_HEADERS.flatMap((h) => (typeof res.headers[h] === 'string' ? [[h, res.headers[h]]] : [])),
            );
            resolve({ body: Buffer.concat(chunks), headers });
          });
        },
      )
      .on('error', reject);
  });
}

async function startProbexTls(web: string, ca: Buffer): Promise<Server & { probex: ProbexProcess }> {
  const p = await startProbex(
    `listen: { port: 0 }\nlog: { level: error }\n${syntheticTargetsYaml(TARGETS)}\n`,
    { PROBEX_LOG_LEVEL: 'info' },
    ['--web.config.file', web],
  );
  await waitFor(
    'a probe count for every target',
    async () => {
      const text = (await get(p.port, ca, false)).body.toString();
      const counts = findSamples(parseExposition(text), 'probex_probe_duration_seconds_count');
      return counts.length === TARGETS && counts.every((s) => s.value > 0) ? true : undefined;
    },
    30_000,
  );
  return { port: p.port, pid: p.child.pid!, probex: p, stop: () => p.stop() };
}

function startRaw(captureDir: string, cert: string, key: string): Promise<Server> {
  const script = fileURLToPath(new URL('../lib/raw-uws.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, captureDir, cert, key], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      resolve({
        port: (JSON.parse(line) as { port: number }).port,
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error('raw-uws.ts exited before listening')));
  });
}

async function measure(server: Server, connections: number, headers: Record<string, string>): Promise<Cell> {
  const url = `https://127.0.0.1:${server.port}/metrics`;
  await runWrk(url, connections, WARMUP_SECONDS, headers);
  const cpu0 = cpuSeconds(server.pid);
  const main0 = cpuSeconds(server.pid, server.pid);
  const r: WrkResult = await runWrk(url, connections, seconds, headers);
  const cpu = cpuSeconds(server.pid) - cpu0;
  const main = cpuSeconds(server.pid, server.pid) - main0;
  if (r.non2xx > 0) throw new Error(`${url} answered ${r.non2xx} non-2xx responses`);
  return {
    perSec: r.ok / r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    cpuUsPer: (cpu * 1e6) / Math.max(1, r.ok),
    mainCpuUsPer: (main * 1e6) / Math.max(1, r.ok),
    errors: r.errors,
  };
}

const certs = certDir();
const captureDir = mkdtempSync(join(tmpdir(), 'probex-tls-bench-'));
const started: Server[] = [];
try {
  const ca = certs.ca('bench-ca');
  const server = certs.leaf('bench-server', ca, 'IP:127.0.0.1', { rsa: values.rsa });
  const caPem = readFileSync(ca.cert);
  const web = (extra: string): string => {
    const file = join(captureDir, `web-${started.length}.yml`);
    writeFileSync(file, `tls_server_config:\n  cert_file: ${server.cert}\n  key_file: ${server.key}\n${extra}`);
    return file;
  };
  const uwsTls = await startProbexTls(web(''), caPem);
  started.push(uwsTls);
  const nodeTls = await startProbexTls(web('  min_version: TLS13\n'), caPem);
  started.push(nodeTls);
  for (const [p, kind] of [
    [uwsTls, 'uws-tls'],
    [nodeTls, 'node-tls'],
  ] as const) {
    const seen = p.probex.logs.find((l) => l.msg === 'probex listening')?.tls;
    if (seen !== kind) throw new Error(`expected a ${kind} listener, probex says ${String(seen)}`);
  }
  writeCapture(captureDir, await get(uwsTls.port, caPem, false), await get(uwsTls.port, caPem, true));
  const raw = await startRaw(captureDir, server.cert, server.key);
  started.push(raw);
  const servers: Record<ServerName, Server> = {
    'probex uws-tls': uwsTls,
    'probex node-tls': nodeTls,
    'raw uWS TLS': raw,
  };

  const keepAlive: Array<{ row: string; cells: Record<ServerName, Cell>; ratio: number }> = [];
  for (const c of CONNECTIONS) {
    for (const gzip of [false, true]) {
      const cells = {} as Record<ServerName, Cell>;
      for (const name of SERVERS)
        cells[name] = await measure(servers[name], c, gzip ? { 'Accept-Encoding': 'gzip' } : {});
      keepAlive.push({
        row: `c=${c} ${gzip ? 'gzip' : 'plain'}`,
        cells,
        ratio: cells['probex uws-tls'].perSec / cells['raw uWS TLS'].perSec,
      });
    }
  }
  const handshakes = {} as Record<ServerName, Cell>;
  for (const name of SERVERS) handshakes[name] = await measure(servers[name], NEW_CONNECTIONS, { Connection: 'close' });

  const cert = values.rsa ? 'RSA 2048' : 'EC P-256';
  console.log(
    `\nGET /metrics over TLS (${cert}), ${TARGETS} synthetic targets, wrk ${seconds} s per cell, keep-alive:`,
  );
  console.table(
    Object.fromEntries(
      keepAlive.map(({ row, cells, ratio }) => [
        row,
        {
          ...Object.fromEntries(
            SERVERS.flatMap((name) => [
              [`${name} req/s`, fmt(cells[name].perSec)],
              [`${name} µs CPU/req (main)`, `${fmt(cells[name].cpuUsPer, 1)} (${fmt(cells[name].mainCpuUsPer, 1)})`],
            ]),
          ),
          'uws-tls/raw': `${fmt(ratio, 2)}×`,
          'node-tls/raw': `${fmt(cells['probex node-tls'].perSec / cells['raw uWS TLS'].perSec, 2)}×`,
        },
      ]),
    ),
  );
  console.log(`New connection per request (Connection: close, full handshake), c=${NEW_CONNECTIONS}:`);
  console.table(
    Object.fromEntries(
      SERVERS.map((name) => [
        name,
        {
          'connections/s': fmt(handshakes[name].perSec),
          'server µs CPU/connection (main)': `${fmt(handshakes[name].cpuUsPer, 1)} (${fmt(handshakes[name].mainCpuUsPer, 1)})`,
          'p50/p99 ms': `${fmt(handshakes[name].p50Ms, 2)} / ${fmt(handshakes[name].p99Ms, 2)}`,
        },
      ]),
    ),
  );
  const failures = keepAlive.filter(
    (r) => r.row.startsWith(`c=${BUDGET.connections} `) && r.ratio < BUDGET.probexOverRawReqPerSec,
  );
  for (const f of failures)
    console.error(
      `budget: probex uws-tls/raw uWS TLS at ${f.row} is ${fmt(f.ratio, 2)}×, budget ≥ ${BUDGET.probexOverRawReqPerSec}×`,
    );
  console.log(
    `results: ${writeResult('tls', { cert, seconds, targets: TARGETS, keepAlive, handshakes, budget: BUDGET })}`,
  );
  process.exitCode = failures.length === 0 ? 0 : 1;
} finally {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(captureDir, { recursive: true, force: true });
  certs.remove();
}
