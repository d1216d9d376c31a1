/**
 * Starting probex: the background thread (scheduler, probe pool and publisher; workers/background-worker.ts),
 * the snapshot it fills, and the uWS front end that reads it. `probex run --listen` starts the same without
 * the scheduler (`schedule: false`): the run schedules on its own and sends its results to `results`.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { TokenConfig } from '../access.ts';
import type { Config } from '../config/schema.ts';
import { TokenTable } from '../http/auth.ts';
import { BasicAuth, type BasicAuthStats } from '../http/basic-auth.ts';
import { TokenBucket } from '../http/rate-limit.ts';
import { setCommonHeaders } from '../http/respond.ts';
import { startServer, type RunningServer, type ServerState } from '../http/server.ts';
import type { Logger } from '../log.ts';
import type { WebStats } from '../metrics/model.ts';
import type { BackgroundInit, BackgroundMessage, BackgroundReport, LoadedWebConfig } from '../pool/messages.ts';
import { NativeServerError } from '../errors.ts';
import type { TlsMaterial } from '../http/tls-material.ts';
import { watchTls, type TlsRotation } from '../http/tls-rotation.ts';
import type { RateLimit, TlsSettings } from '../config/web-settings.ts';
import { createSnapshotBuffer } from '../snapshot/layout.ts';
import { SnapshotReader } from '../snapshot/reader.ts';
import { startThread, workerUrl } from './threads.ts';
import { VERSION } from '../version.ts';

const BACKGROUND_URL = workerUrl('background-worker');
/**
 * BACKGROUND_YOUNG_GENERATION_MB bounds the background thread's young generation: the publisher renders
 * megabytes per publish and would otherwise let V8 grow it to tens of MB before collecting (RSS, not speed).
 */
const BACKGROUND_YOUNG_GENERATION_MB = 8;

/** Serving is a running background thread and front end. */
export interface Serving {
  readonly server: RunningServer;
  readonly background: Worker;
  /** state is what a reload swaps in place: tokens, basic auth, rate limit, agent id, target names. */
  readonly state: ServerState;
  /** web is the web config in force, with what follows it (applyWeb keeps it current). */
  readonly web: WebRuntime;
  /** results is where a scheduler of the caller's own sends its results (only with `schedule: false`). */
  readonly results: MessagePort | undefined;
  post(msg: BackgroundMessage): void;
}

/** tokenTable holds the config's tokens and those of its token file. */
export function tokenTable(config: Config, fromFile: readonly TokenConfig[]): TokenTable {
  return new TokenTable([...config.auth.tokens, ...fromFile]);
}

/**
 * startServing starts the front end on `config.listen`, then the background thread; with `schedule` the
 * background thread also probes the config's targets. A failure to listen rejects.
 */
export async function startServing(
  config: Config,
  fileTokens: readonly TokenConfig[],
  log: Logger,
  schedule: boolean,
  web?: LoadedWebConfig,
): Promise<Serving> {
  // snapshotBytes is the first buffer's size; the publisher hands over a larger one when the snapshot outgrows it.
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const snapshot = new SnapshotReader(snapshotBuffer);
  const state: ServerState = {
    tokens: tokenTable(config, fileTokens),
    profile: config.profile,
    basic: undefined,
    rateLimit: undefined,
    agentId: config.agentId,
    targetNames: new Set(config.targets.map((t) => t.name)),
  };
  const runtime = new WebRuntime(web);
  runtime.applyAuth(state);
  const tls = web?.config.tls;
  // The front end listens first (answering 503 until the first publish): the default config probes
  // probex's own /healthz, whose first probe must find it.
  const server = await startServer(
    config.listen.host,
    config.listen.port,
    snapshot,
    state,
    log,
    tls === undefined || web?.material === undefined ? undefined : { settings: tls, material: web.material },
  );
  if (tls !== undefined && web?.material !== undefined) runtime.watch(tls, web.material, server, log);
  const results = schedule ? undefined : new MessageChannel();
  const background = startThread(
    'background',
    BACKGROUND_URL,
    {
      config,
      snapshot: snapshotBuffer,
      version: VERSION,
      startTimeSeconds: Date.now() / 1000,
      ...(results === undefined ? {} : { results: results.port2 }),
    } satisfies BackgroundInit,
    log,
    { maxYoungGenerationSizeMb: BACKGROUND_YOUNG_GENERATION_MB },
  );
  // Between two requests (this thread serves them all): the reader drops the old buffer for the new one.
  background.on('message', (msg: BackgroundReport) => {
    if (msg.type === 'snapshot-buffer') snapshot.attach(msg.buffer);
  });
  return {
    server,
    background,
    state,
    web: runtime,
    results: results?.port1,
    post: (msg) => background.postMessage(msg),
  };
}

/**
 * WebRuntime is the web config in force and what follows from it: the basic-auth users and rate limit
 * (their counters kept across reloads), the security headers, and the certificate watcher.
 */
