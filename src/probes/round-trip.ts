/**
 * The message round trip the broker kinds (amqp, mqtt, nats) share: a prober keeps one session (a
 * connection with what it needs to receive: channel and queue, or subscription) and each run sends one
 * message to itself through the broker and waits for it to come back. A kind supplies only how a session
 * opens (OpenSession) and which of its library's errors mean what; the keeping, the deadline and the
 * cleanup live here once.
 *
 * The do-no-harm rules, as this class keeps them:
 * - One session per prober, shared by concurrent runs: each run's message carries its own id, and the
 *   arrival is handed to the run that waits for it.
 * - A session is opened only inside a run, under that run's deadline: concurrent runs that find none share
 *   one opening, and when every run that waits on it has given up (its deadline passed) the opening is
 *   cancelled (the kind's OpenSession gets an AbortSignal). A session that opens anyway after all its
 *   runs left is closed at once: nothing connects in the background.
 * - A session that breaks (the broker closed it, the socket failed) is dropped; the next run opens a new one.
 * - A run whose message does not come back by its deadline is `timeout`, and its session is dropped:
 *   closing the connection is how a broker forgets what the session had (its queue, its subscription,
 *   a message still queued), so a stalled broker does not collect one message a run. The other runs on
 *   that session are `timeout` too.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { failureOutcome, settle } from './classify.ts';
import type { ProbeFailureReason, ProbeOutcome, Prober } from './probe.ts';
import type { CertificateWatch } from './tls.ts';

/** Session is one open connection of a broker kind, ready to carry round trips. */
export interface Session {
  /** send publishes a message whose body is `body` to where this session receives; it may throw. */
  send(body: string): void;
  /** close closes the connection and forgets it; it never throws and is called at most once. */
  close(): void;
}

/** SessionEvents are how a session reports back to its prober. */
export interface SessionEvents {
  /** received hands over the body of a message that came back. */
  received(body: string): void;
  /** broken says the connection is gone (closed by the broker, socket failed), with why. */
  broken(err: unknown): void;
}

/**
 * OpenSession opens a session: connect, authenticate, set up what receives. It must give up soon after
 * `signal` aborts (rejecting), and close whatever it had opened when it fails.
 */
type OpenSession = (signal: AbortSignal, events: SessionEvents) => Promise<Session>;

/** ClassifyError maps a kind's library error to a reason, or undefined for the shared classification. */
type ClassifyError = (err: unknown) => ProbeFailureReason | undefined;

/** RoundTripOptions are a broker kind's parts of a RoundTripProber. */
export interface RoundTripOptions {
  readonly timeoutMs: number;
  readonly open: OpenSession;
  readonly classify?: ClassifyError;
  /** certificates, for a TLS target, stamps the certificate dates on every outcome. */
  readonly certificates?: CertificateWatch;
  /** afterFailure runs after a failed run of a TLS target (to read a rejected certificate; see tls.ts). */
  readonly afterFailure?: (reason: ProbeFailureReason, signal: AbortSignal) => Promise<void>;
}

/** SessionLostError is how a run learns that its session's connection went away (reason `reset`). */
export class SessionLostError extends Error {
  override readonly name = 'SessionLostError';
  readonly code = 'ERR_SOCKET_CLOSED';
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** ConcurrentDeadlineError fails the runs on a session that another run's deadline dropped (`timeout`). */
class ConcurrentDeadlineError extends Error {
  override readonly name = 'TimeoutError';
}

/** Kept is a session and the runs waiting for their message on it. */
interface Kept {
  session: Session | undefined;
  readonly waiting: Map<string, { resolve: () => void; reject: (err: unknown) => void }>;
  gone: boolean;
}

/** Opening is a session being opened, shared by the runs that wait for it. */
interface Opening {
  readonly kept: Promise<Kept>;
  readonly controller: AbortController;
  runs: number;
}

/** RoundTripProber runs message round trips over one kept session (see the file comment). */
export class RoundTripProber implements Prober {
  readonly #options: RoundTripOptions;
  #kept: Kept | undefined;
  #opening: Opening | undefined;
  #closed = false;
  /** #sequence numbers the messages; ids are unique within the prober, whose session is its own. */
  #sequence = 0;

