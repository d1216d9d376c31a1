/**
 * postgres: runs the target's query (default `SELECT 1`, as Directus checks its database) over pg
 * clients kept open between runs. Each run takes an idle client or opens one, so concurrent runs (target
 * concurrency) each have their own and at most `concurrency` stay open.
 *
 * A broken client is replaced, not repaired, as in the mysql kind: a client that errors or ends (server
 * restart, pg_terminate_backend, network cut) is dropped, and a run that hits its deadline destroys the
 * socket of the client it used, whether it was still connecting (a server that accepts and never
 * answers) or waiting for the query's answer. The next run opens a fresh client. Every connect happens
 * inside some run's deadline; nothing reconnects in the background.
 */
import pg from 'pg';
import { settle } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { PostgresTarget, Probe, ProbeOutcome, Prober } from './probe.ts';

/** POSTGRES_APPLICATION_NAME_PREFIX starts the application_name of every probe connection (`probex:<target>`). */
export const POSTGRES_APPLICATION_NAME_PREFIX = 'probex:';

/** postgresProbe makes probers that run a query against PostgreSQL (or a server speaking its protocol). */
export const postgresProbe: Probe<'postgres'> = {
  kind: 'postgres',
  create(target: PostgresTarget): Prober {
    return new PostgresProber(target);
  },
};

/** Connection is one client and its handshake; `gone` is set once it must not be used again. */
interface Connection {
  readonly client: pg.Client;
  readonly ready: Promise<unknown>;
  gone: boolean;
}

class PostgresProber implements Prober {
  readonly #target: PostgresTarget;
  /** #idle holds connected clients no run is using, most recently used last. */
  readonly #idle: Connection[] = [];
  /** #open holds every connection not yet dropped, for close(). */
  readonly #open = new Set<Connection>();
  #closed = false;

  constructor(target: PostgresTarget) {
    this.#target = target;
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    let conn: Connection | undefined;
    // A deadline drops the connection this run used: a query or handshake with no answer in time leaves
    // it in an unknown state, and destroying its socket is what keeps a hung server from collecting one
    // open socket per run.
    const onDeadline = (): void => {
      if (conn !== undefined) this.#drop(conn);
    };
    return settle(
      signal,
      this.#target.timeoutMs,
      async () => {
        if (this.#closed) return { ok: false, reason: 'other', message: 'prober is closed' };
        conn = this.#take();
        return this.#query(conn, signal);
      },
      onDeadline,
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    // Idle sessions say goodbye (Terminate), so the server does not log an unexpected EOF for each on every
    // reload or shutdown; a session a run is still using is cut off.
    for (const conn of this.#idle.splice(0)) {
      conn.gone = true;
      this.#open.delete(conn);
      conn.client.end().catch(() => conn.client.connection.stream.destroy());
    }
    for (const conn of [...this.#open]) this.#drop(conn);
    return Promise.resolve();
  }

  async #query(conn: Connection, signal: AbortSignal): Promise<ProbeOutcome> {
    try {
      await conn.ready;
      const result = await conn.client.query({ text: this.#target.query, rowMode: 'array' });
      if (!signal.aborted && !conn.gone && !this.#closed) this.#idle.push(conn);
      return { ok: true, app: postgresDatapoints(result) };
    } catch (err) {
      // A server error reply to the query (syntax, unknown table: an SQLSTATE code) leaves the client
      // usable; anything else (a failed handshake, a broken socket) has ended it.
      if (isQueryError(err) && !conn.gone && !signal.aborted && !this.#closed) this.#idle.push(conn);
      else this.#drop(conn);
      throw err;
    }
  }

  /** #take returns an idle live connection, or opens a new one. */
  #take(): Connection {
    for (let conn = this.#idle.pop(); conn !== undefined; conn = this.#idle.pop()) {
      if (!conn.gone) return conn;
    }
    const client = new pg.Client({
      connectionString: this.#target.url,
      application_name: `${POSTGRES_APPLICATION_NAME_PREFIX}${this.#target.name}`,
      keepAlive: true,
      ...(this.#target.tls === undefined ? {} : { ssl: { rejectUnauthorized: this.#target.tls.rejectUnauthorized } }),
    });
    const conn: Connection = { client, ready: client.connect(), gone: false };
    // Without an 'error' listener, an error on an idle client (the server ended the session) would crash
    // the worker thread. A run waiting on the client sees the same error as its own rejection, so the
    // listener only retires the connection.
    client.on('error', () => this.#drop(conn));
    client.on('end', () => this.#drop(conn));
    // The handshake can fail after the run that started it has settled (deadline): handle it here too.
    conn.ready.catch(() => this.#drop(conn));
    this.#open.add(conn);
    return conn;
  }

  /** #drop retires a connection for good and destroys its socket; it is idempotent. */
  #drop(conn: Connection): void {
    if (conn.gone) return;
    conn.gone = true;
    this.#open.delete(conn);
    const at = this.#idle.indexOf(conn);
    if (at >= 0) this.#idle.splice(at, 1);
    // Destroying the socket (rather than end(), which waits for the server's goodbye) frees it at once,
    // whatever state the protocol is in.
    conn.client.connection.stream.destroy();
  }
}

/** isQueryError tells a server's error reply (which carries an SQLSTATE code) from a connection failure. */
function isQueryError(err: unknown): boolean {
  return (
    err instanceof pg.DatabaseError &&
    typeof err.code === 'string' &&
    !err.code.startsWith('08') &&
    (err as { severity?: unknown }).severity === 'ERROR'
  );
}

/** postgresDatapoints reads rows (array mode) or, for a statement that changes rows, the affected count. */
function postgresDatapoints(result: pg.QueryResult<unknown[]>): Record<string, number> {
  if (result.fields.length === 0 && typeof result.rowCount === 'number' && result.command !== 'SELECT') {
    return appDatapoints({ affectedRows: result.rowCount });
  }
  return appDatapoints(result.rows);
}
