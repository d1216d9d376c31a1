/**
 * The run deadline every probe runs under (workers/probe-worker.ts), kept here so it is testable alone.
 */
import type { ProbeOutcome, Prober } from './probe.ts';

/**
 * runWithDeadline gives the probe an AbortSignal and also races it against the deadline, so a probe that
 * ignores its signal still yields `timeout` on time; its late settlement is dropped.
 *
 * When the deadline timer fires, the abort waits for one setImmediate. After this thread stalled (a GC,
 * another probe's library compiling code on first use), the answer may already be waiting: Node runs
 * expired timers before it polls I/O, so without the wait a connect refused 1 ms in would be reported as
 * a timeout. setImmediate runs after the poll phase, so I/O that had arrived settles the probe first.
 */
export function runWithDeadline(prober: Prober, timeoutMs: number): Promise<ProbeOutcome> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const deadline = new Promise<ProbeOutcome>((resolve) => {
    timer = setTimeout(() => {
      immediate = setImmediate(() => {
        controller.abort(new DOMException(`probe exceeded its ${timeoutMs}ms deadline`, 'TimeoutError'));
        resolve({ ok: false, reason: 'timeout', message: `no answer within ${timeoutMs}ms` });
      });
    }, timeoutMs);
  });
  const run = prober.run(controller.signal).catch((err: unknown): ProbeOutcome =>
    ({ ok: false, reason: 'other', message: `probe threw: ${String(err)}` }));
  return Promise.race([run, deadline]).finally(() => {
    clearTimeout(timer);
    clearImmediate(immediate);
  });
}
