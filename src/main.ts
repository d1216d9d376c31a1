/**
 * Composition root: loadConfig → uWS server → background thread (scheduler, probe pool, publisher; see
 * serve.ts) → stats relay; signals to reload (reload.ts) and shutdown (shutdown.ts). The main thread
 * itself only serves HTTP.
 * `probex [--config probex.yaml | --directus-env] [--check-config]`. With no config, the embedded default runs.
 */
import { parseArgs } from 'node:util';
import type { TokenConfig } from './access.ts';
import type { Config } from './config/schema.ts';
import type { LoadedWebConfig } from './pool/messages.ts';
import { needsNodeTls, type WebConfig } from './config/web-settings.ts';
import { ConfigError } from './errors.ts';
import { createLogger, logFormat, logFormatProblem, type Logger } from './log.ts';
import { createReload, loadConfigOffThread, type ConfigSource } from './process/reload.ts';
import { createShutdown } from './process/shutdown.ts';
import { browsableUrl, startServing, tokenTable, warnIfOpen, type Serving } from './process/serve.ts';
import { startStatsRelay } from './process/stats-relay.ts';
import { VERSION } from './version.ts';

const USAGE = `usage: probex [--config FILE | --directus-env] [--web.config.file FILE] [--check-config]
       probex run --config FILE --duration 60s --out DIR [--slo "redis:p99<5ms"]   (probex run --help)
  --config FILE           YAML config (env: PROBEX_CONFIG); without it the embedded default runs
  --directus-env          build the targets and the directus profile from a Directus container's environment
                          (DB_CLIENT, REDIS, CACHE_*, STORAGE_*, METRICS_*) instead of a config file
  --web.config.file FILE  the Prometheus exporters' web config (TLS, client certificates, basic auth,
                          headers, rate limit; env: PROBEX_WEB_CONFIG_FILE)
  --check-config          validate the config (and web config) and exit (0 valid, 2 invalid; every problem
                          at once, warnings on stderr)
env overrides: PROBEX_HOST, PROBEX_PORT, METRICS_TOKENS, PROBEX_TOKEN_FILE, PROBEX_LOG_LEVEL, PROBEX_AGENT_ID, PROBEX_PROFILE
  PROBEX_LOG_FORMAT=json|pretty   log lines (default: pretty on a terminal, JSON lines elsewhere)`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        'check-config': { type: 'boolean' },
        'directus-env': { type: 'boolean' },
        'web.config.file': { type: 'string' },
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

  const logProblem = logFormatProblem();
  if (logProblem !== undefined) {
    process.stderr.write(`${logProblem}\n`);
    process.exit(2);
  }
  const webConfigPath = args['web.config.file'] ?? process.env.PROBEX_WEB_CONFIG_FILE;
  if (webConfigPath === '') {
    process.stderr.write(`--web.config.file (or PROBEX_WEB_CONFIG_FILE) names no file\n${USAGE}\n`);
    process.exit(2);
  }

  // On a thread of its own, as a reload does: the parser and validator never load in this one.
  const configSource: ConfigSource = {
    ...(directusEnv ? { directusEnv } : { path: configPath }),
    ...(webConfigPath === undefined ? {} : { webConfigPath }),
  };
  const loaded = await loadConfigOffThread(configSource, 0);
  if (!loaded.ok) {
    process.stderr.write(`${new ConfigError(loaded.issues).message}\n`);
    process.exit(2);
  }
  const { config, fileTokens, warnings, notes = [], web } = loaded;
  if (config.targets.some((t) => t.kind === 'sqlite')) {
    const problems = await (await import('./probes/sqlite-check.ts')).sqliteQueryProblems(config.targets);
    if (problems.length > 0) {
      process.stderr.write(`${new ConfigError(problems).message}\n`);
      process.exit(2);
    }
  }
  const source = directusEnv ? 'the Directus environment' : (configPath ?? 'embedded default config');
  if (args['check-config']) {
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(
      `${source}: valid, ${config.targets.length} targets\n${web === undefined ? '' : `${describeWeb(web.config)}\n`}${notes.map((n) => `note: ${n}\n`).join('')}`,
    );
    return;
  }
  const log = createLogger(config.log.level, 'main');
  for (const warning of warnings) log.warn(warning);
  for (const note of notes) log.warn({ note }, 'directus environment: not probed');
  await run(config, fileTokens, web, configSource, log);
}

