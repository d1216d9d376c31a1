/**
 * The run deadline every probe runs under (src/pool/probe-runner.ts), kept here so it is testable alone.
 */
import { getEventListeners } from 'node:events';
import { timeoutOutcome } from './classify.ts';
import type { ProbeOutcome, Prober } from './probe.ts';

/**
 * LISTENER_CHECK_RUNS: a lane checks its signal for leftover listeners once per this many runs, so a
 * prober that leaks one listener a run leaves at most this many on a signal (Node warns above 10).
 */
export const LISTENER_CHECK_RUNS = 8;

/**
 * Lane runs probes one after another, each under its own deadline: the one place a probe's timeout is
 * enforced. It gives the probe an AbortSignal and also races it against the deadline, so a probe that
 * ignores its signal still yields `timeout` (timeoutOutcome) on time; its late settlement is dropped.
 *
 * A lane reuses one AbortController for all its runs, because creating one costs more than a Redis
 * PING's client-side work, and one timer, re-armed with refresh() (which
 * allocates nothing), for runs back to back until close(). The controller is replaced after it aborted.
 * Probers remove the listeners they add (Prober.run's contract); as a guard against one that does not,
 * every LISTENER_CHECK_RUNS runs the lane looks for listeners left on its signal and, if it finds any,
 * takes a fresh controller. It does not look every run: that check is expensive next to a cheap probe.
 *
 * When the deadline timer fires, the abort waits for one setImmediate. After this thread stalled (a GC,
 * another probe's library compiling code on first use), the answer may already be waiting: Node runs
 * expired timers before it polls I/O, so without the wait a connect refused 1 ms in would be reported as
 * a timeout. setImmediate runs after the poll phase, so I/O that had arrived settles the probe first.
 */
export class Lane {
  readonly #timeoutMs: number;
  #controller = new AbortController();
  /** #runs counts runs, for the listener check every LISTENER_CHECK_RUNS. */
  #runs = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  /** expire settles the run in flight with `timeout`; undefined between runs. */
  #expire: (() => void) | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** run probes once under the deadline; one run at a time per lane. It never throws. */
  run(prober: Prober): Promise<ProbeOutcome> {
    if (++this.#runs % LISTENER_CHECK_RUNS === 0 && getEventListeners(this.#controller.signal, 'abort').length > 0) {
      this.#controller = new AbortController();
    }
    const signal = this.#controller.signal;
    return new Promise<ProbeOutcome>((resolve) => {
      const settle = (outcome: ProbeOutcome): void => {
        if (this.#expire !== expire) return; // the deadline settled it already
        this.#expire = undefined;
        resolve(outcome);
      };
      const expire = (): void => {
        this.#controller.abort(new DOMException(`probe exceeded its ${this.#timeoutMs}ms deadline`, 'TimeoutError'));
        this.#controller = new AbortController();
        settle(timeoutOutcome(this.#timeoutMs));
      };
      this.#expire = expire;
      this.#arm();
      let attempt: Promise<ProbeOutcome>;
      try {
        attempt = prober.run(signal);
      } catch (err) {
        attempt = Promise.reject(err);
      }
      attempt.then(settle, (err: unknown) =>
        settle({ ok: false, reason: 'other', message: `probe threw: ${String(err)}` }),
      );
    });
  }

  /**
   * close stops the lane's timer; call it once no run is in flight. A lane stays usable after close (its
   * next run arms a new timer), so a worker closes lanes it keeps between rounds: an armed timer would
   * wake the thread once per lane and round for nothing.
   */
  close(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#expire = undefined;
  }

  /** #arm starts the deadline of the run just started (runs are sequential: the timer is only ever theirs). */
  #arm(): void {
    if (this.#timer !== undefined) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      const expire = this.#expire;
      if (expire === undefined) return; // the run ended in time
      // Only the run the timer was armed for: if it settles during this poll phase, the next one
      // (started at once by its lane) re-armed the timer and must not be expired here.
      this.#immediate = setImmediate(() => {
        if (this.#expire === expire) expire();
      });
    }, this.#timeoutMs);
  }
}
