/**
 * Logs are JSON lines on stdout (pino), written by the main thread: the background thread relays its
 * records here (log-relay.ts) rather than load a logger of its own. Each line is one write(2) on fd 1.
 * Tokens are never passed to a logger.
 */
import { pino } from 'pino';
import type { Logger } from './log-levels.ts';

export type { Logger };

/** createLogger returns a JSON-lines logger on stdout with `component` bound. */
export function createLogger(level: string, component: string): Logger {
  return pino(
    { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
}
