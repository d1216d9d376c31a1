/**
 * Composition root: loadConfig → publisher thread → uWS server → scheduler thread (which runs the probe
 * pool); signals. The main thread itself only serves HTTP.
 * `probex [--config probex.yaml | --directus-env] [--check-config]`. With no config, the embedded default runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import { coalesce } from './coalesce.ts';
import { loadConfigFile, reloadProblems, type Config, type LoadedConfig, type TokenConfig } from './config.ts';
import { loadDirectusEnvConfig } from './directus-env.ts';
import { ConfigError } from './errors.ts';
import { TokenTable } from './http/auth.ts';
import { startServer, type ServerState } from './http/server.ts';
import { createLogger, type Logger } from './log.ts';
import type { ConfigLoadRequest, ConfigLoadResult, PublisherInit, PublisherMessage, PublisherReport, SchedulerInit, SchedulerMessage, SchedulerReport } from './pool/messages.ts';
import { createSnapshotBuffer } from './snapshot/layout.ts';
import { SnapshotReader } from './snapshot/reader.ts';

/**
 * workerBootstrap is the eval'd entry of a plain worker thread. Node 20 does not apply the parent's
 * loader hooks (tsx) to a worker, so when running from .ts sources the worker registers tsx itself
 * before importing its module; compiled .js needs nothing.
 */
function workerBootstrap(url: URL): string {
  const load = `import(${JSON.stringify(url.href)})`;
  return url.pathname.endsWith('.ts') ? `import('tsx/esm/api').then(({ register }) => { register(); return ${load}; })` : load;
}

const EXT = extname(fileURLToPath(import.meta.url));
const PUBLISHER_URL = new URL(`../workers/publisher-worker${EXT}`, import.meta.url);
const SCHEDULER_URL = new URL(`../workers/scheduler-worker${EXT}`, import.meta.url);
const CONFIG_URL = new URL(`../workers/config-worker${EXT}`, import.meta.url);
const VERSION = readVersion();
/**
 * PUBLISHER_YOUNG_GENERATION_MB bounds the publisher's young generation: it renders megabytes per publish
 * and would otherwise let V8 grow it to tens of MB before collecting (RSS, not speed).
 */
const PUBLISHER_YOUNG_GENERATION_MB = 8;
/** SHUTDOWN_GRACE_MS bounds how long SIGTERM waits for probe rounds in flight before closing the pool. */
const SHUTDOWN_GRACE_MS = 500;
/** POOL_CLOSE_MS bounds how long SIGTERM then waits for the scheduler thread to close the pool and answer. */
const POOL_CLOSE_MS = 1_000;

