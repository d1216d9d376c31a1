/**
 * mysql: runs the target's query (default `SELECT 1`) on mysql2 connections kept open between runs, at
 * most `concurrency` of them (Sessions, ./sessions.ts), each put back when it is still good.
 *
 * A probe leaves nothing running on the server. At the deadline the query is killed with `KILL QUERY
 * <connection id>` on a short-lived second connection (killQuery); the query then ends (interrupted, or
 * SLEEP() returning 1), the run is `timeout`, and the connection is kept for the next run. A connection
 * whose kill fails, or whose query has not ended CANCEL_GRACE_MS after the deadline, is destroyed. As a
 * backstop each connection limits its statements a little above the probe's timeout (backstopMs):
 * MariaDB's `max_statement_time` (seconds, every statement), else MySQL's `max_execution_time` (ms,
 * read-only SELECTs), whichever the server knows (an unknown one is ER_UNKNOWN_SYSTEM_VARIABLE).
 *
 * probex opens each connection's socket itself (mysql2's `stream` option) and destroys it whenever a
 * connection is given up: a failed handshake, a fatal error, a failed kill, close(). mysql2 alone does
 * not: its pool hands a failed handshake's connection to nobody, and its `destroy()` only half-closes the
 * socket. So a server that answers the greeting with an error (`ER_CON_COUNT_ERROR`, too many connections)
 * and keeps the socket open would keep one socket per run open for as long as it does. The handshake is
 * bounded by `connectTimeout = timeoutMs` and by the run's deadline.
 */
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import mysql from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { settle } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { backstopMs, CANCEL_GRACE_MS, Sessions } from './sessions.ts';
import { CertificateWatch, clientTlsOptions } from './tls.ts';

export interface MysqlTarget extends TargetBase {
  readonly kind: 'mysql';
  /** url like mysql://user:pass@host:3306/db */
  readonly url: string;
  readonly query: string;
  /** tls, when set, connects with TLS (the server must offer it). */
  readonly tls?: TargetTls;
}

/** mysqlProbe makes probers that run a query against MySQL or MariaDB. */
export const mysqlProbe: Probe<MysqlTarget> = {
  kind: 'mysql',
  create(target: MysqlTarget): Prober {
    return new MysqlProber(target);
  },
};

/** Live is one connection: mysql2's (callback) core, its promise face, and the socket under both. */
interface Live {
  readonly core: mysql.Connection;
  readonly conn: PromiseConnection;
  readonly socket: net.Socket;
  gone: boolean;
}

/** STATEMENT_LIMITS are the server-side statement limits tried in turn: MariaDB's, then MySQL's. */
const STATEMENT_LIMITS = [
  { variable: 'max_statement_time', value: (ms: number) => ms / 1000 },
  { variable: 'max_execution_time', value: (ms: number) => ms },
] as const;

/** ER_UNKNOWN_SYSTEM_VARIABLE is the server's answer to a SET of a variable it does not have. */
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

class MysqlProber implements Prober {
  readonly #target: MysqlTarget;
  readonly #sessions: Sessions<Live>;
  readonly #watch: CertificateWatch | undefined;
  /** #limits are the statement limits still worth trying on this server (the first that worked, once one has). */
  #limits: ReadonlyArray<(typeof STATEMENT_LIMITS)[number]> = STATEMENT_LIMITS;

