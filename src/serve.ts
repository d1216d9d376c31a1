/**
 * The serving half of probex: the publisher thread, the snapshot it fills, and the uWS front end that
 * reads it. The exporter (main.ts) feeds it from its scheduler thread; `probex run --listen` from the
 * run's own scheduler. Whoever holds `results` sends every batch's ProbeResults (and the scheduler's
 * stats) there; the publisher renders them once per publish interval.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Config, TokenConfig } from './config.ts';
import { TokenTable } from './http/auth.ts';
import { startServer, type RunningServer, type ServerState } from './http/server.ts';
import type { Logger } from './log.ts';
import type { PublisherInit, PublisherMessage, PublisherReport } from './pool/messages.ts';
import { createSnapshotBuffer } from './snapshot/layout.ts';
import { SnapshotReader } from './snapshot/reader.ts';
import { startThread, workerUrl } from './threads.ts';

const PUBLISHER_URL = workerUrl('publisher-worker');
/**
 * PUBLISHER_YOUNG_GENERATION_MB bounds the publisher's young generation: it renders megabytes per publish
 * and would otherwise let V8 grow it to tens of MB before collecting (RSS, not speed).
 */
const PUBLISHER_YOUNG_GENERATION_MB = 8;

/** Serving is a running publisher thread and front end. */
export interface Serving {
  readonly server: RunningServer;
  readonly publisher: Worker;
  /** state is what a reload swaps in place: tokens, agent id, target names. */
  readonly state: ServerState;
  /** results is the port the probe results and the scheduler's stats go to; move it to the thread that sends them. */
  readonly results: MessagePort;
  post(msg: PublisherMessage): void;
}

/** tokenTable holds the config's tokens and those of its token file. */
export function tokenTable(config: Config, fromFile: readonly TokenConfig[]): TokenTable {
  return new TokenTable([...config.auth.tokens, ...fromFile]);
}

/**
 * startServing starts the publisher thread and the front end on `config.listen`. A failure to listen
 * rejects (the publisher thread is ended first).
 */
export async function startServing(
  config: Config,
  fileTokens: readonly TokenConfig[],
  version: string,
  log: Logger,
): Promise<Serving> {
  // snapshotBytes is the first buffer's size; the publisher hands over a larger one when the snapshot outgrows it.
  const snapshotBuffer = createSnapshotBuffer(config.snapshotBytes);
  const snapshot = new SnapshotReader(snapshotBuffer);
  const results = new MessageChannel();
  const publisher = startThread(
    'publisher',
    PUBLISHER_URL,
    {
      config,
      snapshot: snapshotBuffer,
      version,
      startTimeSeconds: Date.now() / 1000,
      results: results.port2,
    } satisfies PublisherInit,
    log,
    { maxYoungGenerationSizeMb: PUBLISHER_YOUNG_GENERATION_MB },
  );
  // Between two requests (this thread serves them all): the reader drops the old buffer for the new one.
  publisher.on('message', (msg: PublisherReport) => snapshot.attach(msg.buffer));
  const state: ServerState = {
    tokens: tokenTable(config, fileTokens),
    agentId: config.agentId,
    targetNames: new Set(config.targets.map((t) => t.name)),
  };
  let server: RunningServer;
  try {
    server = await startServer(config.listen.host, config.listen.port, snapshot, state, log);
  } catch (err) {
    await publisher.terminate();
    results.port1.close();
    throw err;
  }
  return {
    server,
    publisher,
    state,
    results: results.port1,
    post: (msg) => publisher.postMessage(msg),
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
