/**
 * The one small interface every probe kind implements, and the target shapes they receive.
 * Probe modules import only this file and their client library (see STYLE.md boundaries).
 */

/** PROBE_KINDS lists every kind; a kind's file name, registry key, config `kind` and label value are this string. */
export const PROBE_KINDS = ['mysql', 'redis', 'storage', 'http', 'tcp', 'synthetic', 'postgres', 'sqlite'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/**
 * FAILURE_REASONS is the closed set of `reason` label values. An error message is never a label value;
 * classify it into one of these and put the message in the log.
 */
export const FAILURE_REASONS = [
  'timeout', // the deadline passed before an answer
  'refused', // connection refused (nothing listens)
  'dns', // host name did not resolve
  'reset', // connection reset or closed mid-probe
  'auth', // credentials rejected, or the server refuses this client (MySQL: host not allowed or blocked)
  'tls', // TLS handshake or certificate failure
  'bad_reply', // an answer came, but not the expected one (wrong PING reply, body mismatch, read-back differs)
  'status', // HTTP status outside the expected set
  'io', // local I/O failed (storage: ENOSPC, EACCES, ENOENT ...)
  'busy', // the database was locked for longer than its busy timeout (sqlite: SQLITE_BUSY, SQLITE_LOCKED)
  'worker', // the worker running the probe failed (crash, task rejected)
  'other', // anything not classified above (the log has the message)
] as const;
export type ProbeFailureReason = (typeof FAILURE_REASONS)[number];

/** TargetBase holds what every target has, after defaults are applied and durations are in ms. */
export interface TargetBase {
  /** name is unique across targets; it is the `target` label and the JSON API container id. */
  readonly name: string;
  readonly kind: ProbeKind;
  /** intervalMs between probe rounds; 0 means continuous (back-to-back rounds, for load and benchmarks). */
  readonly intervalMs: number;
  /** timeoutMs is the deadline of one probe; always <= intervalMs when intervalMs > 0. */
  readonly timeoutMs: number;
  /** concurrency is the number of probes started together in one round (default 1). */
  readonly concurrency: number;
  /** labels are extra constant labels added to every series of this target. */
  readonly labels: Readonly<Record<string, string>>;
  /** buckets are the histogram upper bounds in seconds, ascending, without +Inf. */
  readonly buckets: readonly number[];
}

export interface MysqlTarget extends TargetBase {
  readonly kind: 'mysql';
  /** url like mysql://user:pass@host:3306/db */
  readonly url: string;
  readonly query: string;
}
export interface RedisTarget extends TargetBase {
  readonly kind: 'redis';
  /** url like redis://[:pass@]host:6379[/db] */
  readonly url: string;
  /**
   * command is the check: `ping` (PING, expect PONG; the default) or `setdel` (SET a throwaway key with a
   * 5 s expiry, then DEL it: Directus's own check, which also proves the server accepts writes).
   */
  readonly command?: RedisCommand;
  /**
   * directusServices are the Directus services this Redis stands for in the directus profile: `redis`
   * (directus_redis_connection_errors) and `cache` (directus_cache_redis_connection_errors). Default both.
   */
  readonly directusServices?: readonly DirectusRedisService[];
}
export type RedisCommand = 'ping' | 'setdel';
export type DirectusRedisService = 'redis' | 'cache';
export interface PostgresTarget extends TargetBase {
  readonly kind: 'postgres';
  /** url like postgres://user:pass@host:5432/db (postgresql:// too); `?sslmode=` is read as pg reads it. */
  readonly url: string;
  readonly query: string;
  /** tls, when set, connects with TLS (`rejectUnauthorized` false accepts any certificate). */
  readonly tls?: { readonly rejectUnauthorized: boolean };
  /** directusClient is Directus's DB_CLIENT for this database (directus_db_<client>_*): pg, postgres or cockroachdb. */
  readonly directusClient?: PostgresDirectusClient;
}
export type PostgresDirectusClient = 'pg' | 'postgres' | 'cockroachdb';
export interface SqliteTarget extends TargetBase {
  readonly kind: 'sqlite';
  /** path of an existing SQLite database file; it is opened read-only and never created. */
  readonly path: string;
  readonly query: string;
}
export interface StorageTarget extends TargetBase {
  readonly kind: 'storage';
  /** path of the directory to write, read back and delete a small file in. */
  readonly path: string;
  /** location is the storage location name (Directus: `local`), used by the directus profile. */
  readonly location: string;
}
export interface HttpTarget extends TargetBase {
  readonly kind: 'http';
  readonly url: string;
  /** expectStatus lists accepted status codes; empty means any 2xx. */
  readonly expectStatus: readonly number[];
  /** bodyMatch is a regular expression source the body must match, when set. */
  readonly bodyMatch?: string;
  /** maxBodyBytes caps how much of the body is read (after content decoding); see http.ts. */
  readonly maxBodyBytes: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** DEFAULT_MAX_BODY_BYTES is an http target's `maxBodyBytes` when its config sets none: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export interface TcpTarget extends TargetBase {
  readonly kind: 'tcp';
  readonly host: string;
  readonly port: number;
}
export interface SyntheticTarget extends TargetBase {
  readonly kind: 'synthetic';
  /** distribution of latencies in ms; values are drawn, then the probe resolves after no I/O at all. */
  readonly distribution: SyntheticDistribution;
  /** errorRate in [0, 1]: the share of probes that fail with reason `other`. */
  readonly errorRate: number;
}
export type SyntheticDistribution =
  | { readonly type: 'constant'; readonly valueMs: number }
  | { readonly type: 'uniform'; readonly minMs: number; readonly maxMs: number }
  | { readonly type: 'lognormal'; readonly medianMs: number; readonly sigma: number }
  | { readonly type: 'exponential'; readonly meanMs: number };

/** ProbeTarget is one configured target, discriminated by kind. It is plain data: it crosses threads. */
export type ProbeTarget =
  MysqlTarget | RedisTarget | StorageTarget | HttpTarget | TcpTarget | SyntheticTarget | PostgresTarget | SqliteTarget;
export type TargetOfKind<K extends ProbeKind> = Extract<ProbeTarget, { kind: K }>;

/**
 * ProbeOutcome is what one probe run returns. Probes never throw: a failure is data with a reason.
 * `app` carries optional application-level numbers (rows returned, HTTP status, bytes read ...) that the
 * JSON API shows as the target's app datapoints; keys are snake_case metric ids, units in the key suffix.
 */
export type ProbeOutcome =
  | { readonly ok: true; readonly app?: Readonly<Record<string, number>>; readonly latencyUs?: number }
  | { readonly ok: false; readonly reason: ProbeFailureReason; readonly message: string };

/**
 * Prober is a live probe for one target: it owns the target's client (kept open between runs and
 * re-created after a failure) and runs one probe per `run` call. Several runs may be in flight at once
 * (target concurrency); a prober must allow that.
 */
export interface Prober {
  /**
   * run probes once; it must settle soon after `signal` aborts, with reason `timeout`. It never throws.
   * It must remove every listener it adds to `signal` by the time it settles: its lane passes the same
   * signal to its next run (see Lane).
   */
  run(signal: AbortSignal): Promise<ProbeOutcome>;
  /** close releases the client; it never throws. */
  close(): Promise<void>;
}

/** Probe is one kind's factory: it makes a Prober for a target of its kind. */
export interface Probe<K extends ProbeKind = ProbeKind> {
  readonly kind: K;
  create(target: TargetOfKind<K>): Prober;
}
