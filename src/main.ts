/**
 * Composition root: loadConfig → publisher thread → uWS server → scheduler thread (which runs the probe
 * pool) → stats relay; signals to reload (reload.ts) and shutdown (shutdown.ts). The main thread itself
 * only serves HTTP.
 * `probex [--config probex.yaml | --directus-env] [--check-config]`. With no config, the embedded default runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { loadConfigFile, type Config, type LoadedConfig, type TokenConfig } from './config.ts';
import { loadDirectusEnvConfig } from './directus-env.ts';
import { ConfigError } from './errors.ts';
import { TokenTable } from './http/auth.ts';
import { startServer, type ServerState } from './http/server.ts';
import { createLogger, type Logger } from './log.ts';
import type {
  PublisherInit,
  PublisherMessage,
  PublisherReport,
  SchedulerInit,
  SchedulerMessage,
} from './pool/messages.ts';
import { createReload, type ConfigSource } from './reload.ts';
import { createShutdown } from './shutdown.ts';
import { createSnapshotBuffer } from './snapshot/layout.ts';
import { SnapshotReader } from './snapshot/reader.ts';
import { startStatsRelay } from './stats-relay.ts';
import { startThread, workerUrl } from './threads.ts';

const PUBLISHER_URL = workerUrl('publisher-worker');
const SCHEDULER_URL = workerUrl('scheduler-worker');
const VERSION = readVersion();
/**
 * PUBLISHER_YOUNG_GENERATION_MB bounds the publisher's young generation: it renders megabytes per publish
 * and would otherwise let V8 grow it to tens of MB before collecting (RSS, not speed).
 */
const PUBLISHER_YOUNG_GENERATION_MB = 8;

