/**
 * Logs are JSON lines on stdout (pino). Every thread makes its own logger; each line is one write(2)
 * on fd 1, so lines from different threads never interleave. Tokens are never passed to a logger.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** createLogger returns a JSON-lines logger on stdout with `component` bound. */
export function createLogger(level: string, component: string): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }));
}

/**
 * RateLimitedLog logs a key's message at most once per `everyMs`, counting what it held back, so a
 * dead dependency probed 10 times a second cannot flood the log. State changes are logged at once.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number; failing: boolean }>();

  constructor(private readonly log: Logger, private readonly everyMs = 60_000) {}

  /** failure logs a probe failure for key, rate-limited; the first failure after success is always logged. */
  failure(key: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    const entry = this.last.get(key);
    if (entry !== undefined && entry.failing && nowMs - entry.atMs < this.everyMs) {
      entry.suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed: entry?.suppressed ?? 0 }, msg);
    this.last.set(key, { atMs: nowMs, suppressed: 0, failing: true });
  }

  /** recovered logs the first success after failures. */
  recovered(key: string, fields: Record<string, unknown>, msg: string): void {
    const entry = this.last.get(key);
    if (entry === undefined || !entry.failing) return;
    this.log.info({ ...fields, suppressed: entry.suppressed }, msg);
    this.last.set(key, { atMs: 0, suppressed: 0, failing: false });
  }

  /** forget drops keys that no longer exist (removed targets). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!keys.has(key)) this.last.delete(key);
  }
}
