/**
 * The one small interface every probe kind implements, and what every target has. Each kind's module
 * declares its own target shape (MysqlTarget in mysql.ts, ...); probe modules import only this file,
 * tls.ts and their client library.
 */

/** TargetTls is a target's `tls` block after config load: file paths (read when a client is made), not contents. */
export interface TargetTls {
  /** caFile holds the PEM certificates that verify the server, in place of Node's bundled roots. */
  readonly caFile?: string;
  /** certFile and keyFile are the client certificate and its key (both or neither). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** serverName is the name sent in SNI and checked against the certificate, when it is not the URL's host. */
  readonly serverName?: string;
  /** insecureSkipVerify accepts any certificate; its dates are still reported. */
  readonly insecureSkipVerify: boolean;
  /** minVersion is the lowest TLS version offered (Node's default, TLSv1.2, when not set). */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** CertificateDates are a certificate's validity bounds, in Unix seconds. */
export interface CertificateDates {
  readonly notBeforeSeconds: number;
  readonly notAfterSeconds: number;
}

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

/**
 * TargetBase holds what every target has, after defaults are applied and durations are in ms. Each kind's
 * target extends it with its own fields and its `kind` (MysqlTarget in mysql.ts, ...); ProbeTarget, the
 * union of them all, is the registry's (registry.ts).
 */
export interface TargetBase {
  /** name is unique across targets; it is the `target` label and the JSON API container id. */
  readonly name: string;
  /** kind names the probe: its file name, registry key, config `kind` and label value are this string. */
  readonly kind: string;
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

/**
 * ProbeOutcome is what one probe run returns. Probes never throw: a failure is data with a reason.
 * `app` carries optional application-level numbers (rows returned, HTTP status, bytes read ...) that the
 * JSON API shows as the target's app datapoints; keys are snake_case metric ids, units in the key suffix.
 * `tls` carries the certificate dates of a target that speaks TLS.
 */
export type ProbeOutcome = (
  | { readonly ok: true; readonly app?: Readonly<Record<string, number>>; readonly latencyUs?: number }
  | { readonly ok: false; readonly reason: ProbeFailureReason; readonly message: string }
) & {
  /**
   * tls is the validity of the last certificate the target's server presented (CertificateWatch), on
   * successes and failures alike: a certificate that failed verification still has dates worth reporting.
   */
  readonly tls?: CertificateDates;
};

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
  /**
   * ready, when a prober has one, resolves once what probex itself must start before the first run is up
   * (the sqlite kind's child process): that time is probex's, not the dependency's, so it is spent before
   * the first run's deadline starts, never in a probe's duration. It never rejects.
   */
  ready?(): Promise<void>;
  /** close releases the client; it never throws. */
  close(): Promise<void>;
}

/** Probe is one kind's factory: it makes a Prober for a target of its kind. */
export interface Probe<Target extends TargetBase> {
  readonly kind: Target['kind'];
  create(target: Target): Prober;
}