/** describeWeb says in one line what a valid web config does (for --check-config). */
function describeWeb(web: WebConfig): string {
  const users = Object.keys(web.users).length;
  const nodeTls = web.tls === undefined ? [] : needsNodeTls(web.tls);
  const tls =
    web.tls === undefined
      ? 'no TLS'
      : nodeTls.length === 0
        ? `TLS by uWebSockets.js, client certificates ${web.tls.clientAuth}`
        : `TLS by Node's tls in front of uWebSockets.js (for ${nodeTls.join(', ')})`;
  return `${web.path}: valid, ${tls}, basic-auth users: ${users}${web.rateLimit === undefined ? '' : ', rate limit'}`;
}

/**
 * run wires the running process: the front end and the background thread (serve.ts), the stats relay,
 * and the signals for reload (src/process/reload.ts) and shutdown (src/process/shutdown.ts).
 */
async function run(
  initial: Config,
  initialFileTokens: readonly TokenConfig[],
  initialWeb: LoadedWebConfig | undefined,
  source: ConfigSource,
  log: Logger,
): Promise<void> {
  let config = initial;
  // The listen address is the one probex started with: a reload does not move it.
  const listenHost = initial.listen.host;
  let fileTokenCount = initialFileTokens.length;
  let serving: Serving;
  try {
    serving = await startServing(config, initialFileTokens, log, true, initialWeb);
  } catch (err) {
    log.fatal({ err }, 'cannot start the HTTP server');
    process.exit(1);
  }
  const { server, background, state, post, web } = serving;

  /** apply makes a loaded config the running one (the main thread's part of a reload). */
  const apply = (next: Config, fromFile: readonly TokenConfig[], nextWeb: LoadedWebConfig | undefined): void => {
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
    state.profile = next.profile;
    const restartOnly = web.reload(nextWeb, state);
    if (restartOnly !== undefined) log.warn(restartOnly);
    warnIfOpen(next, state, web.requiresClientCertificates, listenHost, log);
    state.agentId = next.agentId;
    state.targetNames = new Set(next.targets.map((t) => t.name));
    post({ type: 'config', config: next });
  };
  const { reload, counters: reloads } = createReload(
    {
      source,
      running: () => ({
        host: listenHost,
        tokens: state.tokens.size,
        fileTokens: fileTokenCount,
        basicUsers: state.basic?.size ?? 0,
        clientCertificates: web.requiresClientCertificates,
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
    () => web.stats(),
  );
  const shutdown = createShutdown({
    server,
    stopRelays: () => {
      stopRelay();
      web.stop();
    },
    background,
    log,
    exit: (code) => process.exit(code),
  });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', reload);
  warnIfOpen(config, state, web.requiresClientCertificates, listenHost, log);
  const url = browsableUrl(server.tls === 'http' ? 'http' : 'https', listenHost, server.port);
  // A person at a terminal gets the addresses to open; JSON lines carry them as fields of the next line.
  if (logFormat() === 'pretty') log.info(`status page ${url} · metrics ${url}metrics`);
  // Announce last: whoever waits for this line may signal us at once, and has seen every start-up warning.
  log.info(
    {
      host: config.listen.host,
      port: server.port,
      targets: config.targets.length,
      threads: config.threads,
      backgroundNice: config.backgroundNice,
      config: source.directusEnv ? 'directus environment' : (source.path ?? 'embedded default'),
      ...(source.webConfigPath === undefined
        ? {}
        : {
            webConfig: source.webConfigPath,
            tls: server.tls,
            ...(initialWeb?.config.tls === undefined || server.tls !== 'node-tls'
              ? {}
              : { nodeTlsFor: needsNodeTls(initialWeb.config.tls) }),
            basicAuthUsers: state.basic?.size ?? 0,
          }),
      version: VERSION,
      uws: server.uws,
      url,
      metrics: `${url}metrics`,
    },
    'probex listening',
  );
}

if (process.argv[2] === 'run') {
  // `probex run ...`: a bounded benchmark run (src/benchmark/cli.ts); exit once stdout has drained.
  const code = await (await import('./benchmark/cli.ts')).runCli(process.argv.slice(3));
  process.stdout.write('', () => process.exit(code));
} else {
  await main();
}
