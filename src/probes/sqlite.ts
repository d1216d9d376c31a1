/**
 * sqlite: runs the target's query (default `SELECT 1`, as Directus checks its database) against a SQLite
 * file, opened read-only and never created (a missing file is `io`, a database locked for longer than the
 * busy timeout is `busy`, a statement that would write is refused before it runs).
 *
 * better-sqlite3 is synchronous, and version 12 has no way to interrupt a query (no sqlite3_interrupt, no
 * progress handler): a query runs to its end, or forever, in whatever runs it. Nor can that thread be
 * stopped safely: terminating a worker thread while better-sqlite3 is inside prepare or step aborts the
 * whole process when its error lands in the dying isolate, and a query that never ends keeps its thread
 * (and probex's exit, which joins every thread) forever. So each sqlite prober runs its queries in a child
 * process of its own (workers/sqlite-child.ts, src/probes/sqlite-session.ts), which it can kill whole at
 * any moment without harm: the connection is read-only and SQLite survives a process that dies at any
 * point. The bounds:
 * - a lock is waited for at most `busyTimeoutMs` (half the probe's timeout), then the run is `busy`;
 * - at the deadline of a run whose query is in the child, the child is SIGKILLed and the run is
 *   `timeout`; the next run starts a fresh child. A run still queued behind another (concurrency > 1) or
 *   waiting for a child to start only leaves the queue: a slow start never kills a child;
 * - close (reload, removal, shutdown) SIGKILLs the child and waits for its exit; a child whose parent
 *   is gone (probex killed, the probe worker terminated) kills itself (src/probes/sqlite-watchdog.ts);
 * - a child that dies on its own (a native fault, out of memory) fails the run it held with `worker`,
 *   never probex.
 * One target holds at most one child (two for a moment after a kill), however its queries behave.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase } from './probe.ts';
import type { SqliteSessionOptions } from './sqlite-session.ts';
import { PARENT_WATCH_FD } from './sqlite-watchdog.ts';

export interface SqliteTarget extends TargetBase {
  readonly kind: 'sqlite';
  /** path of an existing SQLite database file; it is opened read-only and never created. */
  readonly path: string;
  readonly query: string;
}

