/**
 * The log levels and the Logger every module writes to, without a logging library: pino's loggers
 * (log.ts) are Loggers, and so is the background thread's relay (log-relay.ts).
 */

/** LOG_LEVELS are pino's levels, fatal to trace, and silent: `log.level` and PROBEX_LOG_LEVEL take one of them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** WritingLevel is a level a record is written at (every level but silent). */
export type WritingLevel = Exclude<LogLevel, 'silent'>;

/** LEVEL_VALUES are pino's numbers for the levels: a logger writes records at or above its own. */
export const LEVEL_VALUES: Readonly<Record<LogLevel, number>> = {
  fatal: 60,
  error: 50,
  warn: 40,
  info: 30,
  debug: 20,
  trace: 10,
  silent: Infinity,
};

/** LogFn writes one record: fields and a message, or a message alone. */
export interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

/** Logger is what probex's modules log through. */
export type Logger = Readonly<Record<WritingLevel, LogFn>>;