  constructor(target: MysqlTarget) {
    this.#target = target;
    this.#watch = target.tls === undefined ? undefined : new CertificateWatch();
    this.#sessions = new Sessions(
      {
        open: (signal, lost) => this.#open(signal, lost),
        cancel: (live, signal) => this.#kill(live, signal),
        end: quit,
        destroy: drop,
      },
      target.concurrency,
    );
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    const outcome = settle(signal, this.#target.timeoutMs, async () => {
      const query = { sql: this.#target.query, rowsAsArray: true };
      // Fatal errors (lost connection, protocol errors) end the connection; SQL errors (syntax, unknown
      // table, a killed query) leave it usable.
      const [result] = await this.#sessions.use(
        signal,
        (live) => live.conn.query(query),
        (err) => (err as { fatal?: unknown }).fatal !== true,
      );
      return { ok: true, app: appDatapoints(result) };
    });
    const watch = this.#watch;
    return watch === undefined ? outcome : outcome.then((o) => watch.stamp(o));
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  /** #open connects and sets the statement limit; the deadline, or any failure, destroys the connection. */
  async #open(signal: AbortSignal, lost: () => void): Promise<Live> {
    const live = this.#connection(this.#target.timeoutMs);
    if (this.#watch !== undefined) watchUpgrade(live.core, this.#watch);
    // Permanent: mysql2 emits 'error' on a connection with no command in flight (a server that goes away
    // while the connection is idle), and an unhandled 'error' event would crash the worker thread.
    live.core.on('error', lost);
    live.core.on('end', lost);
    // A deadline destroys the socket, which mysql2 does not always report: the deadline rejects too.
    let abandon: (err: Error) => void = () => {};
    const onDeadline = (): void => {
      drop(live);
      abandon(new Error('connect abandoned at the deadline'));
    };
    signal.addEventListener('abort', onDeadline, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        abandon = reject;
        live.core.once('connect', () => resolve());
        live.core.once('error', reject);
      });
      await this.#limitStatements(live);
      return live;
    } catch (err) {
      drop(live);
      throw err;
    } finally {
      signal.removeEventListener('abort', onDeadline);
    }
  }

  /** #limitStatements sets the first statement limit the server knows (see STATEMENT_LIMITS). */
  async #limitStatements(live: Live): Promise<void> {
    const ms = backstopMs(this.#target.timeoutMs);
    for (const limit of this.#limits) {
      try {
        await live.conn.query(`SET SESSION ${limit.variable} = ${limit.value(ms)}`);
        this.#limits = [limit];
        return;
      } catch (err) {
        if ((err as { errno?: unknown }).errno !== ER_UNKNOWN_SYSTEM_VARIABLE) throw err;
      }
    }
    this.#limits = [];
  }

  /**
   * #kill sends `KILL QUERY` for `live`'s connection on a connection of its own, and says goodbye on it.
   * It resolves true once the server ran it; false on any failure, or at `signal` (that connection destroyed).
   */
  #kill(live: Live, signal: AbortSignal): Promise<boolean> {
    const killer = this.#connection(CANCEL_GRACE_MS);
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        signal.removeEventListener('abort', onAbort);
        if (ok) void quit(killer);
        else drop(killer);
        resolve(ok);
      };
      const onAbort = (): void => done(false);
      signal.addEventListener('abort', onAbort, { once: true });
      killer.core.on('error', () => done(false));
      killer.core.query(`KILL QUERY ${Number(live.core.threadId)}`, (err) => done(err === null));
    });
  }

  /** #connection starts a connection on a socket probex opened (see the file comment). */
  #connection(connectTimeout: number): Live {
    let socket: net.Socket | undefined;
    const tls = this.#target.tls;
    const core = mysql.createConnection({
      uri: this.#target.url,
      connectTimeout,
      stream: (opts: { config: SocketConfig }) => (socket = openSocket(opts.config)),
      ...(tls === undefined ? {} : { ssl: mysqlSsl(tls) }),
    });
    return { core, conn: core.promise(), socket: socket!, gone: false };
  }
}

/** SocketConfig is what mysql2 passes its `stream` factory: the connection's parsed settings. */
interface SocketConfig {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
  readonly keepAliveInitialDelay?: number;
}

/**
 * mysqlSsl is mysql2's `ssl` option for a `tls` block. mysql2 checks the certificate's name only with
 * verifyIdentity, against the URL's host (config refuses serverName for mysql: mysql2 takes no other name).
 */
function mysqlSsl(tls: TargetTls): mysql.SslOptions {
  const { ca, cert, key, minVersion } = clientTlsOptions(tls);
  return {
    rejectUnauthorized: !tls.insecureSkipVerify,
    verifyIdentity: !tls.insecureSkipVerify,
    ...(ca === undefined ? {} : { ca: ca as Buffer }),
    ...(cert === undefined ? {} : { cert: cert as Buffer }),
    ...(key === undefined ? {} : { key: key as Buffer }),
    ...(minVersion === undefined ? {} : { minVersion }),
  };
}

/**
 * watchUpgrade shows the TLS socket of a connection to `watch`. mysql2 upgrades to TLS in its startTLS
 * (after the server's greeting) and keeps the TLS socket it made in `stream`; nothing else shows it, so
 * the connection's startTLS is wrapped: the socket is read right after it is made, before its handshake
 * can complete.
 */
function watchUpgrade(core: mysql.Connection, watch: CertificateWatch): void {
  const inner = core as unknown as { startTLS: (onSecure: unknown) => void; stream: unknown };
  const startTLS = inner.startTLS;
  inner.startTLS = function (this: typeof inner, onSecure: unknown): void {
    startTLS.call(this, onSecure);
    if (this.stream instanceof TLSSocket) watch.watch(this.stream);
  };
}

/** openSocket connects the way mysql2 does when it opens the socket itself (no delay, keep-alive on). */
function openSocket(config: SocketConfig): net.Socket {
  const socket =
    config.socketPath !== undefined ? net.connect(config.socketPath) : net.connect(config.port, config.host);
  socket.setNoDelay(true);
  socket.once('connect', () => socket.setKeepAlive(true, config.keepAliveInitialDelay ?? 0));
  return socket;
}

/** drop closes mysql2's side (no more commands) and destroys the socket, whatever the server does. */
function drop(live: Live): void {
  if (live.gone) return;
  live.gone = true;
  live.core.destroy();
  live.socket.destroy();
}

/**
 * quit says goodbye (COM_QUIT) on an idle connection and releases its socket once the bytes are out; it
 * resolves once the socket is closed (destroyed after CANCEL_GRACE_MS if the server keeps it open).
 */
function quit(live: Live): Promise<void> {
  if (live.gone) return Promise.resolve();
  live.gone = true;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => live.socket.destroy(), CANCEL_GRACE_MS);
    live.socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    live.core.end(); // writes COM_QUIT at once: an idle connection has no command ahead of it
    live.socket.destroySoon();
  });
}

/** appDatapoints reads a query result's app datapoints (shared by the database kinds: ./datapoints.ts). */
export { appDatapoints } from './datapoints.ts';
