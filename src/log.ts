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
 * RateLimitedLog keeps a dead or flapping dependency, probed many times a second, from flooding the log.
 * Per key it writes a failure at once unless it wrote a line for that key within the last `everyMs`, and
 * a recovery at once after a logged failure. So a key writes at most two lines per window however it
 * flaps, and every failure it held back is counted in `suppressed` on that key's next line. (A flap whose
 * last failure is followed only by successes leaves its count to the metrics, which have every failure.)
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, {
    /** lineAtMs is when this key last wrote a line (failure or recovery). */
    lineAtMs: number;
    /** suppressed counts failures held back since that line. */
    suppressed: number;
    /** failing is the key's current state: its latest reported run failed. */
    failing: boolean;
    /** saidFailing is what the log last said: a failure line that no recovery line has answered yet. */
    saidFailing: boolean;
  }>();

  constructor(private readonly log: Logger, private readonly everyMs = 60_000) {}

  /** failure logs a probe failure for key, unless key wrote a line within the window: then it counts it. */
  failure(key: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    const entry = this.keys.get(key);
    if (entry !== undefined && nowMs - entry.lineAtMs < this.everyMs) {
      entry.suppressed++;
      entry.failing = true;
      return;
    }
    this.log.warn({ ...fields, suppressed: entry?.suppressed ?? 0 }, msg);
    this.keys.set(key, { lineAtMs: nowMs, suppressed: 0, failing: true, saidFailing: true });
  }

  /**
   * recovered logs the first success after a logged failure, with the failures held back since. A success
   * that ends a flap inside the window writes nothing: the log already says the key recovered.
   */
  recovered(key: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    const entry = this.keys.get(key);
    if (entry === undefined || !entry.failing) return;
    entry.failing = false;
    if (!entry.saidFailing && nowMs - entry.lineAtMs < this.everyMs) return;
    this.log.info({ ...fields, suppressed: entry.suppressed }, msg);
    Object.assign(entry, { lineAtMs: nowMs, suppressed: 0, saidFailing: false });
  }

  /** retain forgets every key not in keys (targets removed on reload). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.keys.keys()) if (!keys.has(key)) this.keys.delete(key);
  }
}
