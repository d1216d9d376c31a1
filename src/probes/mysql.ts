/**
 * mysql: runs the target's query (default `SELECT 1`) on mysql2 connections kept open between runs. Each
 * run takes an idle connection or opens one, so concurrent runs (up to the target's `concurrency`) each have
 * their own, and puts it back when it is still good.
 *
 * probex opens each connection's socket itself (mysql2's `stream` option) and destroys it whenever a
 * connection is given up: a failed handshake, a fatal error, a run's deadline, close(). mysql2 alone does
 * not: its pool hands a failed handshake's connection to nobody, and its `destroy()` only half-closes the
 * socket. So a server that answers the greeting with an error (`ER_CON_COUNT_ERROR`, too many connections)
 * and keeps the socket open would keep one socket per run open for as long as it does.
 *
 * A broken connection is replaced, not repaired: a connection that errors or ends while idle is dropped,
 * and a run that hits its deadline destroys the connection it used, since a query still running on the
 * server leaves it unusable. The handshake is bounded by `connectTimeout = timeoutMs`.
 */
import net from 'node:net';
import mysql from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { secretScrubber } from '../redact.ts';
import { scrubbed, settle } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { MysqlTarget, Probe, ProbeOutcome, Prober } from './probe.ts';

/** mysqlProbe makes probers that run a query against MySQL or MariaDB. */
export const mysqlProbe: Probe<'mysql'> = {
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

class MysqlProber implements Prober {
  readonly #target: MysqlTarget;
  readonly #scrub: ((text: string) => string) | undefined;
  /** #idle holds good connections between runs; #live every connection not yet given up. */
  readonly #idle: Live[] = [];
  readonly #live = new Set<Live>();
  #closed = false;

  constructor(target: MysqlTarget) {
    this.#target = target;
    this.#scrub = secretScrubber(target.url);
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    const outcome = settle(signal, this.#target.timeoutMs, () => this.#query(signal));
    // mysql2 names the user and host, never the password; this holds for every error, whatever its source.
    return scrubbed(outcome, this.#scrub);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const live of this.#live) {
      if (this.#idle.includes(live)) quit(live);
      else drop(live);
    }
    this.#idle.length = 0;
    this.#live.clear();
    return Promise.resolve();
  }

  async #query(signal: AbortSignal): Promise<ProbeOutcome> {
    if (this.#closed) return { ok: false, reason: 'other', message: 'prober is closed' };
    const live = this.#idle.pop() ?? (await this.#connect(signal));
    // A deadline while the query runs leaves the connection in an unknown state: drop it, which ends the query.
    const onAbort = (): void => this.#drop(live);
    signal.addEventListener('abort', onAbort, { once: true });
    let reusable = true;
    try {
      // mysql2's own per-query timeout backs the signal up: it ends the connection on expiry.
      const [result] = await live.conn.query({
        sql: this.#target.query,
        timeout: this.#target.timeoutMs,
        rowsAsArray: true,
      });
      return { ok: true, app: appDatapoints(result) };
    } catch (err) {
      // Fatal errors (lost connection, protocol errors, query timeout) end the connection; SQL errors
      // (syntax, unknown table) leave it usable.
      if ((err as { fatal?: unknown }).fatal === true) reusable = false;
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (reusable && !signal.aborted && !this.#closed && !live.gone) this.#idle.push(live);
      else this.#drop(live);
    }
  }

  /**
   * #connect opens a connection and resolves once its handshake succeeded. Whatever ends the attempt
   * otherwise (an error packet instead of the greeting, wrong credentials, the connect timeout, the run's
   * deadline) destroys the socket before the promise rejects.
   */
  #connect(signal: AbortSignal): Promise<Live> {
    return new Promise<Live>((resolve, reject) => {
      let socket: net.Socket | undefined;
      const core = mysql.createConnection({
        uri: this.#target.url,
        connectTimeout: this.#target.timeoutMs,
        stream: (opts: { config: SocketConfig }) => (socket = openSocket(opts.config)),
      });
      const live: Live = { core, conn: core.promise(), socket: socket!, gone: false };
      this.#live.add(live);
      // Permanent: mysql2 emits 'error' on a connection with no command in flight (a server that goes away
      // while the connection is idle), and an unhandled 'error' event would crash the worker thread.
      core.on('error', () => this.#drop(live));
      core.on('end', () => this.#drop(live));
      const onAbort = (): void => {
        this.#drop(live);
        reject(new Error('connect abandoned at the deadline'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      core.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        resolve(live);
      });
      core.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      });
    });
  }

  /** #drop gives a connection up for good: out of the idle list, its socket destroyed. Idempotent. */
  #drop(live: Live): void {
    this.#live.delete(live);
    const at = this.#idle.indexOf(live);
    if (at >= 0) this.#idle.splice(at, 1);
    drop(live);
  }
}

/** SocketConfig is what mysql2 passes its `stream` factory: the connection's parsed settings. */
interface SocketConfig {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
  readonly keepAliveInitialDelay?: number;
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

/** quit says goodbye (COM_QUIT) on an idle connection, then releases its socket once the bytes are out. */
function quit(live: Live): void {
  if (live.gone) return;
  live.gone = true;
  live.core.end(); // writes COM_QUIT at once: an idle connection has no command ahead of it
  live.socket.destroySoon();
}

/** appDatapoints reads a query result's app datapoints (shared by the database kinds: ./datapoints.ts). */
export { appDatapoints } from './datapoints.ts';
