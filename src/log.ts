/**
 * Logs are JSON lines on stdout (pino), or readable lines when stdout is a terminal (pino-pretty, loaded
 * only then); PROBEX_LOG_FORMAT=json|pretty overrides. Every thread makes its own logger; each line is one
 * write(2) on fd 1, so lines from different threads never interleave. Tokens are never passed to a logger.
 */
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** LOG_FORMATS are PROBEX_LOG_FORMAT's values. */
const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * logFormat is PROBEX_LOG_FORMAT when it names a format, else pretty on a terminal and JSON lines
 * elsewhere (containers, CI, a pipe); empty is unset. An unknown value is JSON: logFormatProblem says so at start.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const asked = env.PROBEX_LOG_FORMAT || undefined;
  if (asked === 'json' || asked === 'pretty') return asked;
  return asked === undefined && isatty(1) ? 'pretty' : 'json';
}

/** logFormatProblem names a PROBEX_LOG_FORMAT that is neither json nor pretty. */
export function logFormatProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const asked = env.PROBEX_LOG_FORMAT || undefined;
  return asked === undefined || (LOG_FORMATS as readonly string[]).includes(asked)
    ? undefined
    : `PROBEX_LOG_FORMAT: must be json or pretty, not ${JSON.stringify(asked)}`;
}

/** createLogger returns a logger on stdout with `component` bound, in logFormat()'s format. */
export function createLogger(level: string, component: string): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, destination());
}

function destination(): DestinationStream {
  if (logFormat() === 'json') return pino.destination({ dest: 1, sync: true });
  // pino-pretty is CommonJS; required here so that JSON-lines processes never load it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => DestinationStream;
  return pretty({
    destination: 1,
    sync: true,
    colorize: isatty(1),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    messageFormat: '{component}: {msg}',
    singleLine: true,
  });
}

/** LogState is what the log last told about a key: healthy, failing (with a reason), or flapping. */
type LogState = 'ok' | 'failing' | 'flapping';

/** KeyLog is RateLimitedLog's record of one key. */
interface KeyLog {
  /** said is what the log last told about the key; reason goes with 'failing'. */
  said: LogState;
  reason: string;
  /** lastLineMs is when the key last wrote a line. */
  lastLineMs: number;
  /** windowStartMs and changes count the state-change lines written in the current window. */
  windowStartMs: number;
  changes: number;
  /** suppressed counts failures held back since the key's last line. */
  suppressed: number;
}

/**
 * RateLimitedLog logs what a dependency probed many times a second does without flooding the log. Per key
 * (a target) the log tells a state, and a change of that state is written at once: the first failure of
 * an outage (the key's first, or the first after a recovery), a failure with a different reason, and the
 * recovery. Repeats within one outage (the same reason) are written at most once per `everyMs`, and every
 * failure held back is counted in `suppressed` on the key's next line.
 *
 * A key that changes state more than `burst` times within `everyMs` is flapping: one line says so, and its
 * changes wait until `everyMs` has passed since the first of them; the key's next line then tells the state
 * it is in. So a key writes at most `burst` + 1 lines per window whatever it does, and a few outages a
 * minute are each logged as they start and as they end.
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, KeyLog>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 60_000,
    private readonly burst = 4,
  ) {}

  /** failure logs a failure of key with reason: at once when it changes what the log says, else rate-limited. */
  failure(key: string, reason: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    let entry = this.keys.get(key);
    if (entry === undefined) {
      entry = { said: 'ok', reason: '', lastLineMs: -Infinity, windowStartMs: -Infinity, changes: 0, suppressed: 0 };
      this.keys.set(key, entry);
    }
    if (entry.said === 'failing' && entry.reason === reason) {
      // A repeat within the outage the log already tells.
      if (nowMs - entry.lastLineMs < this.everyMs) {
        entry.suppressed++;
        return;
      }
    } else if (!this.#mayChange(entry, fields, nowMs)) {
      entry.suppressed++;
      return;
    }
    entry.said = 'failing';
    entry.reason = reason;
    this.#write(entry, 'warn', fields, msg, nowMs);
  }

  /** recovered logs a success of key when the log says it is failing or flapping; otherwise it writes nothing. */
  recovered(key: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    const entry = this.keys.get(key);
    if (entry === undefined || entry.said === 'ok' || !this.#mayChange(entry, fields, nowMs)) return;
    entry.said = 'ok';
    entry.reason = '';
    this.#write(entry, 'info', fields, msg, nowMs);
  }

  /** retain forgets every key not in keys (targets removed on reload). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.keys.keys()) if (!keys.has(key)) this.keys.delete(key);
  }

  /**
   * #mayChange spends one of the window's state-change lines and says whether one was left. When none is,
   * the first refusal writes the flapping line instead (once per window), so the log never keeps telling a
   * state the key has left without saying that it flaps.
   */
  #mayChange(entry: KeyLog, fields: Record<string, unknown>, nowMs: number): boolean {
    if (nowMs - entry.windowStartMs >= this.everyMs) {
      entry.windowStartMs = nowMs;
      entry.changes = 0;
    }
    if (entry.changes < this.burst) {
      entry.changes++;
      return true;
    }
    if (entry.said !== 'flapping') {
      entry.said = 'flapping';
      entry.reason = '';
      const waitS = Math.ceil((entry.windowStartMs + this.everyMs - nowMs) / 1000);
      this.#write(
        entry,
        'warn',
        fields,
        `probe flapping: more than ${this.burst} failures and recoveries within ${this.everyMs / 1000}s; ` +
          `the next ones are held back for ${waitS}s (the metrics count every probe)`,
        nowMs,
      );
    }
    return false;
  }

  #write(entry: KeyLog, level: 'warn' | 'info', fields: Record<string, unknown>, msg: string, nowMs: number): void {
    this.log[level]({ ...fields, suppressed: entry.suppressed }, msg);
    entry.lastLineMs = nowMs;
    entry.suppressed = 0;
  }
}
