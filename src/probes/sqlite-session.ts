/**
 * The SQLite side of the sqlite kind: it runs on the target's own thread (workers/sqlite-worker.ts), opens
 * the database with better-sqlite3 and runs the target's query, synchronously, one run at a time. Only this
 * file imports better-sqlite3, so a native build that fails to load takes down that thread alone (its runs
 * report `worker`), never a probe worker.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { outcomeFromError } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { ProbeOutcome } from './probe.ts';

/** SqliteSessionOptions are what the thread is started with (its workerData). */
export interface SqliteSessionOptions {
  readonly path: string;
  readonly query: string;
  /** busyTimeoutMs is how long a query waits on a locked database before it fails with `busy`. */
  readonly busyTimeoutMs: number;
}

/**
 * SqliteSession keeps one read-only connection open between runs and re-opens it when the file at `path`
 * is no longer the one it opened (replaced by a restore, or deleted: an open handle would go on reading the
 * old inode and report a database that is gone as healthy).
 */
export class SqliteSession {
  readonly #options: SqliteSessionOptions;
  #db: Database.Database | undefined;
  #statement: Database.Statement | undefined;
  /** #identity is `dev:ino` of the file the connection opened. */
  #identity = '';

  constructor(options: SqliteSessionOptions) {
    this.#options = options;
  }

  /** run runs the query once and never throws; latencyUs is the query's own time on this thread. */
  run(): ProbeOutcome {
    try {
      const statement = this.#prepared();
      const t0 = performance.now();
      const app = statement.reader ? readRows(statement) : appDatapoints({ affectedRows: statement.run().changes });
      return { ok: true, app, latencyUs: (performance.now() - t0) * 1000 };
    } catch (err) {
      const outcome = outcomeFromError(err);
      // A busy database or an SQL error leaves the connection as good as it was; anything else (I/O,
      // a corrupt or replaced file) may not, so the next run opens the file afresh.
      if (outcome.ok || (outcome.reason !== 'busy' && outcome.reason !== 'other')) this.close();
      return outcome;
    }
  }

  close(): void {
    this.#statement = undefined;
    this.#db?.close();
    this.#db = undefined;
  }

  #prepared(): Database.Statement {
    // statSync throws ENOENT (`io`) for a missing file: the probe never creates one.
    const stat = statSync(this.#options.path);
    const identity = `${stat.dev}:${stat.ino}`;
    if (this.#db !== undefined && identity !== this.#identity) this.close();
    if (this.#db === undefined) {
      this.#db = new Database(this.#options.path, {
        readonly: true,
        fileMustExist: true,
        timeout: this.#options.busyTimeoutMs,
      });
      this.#identity = identity;
    }
    if (this.#statement === undefined) {
      const statement = this.#db.prepare(this.#options.query);
      this.#statement = statement.reader ? statement.raw(true) : statement;
    }
    return this.#statement;
  }
}

/**
 * readRows steps through the result without keeping it: `rows` and, for a single one-cell row, its
 * `value`, as the other database kinds report them. A query that returns a million rows costs their
 * reading, not their memory.
 */
function readRows(statement: Database.Statement): Record<string, number> {
  let rows = 0;
  let first: unknown;
  for (const row of statement.iterate()) {
    if (rows === 0) first = row;
    rows++;
  }
  return rows === 1 ? appDatapoints([first]) : { rows };
}
