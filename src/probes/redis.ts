/**
 * redis: PING over one node-redis client per target, kept open between runs and shared by concurrent runs
 * (Redis answers in order, so they pipeline on the one connection).
 *
 * Reconnection is ours, not node-redis's: the client runs with `reconnectStrategy: false` and
 * `disableOfflineQueue`, so a broken connection closes the client, flushes its queue with an error, and
 * rejects new commands at once. The next run sees the client is gone and creates a fresh one. This keeps
 * every connect attempt inside some run's deadline, never in the background between runs: no retry loop
 * that outlives the target, no queue of PINGs waiting for a server that is gone, no error events while
 * nobody is probing, and a dead server costs one connect attempt per run, which is what the probe reports.
 *
 * TLS (rediss://): node-redis makes its TLS socket where nothing can see it, so the certificate's dates
 * are recorded by the identity check Node calls for a certificate that verified (recordingTlsOptions). A
 * certificate that fails verification (or one accepted unverified by insecureSkipVerify) is read with a
 * separate handshake that sends no Redis command (peekCertificate), once per failure or new connection.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { classifyError, settle } from './classify.ts';
import type { CertificateDates, Probe, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { CertificateWatch, peekCertificate, recordingTlsOptions, serverNameFor } from './tls.ts';

export interface RedisTarget extends TargetBase {
  readonly kind: 'redis';
  /** url like redis://[:pass@]host:6379[/db]; rediss:// connects with TLS. */
  readonly url: string;
  /** tls is the TLS settings of a rediss:// URL (DEFAULT_TLS when the target has no `tls` block). */
  readonly tls?: TargetTls;
  /**
   * command is the check: `ping` (PING, expect PONG; the default) or `setdel` (SET a throwaway key with a
   * 5 s expiry, then DEL it: Directus's own check, which also proves the server accepts writes).
   */
  readonly command?: RedisCommand;
  /** keyPrefix starts the `setdel` key (default SETDEL_KEY_PREFIX; Directus's METRICS_HEALTH_CHECK_PREFIX). */
  readonly keyPrefix?: string;
  /**
   * directusServices are the Directus services this Redis stands for in the directus profile: `redis`
   * (directus_redis_connection_errors) and `cache` (directus_cache_redis_connection_errors). Default both.
   */
  readonly directusServices?: readonly DirectusRedisService[];
}
type RedisCommand = 'ping' | 'setdel';
type DirectusRedisService = 'redis' | 'cache';

/** REDIS_CLIENT_NAME_PREFIX starts the CLIENT SETNAME of every probe connection (`probex:<target>`). */
export const REDIS_CLIENT_NAME_PREFIX = 'probex:';

/**
 * SETDEL_KEY_PREFIX starts the throwaway key of a `setdel` run (`probex-metric-<uuid>`) unless the target
 * sets keyPrefix (`--directus-env` sets METRICS_HEALTH_CHECK_PREFIX, as Directus names its own keys).
 */
export const SETDEL_KEY_PREFIX = 'probex-metric-';

/** SETDEL_EXPIRY_SECONDS is the key's expiry, so a run cut off between SET and DEL leaves nothing for long. */
export const SETDEL_EXPIRY_SECONDS = 5;

/** redisProbe makes probers that PING a Redis server and expect PONG (or, with `command: setdel`, SET and DEL a key). */
export const redisProbe: Probe<RedisTarget> = {
  kind: 'redis',
  create(target: RedisTarget): Prober {
    return new RedisProber(target);
  },
};

/** Connection is one client and its handshake; `gone` is set once it must not be used again. */
interface Connection {
  readonly client: RedisClient;
  readonly ready: Promise<unknown>;
  gone: boolean;
  /** deadlineMs is set when a run's deadline retired the connection (see #ping). */
  deadlineMs?: number;
  /** certificate tells whether the TLS identity check recorded this connection's certificate, or a peek was made for it. */
  readonly certificate: { seen: boolean; peeked: boolean };
}

class RedisProber implements Prober {
  readonly #target: RedisTarget;
  #conn: Connection | undefined;
  #closed = false;
  /** #tls is set for a rediss:// target: its settings, the server's address and its certificate watch. */
  readonly #tls: { settings: TargetTls; host: string; port: number; watch: CertificateWatch } | undefined;

  constructor(target: RedisTarget) {
    this.#target = target;
    if (target.tls !== undefined) {
      const url = new URL(target.url);
      this.#tls = {
        settings: target.tls,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? 6379 : Number(url.port),
        watch: new CertificateWatch(),
      };
    }
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    let conn: Connection | undefined;
    // A deadline destroys the connection this run used: a PING that got no answer in time leaves the
    // connection in an unknown state (a hung server would otherwise collect one PING per run forever).
    const onDeadline = (): void => {
      if (conn === undefined) return;
      conn.deadlineMs ??= this.#target.timeoutMs;
      this.#drop(conn);
    };
    const outcome = settle(
      signal,
      this.#target.timeoutMs,
      () => {
        if (this.#closed)
          return Promise.resolve<ProbeOutcome>({ ok: false, reason: 'other', message: 'prober is closed' });
        conn = this.#connection();
        return this.#ping(conn, signal);
      },
      onDeadline,
    );
    const watch = this.#tls?.watch;
    return watch === undefined ? outcome : outcome.then((o) => watch.stamp(o));
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#conn !== undefined) this.#drop(this.#conn);
    return Promise.resolve();
  }

