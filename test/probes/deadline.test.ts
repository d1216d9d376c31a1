import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWithDeadline } from '../../src/probes/deadline.ts';
import type { ProbeOutcome, Prober, TcpTarget } from '../../src/probes/probe.ts';
import { tcpProbe } from '../../src/probes/tcp.ts';
import { TARGET_DEFAULTS } from '../helpers/services.ts';
import { closedPort } from '../helpers/silent-server.ts';

const tcp = (port: number, timeoutMs: number): Prober =>
  tcpProbe.create({ ...TARGET_DEFAULTS, name: 'deadline-test', kind: 'tcp', host: '127.0.0.1', port, timeoutMs } satisfies TcpTarget);

const reasonOf = (o: ProbeOutcome): string => (o.ok ? 'ok' : o.reason);

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
  assert.deepEqual(outcome, { ok: false, reason: 'timeout', message: 'no answer within 50ms' });
  assert.ok(elapsed >= 49 && elapsed < 500, `timed out after ${elapsed} ms`);
});

test('the probe sees its signal abort at the deadline', async () => {
  let aborted: unknown;
  const prober: Prober = {
    run: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => {
      aborted = signal.reason;
      resolve({ ok: false, reason: 'other', message: 'too late' });
    })),
    close: async () => {},
  };
  assert.equal(reasonOf(await runWithDeadline(prober, 10)), 'timeout');
  assert.equal((aborted as DOMException).name, 'TimeoutError');
});
