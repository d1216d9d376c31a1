/**
 * Failure classification shared by every probe kind: a pure mapping from the errors that Node, undici,
 * mysql2 and node-redis throw to the closed `ProbeFailureReason` set, the helpers that turn an error into
 * a failure `ProbeOutcome`, `settle()`, which gives every `run` the same abort and no-throw rules, and
 * `publicOutcome()`, which scrubs and cuts every failure message on its way out of the worker.
 */
import { secretScrubber } from '../redact.ts';
import type { ProbeFailureReason, ProbeOutcome, TargetBase } from './probe.ts';

/** MAX_MESSAGE_CHARS bounds a failure message: it goes to the log, and one line is enough. */
export const MAX_MESSAGE_CHARS = 240;

// Codes are matched exactly; each table names where its codes come from.
// Node's net/dns layer (and libuv): https://nodejs.org/api/errors.html#common-system-errors
const REFUSED_CODES = new Set(['ECONNREFUSED']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const RESET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'PROTOCOL_CONNECTION_LOST', // mysql2: the server closed the connection
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED', // undici: the socket closed under a request
]);
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ABORT_ERR',
  'PROTOCOL_SEQUENCE_TIMEOUT', // mysql2 per-query `timeout`
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
// mysql2 names server errors after MySQL's error list (mysql2/lib/constants/errors.js). The server refuses
// this client's host outright with ER_HOST_NOT_PRIVILEGED (1130: no account matches the host) and
// ER_HOST_IS_BLOCKED (1129: too many aborted connects; `FLUSH HOSTS` lifts it), in place of the greeting.
const AUTH_CODES = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_NOT_SUPPORTED_AUTH_MODE',
  'ER_MUST_CHANGE_PASSWORD_LOGIN',
  'HANDSHAKE_NO_SSL_SUPPORT_AUTH',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_HOST_IS_BLOCKED',
]);
const IO_CODES = new Set([
  'EACCES',
  'EPERM',
  'ENOSPC',
  'EDQUOT',
  'ENOENT',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'EIO',
  'ENAMETOOLONG',
  'EMFILE',
  'ENFILE',
  'ELOOP',
  'EFBIG',
  'EBUSY',
]);
// OpenSSL verification codes as Node exposes them, plus Node's own ERR_TLS_* / ERR_SSL_* families.
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'HOSTNAME_MISMATCH',
  'EPROTO',
  'HANDSHAKE_SSL_ERROR',
]);
const TLS_CODE_PREFIXES = ['ERR_TLS_', 'ERR_SSL_', 'ERR_OSSL_'];
// undici's HTTP parser (llhttp) errors: the server answered, but not in HTTP. Node 20's undici sets the llhttp
// code (HPE_INVALID_CONSTANT, ...); Node 24's leaves `code` undefined, so its class name counts too.
const BAD_REPLY_CODE_PREFIXES = ['HPE_'];
const BAD_REPLY_NAMES = new Set(['HTTPParserError']);
// node-redis reports server errors as ErrorReply objects without a code: the reply's first word is the code.
const REDIS_AUTH_PREFIXES = ['WRONGPASS', 'NOAUTH', 'NOPERM'];
// A password sent to a server that has none is a plain ERR: Redis 6+ says `ERR AUTH <password> called
// without any password configured for the default user...`, Redis 5 and older `ERR Client sent AUTH, but
// no password is set`.
const REDIS_AUTH_ERR_RE = /^ERR (?:Client sent )?AUTH\b/;
// node-redis client-side errors are told apart by class name (they do not set `name`, so the
// constructor's name is checked as well).
const RESET_NAMES = new Set([
  'SocketClosedUnexpectedlyError',
  'ClientClosedError',
  'ClientOfflineError',
  'DisconnectsClientError',
]);
const TIMEOUT_NAMES = new Set(['AbortError', 'TimeoutError', 'ConnectionTimeoutError', 'SocketTimeoutError']);

