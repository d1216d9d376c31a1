/**
 * `probex run`: a bounded benchmark run. It probes the config's targets for --duration with the same
 * scheduler, probe pool and workers as the exporter (no HTTP server), then writes into --out:
 * NAME.hgrm and NAME.hlog per target, summary.json and report.html, and exits 0, or 1 when an --slo is
 * missed, or 2 on bad arguments (args.ts checks them before anything runs) or config. SIGINT or SIGTERM
 * ends the run early; its results are written all the same. With --listen it also serves, for the run's
 * length, what the exporter serves (/metrics, the status page, the JSON API, the HDR exports) from the
 * same results: the front end and background thread of serve.ts, the latter only publishing, fed by the
 * run's scheduler, which runs on the main thread beside the front end. Each worker thread probes every
 * target once before the clock starts (warmUp); those probes are not recorded. While it runs, a progress
 * line per second goes to stderr when that is a terminal.
 */
import type { MessagePort } from 'node:worker_threads';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { hostForUrl } from '../config/target-url.ts';
import type { TokenConfig } from '../access.ts';
import { ConfigError } from '../errors.ts';
import { percentileDistribution } from '../hdr/export.ts';
import { createLogger, type Logger } from '../log.ts';
import type { ResultsMessage } from '../pool/messages.ts';
import type { ProbePool } from '../pool/probe-pool.ts';
import { encodeTargetTable } from '../pool/target-table.ts';
import { placements, type Deliver } from '../scheduler.ts';
import { ProbeEngine } from '../process/engine.ts';
import { startServing, type Serving } from '../process/serve.ts';
import { startStatsRelay } from '../process/stats-relay.ts';
import { formatLatency } from '../render/format.ts';
import { randomBytes } from 'node:crypto';
import { redactUrl } from '../redact.ts';
import { parseRunArgs, RUN_USAGE, type RunOptions } from './args.ts';
import { renderJunit } from './junit.ts';
import { OutDir, OutputError } from './out-dir.ts';
import { RunRecorder, UNCORRECTED_TAG_SUFFIX } from './recorder.ts';
import { RunPush } from './run-push.ts';
import { renderReport } from './report.ts';
import { evaluateSlos, parseSlos, SloError, type Slo } from './slo.ts';
import { buildRunSummary } from './summary.ts';

/** INTERVAL_MS is the length of one .hlog interval and of the progress line's period. */
const INTERVAL_MS = 1000;
/** STOP_GRACE_MS bounds how long the run waits at its end for rounds still in flight. */
const STOP_GRACE_MS = 2000;