const USAGE = `usage: probex [--config FILE | --directus-env] [--check-config]
  --config FILE     YAML config (env: PROBEX_CONFIG); without it the embedded default runs
  --directus-env    build the targets and the directus profile from a Directus container's environment
                    (DB_CLIENT, REDIS, CACHE_*, STORAGE_*, METRICS_*) instead of a config file
  --check-config    validate the config and exit (0 valid, 2 invalid; every problem at once, warnings on stderr)
env overrides: PROBEX_HOST, PROBEX_PORT, METRICS_TOKENS, PROBEX_TOKEN_FILE, PROBEX_LOG_LEVEL, PROBEX_AGENT_ID, PROBEX_PROFILE`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, 'check-config': { type: 'boolean' }, 'directus-env': { type: 'boolean' },
      help: { type: 'boolean' }, version: { type: 'boolean' } } }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) return void process.stdout.write(`${USAGE}\n`);
  if (args.version) return void process.stdout.write(`${VERSION}\n`);
  const configPath = args.config ?? process.env.PROBEX_CONFIG;
  const directusEnv = args['directus-env'] === true;
  if (directusEnv && configPath !== undefined) {
    process.stderr.write(`--directus-env builds the whole config from the environment: drop --config (and PROBEX_CONFIG)\n${USAGE}\n`);
    process.exit(2);
  }

  let loaded: LoadedConfig;
  let notes: readonly string[] = [];
  try {
    const fromEnv = directusEnv ? loadDirectusEnvConfig(process.env) : undefined;
    loaded = fromEnv ?? loadConfigFile(configPath);
    notes = fromEnv?.notes ?? [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const { config, fileTokens, warnings } = loaded;
  const source = directusEnv ? 'the Directus environment' : configPath ?? 'embedded default config';
  if (args['check-config']) {
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(`${source}: valid, ${config.targets.length} targets\n${notes.map((n) => `note: ${n}\n`).join('')}`);
    return;
  }
  const log = createLogger(config.log.level, 'main');
  for (const warning of warnings) log.warn(warning);
  for (const note of notes) log.warn({ note }, 'directus environment: not probed');
  await run(config, fileTokens, directusEnv ? { directusEnv } : { path: configPath }, log);
}

/** readVersion reads probex's version from package.json: `../` from src/, `../../` from the build in dist/src/. */
function readVersion(): string {
  for (const up of ['../', '../../']) {
    const url = new URL(`${up}package.json`, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

/** tokenTable holds the config's tokens and those of its token file. */
function tokenTable(config: Config, fromFile: readonly TokenConfig[]): TokenTable {
  return new TokenTable([...config.auth.tokens, ...fromFile]);
}

/** warnIfOpen says so when no token guards the routes: on loopback by default, elsewhere by auth.open. */
function warnIfOpen(config: Config, tokens: TokenTable, host: string, log: Logger): void {
  if (!tokens.open) return;
  if (config.auth.open) log.warn({ host }, 'auth.open: true: /metrics and the JSON API are open to anyone who can reach this address');
  else log.warn({ host }, 'no tokens configured: /metrics and the JSON API are open to anyone who can reach this address (a loopback address)');
}

/**
 * startThread starts one of probex's own threads (not a probe worker) with its workerData. Such a thread
 * failing is fatal: probex exits so its supervisor restarts it, rather than serve a frozen snapshot.
 */
function startThread(name: string, url: URL, workerData: PublisherInit | SchedulerInit, log: Logger,
  resourceLimits?: ResourceLimits): Worker {
  // The results port in workerData moves to the thread (a port cannot be copied).
  const thread = new Worker(workerBootstrap(url), { eval: true, workerData, transferList: [workerData.results],
    ...(resourceLimits ? { resourceLimits } : {}) });
  thread.on('error', (err) => {
    log.fatal({ err }, `${name} thread failed; exiting so the supervisor restarts probex`);
    process.exit(1);
  });
  return thread;
}

/**
 * loadConfigOffThread loads the config file (and its token file) on a one-shot thread. It never rejects:
 * a thread that fails or ends without answering is a failed load.
 */
function loadConfigOffThread(source: ConfigSource, nice: number): Promise<ConfigLoadResult> {
  return new Promise((resolve) => {
    const thread = new Worker(workerBootstrap(CONFIG_URL), { eval: true,
      workerData: { path: source.path, nice, ...(source.directusEnv ? { directusEnv: true } : {}) } satisfies ConfigLoadRequest });
    const fail = (why: string): void => resolve({ ok: false, issues: [`the config thread ${why}`] });
    thread.once('message', (result: ConfigLoadResult) => resolve(result));
    thread.once('error', (err) => fail(`failed: ${String(err)}`));
    thread.once('exit', (code) => fail(`exited (${code}) without an answer`));
  });
}

/** ConfigSource is where the running config comes from, and where a reload reads it again. */
interface ConfigSource {
  readonly path?: string | undefined;
  readonly directusEnv?: boolean;
}

async function run(initial: Config, initialFileTokens: readonly TokenConfig[], source: ConfigSource,
  log: Logger): Promise<void> {
  const configPath = source.path;
  let config = initial;
  // The listen address is the one probex started with: a reload does not move it.
  const listenHost = initial.listen.host;
  let fileTokenCount = initialFileTokens.length;
  const tokens = tokenTable(initial, initialFileTokens);
  // snapshotBytes is the first buffer's size; the publisher hands over a larger one when the snapshot outgrows it.
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const snapshot = new SnapshotReader(snapshotBuffer);
  const startTimeSeconds = Date.now() / 1000;
  // The scheduler thread sends every batch's results to the publisher on this channel.
  const results = new MessageChannel();
  const publisher = startThread('publisher', PUBLISHER_URL,
    { config, snapshot: snapshotBuffer, version: VERSION, startTimeSeconds, results: results.port2 } satisfies PublisherInit,
    log, { maxYoungGenerationSizeMb: PUBLISHER_YOUNG_GENERATION_MB });
  // Between two requests (this thread serves them all): the reader drops the old buffer for the new one.
  publisher.on('message', (msg: PublisherReport) => snapshot.attach(msg.buffer));
  const post = (msg: PublisherMessage): void => publisher.postMessage(msg);
  const state: ServerState = { tokens, agentId: config.agentId, targetNames: new Set(config.targets.map((t) => t.name)) };
  const reloads = { total: 0, failures: 0, lastOk: 1 as 0 | 1 };

  let server;
  try {
    server = await startServer(config.listen.host, config.listen.port, snapshot, state, log);
  } catch (err) {
    log.fatal({ err }, 'cannot start the HTTP server');
    process.exit(1);
  }
  // The scheduler thread starts once the server listens: the default config probes probex's own /healthz.
  const scheduler = startThread('scheduler', SCHEDULER_URL, { targets: config.targets, threads: config.threads,
    nice: config.backgroundNice, results: results.port1, logLevel: config.log.level, statsIntervalMs: config.publishIntervalMs } satisfies SchedulerInit, log);
  const tell = (msg: SchedulerMessage): void => scheduler.postMessage(msg);
  let schedulerStopped = (): void => {};
  scheduler.on('message', (msg: SchedulerReport) => {
    if (msg.type === 'stopped') schedulerStopped();
  });
  // Main-thread self-metrics go to the publisher once per publish interval.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const statsTimer = setInterval(() => {
    post({ type: 'stats', stats: {
      scrapesTotal: server.counters.scrapes,
      apiRequestsTotal: server.counters.apiRequests,
      eventLoopDelay: { p50: loopDelay.percentile(50) / 1e9, p99: loopDelay.percentile(99) / 1e9, max: loopDelay.max / 1e9 },
      configReloadsTotal: reloads.total,
      configReloadFailuresTotal: reloads.failures,
      configLastReloadSuccessful: reloads.lastOk,
    } });
    loopDelay.reset();
  }, config.publishIntervalMs);

  /** apply makes a loaded config the running one (the main thread's part of a reload). */
  const apply = (next: Config, fromFile: readonly TokenConfig[]): void => {
    if (next.listen.host !== config.listen.host || next.listen.port !== config.listen.port || next.threads !== config.threads
      || next.backgroundNice !== config.backgroundNice) {
      log.warn('listen address, threads and backgroundNice change only on restart; the rest of the new config applies now');
    }
    config = next;
    state.tokens = tokenTable(next, fromFile);
    fileTokenCount = fromFile.length;
    warnIfOpen(next, state.tokens, listenHost, log);
    state.agentId = next.agentId;
    state.targetNames = new Set(next.targets.map((t) => t.name));
    post({ type: 'config', config: next });
    tell({ type: 'targets', targets: next.targets });
    reloads.lastOk = 1;
    log.info({ targets: next.targets.length }, 'config reloaded');
  };
  /**
   * reload re-reads the config (SIGHUP) on a thread of its own, so the main thread keeps serving while
   * it loads. A bad config keeps the running one and is counted, and so is one that would open access
   * without saying auth.open: true (reloadProblems). SIGHUPs during a reload queue one more.
   */
  const reload = coalesce(async () => {
    const result = await loadConfigOffThread(source, config.backgroundNice);
    reloads.total++;
    try {
      if (!result.ok) throw new ConfigError(result.issues);
      for (const warning of result.warnings) log.warn(warning);
      const problems = reloadProblems({ host: listenHost, tokens: state.tokens.size, fileTokens: fileTokenCount }, result);
      if (problems.length > 0) throw new ConfigError(problems);
      apply(result.config, result.fileTokens);
    } catch (err) {
      reloads.failures++;
      reloads.lastOk = 0;
      log.error({ err: err instanceof ConfigError ? { code: err.code, issues: err.issues } : err },
        'config reload failed; the running config stays');
    }
  });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close();
    clearInterval(statsTimer);
    const stopped = await Promise.race([
      new Promise<true>((resolve) => {
        schedulerStopped = () => resolve(true);
        tell({ type: 'stop', graceMs: SHUTDOWN_GRACE_MS });
      }),
      new Promise<false>((r) => setTimeout(() => r(false), SHUTDOWN_GRACE_MS + POOL_CLOSE_MS)),
    ]);
    if (!stopped) log.warn('the scheduler thread did not close the probe pool in time; terminating it');
    await Promise.allSettled([scheduler.terminate(), publisher.terminate()]);
    log.info('bye');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', reload);
  warnIfOpen(config, tokens, listenHost, log);
  // Announce last: whoever waits for this line may signal us at once, and has seen every start-up warning.
  log.info({ host: config.listen.host, port: server.port, targets: config.targets.length, threads: config.threads,
    backgroundNice: config.backgroundNice, config: source.directusEnv ? 'directus environment' : configPath ?? 'embedded default',
    version: VERSION }, 'probex listening');
}

await main();