  async #ping(conn: Connection, signal: AbortSignal): Promise<ProbeOutcome> {
    try {
      await conn.ready;
      if (this.#tls !== undefined && !conn.certificate.seen && !conn.certificate.peeked) {
        conn.certificate.peeked = true;
        await this.#peek(signal);
      }
      if (this.#target.command === 'setdel')
        return await setDel(conn.client, this.#target.keyPrefix ?? SETDEL_KEY_PREFIX);
      const reply = await conn.client.ping();
      if (reply !== 'PONG') {
        return {
          ok: false,
          reason: 'bad_reply',
          message: `PING answered ${JSON.stringify(reply).slice(0, 80)}, expected PONG`,
        };
      }
      return { ok: true };
    } catch (err) {
      // Concurrent runs on a connection another run's deadline destroyed were queued behind that
      // unanswered PING (Redis answers in order): they timed out too, they did not see a reset.
      if (conn.deadlineMs !== undefined && !signal.aborted) {
        return {
          ok: false,
          reason: 'timeout',
          message: `connection dropped: a concurrent PING got no answer within ${conn.deadlineMs} ms`,
        };
      }
      // A server error reply (LOADING, ...) leaves the connection usable; anything else closed it.
      if (!conn.client.isReady) this.#drop(conn);
      if (this.#tls !== undefined && !signal.aborted && classifyError(err) === 'tls') await this.#peek(signal);
      throw err;
    }
  }

  /** #peek reads the server's certificate with a handshake of its own (see the file comment). */
  async #peek(signal: AbortSignal): Promise<void> {
    const tls = this.#tls!;
    const dates = await peekCertificate(tls.host, tls.port, tls.settings, signal);
    if (dates !== undefined) tls.watch.latest = dates;
  }

  /** #connection returns the live connection, creating a new one when there is none or it broke. */
  #connection(): Connection {
    const current = this.#conn;
    // isOpen turns false when the socket breaks (reconnectStrategy false terminates the client).
    if (current !== undefined && !current.gone && current.client.isOpen) return current;
    if (current !== undefined) this.#drop(current);
    const tls = this.#tls;
    const certificate = { seen: false, peeked: false };
    const onCertificate = (dates: CertificateDates): void => {
      tls!.watch.latest = dates;
      certificate.seen = true;
    };
    const client = newClient(this.#target, tls === undefined ? undefined : { ...tls, onCertificate });
    // Without an 'error' listener, node-redis's error event would crash the worker thread.
    client.on('error', reportedElsewhere);
    const conn: Connection = { client, ready: client.connect(), gone: false, certificate };
    // The handshake can fail after every run waiting on it has timed out: handle the rejection here
    // too, and retire the connection so the next run starts a new one.
    conn.ready.then(undefined, () => this.#drop(conn));
    this.#conn = conn;
    return conn;
  }

  /** #drop retires a connection for good and destroys its client; it is idempotent. */
  #drop(conn: Connection): void {
    if (conn.gone) return;
    conn.gone = true;
    if (this.#conn === conn) this.#conn = undefined;
    conn.client.destroy();
  }
}

type RedisClient = ReturnType<typeof newClient>;

/** ClientTls is what a rediss:// client is made with: the target's settings and where its certificate goes. */
interface ClientTls {
  readonly settings: TargetTls;
  readonly host: string;
  readonly onCertificate: (dates: CertificateDates) => void;
}

function newClient({ url, name, timeoutMs }: RedisTarget, tls: ClientTls | undefined) {
  const servername = tls === undefined ? undefined : serverNameFor(tls.settings, tls.host);
  return createClient({
    url,
    name: `${REDIS_CLIENT_NAME_PREFIX}${name}`,
    RESP: 2, // AUTH + CLIENT SETNAME instead of HELLO 3: works with every server version and fork
    disableOfflineQueue: true,
    socket:
      tls === undefined
        ? { reconnectStrategy: false, connectTimeout: timeoutMs }
        : {
            reconnectStrategy: false,
            connectTimeout: timeoutMs,
            tls: true,
            ...recordingTlsOptions(tls.settings, tls.onCertificate),
            ...(servername === undefined ? {} : { servername }),
          },
    // The run's deadline bounds every PING (and drops the connection when it fires); node-redis's own
    // 5 s default command timeout would only add an AbortSignal.timeout, a timer and a listener per PING.
    commandOptions: { timeout: 0 },
  });
}

/**
 * reportedElsewhere is the client's 'error' listener. Every error it sees also reaches a run: the waiting
 * connect or command rejects with it and the run reports it, and a connection that broke while idle is
 * found closed (isOpen false) by the next run, which replaces it. So the event itself needs no handling.
 */
function reportedElsewhere(): void {}

/**
 * setDel is Directus's Redis check: SET a key of its own and DEL it, two round trips. Directus sets its
 * Redis key without an expiry; this one has SETDEL_EXPIRY_SECONDS, so a run cut off in between leaves nothing.
 * Unlike PING it fails on a server that refuses writes (a read-only replica, OOM with noeviction).
 */
async function setDel(client: RedisClient, prefix: string): Promise<ProbeOutcome> {
  const key = `${prefix}${randomUUID()}`;
  const set = await client.set(key, '1', { EX: SETDEL_EXPIRY_SECONDS });
  if (set !== 'OK')
    return { ok: false, reason: 'bad_reply', message: `SET answered ${JSON.stringify(set).slice(0, 80)}, expected OK` };
  const deleted = await client.del(key);
  if (deleted !== 1)
    return {
      ok: false,
      reason: 'bad_reply',
      message: `DEL answered ${JSON.stringify(deleted).slice(0, 80)}, expected 1`,
    };
  return { ok: true };
}
