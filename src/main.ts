/**
 * Composition root: loadConfig → publisher thread + probe pool → scheduler → uWS server; signals.
 * `probex [--config probex.yaml] [--check-config]`. With no config, the embedded default runs.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadConfigFile, readTokenFile, type Config } from './config.ts';
import { ConfigError } from './errors.ts';
import { TokenTable } from './http/auth.ts';
import { startServer, type ServerState } from './http/server.ts';
import { createLogger, type Logger } from './log.ts';
import type { PublisherInit, PublisherMessage } from './pool/messages.ts';
import { createProbePool } from './pool/probe-pool.ts';
import { Scheduler } from './scheduler.ts';
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

const PUBLISHER_URL = new URL(`../workers/publisher-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
const VERSION = readVersion();
/**
 * PUBLISHER_YOUNG_GENERATION_MB bounds the publisher's young generation: it renders megabytes per publish
 * and would otherwise let V8 grow it to tens of MB before collecting (RSS, not speed).
 */
const PUBLISHER_YOUNG_GENERATION_MB = 8;
/** SHUTDOWN_GRACE_MS bounds how long SIGTERM waits for probe rounds in flight before closing the pool. */
const SHUTDOWN_GRACE_MS = 500;

const USAGE = `usage: probex [--config FILE] [--check-config]
  --config FILE     YAML config (env: PROBEX_CONFIG); without it the embedded default runs
  --check-config    validate the config and exit (0 valid, 2 invalid)
env overrides: PROBEX_HOST, PROBEX_PORT, METRICS_TOKENS, PROBEX_TOKEN_FILE, PROBEX_LOG_LEVEL, PROBEX_AGENT_ID, PROBEX_PROFILE`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, 'check-config': { type: 'boolean' },
      help: { type: 'boolean' }, version: { type: 'boolean' } } }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) return void process.stdout.write(`${USAGE}\n`);
  if (args.version) return void process.stdout.write(`${VERSION}\n`);
  const configPath = args.config ?? process.env.PROBEX_CONFIG;

  let config: Config;
  let tokens: TokenTable;
  try {
    config = loadConfigFile(configPath);
    tokens = tokenTable(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  if (args['check-config']) {
    process.stdout.write(`${configPath ?? 'embedded default config'}: valid, ${config.targets.length} targets\n`);
    return;
  }
  await run(config, tokens, configPath, createLogger(config.log.level, 'main'));
}

/** readVersion reads probex's version from package.json: `../` from src/, `../../` from the build in dist/src/. */
function readVersion(): string {
  for (const up of ['../', '../../']) {
    const url = new URL(`${up}package.json`, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

function tokenTable(config: Config): TokenTable {
  const fromFile = config.auth.tokenFile === undefined ? [] : readTokenFile(config.auth.tokenFile);
  return new TokenTable([...config.auth.tokens, ...fromFile]);
}

async function run(initial: Config, tokens: TokenTable, configPath: string | undefined, log: Logger): Promise<void> {
  let config = initial;
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const startTimeSeconds = Date.now() / 1000;
  // Probe workers post their results straight to the publisher on this channel (one per process).
  const resultsChannel = `probex-results-${randomUUID()}`;
  const publisher = new Worker(workerBootstrap(PUBLISHER_URL), {
    eval: true,
    resourceLimits: { maxYoungGenerationSizeMb: PUBLISHER_YOUNG_GENERATION_MB },
    workerData: { config, snapshot: snapshotBuffer, version: VERSION, startTimeSeconds, resultsChannel } satisfies PublisherInit,
  });
  const post = (msg: PublisherMessage): void => publisher.postMessage(msg);
  publisher.on('error', (err) => {
    log.fatal({ err }, 'publisher thread failed; exiting so the supervisor restarts probex');
    process.exit(1);
  });

  const pool = createProbePool(config.threads, resultsChannel);
  const scheduler = new Scheduler(pool, (names, result) => post({ type: 'results', names, result }), config.threads, log);
  const state: ServerState = { tokens, agentId: config.agentId, targetNames: new Set(config.targets.map((t) => t.name)) };
  const reloads = { total: 0, failures: 0, lastOk: 1 as 0 | 1 };

  let server;
  try {
    server = await startServer(config.listen.host, config.listen.port, new SnapshotReader(snapshotBuffer), state, log);
  } catch (err) {
    log.fatal({ err }, 'cannot start the HTTP server');
    process.exit(1);
  }
  scheduler.start(config.targets);
  // Main-thread self-metrics go to the publisher once per publish interval (event-loop delay per interval).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const statsTimer = setInterval(() => {
    const poolStats = pool.stats();
    post({ type: 'stats', stats: {
      scrapesTotal: server.counters.scrapes,
      apiRequestsTotal: server.counters.apiRequests,
      eventLoopDelay: { p50: loopDelay.percentile(50) / 1e9, p99: loopDelay.percentile(99) / 1e9, max: loopDelay.max / 1e9 },
      poolThreads: poolStats.threads,
      poolUtilization: poolStats.utilization,
      poolQueueSize: poolStats.queueSize,
      probesSkippedTotal: scheduler.probesSkipped,
      configReloadsTotal: reloads.total,
      configReloadFailuresTotal: reloads.failures,
      configLastReloadSuccessful: reloads.lastOk,
    } });
    loopDelay.reset();
  }, config.publishIntervalMs);

  /** reload re-reads the config (SIGHUP). A bad config keeps the running one and is counted. */
  const reload = (): void => {
    reloads.total++;
    try {
      const next = loadConfigFile(configPath);
      const nextTokens = tokenTable(next);
      if (next.listen.host !== config.listen.host || next.listen.port !== config.listen.port || next.threads !== config.threads) {
        log.warn('listen address and threads change only on restart; the rest of the new config applies now');
      }
      config = next;
      state.tokens = nextTokens;
      state.agentId = next.agentId;
      state.targetNames = new Set(next.targets.map((t) => t.name));
      post({ type: 'config', config: next });
      scheduler.start(next.targets);
      reloads.lastOk = 1;
      log.info({ targets: next.targets.length }, 'config reloaded');
    } catch (err) {
      reloads.failures++;
      reloads.lastOk = 0;
      log.error({ err: err instanceof ConfigError ? { code: err.code, issues: err.issues } : err },
        'config reload failed; the running config stays');
    }
  };

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close();
    clearInterval(statsTimer);
    await Promise.race([scheduler.stop(), new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS))]);
    await Promise.allSettled([pool.close(), publisher.terminate()]);
    log.info('bye');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', reload);
  if (tokens.open) {
    log.warn({ host: config.listen.host }, 'no tokens configured: /metrics and the JSON API are open to anyone who can reach this address');
  }
  // Announce last: whoever waits for this line may signal us at once, and has seen every start-up warning.
  log.info({ host: config.listen.host, port: server.port, targets: config.targets.length, threads: config.threads,
    config: configPath ?? 'embedded default', version: VERSION }, 'probex listening');
}

await main();