// PostgreSQL SQLSTATE codes, as pg reports them in DatabaseError.code
// (https://www.postgresql.org/docs/current/errcodes-appendix.html). A wrong database (3D000) is `auth`:
// like a wrong password or a missing CONNECT privilege (42501), it means "cannot connect with these
// settings", which is how Directus users read a failed database check.
// SQLite result codes, as better-sqlite3 reports them in SqliteError.code
// (https://www.sqlite.org/rescode.html); an extended code (SQLITE_IOERR_READ) is looked up by its primary
// code (SQLITE_IOERR).
const DATABASE_CODES = new Map<string, ProbeFailureReason>([
  ['28000', 'auth'],
  ['28P01', 'auth'],
  ['3D000', 'auth'],
  ['42501', 'auth'],
  ['57P01', 'reset'],
  ['57P02', 'reset'],
  ['08003', 'reset'],
  ['08006', 'reset'], // terminated, crash, connection gone
  ['57P03', 'refused'], // cannot_connect_now: the server is starting up or shutting down
  ['57014', 'timeout'], // query_canceled: statement_timeout
  ['08P01', 'bad_reply'], // protocol_violation
  ['SQLITE_BUSY', 'busy'],
  ['SQLITE_LOCKED', 'busy'],
  ['SQLITE_CANTOPEN', 'io'],
  ['SQLITE_IOERR', 'io'],
  ['SQLITE_PERM', 'io'],
  ['SQLITE_FULL', 'io'],
  ['SQLITE_READONLY', 'io'],
  ['SQLITE_NOTADB', 'bad_reply'],
  ['SQLITE_CORRUPT', 'bad_reply'],
  ['SQLITE_AUTH', 'auth'],
]);
// pg's own client-side errors carry no code; these are how its messages start (pg lib/client.js,
// lib/connection.js; pg-protocol's parser for a message type it does not know).
const MESSAGE_PREFIX_REASONS: ReadonlyArray<readonly [string, ProbeFailureReason]> = [
  ['Connection terminated unexpectedly', 'reset'],
  ['The server does not support SSL connections', 'tls'],
  ['received invalid response: ', 'bad_reply'],
];

/** MAX_CAUSE_DEPTH bounds the walk down `cause` / `errors` chains (fetch wraps the real error in a TypeError). */
const MAX_CAUSE_DEPTH = 5;

/**
 * classifyError maps an error to a failure reason. It looks at the error, then down its `cause` chain and
 * the first entry of an AggregateError (Node's happy-eyeballs connect), and returns the first reason that is
 * not `other`; so `TypeError('fetch failed', { cause: ECONNREFUSED })` is `refused`.
 */
export function classifyError(err: unknown): ProbeFailureReason {
  let current: unknown = err;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current !== undefined && current !== null; depth++) {
    const reason = classifyOne(current);
    if (reason !== 'other') return reason;
    current = nextInChain(current);
  }
  return 'other';
}

/** failureOutcome converts a reason and the error behind it into a failure ProbeOutcome with a short message. */
export function failureOutcome(reason: ProbeFailureReason, err: unknown): ProbeOutcome {
  return { ok: false, reason, message: describeError(err) };
}

/** outcomeFromError classifies an error and converts it into a failure ProbeOutcome. */
export function outcomeFromError(err: unknown): ProbeOutcome {
  return failureOutcome(classifyError(err), err);
}

/** timeoutOutcome is the failure a run settles with when its deadline passes. */
export function timeoutOutcome(timeoutMs: number): ProbeOutcome {
  return { ok: false, reason: 'timeout', message: `deadline of ${timeoutMs} ms exceeded` };
}

/**
 * describeError renders an error and its causes on one line (`fetch failed: connect ECONNREFUSED ...`),
 * without repeating a message its cause already says. It is not cut: publicOutcome scrubs, then cuts.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current !== undefined && current !== null; depth++) {
    const text = messageOf(current);
    if (text !== '' && !parts.some((p) => p.includes(text) || text.includes(p))) parts.push(text);
    current = nextInChain(current);
  }
  return (parts.length === 0 ? 'unknown error' : parts.join(': ')).replace(/\s+/g, ' ').trim();
}

/** MessageScrub removes a target's secrets from a text (redact.ts's secretScrubber for the target's URL). */
export type MessageScrub = (text: string) => string;

/** scrubberFor is the MessageScrub of a target whose URL holds secrets, or undefined. */
export function scrubberFor(target: TargetBase & { readonly url?: string }): MessageScrub | undefined {
  return target.url === undefined ? undefined : secretScrubber(target.url);
}

/**
 * publicOutcome is the one way a failure leaves its worker for the log, the metrics and the pages, whatever
 * its kind and whoever wrote its message (the client library, the probe, the lane): the message with the
 * target's secrets scrubbed, then made one line of at most MAX_MESSAGE_CHARS. Scrubbing comes first, so a
 * secret that the cut would halve is still found whole. A success is returned as it is.
 */