  constructor(options: RoundTripOptions) {
    this.#options = options;
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    const { timeoutMs, certificates, afterFailure } = this.#options;
    let outcome = settle(signal, timeoutMs, () => this.#roundTrip(signal));
    if (afterFailure !== undefined)
      outcome = outcome.then(async (o) => {
        if (!o.ok && !signal.aborted) await afterFailure(o.reason, signal);
        return o;
      });
    return certificates === undefined ? outcome : outcome.then((o) => certificates.stamp(o));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#opening?.controller.abort(new SessionLostError('the prober closed'));
    this.#opening = undefined;
    if (this.#kept !== undefined) this.#drop(this.#kept, new SessionLostError('the prober closed'));
    return Promise.resolve();
  }

  async #roundTrip(signal: AbortSignal): Promise<ProbeOutcome> {
    if (this.#closed) return { ok: false, reason: 'other', message: 'prober is closed' };
    try {
      const kept = await this.#session(signal);
      const id = String(++this.#sequence);
      const t0 = performance.now();
      await this.#expect(kept, id, signal);
      return { ok: true, latencyUs: (performance.now() - t0) * 1000 };
    } catch (err) {
      const reason = signal.aborted ? undefined : this.#options.classify?.(err);
      if (reason !== undefined) return failureOutcome(reason, err);
      throw err; // settle classifies it (as `timeout` once the signal aborted)
    }
  }

  /** #expect sends message `id` on the session and resolves when it comes back. */
  #expect(kept: Kept, id: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        kept.waiting.delete(id);
        reject(signal.reason);
        this.#drop(
          kept,
          new ConcurrentDeadlineError(
            `session dropped: a concurrent message did not come back within ${this.#options.timeoutMs} ms`,
          ),
        );
      };
      const done = (): void => signal.removeEventListener('abort', onAbort);
      kept.waiting.set(id, {
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        kept.session!.send(id);
      } catch (err) {
        kept.waiting.get(id)?.reject(err);
        kept.waiting.delete(id);
        this.#drop(kept, new SessionLostError('session dropped after a failed send', err));
      }
    });
  }

  /** #session resolves the kept session, opening one (or joining the opening in flight) when there is none. */
  #session(signal: AbortSignal): Promise<Kept> {
    const kept = this.#kept;
    if (kept !== undefined && !kept.gone) return Promise.resolve(kept);
    const opening = (this.#opening ??= this.#open());
    opening.runs++;
    return new Promise<Kept>((resolve, reject) => {
      let waiting = true;
      const leave = (): void => {
        waiting = false;
        opening.runs--;
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        leave();
        // The last run waiting for this opening gave up: nobody wants it any more, so it is cancelled.
        if (opening.runs === 0) {
          opening.controller.abort(signal.reason);
          if (this.#opening === opening) this.#opening = undefined;
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      opening.kept.then(
        (k) => {
          if (!waiting) return;
          leave();
          resolve(k);
        },
        (err: unknown) => {
          if (!waiting) return;
          leave();
          reject(err);
        },
      );
    });
  }

  #open(): Opening {
    const controller = new AbortController();
    const kept: Kept = { session: undefined, waiting: new Map(), gone: false };
    const events: SessionEvents = {
      received: (body) => kept.waiting.get(body)?.resolve(),
      broken: (err) => this.#drop(kept, new SessionLostError('the broker connection was lost', err)),
    };
    const opened = this.#options.open(controller.signal, events).then((session) => {
      kept.session = session;
      if (this.#opening?.kept === opened) this.#opening = undefined;
      // Opened after every run waiting for it gave up, after close, or broken while opening: not kept.
      if (controller.signal.aborted || this.#closed || kept.gone) {
        kept.gone = false;
        this.#drop(kept, new SessionLostError('session opened too late'));
        throw new SessionLostError('the session was dropped while it opened');
      }
      this.#kept = kept;
      return kept;
    });
    opened.then(undefined, () => {
      if (this.#opening?.kept === opened) this.#opening = undefined;
    });
    return { kept: opened, controller, runs: 0 };
  }

  /** #drop retires a session for good: its runs fail with `err`, its connection closes. Idempotent. */
  #drop(kept: Kept, err: unknown): void {
    if (kept.gone) return;
    kept.gone = true;
    if (this.#kept === kept) this.#kept = undefined;
    for (const waiter of kept.waiting.values()) waiter.reject(err);
    kept.waiting.clear();
    kept.session?.close();
  }
}

/** uniqueSuffix is a random string of 16 hex digits, for names that must not collide between probers. */
export function uniqueSuffix(): string {
  return randomUUID().replaceAll('-', '').slice(0, 16);
}
