/** Small readers of a probe's outcome for the probe tests, and run with a deadline. */
import assert from 'node:assert/strict';
import type { ProbeOutcome, Prober } from '../../src/probes/probe.ts';

/** reasonOf is 'ok' for a success, else the failure's reason. */
export function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** run runs the prober once with an abort deadline of ms. */
export function run(prober: Prober, ms = 2000): Promise<ProbeOutcome> {
  return prober.run(AbortSignal.timeout(ms));
}

/** valueOf returns the `value` app datapoint of a successful outcome, failing the test otherwise. */
export function valueOf(outcome: ProbeOutcome): number {
  assert.ok(outcome.ok, `expected success, got ${JSON.stringify(outcome)}`);
  const value = outcome.app?.value;
  assert.equal(typeof value, 'number');
  return value as number;
}
