/**
 * `probex run`: a bounded benchmark run. It probes the config's targets for --duration with the same
 * scheduler, probe pool and workers as the exporter (no HTTP server), then writes into --out:
 * NAME.hgrm and NAME.hlog per target, summary.json and report.html, and exits 0, or 1 when an --slo is
 * missed, or 2 on bad arguments or config. SIGINT or SIGTERM ends the run early; its results are written
 * all the same. With --listen it also serves, for the run's length, what the exporter serves (/metrics,
 * the status page, the JSON API, the HDR exports) from the same results: the front end and background
 * thread of serve.ts, the latter only publishing, fed by the run's scheduler, which runs on the main thread
 * beside the front end. Each worker thread probes every target once before the clock starts (warmUp);
 * those probes are not recorded. While it runs, a progress line per second goes to stderr when
 * that is a terminal.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MessagePort } from 'node:worker_threads';
import { hostForUrl, loadConfigFile, parseDuration, type Config, type TokenConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { percentileDistribution } from '../hdr/export.ts';
import { createLogger } from '../log.ts';
import type { ResultsMessage } from '../pool/messages.ts';
import { createProbePool, type ProbePool } from '../pool/probe-pool.ts';
import { encodeTargetTable } from '../pool/target-table.ts';
import { Scheduler } from '../scheduler.ts';
import { startServing, type Serving } from '../serve.ts';
import { startStatsRelay } from '../stats-relay.ts';
import { formatLatency } from '../render/status-page.ts';
import { RunRecorder } from './recorder.ts';
import { renderReport } from './report.ts';
import { evaluateSlos, parseSlos, SloError, type Slo } from './slo.ts';
import { buildRunSummary } from './summary.ts';

export const RUN_USAGE = `usage: probex run --config FILE --duration 60s --out DIR [--slo "redis:p99<5ms"]... [--listen [HOST:]PORT]
  --config FILE     the targets to probe (YAML, as for probex)
  --duration D      how long to probe: 500ms, 30s, 5m, 1h
  --out DIR         where to write NAME.hgrm, NAME.hlog, summary.json and report.html (created if missing)
  --slo SPEC        an objective, e.g. "redis:p99<5ms", "*:errors<1%" (repeatable, or comma-separated)
  --listen ADDR     also serve /metrics, the status page and the JSON API while the run lasts, on PORT or
                    HOST:PORT (port 0 picks a free one; the config's auth applies, as for probex)
exit status: 0 every objective met, 1 one missed, 2 bad arguments, config or listen address`;

/** INTERVAL_MS is the length of one .hlog interval and of the progress line's period. */
const INTERVAL_MS = 1000;
/** STOP_GRACE_MS bounds how long the run waits at its end for rounds still in flight. */
const STOP_GRACE_MS = 2000;

/** LISTEN_RE reads --listen: PORT, HOST:PORT or [IPv6]:PORT. */
const LISTEN_RE = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\s]+):)?(\d{1,5})$/;

/** RunArgs are the parsed arguments. */
interface RunArgs {
  readonly config: Config;
  /** fileTokens are the token file's tokens, for --listen. */
  readonly fileTokens: readonly TokenConfig[];
  readonly listen: boolean;
  readonly durationMs: number;
  readonly out: string;
  readonly slos: readonly Slo[];
}

