/**
 * Sessions: the database sessions of one target in one worker (postgres, mysql), kept between runs and
 * never more than the target's `concurrency`, with what each kind needs to leave its server as it found it.
 *
 * A run takes an idle session, opens one (its handshake under the run's deadline: a handshake cut short is
 * destroyed) or, when `concurrency` are open and busy, waits for one within its deadline rather than open
 * another: a server too slow to answer is never given one more session a round. At the deadline the query
 * is cancelled on the server (the kind's `cancel`: PostgreSQL's CancelRequest, MySQL's `KILL QUERY`, each
 * on a short-lived second connection). A session whose query then ends within CANCEL_GRACE_MS of the
 * deadline is kept and reused; one whose cancel failed, or whose query does not end in time, is
 * destroyed. close() (a reload that removes or changes the target, shutdown) cancels what runs, says
 * goodbye on idle sessions and resolves within CANCEL_GRACE_MS.
 */

/**
 * CANCEL_GRACE_MS is how long after a deadline the server has to cancel the query and answer for it: a
 * session that has not answered by then is in a state nobody knows, and is destroyed.
 */
export const CANCEL_GRACE_MS = 500;

/**
 * backstopMs is the server-side limit a session sets on each statement (PostgreSQL `statement_timeout`,
 * MariaDB `max_statement_time`, MySQL `max_execution_time`): a little above the probe's timeout, so the
 * probe's own cancel comes first and the server ends a query by itself if the cancel never arrives.
 */
export function backstopMs(timeoutMs: number): number {
  return timeoutMs + Math.max(100, Math.ceil(timeoutMs / 10));
}

/** SessionKind is what Sessions needs of a kind's client library. */
export interface SessionKind<S> {
  /**
   * open connects a session and resolves once it can run queries. At `signal`'s abort, or on any failure,
   * it destroys what it opened and rejects. `lost` is to be called whenever the session breaks by itself
   * (an error or end event: the server went away), then or later.
   */
  open(signal: AbortSignal, lost: () => void): Promise<S>;
  /**
   * cancel asks the server, on a connection of its own, to cancel what `session` runs; it resolves true
   * once the server took the request, false if it could not be sent. At `signal`'s abort (the grace is
   * over) it closes that connection and resolves false.
   */
  cancel(session: S, signal: AbortSignal): Promise<boolean>;
  /** end says goodbye on an idle session and resolves once its socket is closed; it never rejects. */
  end(session: S): Promise<void>;
  /** destroy closes a session's socket at once, whatever state the protocol is in. */
  destroy(session: S): void;
}

/** SessionsClosedError is what a run gets from Sessions that are closed. */
class SessionsClosedError extends Error {
  override readonly name = 'SessionsClosedError';
}

interface Entry<S> {
  session: S | undefined;
  /** running is the query in flight; cancelling its cancel, once the deadline came. */
  running: Promise<unknown> | undefined;
  cancelling: Promise<void> | undefined;
  gone: boolean;
}

export class Sessions<S> {
  readonly #kind: SessionKind<S>;
  readonly #limit: number;
  /** #count is the sessions open or opening: never above #limit. */
  #count = 0;
  readonly #idle: Array<Entry<S>> = [];
  /** #busy are the sessions a run uses (or cancels). */
  readonly #busy = new Set<Entry<S>>();
  /** #waiting are the runs waiting for a session: each is woken when one is released or dropped. */
  readonly #waiting = new Set<() => void>();
  #closed = false;

  constructor(kind: SessionKind<S>, limit: number) {
    this.#kind = kind;
    this.#limit = Math.max(1, limit);
  }

  /**
   * use runs `query` on a session under `signal` (the run's deadline) and returns its result; it rejects
   * with the query's error, or the session's. `keeps` tells an error that leaves the session usable (a
   * server's error reply) from one that ended it. The run settles (a deadline cancels, then waits for the
   * query to end) only once the session is back among the idle or destroyed.
   */
  async use<T>(signal: AbortSignal, query: (session: S) => Promise<T>, keeps: (err: unknown) => boolean): Promise<T> {
    const entry = await this.#take(signal);
    if (signal.aborted) {
      this.#release(entry, true); // the deadline came as the session was handed over: nothing runs on it yet
      throw signal.reason;
    }
    let running: Promise<T>;
    try {
      running = query(entry.session!);
    } catch (err) {
      running = Promise.reject(err);
    }
    entry.running = running;
    const onDeadline = (): void => void this.#cancel(entry);
    signal.addEventListener('abort', onDeadline, { once: true });
    let keep = false;
    try {
      const result = await running;
      keep = true;
      return result;
    } catch (err) {
      keep = keeps(err);
      throw err;
    } finally {
      signal.removeEventListener('abort', onDeadline);
      entry.running = undefined;
      // A cancel on its way must be done before the session runs anything else, or it would cancel that.
      if (entry.cancelling !== undefined) await entry.cancelling;
      entry.cancelling = undefined;
      this.#release(entry, keep);
    }
  }