/** newRunId is the `run` label's value: the start time (UTC, to the second) and 4 random hex digits. */
function newRunId(startMs: number): string {
  const stamp = new Date(startMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** UsageError: the arguments parse, but the config or an --slo does not fit them (exit 2, with the usage). */
class UsageError extends Error {}

/** Run is a run ready to start: its options, the config loaded and the objectives parsed against it. */
interface Run extends Omit<RunOptions, 'slos'> {
  readonly config: Config;
  /** fileTokens are the token file's tokens, for --listen. */
  readonly fileTokens: readonly TokenConfig[];
  readonly slos: readonly Slo[];
}

/** RUN_LOG_NAME is the base name of run.hlog, the interval log of every target. */
const RUN_LOG_NAME = 'run';

/**
 * prepareRun loads the config (with --listen as PROBEX_HOST/PROBEX_PORT, so the same checks apply: a port
 * in range, no address beyond loopback without a token or auth.open) and parses the objectives against its
 * targets; it throws UsageError.
 */
function prepareRun(options: RunOptions): Run {
  const env = { ...process.env };
  if (options.listen?.host !== undefined) env.PROBEX_HOST = options.listen.host;
  if (options.listen !== undefined) env.PROBEX_PORT = options.listen.port;
  let config: Config;
  let fileTokens: readonly TokenConfig[];
  try {
    ({ config, fileTokens } = loadConfig({ path: options.configFile, env }));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const clash = config.targets.find((t) => t.name === RUN_LOG_NAME || t.name.endsWith(UNCORRECTED_TAG_SUFFIX));
  if (clash !== undefined) {
    throw new UsageError(
      `target ${JSON.stringify(clash.name)}: probex run cannot name it apart from ${clash.name === RUN_LOG_NAME ? 'run.hlog' : "another target's uncorrected histogram in run.hlog"}; rename it`,
    );
  }
  let slos: Slo[];
  try {
    slos = parseSlos(
      options.slos,
      config.targets.map((t) => t.name),
    );
  } catch (err) {
    if (err instanceof SloError) throw new UsageError(err.message);
    throw err;
  }
  return { ...options, config, fileTokens, slos };
}

/** runCli runs `probex run` with its arguments (after `run`) and resolves with the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const parsed = parseRunArgs(argv, process.env);
  if (parsed.kind === 'help') {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  const usageError = (message: string): number => {
    process.stderr.write(`${message}\n${RUN_USAGE}\n`);
    return 2;
  };
  if (parsed.kind === 'usage-error') return usageError(parsed.message);
  let args: Run;
  try {
    args = prepareRun(parsed.options);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageError(err.message);
  }
  const { config, out } = args;
  const fail = (err: unknown): number => {
    if (!(err instanceof OutputError)) throw err;
    process.stderr.write(`probex run: ${err.message}\n`);
    return 2;
  };
  // The directory first, before anything runs; its files once the listener (a usage problem of its own)
  // is up, so a run refused for --listen leaves at most an empty directory behind.
  let files: OutDir;
  try {
    files = OutDir.prepare(out, args.force);
  } catch (err) {
    return fail(err);
  }
  const log = createLogger(config.log.level === 'debug' ? 'debug' : 'error', 'run');
  let serving: Serving | undefined;
  if (args.listen !== undefined) {
    try {
      serving = await startServing(config, args.fileTokens, log, false);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`serving on http://${hostForUrl(config.listen.host)}:${serving.server.port}/\n`);
  }
  try {
    files.create(runFileNames(config));
    if (args.junit !== undefined) files.createPath(JUNIT_FILE, args.junit);
    return await probeAndReport(args, files, serving, log);
  } catch (err) {
    return fail(err);
  } finally {
    files.close();
    if (serving !== undefined) await stopServing(serving);
  }
}

/** runFileNames are the files a run writes in --out: NAME.hlog and NAME.hgrm per target, run.hlog, summary.json, report.html. */
function runFileNames(config: Config): string[] {
  return [
    ...config.targets.flatMap((t) => [`${t.name}.hlog`, `${t.name}.hgrm`]),
    `${RUN_LOG_NAME}.hlog`,
    'summary.json',
    'report.html',
  ];
}

/** JUNIT_FILE is the --junit file's key among the run's files. */
const JUNIT_FILE = 'junit';

/**
 * probeAndReport runs the probes for the run's duration, writing each target's .hlog as it goes, then
 * writes the rest and prints the summary. It resolves with the exit status (0 or 1: objectives met or
 * not); an output file that cannot be written ends the run early and rejects with OutputError.
 */
async function probeAndReport(args: Run, files: OutDir, serving: Serving | undefined, log: Logger): Promise<number> {
  const { config, durationMs, out, slos } = args;
  const tty = process.stderr.isTTY === true;
  const publisherPort = serving?.results;
  let push: RunPush | undefined;
  // The warm-up's probes are not recorded: deliver is set once the clock starts.
  let deliver: Deliver = () => undefined;
  const engine = new ProbeEngine(config.threads, (batch) => deliver(batch), log);
  const pool = engine.pool;
  await warmUp(pool, config);
  const startMs = Date.now();
  const runId = newRunId(startMs);
  const recorder = new RunRecorder(config.targets, startMs);
  deliver = (batch) => {
    publisherPort?.postMessage(batch);
    recorder.record(batch);
    push?.record(batch);
  };
  const hlog = (name: string): string => `${name}.hlog`;
  try {
    for (const t of config.targets) files.append(hlog(t.name), recorder.hlogHeader(t.name));
    files.append(hlog(RUN_LOG_NAME), recorder.runLogHeader());
  } catch (err) {
    await pool.close();
    throw err;
  }

  if (args.remoteWrite.length > 0) {
    process.stderr.write(`run ${runId}: remote write to ${args.remoteWrite.map((e) => redactUrl(e.url)).join(', ')}\n`);
    push = new RunPush(config, () => engine.stats(), {
      endpoints: args.remoteWrite,
      runId,
      warn: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}probex run: warning: ${line}\n`),
    });
  }
  const stopFeed =
    serving === undefined || publisherPort === undefined
      ? () => undefined
      : feedServing(serving, publisherPort, engine, config);
  const flushInterval = (): void => {
    const lines = recorder.endInterval(Date.now());
    for (const [name, line] of lines.byTarget) files.append(hlog(name), line);
    files.append(hlog(RUN_LOG_NAME), lines.tagged);
    if (tty) process.stderr.write(`\r\x1b[K${progress(recorder, (Date.now() - startMs) / 1000, durationMs / 1000)}`);
  };
  // The run ends after --duration, earlier on SIGINT/SIGTERM (Ctrl-C: what was measured is still written),
  // or at once when an .hlog cannot be written (the run could not be reported).
  let interrupted = false;
  let writeFailure: unknown;
  engine.start(config.targets);
  await new Promise<void>((resolve) => {
    const end = (): void => {
      clearTimeout(timer);
      clearInterval(ticker);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const stop = (): void => {
      interrupted = true;
      end();
    };
    const timer = setTimeout(end, durationMs);
    const ticker = setInterval(() => {
      try {
        flushInterval();
      } catch (err) {
        writeFailure = err;
        end();
      }
    }, INTERVAL_MS);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await engine.stop(STOP_GRACE_MS);
  if (tty) process.stderr.write('\n');
  stopFeed();
  // The final push goes out whatever else happens: a receiver has what was measured even when a file failed.
  const remoteWrite = push === undefined ? undefined : await push.finish();
  if (writeFailure !== undefined) throw writeFailure;
  flushInterval();

  const targets = recorder.targets();
  const durationSeconds = Number(((Date.now() - startMs) / 1000).toFixed(3));
  const summary = buildRunSummary(targets, startMs, durationSeconds);
  const histograms = new Map(targets.map((t) => [t.name, t.histogram]));
  const results = evaluateSlos(slos, summary, histograms);
  for (const t of targets) files.append(`${t.name}.hgrm`, percentileDistribution(t.histogram));
  files.append(
    'summary.json',
    `${JSON.stringify({ runId, ...summary, slos: results, ...(remoteWrite === undefined ? {} : { remoteWrite }) }, null, 2)}\n`,
  );
  files.append('report.html', renderReport({ summary, histograms, slos: results, objectives: slos }));
  if (args.junit !== undefined) files.append(JUNIT_FILE, renderJunit(summary, results, runId));

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
 * the feed (stopServing stops the front end and the background thread).
 */
function feedServing(serving: Serving, results: MessagePort, engine: ProbeEngine, config: Config): () => void {
  const { server, post } = serving;
  const statsTimer = setInterval(() => {
    results.postMessage({
      type: 'scheduler-stats',
      stats: engine.stats(),
    } satisfies ResultsMessage);
  }, config.publishIntervalMs);
  const noReloads = { total: 0, failures: 0, lastOk: 1 as const };
  const stopRelay = startStatsRelay(
    server.counters,
    noReloads,
    (stats) => post({ type: 'stats', stats }),
    config.publishIntervalMs,
  );
  return () => {
    clearInterval(statsTimer);
    stopRelay();
  };
}

/** stopServing closes the front end, the run's results port and the background thread. */
async function stopServing({ server, results, background }: Serving): Promise<void> {
  server.close();
  results?.close();
  await background.terminate();
}

/**
 * warmUp probes every target once on each worker thread its rounds will run on (placements), before the
 * run's clock starts, and drops the results: starting the workers, loading the client libraries and
 * connecting are not the dependency's latency, and the first rounds would otherwise start late and be
 * counted as coordinated omission.
 */
async function warmUp(pool: ProbePool, config: Config): Promise<void> {
  const table = encodeTargetTable(config.targets);
  const batches = new Map<string, { home: number; lanes: number | undefined; targets: number[] }>();
  config.targets.forEach((target, i) => {
    for (const { home, lanes } of placements(target, config.threads)) {
      const key = `${home}/${lanes}`;
      const batch = batches.get(key) ?? { home, lanes, targets: [] };
      batch.targets.push(i);
      batches.set(key, batch);
    }
  });
  await Promise.allSettled(
    [...batches.values()].map(({ home, lanes, targets }, id) =>
      pool.run({ owner: 0, id, table, targets, burstMs: 0, home, ...(lanes === undefined ? {} : { lanes }) }),
    ),
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
