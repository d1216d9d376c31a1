/**
 * Shutdown (SIGTERM, SIGINT), in order: stop listening (scrapes in flight finish), stop the stats relay,
 * let the background thread give the probe rounds in flight their grace and close its pool, then end it
 * and exit 0. A background thread that does not answer in time is terminated all the same: shutdown is
 * bounded.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { BackgroundMessage, BackgroundReport } from '../pool/messages.ts';

/** SHUTDOWN_GRACE_MS bounds how long shutdown waits for probe rounds in flight before closing the pool. */
const SHUTDOWN_GRACE_MS = 500;
/** POOL_CLOSE_MS bounds how long shutdown then waits for the background thread to close the pool and answer. */
const POOL_CLOSE_MS = 1_000;

/** ShutdownParts are what shutdown stops, in this order. */
export interface ShutdownParts {
  readonly server: { close(): void };
  /** stopRelays stops the timers that post to the threads (the stats relay). */
  readonly stopRelays: () => void;
  readonly background: Worker;
  readonly log: Logger;
  /** exit ends the process (process.exit). */
  readonly exit: (code: number) => void;
}

/**
 * stopBackground tells the background thread to stop (grace `graceMs`) and resolves true once it answers
 * `stopped`, false if it has not within graceMs + closeMs.
 */
export function stopBackground(background: Worker, graceMs: number, closeMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      background.off('message', onMessage);
      resolve(false);
    }, graceMs + closeMs);
    const onMessage = (msg: BackgroundReport): void => {
      if (msg.type !== 'stopped') return;
      clearTimeout(timer);
      background.off('message', onMessage);
      resolve(true);
    };
    background.on('message', onMessage);
    background.postMessage({ type: 'stop', graceMs } satisfies BackgroundMessage);
  });
}

/** createShutdown returns the signal handler; a second signal while shutting down is ignored. */
export function createShutdown(parts: ShutdownParts): (signal: string) => Promise<void> {
  let stopping = false;
  return async (signal) => {
    if (stopping) return;
    stopping = true;
    const { log } = parts;
    log.info({ signal }, 'shutting down');
    parts.server.close();
    parts.stopRelays();
    if (!(await stopBackground(parts.background, SHUTDOWN_GRACE_MS, POOL_CLOSE_MS))) {
      log.warn('the background thread did not close the probe pool in time; terminating it');
    }
    await parts.background.terminate();
    log.info('bye');
    parts.exit(0);
  };
}
