/**
 * The SQLite side of the sqlite kind: it runs in the target's own child process (workers/sqlite-child.ts),
 * opens the database with better-sqlite3 and runs the target's query, synchronously, one run at a time.
 * Only this file imports better-sqlite3, so a native build that fails to load, or a native fault, takes
 * down that process alone (its runs report `worker`), never probex.
 *
 * Only read-only statements run: better-sqlite3's `readonly` (sqlite3_stmt_readonly) is checked after
 * prepare and before the first step. A read-only connection alone does not make a query harmless:
 * `VACUUM INTO '/any/path'` writes a new file from one.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { outcomeFromError } from './classify.ts';
import { appDatapoints } from './datapoints.ts';
import type { ProbeOutcome } from './probe.ts';

/** SqliteSessionOptions are what the child process is started with (its first message). */
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

  /** run runs the query once and never throws; latencyUs is the query's own time in this process. */
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
      const statement = readOnly(this.#db.prepare(this.#options.query));
      this.#statement = statement.reader ? statement.raw(true) : statement;
    }
    return this.#statement;
  }
}

/** NOT_READ_ONLY says why a query is refused; checkQuery and run both use it. */
const NOT_READ_ONLY =
  'query is not read-only (SQLite would write with it: INSERT, VACUUM INTO, PRAGMA x=..., ...); a sqlite target runs only read-only statements';

/** NotReadOnlyError is thrown for a prepared statement that would write; it is reported as `other`. */
class NotReadOnlyError extends Error {
  override readonly name = 'NotReadOnlyError';
  readonly code = 'EXPORTER_SQLITE_NOT_READ_ONLY';
  constructor() {
    super(NOT_READ_ONLY);
  }
}

function readOnly(statement: Database.Statement): Database.Statement {
  if (!statement.readonly) throw new NotReadOnlyError();
  return statement;
}

/**
 * checkQuery tells, without running it, whether `query` would write: it prepares the query on the file
 * (read-only, without waiting for a lock: a prepare reads only the schema) or, when that cannot be done (a
 * missing or locked file), on an empty in-memory database. It returns NOT_READ_ONLY for a query that
 * would write, and undefined when it is read-only or when neither could prepare it (a query on tables
 * only the file has, while the file cannot be read: each run checks again).
 */
export function checkQuery(path: string, query: string): string | undefined {
  const readonly =
    isReadOnly(() => new Database(path, { readonly: true, fileMustExist: true, timeout: 0 }), query) ??
    isReadOnly(() => new Database(':memory:'), query);
  return readonly === false ? NOT_READ_ONLY : undefined;
}

/** isReadOnly prepares `query` on the database `open` opens; undefined when it cannot be opened or prepared there. */
function isReadOnly(open: () => Database.Database, query: string): boolean | undefined {
  let db: Database.Database | undefined;
  try {
    db = open();
    return db.prepare(query).readonly;
  } catch {
    // A missing or locked file, a table an empty database lacks: not decidable on this database.
    return undefined;
  } finally {
    db?.close();
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