/** parseRunArgs parses and checks every argument before anything runs; it throws UsageError. */
function parseRunArgs(argv: readonly string[]): RunArgs | 'help' {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        duration: { type: 'string' },
        out: { type: 'string' },
        slo: { type: 'string', multiple: true },
        listen: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const problems: string[] = [];
  if (values.config === undefined) problems.push('--config is required');
  if (values.out === undefined) problems.push('--out is required');
  const durationMs = parseDuration(values.duration ?? '') ?? NaN;
  if (!(durationMs >= 100)) problems.push('--duration must be a duration of at least 100ms, e.g. 30s or 5m');
  const listen = values.listen === undefined ? undefined : LISTEN_RE.exec(values.listen);
  if (listen === null) problems.push('--listen must be PORT or HOST:PORT, e.g. 9469 or 127.0.0.1:9469');
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  // --listen overrides the config's listen address as PROBEX_HOST/PROBEX_PORT do: the same checks apply
  // (a port in range; no address beyond loopback without a token or auth.open).
  const env = { ...process.env };
  if (listen?.[1] !== undefined) env.PROBEX_HOST = listen[1];
  if (listen?.[2] !== undefined) env.PROBEX_PORT = listen[2];
  let config: Config;
  let fileTokens: readonly TokenConfig[];
  try {
    ({ config, fileTokens } = loadConfigFile(values.config, env));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  let slos: Slo[];
  try {
    slos = parseSlos(
      values.slo ?? [],
      config.targets.map((t) => t.name),
    );
  } catch (err) {
    if (err instanceof SloError) throw new UsageError(err.message);
    throw err;
  }
  return { config, fileTokens, listen: listen !== undefined, durationMs, out: values.out!, slos };
}

class UsageError extends Error {}

/** runCli runs `probex run` with its arguments (after `run`) and resolves with the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  let args: RunArgs | 'help';
  try {
    args = parseRunArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${RUN_USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  const { config, durationMs, out, slos } = args;
  mkdirSync(out, { recursive: true });
  const log = createLogger(config.log.level === 'debug' ? 'debug' : 'error', 'run');
  let serving: Serving | undefined;
  if (args.listen) {
    try {
      serving = await startServing(config, args.fileTokens, log, false);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`serving on http://${hostForUrl(config.listen.host)}:${serving.server.port}/\n`);
  }
  const pool = createProbePool(config.threads, (err) => log.error({ err }, 'probe pool error between tasks'));
  await warmUp(pool, config);
  const startMs = Date.now();
  const recorder = new RunRecorder(config.targets, startMs);
  const hlogPath = (name: string): string => join(out, `${name}.hlog`);
  for (const t of config.targets) writeFileSync(hlogPath(t.name), recorder.hlogHeader(t.name));

  const publisherPort = serving?.results;
  const scheduler = new Scheduler(
    pool,
    (batch) => {
      publisherPort?.postMessage(batch);
      recorder.record(batch);
    },
    config.threads,
    log,
  );
  const stopServing =
    serving === undefined || publisherPort === undefined
      ? () => undefined
      : feedServing(serving, publisherPort, scheduler, config);
  const tty = process.stderr.isTTY === true;
  const flushInterval = (): void => {
    for (const [name, line] of recorder.endInterval(Date.now())) appendFileSync(hlogPath(name), line);
    if (tty) process.stderr.write(`\r\x1b[K${progress(recorder, (Date.now() - startMs) / 1000, durationMs / 1000)}`);
  };
  scheduler.start(config.targets);
  const ticker = setInterval(flushInterval, INTERVAL_MS);
  // The run ends after --duration, or earlier on SIGINT/SIGTERM (Ctrl-C): what was measured is still written.
  let interrupted = false;
  await new Promise<void>((resolve) => {
    const end = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const stop = (): void => {
      interrupted = true;
      end();
    };
    const timer = setTimeout(end, durationMs);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(ticker);
  await Promise.race([scheduler.stop(), new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS))]);
  await pool.close();
  flushInterval();
  if (tty) process.stderr.write('\n');
  await stopServing();

  const targets = recorder.targets();
  const durationSeconds = Number(((Date.now() - startMs) / 1000).toFixed(3));
  const summary = buildRunSummary(targets, startMs, durationSeconds);
  const histograms = new Map(targets.map((t) => [t.name, t.histogram]));
  const results = evaluateSlos(slos, summary, histograms);
  for (const t of targets) writeFileSync(join(out, `${t.name}.hgrm`), percentileDistribution(t.histogram));
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify({ ...summary, slos: results }, null, 2)}\n`);
  writeFileSync(join(out, 'report.html'), renderReport({ summary, histograms, slos: results }));

  for (const [name, t] of Object.entries(summary.targets)) {
    const l = t.latencyMs;
    const errors = t.probes - t.count;
    process.stdout.write(
      `${name}: ${t.count}/${t.probes} ok${errors > 0 ? `, ${errors} failed` : ''}` +
        (l === undefined
          ? ''
          : `, p50 ${formatLatency(l.p50 * 1000)} p99 ${formatLatency(l.p99 * 1000)} max ${formatLatency(l.max * 1000)}`) +
        (t.coordinatedOmission.lateProbes > 0 ? `, ${t.coordinatedOmission.lateProbes} late (corrected)` : '') +
        '\n',
    );
  }
  for (const r of results) process.stdout.write(`slo ${r.message}\n`);
  process.stdout.write(`${interrupted ? `interrupted after ${durationSeconds}s; ` : ''}wrote ${out}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

/**
 * feedServing sends the scheduler's stats (and the front end's, for probex's self-metrics) to the
 * background thread once per publish interval, as the exporter's threads do. The returned function stops
 * the feed, the front end and the background thread.
 */
function feedServing(
  serving: Serving,
  results: MessagePort,
  scheduler: Scheduler,
  config: Config,
): () => Promise<void> {
  const { server, background, post } = serving;
  const statsTimer = setInterval(() => {
    results.postMessage({
      type: 'scheduler-stats',
      stats: scheduler.stats(),
    } satisfies ResultsMessage);
  }, config.publishIntervalMs);
  const noReloads = { total: 0, failures: 0, lastOk: 1 as const };
  const stopRelay = startStatsRelay(
    server.counters,
    noReloads,
    (stats) => post({ type: 'stats', stats }),
    config.publishIntervalMs,
  );
  return async () => {
    clearInterval(statsTimer);
    stopRelay();
    server.close();
    results.close();
    await background.terminate();
  };
}

/**
 * warmUp probes every target once on each worker thread before the run's clock starts, and drops the
 * results: starting the workers, loading the client libraries and connecting are not the dependency's
 * latency, and the first rounds would otherwise start late and be counted as coordinated omission.
 */
async function warmUp(pool: ProbePool, config: Config): Promise<void> {
  const table = encodeTargetTable(config.targets);
  const targets = config.targets.map((_, i) => i);
  await Promise.allSettled(
    Array.from({ length: config.threads }, (_, id) => pool.run({ owner: 0, id, table, targets, burstMs: 0 })),
  );
}

/** progress is the one-line status a terminal shows each second. */
function progress(recorder: RunRecorder, elapsedS: number, totalS: number): string {
  const parts = recorder
    .targets()
    .map(
      (t) =>
        `${t.name} ${t.count}/${t.probes}${
          t.histogram.totalCount > 0 ? ` p99 ${formatLatency(t.histogram.getValueAtPercentile(99))}` : ''
        }`,
    );
  return `[${Math.min(totalS, Math.round(elapsedS))}s/${totalS}s] ${parts.join(' · ')}`;
}
