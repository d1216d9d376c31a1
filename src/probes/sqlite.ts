/**
 * sqlite: runs the target's query (default `SELECT 1`, as Directus checks its database) against a SQLite
 * file, opened read-only and never created (a missing file is `io`, a database locked for longer than the
 * busy timeout is `busy`).
 *
 * better-sqlite3 is synchronous: a query runs to its end on the thread that started it, and version 12
 * has no way to interrupt it (no sqlite3_interrupt, no progress handler). Run on a probe worker, one slow
 * query would stall every other target of that worker, so each sqlite prober runs its queries on a
 * thread of its own (workers/sqlite-worker.ts, src/probes/sqlite-session.ts), and the probe worker only
 * waits for a message. The bounds:
 * - a lock is waited for at most `busyTimeoutMs` (half the probe's timeout), then the run is `busy`;
 * - at the deadline the run stops waiting (`timeout`) and the thread is told to terminate. A query that is
 *   still running ends when SQLite gives control back, not sooner (a terminate cannot stop native code),
 *   so until that thread has exited, this target's runs settle `timeout` at once and start no second
 *   thread: one target holds at most one thread busy, whatever its query does;
 * - that thread's query keeps its core busy until it ends, and probex's exit waits for it (Node joins
 *   every thread on exit). Keep `query` cheap; the default SELECT 1 takes microseconds.
 */
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, SqliteTarget } from './probe.ts';
import type { SqliteSessionOptions } from './sqlite-session.ts';

/** SQLITE_WORKER_URL is the thread entry, with this file's extension (.ts under tsx, .js when compiled). */
export const SQLITE_WORKER_URL = new URL(
  `../../workers/sqlite-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * SQLITE_THREAD_LIMITS keep a sqlite thread's heap small: it holds one connection, one prepared statement
 * and one row at a time (rows are stepped through, not collected).
 */
export const SQLITE_THREAD_LIMITS = Object.freeze({ maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 48 });

/** SqliteRequest asks the thread for one run; SqliteReply is its answer, or says the thread is ready. */
export interface SqliteRequest {
  readonly id: number;
}
export type SqliteReply = { readonly id: number; readonly outcome: ProbeOutcome } | { readonly ready: true };

/** sqliteProbe makes probers that run a query on a SQLite file from a thread of their own. */
export const sqliteProbe: Probe<'sqlite'> = {
  kind: 'sqlite',
  create(target: SqliteTarget): Prober {
    return new SqliteProber(target);
  },
};

/** QueryThread is one sqlite thread and the runs waiting for its answers. */
interface QueryThread {
  readonly worker: Worker;
  readonly waiting: Map<number, (outcome: ProbeOutcome) => void>;
  /** ready is set once the thread has loaded its modules and waits for requests. */
  ready: boolean;
  exited: boolean;
}

class SqliteProber implements Prober {
  readonly #target: SqliteTarget;
  /** #thread is the thread runs go to; undefined until the first run and after it was retired. */
  #thread: QueryThread | undefined;
  /** #retired is the thread a deadline terminated, until it has exited. */
  #retired: QueryThread | undefined;
  #nextId = 0;
  #closed = false;

  constructor(target: SqliteTarget) {
    this.#target = target;
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    let asked: QueryThread | undefined;
    let abandon: (() => void) | undefined;
    return settle(
      signal,
      this.#target.timeoutMs,
      () => {
        if (this.#closed)
          return Promise.resolve<ProbeOutcome>({ ok: false, reason: 'other', message: 'prober is closed' });
        if (this.#retired !== undefined && !this.#retired.exited) {
          return Promise.resolve<ProbeOutcome>({
            ok: false,
            reason: 'timeout',
            message: 'an earlier query that missed its deadline is still running (SQLite cannot interrupt it)',
          });
        }
        const thread = this.#live();
        asked = thread;
        return new Promise<ProbeOutcome>((resolve, reject) => {
          const id = ++this.#nextId;
          thread.waiting.set(id, resolve);
          abandon = () => {
            thread.waiting.delete(id);
            reject(signal.reason);
          };
          thread.worker.postMessage({ id } satisfies SqliteRequest);
        });
      },
      () => {
        // The deadline passed with the query still on its thread: stop waiting for it and retire that
        // thread. A thread still starting (loading its modules takes a few hundred ms under tsx) is left
        // to start: it runs no query yet, and retiring it would make a slow start a failure on every run.
        abandon?.();
        if (asked?.ready === true) this.#retire(asked);
      },
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#thread !== undefined) this.#retire(this.#thread);
    return Promise.resolve();
  }

  /** #live returns the thread runs go to, starting one when there is none. */
  #live(): QueryThread {
    if (this.#thread !== undefined && !this.#thread.exited) return this.#thread;
    const { path, query, timeoutMs } = this.#target;
    const workerData: SqliteSessionOptions = { path, query, busyTimeoutMs: Math.floor(timeoutMs / 2) };
    const worker = new Worker(threadBootstrap(SQLITE_WORKER_URL), {
      eval: true,
      workerData,
      resourceLimits: SQLITE_THREAD_LIMITS,
    });
    // An idle sqlite thread never keeps a process alive on its own; the probe worker owns its lifetime.
    worker.unref();
    const thread: QueryThread = { worker, waiting: new Map(), ready: false, exited: false };
    worker.on('message', (reply: SqliteReply) => {
      if ('ready' in reply) {
        thread.ready = true;
        return;
      }
      const resolve = thread.waiting.get(reply.id);
      thread.waiting.delete(reply.id);
      resolve?.(reply.outcome);
    });
    // A thread that fails (its native module does not load, its heap limit is hit) fails the runs waiting
    // on it; the next run starts a new one.
    worker.on('error', (err) =>
      finish(thread, { ok: false, reason: 'worker', message: `sqlite thread failed: ${String(err)}` }),
    );
    worker.on('exit', (code) => {
      thread.exited = true;
      finish(thread, { ok: false, reason: 'timeout', message: `the sqlite thread ended (${code}) before answering` });
      if (this.#thread === thread) this.#thread = undefined;
      if (this.#retired === thread) this.#retired = undefined;
    });
    this.#thread = thread;
    return thread;
  }

  /** #retire terminates a thread; it exits once the query it runs (if any) gives control back. */
  #retire(thread: QueryThread): void {
    if (this.#thread === thread) this.#thread = undefined;
    if (thread.exited || this.#retired === thread) return;
    this.#retired = thread;
    void thread.worker.terminate();
  }
}

/** finish settles every run still waiting on a thread with `outcome`. */
function finish(thread: QueryThread, outcome: ProbeOutcome): void {
  for (const resolve of thread.waiting.values()) resolve(outcome);
  thread.waiting.clear();
}

/**
 * threadBootstrap is the eval'd entry of the sqlite thread. Node 20 does not apply the parent's loader hooks
 * (tsx) to a worker, so when running from .ts sources the thread registers tsx's CommonJS hook and requires
 * its module through it; compiled .js is imported as it is. Both paths are resolved here, from probex's own
 * node_modules, whatever the process's working directory (and this module may itself have been loaded as
 * CommonJS by tsx, in a Piscina worker, where import.meta.resolve does not exist).
 */
function threadBootstrap(url: URL): string {
  if (!url.pathname.endsWith('.ts')) return `import(${JSON.stringify(url.href)})`;
  const api = createRequire(import.meta.url).resolve('tsx/cjs/api');
  return `require(${JSON.stringify(api)}).register(); require(${JSON.stringify(fileURLToPath(url))});`;
}
