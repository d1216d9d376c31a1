/**
 * postgres: runs the target's query (default `SELECT 1`, as Directus checks its database) over pg
 * clients kept open between runs, at most `concurrency` of them (Sessions, ./sessions.ts).
 *
 * A probe leaves nothing running on the server. At the deadline the query is cancelled with PostgreSQL's
 * CancelRequest, sent on a short-lived connection of its own (cancelRequest); the query then ends with
 * 57014 query_canceled, the run is `timeout`, and the session is kept for the next run. A session whose
 * cancel fails, or whose query has not ended CANCEL_GRACE_MS after the deadline, is destroyed, and so is a
 * handshake cut short by the deadline (a server that accepts and never answers). As a backstop each
 * session sets `statement_timeout` a little above the probe's timeout (backstopMs), as a startup
 * parameter: it holds for this session only, so no pooler can carry it over to another client's (a `SET`
 * would, on a server connection a transaction-mode pooler shares). A pooler that refuses the parameter
 * (PgBouncer: "unsupported startup parameter") gets sessions without it; the CancelRequest, which
 * PgBouncer forwards, still comes first.
 *
 * A client that errors or ends (server restart, pg_terminate_backend, network cut) is dropped; the next run
 * opens a fresh one. Every connect happens inside some run's deadline; nothing reconnects in the background.
 */
import type { TLSSocket } from 'node:tls';
import pg from 'pg';
import { settle } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { backstopMs, CANCEL_GRACE_MS, Sessions } from './sessions.ts';
import { CertificateWatch, clientTlsOptions } from './tls.ts';

export interface PostgresTarget extends TargetBase {
  readonly kind: 'postgres';
  /** url like postgres://user:pass@host:5432/db (postgresql:// too); `?sslmode=` is read as pg reads it. */
  readonly url: string;
  readonly query: string;
  /** tls, when set, connects with TLS (`tls: true` is DEFAULT_TLS); `?sslmode=` in the URL is pg's own. */
  readonly tls?: TargetTls;
  /** directusClient is Directus's DB_CLIENT for this database (directus_db_<client>_*): pg, postgres or cockroachdb. */
  readonly directusClient?: PostgresDirectusClient;
}
type PostgresDirectusClient = 'pg' | 'postgres' | 'cockroachdb';

/** POSTGRES_APPLICATION_NAME_PREFIX starts the application_name of every probe connection (`probex:<target>`). */
export const POSTGRES_APPLICATION_NAME_PREFIX = 'probex:';

/** postgresProbe makes probers that run a query against PostgreSQL (or a server speaking its protocol). */
export const postgresProbe: Probe<PostgresTarget> = {
  kind: 'postgres',
  create(target: PostgresTarget): Prober {
    return new PostgresProber(target);
  },
};

class PostgresProber implements Prober {
  readonly #target: PostgresTarget;
  readonly #sessions: Sessions<pg.Client>;
  /** #watch reads the server's certificate, for a target that connects with TLS (`tls`, or `?ssl…=` in its URL). */
  readonly #watch: CertificateWatch | undefined;
  /** #backstop is false once the server (a pooler) refused `statement_timeout` as a startup parameter. */
  #backstop = true;

  constructor(target: PostgresTarget) {
    this.#target = target;
    this.#watch = target.tls !== undefined || /[?&]ssl/i.test(target.url) ? new CertificateWatch() : undefined;
    this.#sessions = new Sessions(
      {
        open: (signal, lost) => this.#open(signal, lost),
        cancel: cancelRequest,
        end: endSession,
        destroy: (client) => client.connection.stream.destroy(),
      },
      target.concurrency,
    );
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    const outcome = settle(signal, this.#target.timeoutMs, async () => {
      const query = { text: this.#target.query, rowMode: 'array' } as const;
      const result = await this.#sessions.use(signal, (client) => client.query(query), isQueryError);
      return { ok: true, app: postgresDatapoints(result) };
    });
    const watch = this.#watch;
    return watch === undefined ? outcome : outcome.then((o) => watch.stamp(o));
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  /** #open connects a client; the deadline destroys its socket, whatever state the handshake is in. */
  async #open(signal: AbortSignal, lost: () => void): Promise<pg.Client> {
    const backstop = this.#backstop;
    const client = new pg.Client({
      connectionString: this.#target.url,
      application_name: `${POSTGRES_APPLICATION_NAME_PREFIX}${this.#target.name}`,
      keepAlive: true,
      ...(backstop ? { statement_timeout: backstopMs(this.#target.timeoutMs) } : {}),
      ...(this.#target.tls === undefined ? {} : { ssl: clientTlsOptions(this.#target.tls) }),
    });
    // pg emits 'sslconnect' once it has wrapped its socket in TLS, before the handshake completes.
    const watch = this.#watch;
    if (watch !== undefined)
      client.connection.once('sslconnect', () => watch.watch(client.connection.stream as TLSSocket));
    // Without an 'error' listener, an error on an idle client (the server ended the session) would crash
    // the worker thread; a run waiting on the client sees the same error as its own rejection.
    client.on('error', lost);
    client.on('end', lost);
    const onDeadline = (): void => void client.connection.stream.destroy();
    signal.addEventListener('abort', onDeadline, { once: true });
    try {
      await client.connect();
      return client;
    } catch (err) {
      client.connection.stream.destroy();
      if (backstop && /unsupported startup parameter/i.test(String((err as Error).message))) {
        this.#backstop = false;
        if (!signal.aborted) return this.#open(signal, lost);
      }
      throw err;
    } finally {
      signal.removeEventListener('abort', onDeadline);
    }
  }
}

/** endSession says goodbye (Terminate) and waits for the server to close, at most CANCEL_GRACE_MS. */
async function endSession(client: pg.Client): Promise<void> {
  const timer = setTimeout(() => client.connection.stream.destroy(), CANCEL_GRACE_MS);
  try {
    await client.end();
  } catch {
    client.connection.stream.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/** CancelConnection is the part of pg's Connection (untyped in @types/pg) a CancelRequest needs. */
interface CancelConnection {
  readonly stream: { destroy(): void };
  connect(port: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
  on(event: 'connect' | 'end' | 'error', listener: () => void): void;
}

/**
 * cancelRequest sends PostgreSQL's CancelRequest for `client`'s backend on a connection of its own, the way
 * pg's Client.cancel does (pg's Connection: TCP, or the unix socket for a socket directory; a cancel needs
 * no TLS and no login, the backend's process id and secret key are its credentials). It resolves true once
 * the server, having passed the request on, closes that connection; false on any failure or at `signal`.
 */
function cancelRequest(client: pg.Client, signal: AbortSignal): Promise<boolean> {
  const { processID, secretKey } = client as unknown as { processID: number | null; secretKey: number | null };
  if (processID === null || secretKey === null) return Promise.resolve(false);
  const con = new pg.Connection() as unknown as CancelConnection;
  return new Promise<boolean>((resolve) => {
    let sent = false;
    const done = (ok: boolean): void => {
      signal.removeEventListener('abort', onAbort);
      con.stream.destroy();
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    signal.addEventListener('abort', onAbort, { once: true });
    con.on('connect', () => {
      con.cancel(processID, secretKey);
      sent = true;
    });
    con.on('end', () => done(sent));
    con.on('error', () => done(false));
    if (client.host.startsWith('/')) con.connect(`${client.host}/.s.PGSQL.${client.port}`);
    else con.connect(client.port, client.host);
  });
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
