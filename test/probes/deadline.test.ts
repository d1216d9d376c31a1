import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LISTENER_CHECK_RUNS, Lane } from '../../src/probes/deadline.ts';
import { getEventListeners } from 'node:events';
import type { ProbeOutcome, Prober } from '../../src/probes/probe.ts';
import type { TcpTarget } from '../../src/probes/tcp.ts';
import { tcpProbe } from '../../src/probes/tcp.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';
import { closedPort } from '../helpers/silent-server.ts';

const tcp = (port: number, timeoutMs: number): Prober =>
  tcpProbe.create({
    ...TARGET_DEFAULTS,
    name: 'deadline-test',
    kind: 'tcp',
    host: '127.0.0.1',
    port,
    timeoutMs,
  } satisfies TcpTarget);

const reasonOf = (o: ProbeOutcome): string => (o.ok ? 'ok' : o.reason);

/** runWithDeadline runs one probe on a lane of its own, as a worker runs an interval target's round. */
async function runWithDeadline(prober: Prober, timeoutMs: number): Promise<ProbeOutcome> {
  const lane = new Lane(timeoutMs);
  try {
    return await lane.run(prober);
  } finally {
    lane.close();
  }
}

/** stall blocks this thread for ms, as a GC pause or another probe compiling code would. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('an answer that arrived while the thread stalled past the deadline wins over the deadline', async () => {
  const prober = tcp(await closedPort(), 20);
  const run = runWithDeadline(prober, 20);
  stall(100); // the refusal arrives within a ms; the deadline timer expires during the stall too
  assert.equal(reasonOf(await run), 'refused');
  await prober.close();
});

test('a probe with no answer still times out, close to its deadline', async () => {
  const never: Prober = { run: () => new Promise(() => {}), close: async () => {} };
  const t0 = performance.now();
  const outcome = await runWithDeadline(never, 50);
  const elapsed = performance.now() - t0;
  assert.deepEqual(outcome, { ok: false, reason: 'timeout', message: 'deadline of 50 ms exceeded' });
  assert.ok(elapsed >= 49 && elapsed < 500, `timed out after ${elapsed} ms`);
});

test('the probe sees its signal abort at the deadline', async () => {
  let aborted: unknown;
  const prober: Prober = {
    run: (signal) =>
      new Promise((resolve) =>
        signal.addEventListener('abort', () => {
          aborted = signal.reason;
          resolve({ ok: false, reason: 'other', message: 'too late' });
        }),
      ),
    close: async () => {},
  };
  assert.equal(reasonOf(await runWithDeadline(prober, 10)), 'timeout');
  assert.equal((aborted as DOMException).name, 'TimeoutError');
});

/** signals records the signal of every run and answers ok, optionally leaving a listener behind. */
function recorder(leaveListener: boolean): Prober & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  return {
    signals,
    run: async (signal) => {
      signals.push(signal);
      if (leaveListener) signal.addEventListener('abort', () => {});
      return { ok: true };
    },
    close: async () => {},
  };
}

test('a lane reuses its signal across runs that leave no listener on it', async () => {
  const lane = new Lane(1000);
  const prober = recorder(false);
  for (let i = 0; i < 5; i++) assert.equal(reasonOf(await lane.run(prober)), 'ok');
  lane.close();
  assert.equal(new Set(prober.signals).size, 1);
  assert.equal(getEventListeners(prober.signals[0]!, 'abort').length, 0);
});

test('a prober that leaks listeners makes the lane take a fresh signal within LISTENER_CHECK_RUNS runs', async () => {
  const lane = new Lane(1000);
  const prober = recorder(true);
  const runs = 3 * LISTENER_CHECK_RUNS;
  for (let i = 0; i < runs; i++) await lane.run(prober);
  lane.close();
  const signals = new Set(prober.signals);
  assert.ok(signals.size >= runs / LISTENER_CHECK_RUNS, `${signals.size} signals over ${runs} runs`);
  for (const s of signals) {
    const left = getEventListeners(s, 'abort').length;
    assert.ok(left >= 1 && left <= LISTENER_CHECK_RUNS, `a signal collected ${left} leaked listeners`);
  }
});

test('after a timeout the next run gets an unaborted signal and a whole deadline of its own', async () => {
  const lane = new Lane(30);
  const never: Prober = { run: () => new Promise(() => {}), close: async () => {} };
  const first = recorder(false);
  assert.equal(reasonOf(await lane.run(never)), 'timeout');
  const slowOk: Prober = {
    run: async (signal) => {
      first.signals.push(signal);
      await new Promise((r) => setTimeout(r, 20)); // most of a deadline, which must start now, not earlier
      return signal.aborted ? { ok: false, reason: 'other', message: 'aborted' } : { ok: true };
    },
    close: async () => {},
  };
  assert.equal(reasonOf(await lane.run(slowOk)), 'ok');
  assert.equal(first.signals[0]!.aborted, false);
  lane.close();
});

test("a run started while its predecessor's expired timer is pending is not expired by it", async () => {
  // The first probe answers from a timer of the same duration, armed just after the lane's: when both expire
  // in one timers phase (the lane's first), the answer settles the first run before its abort (due in the
  // check phase) and the lane starts the second run at once; that abort must not hit the second run. When
  // the clock ticks between the two timers, they fire in different phases and the first run times out:
  // that round says nothing, so the scenario is repeated until it has happened several times.
  const okSoon: Prober = { run: () => new Promise((r) => setTimeout(() => r({ ok: true }), 5)), close: async () => {} };
  const answersAtDeadline: Prober = {
    run: () => new Promise((r) => setTimeout(() => r({ ok: true }), 20)),
    close: async () => {},
  };
  let happened = 0;
  for (let round = 0; round < 50 && happened < 3; round++) {
    const lane = new Lane(20);
    const first = await lane.run(answersAtDeadline);
    if (reasonOf(first) === 'ok') {
      happened++;
      assert.equal(reasonOf(await lane.run(okSoon)), 'ok', `round ${round}`);
    }
    lane.close();
  }
  assert.ok(happened >= 3, `the answer beat the deadline in only ${happened} of 50 rounds`);
});

test('a prober that throws synchronously yields reason other, and the lane keeps working', async () => {
  const lane = new Lane(100);
  const throws: Prober = {
    run: () => {
      throw new Error('boom');
    },
    close: async () => {},
  };
  const outcome = await lane.run(throws);
  assert.deepEqual(outcome, { ok: false, reason: 'other', message: 'probe threw: Error: boom' });
  assert.equal(reasonOf(await lane.run(recorder(false))), 'ok');
  lane.close();
});

test('a lane closed between rounds keeps its signal and still enforces the deadline of its next run', async () => {
  const lane = new Lane(30);
  const prober = recorder(false);
  await lane.run(prober);
  lane.close();
  await lane.run(prober);
  assert.equal(new Set(prober.signals).size, 1, 'close keeps the AbortController');
  lane.close();
  const never: Prober = { run: () => new Promise(() => {}), close: async () => {} };
  const t0 = performance.now();
  assert.equal(reasonOf(await lane.run(never)), 'timeout');
  assert.ok(performance.now() - t0 < 500);
  lane.close();
});
