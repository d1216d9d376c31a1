/**
 * The background thread's Logger: each record it would write becomes a LogRecord posted to the main
 * thread, whose pino logger writes it (writeRecord). So the background thread loads no logging library
 * (pino costs an isolate ~2.5 MiB; docs/memory.md), and every line still comes out of one writer.
 * Errors among the fields are sent as pino would print them (type, message, stack and own properties such
 * as `code`): an Error crossing threads would lose all but its message and stack.
 */
import { LEVEL_VALUES, type LogLevel, type Logger, type WritingLevel } from './log-levels.ts';

/** LogRecord is one record on its way to the main thread. */
export interface LogRecord {
  readonly level: WritingLevel;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string | undefined;
}

/** relayLogger returns a Logger that posts the records at or above `level`. */
export function relayLogger(level: LogLevel, post: (record: LogRecord) => void): Logger {
  const make =
    (at: WritingLevel) =>
    (fieldsOrMsg: object | string, msg?: string): void => {
      if (LEVEL_VALUES[at] < LEVEL_VALUES[level]) return;
      if (typeof fieldsOrMsg === 'string') post({ level: at, fields: {}, msg: fieldsOrMsg });
      else post({ level: at, fields: plainFields(fieldsOrMsg), msg });
    };
  return {
    fatal: make('fatal'),
    error: make('error'),
    warn: make('warn'),
    info: make('info'),
    debug: make('debug'),
    trace: make('trace'),
  };
}

/** writeRecord writes a relayed record with the main thread's logger for that thread. */
export function writeRecord(log: Logger, { level, fields, msg }: LogRecord): void {
  if (msg === undefined) log[level](fields);
  else log[level](fields, msg);
}

/** plainFields copies fields with every Error turned into what pino's err serializer prints. */
function plainFields(fields: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = value instanceof Error ? plainError(value) : value;
  return out;
}

function plainError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.constructor.name, message: err.message, stack: err.stack };
  for (const [key, value] of Object.entries(err)) {
    if (key !== 'cause' && typeof value !== 'function') out[key] = value instanceof Error ? plainError(value) : value;
  }
  if (err.cause instanceof Error) out.cause = plainError(err.cause);
  return out;
}