class WebRuntime {
  #web: LoadedWebConfig | undefined;
  #rotation: TlsRotation | undefined;
  readonly #basicStats: BasicAuthStats = { checks: 0, busy: 0 };
  readonly #rateStats = { limited: 0 };

  /** requiresClientCertificates: the listener demands a verified client certificate (fixed until restart). */
  readonly requiresClientCertificates: boolean;

  constructor(web: LoadedWebConfig | undefined) {
    this.#web = web;
    this.requiresClientCertificates = web?.config.tls?.clientAuth === 'RequireAndVerifyClientCert';
  }

  /** config is the web config in force. */
  get config(): LoadedWebConfig['config'] | undefined {
    return this.#web?.config;
  }

  /** applyAuth puts the web config's users, rate limit and headers into the front end's state. */
  applyAuth(state: ServerState, previous?: LoadedWebConfig['config']): void {
    const next = this.#web?.config;
    const users = next?.users ?? {};
    if (previous === undefined || JSON.stringify(previous.users) !== JSON.stringify(users) || state.basic === undefined)
      state.basic = Object.keys(users).length === 0 ? undefined : new BasicAuth(users, undefined, this.#basicStats);
    if (previous === undefined || !sameRateLimit(previous.rateLimit, next?.rateLimit))
      state.rateLimit =
        next?.rateLimit === undefined
          ? undefined
          : new TokenBucket(next.rateLimit.intervalMs, next.rateLimit.burst, this.#rateStats);
    setCommonHeaders(next?.headers ?? []);
  }

  /** watch starts re-reading the certificate files. */
  watch(settings: TlsSettings, material: TlsMaterial, server: RunningServer, log: Logger): void {
    this.#rotation = watchTls(
      settings,
      material,
      (next) => {
        try {
          server.rotate(next);
        } catch (err) {
          if (!(err instanceof NativeServerError)) throw err;
          // The port was lost while moving it to the new certificate: exit, so the supervisor restarts probex.
          log.fatal({ err }, 'cannot listen any more; exiting');
          process.exit(1);
        }
      },
      log,
    );
  }

  /**
   * reload makes `web` the web config in force. The TLS settings other than the files' contents (and
   * whether there is TLS at all) change only on restart: their returned description is logged.
   */
  reload(web: LoadedWebConfig | undefined, state: ServerState): string | undefined {
    const previous = this.#web?.config;
    this.#web = web;
    this.applyAuth(state, previous);
    const before = previous?.tls;
    const after = web?.config.tls;
    if (before === undefined && after === undefined) return undefined;
    if (
      before === undefined ||
      after === undefined ||
      tlsShape(before) !== tlsShape(after) ||
      this.#rotation === undefined
    )
      return 'tls_server_config (other than the files it names and their contents) changes only on restart; the running TLS settings stay';
    this.#rotation.replace(after, web!.material!);
    return undefined;
  }

  /** stats are the web config's self-metrics, or undefined without a web config. */
  stats(): WebStats | undefined {
    if (this.#web === undefined) return undefined;
    const r = this.#rotation?.stats;
    return {
      ...(r === undefined
        ? {}
        : { tls: { reloadsTotal: r.reloads, reloadFailuresTotal: r.failures, notAfterSeconds: r.notAfterSeconds } }),
      rateLimitedTotal: this.#rateStats.limited,
      basicAuthChecksTotal: this.#basicStats.checks,
      basicAuthBusyTotal: this.#basicStats.busy,
    };
  }

  stop(): void {
    this.#rotation?.stop();
  }
}

function sameRateLimit(a: RateLimit | undefined, b: RateLimit | undefined): boolean {
  return a?.intervalMs === b?.intervalMs && a?.burst === b?.burst;
}

/** tlsShape is what of the TLS settings a listener is built with, apart from the PEMs. */
function tlsShape(t: TlsSettings): string {
  const { cert: _cert, key: _key, clientCa, ...shape } = t;
  return JSON.stringify({ ...shape, clientCa: clientCa !== undefined });
}

/**
 * warnIfOpen says so when no credential guards the routes: on loopback by default, elsewhere by
 * auth.open. Basic-auth users and required client certificates guard them as tokens do.
 */
export function warnIfOpen(config: Config, state: ServerState, guarded: boolean, host: string, log: Logger): void {
  const { tokens } = state;
  if (!tokens.open || state.basic !== undefined || guarded) return;
  if (config.auth.open)
    log.warn({ host }, 'auth.open: true: /metrics and the JSON API are open to anyone who can reach this address');
  else
    log.warn(
      { host },
      'no tokens configured: /metrics and the JSON API are open to anyone who can reach this address (a loopback address)',
    );
}

/**
 * browsableUrl is where a person on this machine opens probex: a wildcard listen address becomes the
 * loopback of its family, and an IPv6 address is bracketed.
 */
export function browsableUrl(scheme: 'http' | 'https', host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${scheme}://${name.includes(':') ? `[${name}]` : name}:${port}/`;
}