const USAGE = `usage: probex [--config FILE | --directus-env] [--check-config]
       probex run --config FILE --duration 60s --out DIR [--slo "redis:p99<5ms"]   (probex run --help)
  --config FILE     YAML config (env: PROBEX_CONFIG); without it the embedded default runs
  --directus-env    build the targets and the directus profile from a Directus container's environment
                    (DB_CLIENT, REDIS, CACHE_*, STORAGE_*, METRICS_*) instead of a config file
  --check-config    validate the config and exit (0 valid, 2 invalid; every problem at once, warnings on stderr)
env overrides: PROBEX_HOST, PROBEX_PORT, METRICS_TOKENS, PROBEX_TOKEN_FILE, PROBEX_LOG_LEVEL, PROBEX_AGENT_ID, PROBEX_PROFILE`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        'check-config': { type: 'boolean' },
        'directus-env': { type: 'boolean' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) return void process.stdout.write(`${USAGE}\n`);
  if (args.version) return void process.stdout.write(`${VERSION}\n`);
  const configPath = args.config ?? process.env.PROBEX_CONFIG;
  const directusEnv = args['directus-env'] === true;
  if (directusEnv && configPath !== undefined) {
    process.stderr.write(
      `--directus-env builds the whole config from the environment: drop --config (and PROBEX_CONFIG)\n${USAGE}\n`,
    );
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
  const source = directusEnv ? 'the Directus environment' : (configPath ?? 'embedded default config');
  if (args['check-config']) {
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(
      `${source}: valid, ${config.targets.length} targets\n${notes.map((n) => `note: ${n}\n`).join('')}`,
    );
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
  if (config.auth.open)
    log.warn({ host }, 'auth.open: true: /metrics and the JSON API are open to anyone who can reach this address');
  else
    log.warn(
      { host },
      'no tokens configured: /metrics and the JSON API are open to anyone who can reach this address (a loopback address)',
    );
}

/**
 * run wires the running process: the publisher thread, the front end, the scheduler thread (which runs the
 * probe pool), the stats relay, and the signals for reload (src/reload.ts) and shutdown (src/shutdown.ts).
 */
async function run(
  initial: Config,
  initialFileTokens: readonly TokenConfig[],
  source: ConfigSource,
  log: Logger,
): Promise<void> {
  let config = initial;
  // The listen address is the one probex started with: a reload does not move it.
  const listenHost = initial.listen.host;
  let fileTokenCount = initialFileTokens.length;
  const tokens = tokenTable(initial, initialFileTokens);
  // snapshotBytes is the first buffer's size; the publisher hands over a larger one when the snapshot outgrows it.
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const snapshot = new SnapshotReader(snapshotBuffer);
  const startTimeSeconds = Date.now() / 1000;
  // The scheduler thread sends every batch's results (and its stats) to the publisher on this channel.
  const results = new MessageChannel();
  const publisher = startThread(
    'publisher',
    PUBLISHER_URL,
    {
      config,
      snapshot: snapshotBuffer,
      version: VERSION,
      startTimeSeconds,
      results: results.port2,
    } satisfies PublisherInit,
    log,
    { maxYoungGenerationSizeMb: PUBLISHER_YOUNG_GENERATION_MB },
  );
  // Between two requests (this thread serves them all): the reader drops the old buffer for the new one.
  publisher.on('message', (msg: PublisherReport) => snapshot.attach(msg.buffer));
  const post = (msg: PublisherMessage): void => publisher.postMessage(msg);
  const state: ServerState = {
    tokens,
    agentId: config.agentId,
    targetNames: new Set(config.targets.map((t) => t.name)),
  };

  let server;
  try {
    server = await startServer(config.listen.host, config.listen.port, snapshot, state, log);
  } catch (err) {
    log.fatal({ err }, 'cannot start the HTTP server');
    process.exit(1);
  }
  // The scheduler thread starts once the server listens: the default config probes probex's own /healthz.
  const scheduler = startThread(
    'scheduler',
    SCHEDULER_URL,
    {
      targets: config.targets,
      threads: config.threads,
      nice: config.backgroundNice,
      results: results.port1,
      logLevel: config.log.level,
      statsIntervalMs: config.publishIntervalMs,
    } satisfies SchedulerInit,
    log,
  );

  /** apply makes a loaded config the running one (the main thread's part of a reload). */
  const apply = (next: Config, fromFile: readonly TokenConfig[]): void => {
    if (
      next.listen.host !== config.listen.host ||
      next.listen.port !== config.listen.port ||
      next.threads !== config.threads ||
      next.backgroundNice !== config.backgroundNice
    ) {
      log.warn(
        'listen address, threads and backgroundNice change only on restart; the rest of the new config applies now',
      );
    }
    config = next;
    state.tokens = tokenTable(next, fromFile);
    fileTokenCount = fromFile.length;
    warnIfOpen(next, state.tokens, listenHost, log);
    state.agentId = next.agentId;
    state.targetNames = new Set(next.targets.map((t) => t.name));
    post({ type: 'config', config: next });
    scheduler.postMessage({ type: 'targets', targets: next.targets } satisfies SchedulerMessage);
  };
  const { reload, counters: reloads } = createReload(
    {
      source,
      running: () => ({
        host: listenHost,
        tokens: state.tokens.size,
        fileTokens: fileTokenCount,
        nice: config.backgroundNice,
      }),
      apply,
    },
    log,
  );
  const stopRelay = startStatsRelay(
    server.counters,
    reloads,
    (stats) => post({ type: 'stats', stats }),
    config.publishIntervalMs,
  );
  const shutdown = createShutdown({
    server,
    stopRelays: stopRelay,
    scheduler,
    publisher,
    log,
    exit: (code) => process.exit(code),
  });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', reload);
  warnIfOpen(config, tokens, listenHost, log);
  // Announce last: whoever waits for this line may signal us at once, and has seen every start-up warning.
  log.info(
    {
      host: config.listen.host,
      port: server.port,
      targets: config.targets.length,
      threads: config.threads,
      backgroundNice: config.backgroundNice,
      config: source.directusEnv ? 'directus environment' : (source.path ?? 'embedded default'),
      version: VERSION,
    },
    'probex listening',
  );
}

if (process.argv[2] === 'run') {
  // `probex run ...`: a bounded benchmark run (src/run/cli.ts); exit once stdout has drained.
  const code = await (await import('./run/cli.ts')).runCli(process.argv.slice(3));
  process.stdout.write('', () => process.exit(code));
} else {
  await main();
}