/** SQLITE_CHILD_URL is the child's entry, with this file's extension (.ts under tsx, .js when compiled). */
export const SQLITE_CHILD_URL = new URL(
  `../../workers/sqlite-child${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * SQLITE_CHILD_NODE_FLAGS keep a child small: its heap holds one connection, one prepared statement and
 * one row at a time (rows are stepped through, not collected). SQLite's page cache is native memory.
 */
export const SQLITE_CHILD_NODE_FLAGS: readonly string[] = Object.freeze([
  '--max-old-space-size=32',
  '--max-semi-space-size=1',
]);

/** CLOSE_WAIT_MS bounds how long close waits for a killed child's exit to be reported. */
const CLOSE_WAIT_MS = 2000;

/** SqliteMessage is what the parent sends: the session's options first, then one request at a time. */
export type SqliteMessage =
  { readonly options: SqliteSessionOptions } | { readonly id: number; readonly op: 'run' | 'check' };
/** SqliteReply is the child's answer to a request, or says the child is ready for requests. */
export type SqliteReply = { readonly id: number; readonly outcome: ProbeOutcome } | { readonly ready: true };

/** sqliteProbe makes probers that run a query on a SQLite file in a child process of their own. */
export const sqliteProbe: Probe<SqliteTarget> = {
  kind: 'sqlite',
  create(target: SqliteTarget): Prober {
    return new SqliteProber(target);
  },
};

/** Request is one run (or check) waiting for the child, or in it. */
interface Request {
  readonly id: number;
  readonly op: 'run' | 'check';
  readonly resolve: (outcome: ProbeOutcome) => void;
}

/** QueryChild is one child process and the request it runs. */
interface QueryChild {
  readonly process: ChildProcess;
  /** ready is set once the child has loaded better-sqlite3 and waits for requests. */
  ready: boolean;
  /** running is the request the child runs; the child gets one at a time. */
  running: Request | undefined;
  /** killed says why the parent killed it; undefined while it lives or when it died on its own. */
  killed: 'deadline' | 'close' | undefined;
  /** started resolves once the child is ready, or has ended without being so. */
  readonly started: Promise<void>;
  readonly exit: Promise<void>;
}

/** SqliteProber runs a sqlite target's queries in a child process it kills at a deadline. */
export class SqliteProber implements Prober {
  readonly #target: SqliteTarget;
  /** #child is the child requests go to; undefined until the first run and after a kill or a crash. */
  #child: QueryChild | undefined;
  /** #children holds every child started whose exit is not yet reported, #child among them. */
  readonly #children = new Set<QueryChild>();
  /** #queue holds the requests not sent yet, oldest first. */
  #queue: Request[] = [];
  #nextId = 0;
  #closed = false;

  constructor(target: SqliteTarget) {
    this.#target = target;
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    return this.#ask('run', signal);
  }

  /**
   * check tells whether the target's query would write, without running it (sqlite-session.ts
   * checkQuery): ok, or `other` with the reason. A check that cannot finish is `timeout` or `worker`.
   */
  check(signal: AbortSignal): Promise<ProbeOutcome> {
    return this.#ask('check', signal);
  }

  /** ready starts the child and resolves once it has opened the database and prepared the query, or has ended. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const child = (this.#child ??= this.#spawn());
    return child.ready ? Promise.resolve() : child.started;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closed: ProbeOutcome = { ok: false, reason: 'other', message: 'prober is closed' };
    for (const request of this.#queue.splice(0)) request.resolve(closed);
    const child = this.#child;
    if (child !== undefined) {
      child.running?.resolve(closed);
      child.running = undefined;
      this.#kill(child, 'close');
    }
    // Every child not yet gone (this one, and those killed at a deadline whose exit is not yet reported).
    const exits = [...this.#children].map((c) => {
      c.process.ref(); // until its exit is reported
      return c.exit;
    });
    if (exits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(exits),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS).unref())),
    ]);
    clearTimeout(timer);
  }

  #ask(op: 'run' | 'check', signal: AbortSignal): Promise<ProbeOutcome> {
    let request: Request | undefined;
    let abandon: (() => void) | undefined;
    return settle(
      signal,
      this.#target.timeoutMs,
      () => {
        if (this.#closed)
          return Promise.resolve<ProbeOutcome>({ ok: false, reason: 'other', message: 'prober is closed' });
        return new Promise<ProbeOutcome>((resolve, reject) => {
          request = { id: ++this.#nextId, op, resolve };
          abandon = () => reject(signal.reason);
          this.#queue.push(request);
          this.#pump();
        });
      },
      () => {
        // The deadline passed: a request still queued (or waiting for its child to start) just leaves the
        // queue; one whose query is in the child can only be stopped by killing the child.
        if (request === undefined) return;
        const queued = this.#queue.indexOf(request);
        if (queued >= 0) this.#queue.splice(queued, 1);
        const child = this.#child;
        if (child !== undefined && child.running === request) {
          child.running = undefined;
          this.#kill(child, 'deadline');
        }
        this.#pump();
        abandon?.();
      },
    );
  }

  /**
   * #pump sends the oldest queued request to the child once it is ready and idle, starting one if needed.
   * While a request waits, the child keeps the event loop alive (an answer, or its exit, is due); an
   * idle child never does.
   */
  #pump(): void {
    const child = this.#closed || this.#queue.length === 0 ? this.#child : (this.#child ??= this.#spawn());
    if (child === undefined) return;
    if (child.ready && child.running === undefined && child.process.connected && this.#queue.length > 0) {
      const request = this.#queue.shift()!;
      child.running = request;
      child.process.send({ id: request.id, op: request.op } satisfies SqliteMessage);
    }
    const waiting = child.running !== undefined || this.#queue.length > 0;
    for (const handle of [child.process, child.process.channel]) {
      if (waiting) handle?.ref();
      else handle?.unref();
    }
  }

  #spawn(): QueryChild {
    const { path, query, timeoutMs } = this.#target;
    const proc = fork(fileURLToPath(SQLITE_CHILD_URL), [], {
      execArgv: childExecArgv(),
      // stdin and stdout unused (probex's stdout is its log), stderr shared (a native crash says why there),
      // then the IPC channel and the pipe the child's watchdog reads (PARENT_WATCH_FD).
      stdio: ['ignore', 'ignore', 'inherit', 'ipc', 'pipe'],
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    });
    let exited: () => void = () => undefined;
    let started: () => void = () => undefined;
    const child: QueryChild = {
      process: proc,
      ready: false,
      running: undefined,
      killed: undefined,
      started: new Promise<void>((resolve) => (started = resolve)),
      exit: new Promise<void>((resolve) => (exited = resolve)),
    };
    // A child never keeps probex alive on its own: the prober owns its lifetime (#pump refs it while an
    // answer is due).
    proc.unref();
    (proc.stdio[PARENT_WATCH_FD] as { unref?: () => void } | null)?.unref?.();
    proc.on('message', (reply: SqliteReply) => {
      if ('ready' in reply) {
        child.ready = true;
        started();
      } else if (child.running?.id === reply.id) {
        const request = child.running;
        child.running = undefined;
        request.resolve(reply.outcome);
      }
      if (this.#child === child) this.#pump();
    });
    // 'error': the child could not be started, or a message could not be sent to it (it is dying).
    proc.on('error', (err) => this.#ended(child, `the sqlite process failed: ${String(err)}`));
    proc.on('exit', (code, signal) => {
      this.#children.delete(child);
      this.#ended(child, `the sqlite process ended (${signal ?? `exit code ${code}`})`);
      started();
      exited();
    });
    this.#children.add(child);
    proc.send({ options: { path, query, busyTimeoutMs: Math.floor(timeoutMs / 2) } } satisfies SqliteMessage);
    return child;
  }

  /**
   * #ended handles a child that is gone or failing. The parent killed it: nothing to report (the run it
   * held settled already). It died on its own: the run it held is `worker`; if it died before it was ready
   * (better-sqlite3 does not load), every queued run is too, instead of each starting another child.
   */
  #ended(child: QueryChild, why: string): void {
    if (this.#child === child) this.#child = undefined;
    if (child.killed === undefined) {
      const failed: ProbeOutcome = {
        ok: false,
        reason: 'worker',
        message: `${why} ${child.ready ? 'while running the query' : 'before it was ready'}`,
      };
      child.running?.resolve(failed);
      if (!child.ready) for (const request of this.#queue.splice(0)) request.resolve(failed);
      this.#kill(child, 'close');
    }
    child.running = undefined;
    this.#pump();
  }

  #kill(child: QueryChild, why: 'deadline' | 'close'): void {
    if (this.#child === child) this.#child = undefined;
    child.killed ??= why;
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  }
}

/**
 * childExecArgv are the child's node flags: SQLITE_CHILD_NODE_FLAGS, and, when running from .ts sources,
 * tsx's loader (resolved from probex's own node_modules, whatever the working directory), as the parent
 * has it. The build's .js needs no loader.
 */
function childExecArgv(): string[] {
  if (!SQLITE_CHILD_URL.pathname.endsWith('.ts')) return [...SQLITE_CHILD_NODE_FLAGS];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [...SQLITE_CHILD_NODE_FLAGS, '--import', tsx];
}
