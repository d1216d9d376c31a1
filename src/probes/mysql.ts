/**
 * mysql: runs the target's query (default `SELECT 1`) on a small mysql2 pool per target, with
 * `connectionLimit = target.concurrency`, so connections stay open between runs and concurrent runs each
 * have their own.
 *
 * A broken connection is replaced, not repaired: mysql2 removes a pooled connection from its pool when
 * the connection errors or ends (server restart, `KILL`, network cut), and a run that hits its deadline
 * destroys the connection it used, since a query still running on the server leaves it unusable. The next
 * run's getConnection() opens a fresh one; the handshake is bounded by `connectTimeout = timeoutMs`.
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { settle } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { MysqlTarget, Probe, ProbeOutcome, Prober } from './probe.ts';

/** mysqlProbe makes probers that run a query against MySQL or MariaDB. */
export const mysqlProbe: Probe<'mysql'> = {
  kind: 'mysql',
  create(target: MysqlTarget): Prober {
    return new MysqlProber(target);
  },
};

class MysqlProber implements Prober {
  readonly #target: MysqlTarget;
  readonly #pool: Pool;
  /** #guarded holds the connections that already carry our permanent 'error' listener. */
  readonly #guarded = new WeakSet<object>();
  #closing: Promise<void> | undefined;

  constructor(target: MysqlTarget) {
    this.#target = target;
    this.#pool = mysql.createPool({
      uri: target.url,
      connectionLimit: target.concurrency,
      connectTimeout: target.timeoutMs,
      waitForConnections: true,
      enableKeepAlive: true,
    });
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    return settle(signal, this.#target.timeoutMs, () => this.#query(signal));
  }

  close(): Promise<void> {
    // pool.end() sends QUIT on each connection; it rejects only when a connection was already broken,
    // and the pool is closed either way, which is all close() promises.
    this.#closing ??= this.#pool.end().then(() => undefined, (err: unknown) => void err);
    return this.#closing;
  }

  async #query(signal: AbortSignal): Promise<ProbeOutcome> {
    const conn = await this.#pool.getConnection();
    this.#guard(conn);
    if (signal.aborted) {
      // The deadline passed while connecting; settle() has answered. Do not keep a connection whose
      // handshake was slower than the deadline (it may be half-dead): the next run opens a new one.
      conn.destroy();
      return { ok: false, reason: 'timeout', message: 'connected after the deadline' };
    }
    const onAbort = (): void => conn.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    let reusable = true;
    try {
      // mysql2's own per-query timeout backs the signal up: it closes the connection on expiry.
      const [result] = await conn.query({ sql: this.#target.query, timeout: this.#target.timeoutMs, rowsAsArray: true });
      return { ok: true, app: appDatapoints(result) };
    } catch (err) {
      // Fatal errors (lost connection, protocol errors, query timeout) end the connection; SQL errors
      // (syntax, unknown table) leave it usable.
      if ((err as { fatal?: unknown }).fatal === true) reusable = false;
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (reusable && !signal.aborted) conn.release();
      else conn.destroy();
    }
  }

  /**
   * #guard adds a permanent 'error' listener to a pooled connection. mysql2's own listener is `once`: a
   * second error event on an idle connection would otherwise be unhandled and crash the worker thread.
   * The error needs no handling here: mysql2 has removed the connection from the pool already.
   */
  #guard(conn: PoolConnection): void {
    const core = conn.connection;
    if (this.#guarded.has(core)) return;
    this.#guarded.add(core);
    core.on('error', (err: unknown) => void err);
  }
}

/** appDatapoints reads a query result's app datapoints (shared by the database kinds: ./datapoints.ts). */
export { appDatapoints } from './datapoints.ts';