export function publicOutcome(outcome: ProbeOutcome, scrub: MessageScrub | undefined): ProbeOutcome {
  if (outcome.ok) return outcome;
  const scrubbed = scrub === undefined ? outcome.message : scrub(outcome.message);
  const line = /[\r\n\t]/.test(scrubbed) ? scrubbed.replace(/\s+/g, ' ').trim() : scrubbed;
  if (line === outcome.message && line.length <= MAX_MESSAGE_CHARS) return outcome;
  const message = line.length <= MAX_MESSAGE_CHARS ? line : `${line.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
  return outcome.tls === undefined
    ? { ok: false, reason: outcome.reason, message }
    : { ok: false, reason: outcome.reason, message, tls: outcome.tls };
}

/**
 * settle runs one probe attempt under the "never throw" rule and the run's signal, so each kind only
 * writes the happy path. It times nothing: the run's Lane (deadline.ts) decides when the deadline has
 * passed, aborts the signal and answers `timeout` itself, whether or not the work ever ends. Here:
 * - a signal that is already aborted settles with `timeout` without starting the work;
 * - `cancel`, when given, runs once when the signal aborts (a kind uses it to destroy a connection a run
 *   left in an unknown state, which also ends the work). It shares settle's one listener, since adding
 *   and removing an AbortSignal listener is a cost paid on every run;
 * - an error thrown by the work is classified, as `timeout` when the signal has aborted meanwhile.
 */
export function settle(
  signal: AbortSignal,
  timeoutMs: number,
  work: () => Promise<ProbeOutcome>,
  cancel?: () => void,
): Promise<ProbeOutcome> {
  if (signal.aborted) return Promise.resolve(timeoutOutcome(timeoutMs));
  if (cancel !== undefined) signal.addEventListener('abort', cancel, { once: true });
  let attempt: Promise<ProbeOutcome>;
  try {
    attempt = work();
  } catch (err) {
    // A synchronous throw before the first await: still a result, never an exception.
    attempt = Promise.reject(err);
  }
  const done = (outcome: ProbeOutcome): ProbeOutcome => {
    if (cancel !== undefined) signal.removeEventListener('abort', cancel);
    return outcome;
  };
  return attempt.then(done, (err: unknown) => done(signal.aborted ? timeoutOutcome(timeoutMs) : outcomeFromError(err)));
}

function classifyOne(err: unknown): ProbeFailureReason {
  if (typeof err !== 'object' || err === null) return 'other';
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (code !== undefined) {
    if (REFUSED_CODES.has(code)) return 'refused';
    if (DNS_CODES.has(code)) return 'dns';
    if (RESET_CODES.has(code)) return 'reset';
    if (TIMEOUT_CODES.has(code)) return 'timeout';
    if (AUTH_CODES.has(code)) return 'auth';
    if (TLS_CODES.has(code) || TLS_CODE_PREFIXES.some((p) => code.startsWith(p))) return 'tls';
    if (IO_CODES.has(code)) return 'io';
    if (BAD_REPLY_CODE_PREFIXES.some((p) => code.startsWith(p))) return 'bad_reply';
    const database = DATABASE_CODES.get(code) ?? DATABASE_CODES.get(code.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1'));
    if (database !== undefined) return database;
  }
  const className = (err as { constructor?: { name?: unknown } }).constructor?.name;
  for (const n of typeof className === 'string' && className !== name ? [name, className] : [name]) {
    if (TIMEOUT_NAMES.has(n)) return 'timeout';
    if (RESET_NAMES.has(n)) return 'reset';
    if (BAD_REPLY_NAMES.has(n)) return 'bad_reply';
  }
  const byMessage = MESSAGE_PREFIX_REASONS.find(([prefix]) => message.startsWith(prefix));
  if (byMessage !== undefined) return byMessage[1];
  const firstWord = message.split(' ', 1)[0] ?? '';
  if (REDIS_AUTH_PREFIXES.includes(firstWord) || REDIS_AUTH_ERR_RE.test(message)) return 'auth';
  return 'other';
}

function nextInChain(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { cause?: unknown; errors?: unknown };
  if (e.cause !== undefined) return e.cause;
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors[0];
  return undefined;
}

function messageOf(err: unknown): string {
  if (typeof err === 'string') return err;
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { message?: unknown; code?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (message === '') return code ?? (typeof e.name === 'string' ? e.name : '');
  // Node's system errors already start with or contain their code; mysql2's do not.
  return code !== undefined && !message.includes(code) ? `${code} ${message}` : message;
}
