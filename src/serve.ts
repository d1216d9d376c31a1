/**
 * Starting probex: the background thread (scheduler, probe pool and publisher; workers/background-worker.ts),
 * the snapshot it fills, and the uWS front end that reads it. `probex run --listen` starts the same without
 * the scheduler (`schedule: false`): the run schedules on its own and sends its results to `results`.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Config, TokenConfig } from './config.ts';
import { TokenTable } from './http/auth.ts';
import { startServer, type RunningServer, type ServerState } from './http/server.ts';
import type { Logger } from './log.ts';
import type { BackgroundInit, BackgroundMessage, BackgroundReport } from './pool/messages.ts';
import { createSnapshotBuffer } from './snapshot/layout.ts';
import { SnapshotReader } from './snapshot/reader.ts';
import { startThread, workerUrl } from './threads.ts';
import { VERSION } from './version.ts';

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
  /** state is what a reload swaps in place: tokens, agent id, target names. */
  readonly state: ServerState;
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
): Promise<Serving> {
  // snapshotBytes is the first buffer's size; the publisher hands over a larger one when the snapshot outgrows it.
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const snapshot = new SnapshotReader(snapshotBuffer);
  const state: ServerState = {
    tokens: tokenTable(config, fileTokens),
    agentId: config.agentId,
    targetNames: new Set(config.targets.map((t) => t.name)),
  };
  // The front end listens first (answering 503 until the first publish): the default config probes
  // probex's own /healthz, whose first probe must find it.
  const server = await startServer(config.listen.host, config.listen.port, snapshot, state, log);
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
    results: results?.port1,
    post: (msg) => background.postMessage(msg),
  };
}

/** warnIfOpen says so when no token guards the routes: on loopback by default, elsewhere by auth.open. */
export function warnIfOpen(config: Config, tokens: TokenTable, host: string, log: Logger): void {
  if (!tokens.open) return;
  if (config.auth.open)
    log.warn({ host }, 'auth.open: true: /metrics and the JSON API are open to anyone who can reach this address');
  else
    log.warn(
      { host },
      'no tokens configured: /metrics and the JSON API are open to anyone who can reach this address (a loopback address)',
    );
}