  /** close cancels the queries running, ends the idle sessions and resolves once both are done (bounded). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#waiting) wake();
    const done: Array<Promise<void>> = [];
    for (const entry of this.#idle.splice(0)) {
      entry.gone = true;
      this.#count--;
      done.push(this.#kind.end(entry.session!));
    }
    // A busy session is released (and so retired: closed) by its run once its query ended.
    for (const entry of this.#busy) if (entry.running !== undefined) done.push(this.#cancel(entry));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(done), new Promise((resolve) => (timer = setTimeout(resolve, CANCEL_GRACE_MS)))]);
    clearTimeout(timer);
  }

  /** #take returns an idle session, a new one, or the first one released, within the run's deadline. */
  async #take(signal: AbortSignal): Promise<Entry<S>> {
    for (;;) {
      if (this.#closed) throw new SessionsClosedError('the target was closed');
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        this.#busy.add(idle);
        return idle;
      }
      if (this.#count < this.#limit) return this.#open(signal);
      await this.#freed(signal);
    }
  }

  async #open(signal: AbortSignal): Promise<Entry<S>> {
    if (signal.aborted) throw signal.reason;
    const entry: Entry<S> = { session: undefined, running: undefined, cancelling: undefined, gone: false };
    this.#count++;
    this.#busy.add(entry);
    try {
      entry.session = await this.#kind.open(signal, () => this.#drop(entry));
    } catch (err) {
      this.#drop(entry);
      throw err;
    }
    if (entry.gone || this.#closed) {
      this.#drop(entry);
      this.#kind.destroy(entry.session);
      throw new SessionsClosedError(this.#closed ? 'the target was closed' : 'the session ended as it opened');
    }
    return entry;
  }

  /** #freed resolves when a session is released or dropped, and rejects at the deadline. */
  #freed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        this.#waiting.delete(wake);
        signal.removeEventListener('abort', onDeadline);
        resolve();
      };
      const onDeadline = (): void => {
        this.#waiting.delete(wake);
        reject(signal.reason);
      };
      if (signal.aborted) return onDeadline();
      this.#waiting.add(wake);
      signal.addEventListener('abort', onDeadline, { once: true });
    });
  }

  /**
   * #cancel cancels the query of a busy session on the server and waits for the query to end, at most
   * CANCEL_GRACE_MS in all; a session whose cancel failed or whose query has not ended by then is
   * destroyed. One cancel per query, however often it is asked for.
   */
  #cancel(entry: Entry<S>): Promise<void> {
    const running = entry.running;
    if (running === undefined || entry.gone) return Promise.resolve();
    entry.cancelling ??= (async () => {
      const grace = new AbortController();
      const timer = setTimeout(() => grace.abort(), CANCEL_GRACE_MS);
      const over = new Promise<false>((resolve) => grace.signal.addEventListener('abort', () => resolve(false)));
      const ended = running.then(
        () => true,
        () => true,
      );
      try {
        // Even a query that ends meanwhile waits for its cancel: one still on its way could hit the next query.
        const sent = await this.#kind.cancel(entry.session!, grace.signal).catch(() => false);
        if (!sent || !(await Promise.race([ended, over]))) this.#drop(entry);
      } finally {
        clearTimeout(timer);
        grace.abort();
      }
    })();
    return entry.cancelling;
  }

  /** #release puts a session back after a run: idle when `keep`, else (or once closed) it is retired. */
  #release(entry: Entry<S>, keep: boolean): void {
    this.#busy.delete(entry);
    if (entry.gone) return;
    if (!keep) this.#drop(entry);
    else if (this.#closed) {
      entry.gone = true;
      this.#count--;
      void this.#kind.end(entry.session!);
    } else {
      this.#idle.push(entry);
      this.#wakeOne();
    }
  }

  /** #drop retires a session for good and destroys it; idempotent. */
  #drop(entry: Entry<S>): void {
    if (entry.gone) return;
    entry.gone = true;
    this.#count--;
    this.#busy.delete(entry);
    const at = this.#idle.indexOf(entry);
    if (at >= 0) this.#idle.splice(at, 1);
    if (entry.session !== undefined) this.#kind.destroy(entry.session);
    this.#wakeOne();
  }

  #wakeOne(): void {
    for (const wake of this.#waiting) return wake();
  }
}
