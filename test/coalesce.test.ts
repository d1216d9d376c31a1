import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesce } from '../src/process/coalesce.ts';

/** gatedJob is a job whose runs each wait until the test opens them, in order. */
function gatedJob(): { job: () => Promise<void>; started: number; open: () => Promise<void> } {
  const gates: Array<() => void> = [];
  const state = {
    started: 0,
    job: (): Promise<void> => {
      state.started++;
      return new Promise((resolve) => gates.push(resolve));
    },
    /** open lets the oldest waiting run finish, then lets the trigger's follow-up start. */
    open: async (): Promise<void> => {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    },
  };
  return state;
}

test('triggers while a run is in flight coalesce into exactly one more run, after it', async () => {
  const g = gatedJob();
  const trigger = coalesce(g.job);
  trigger();
  assert.equal(g.started, 1);
  trigger();
  trigger();
  trigger();
  assert.equal(g.started, 1, 'no second run while the first is in flight');
  await g.open();
  assert.equal(g.started, 2, 'one follow-up run for the three triggers');
  await g.open();
  assert.equal(g.started, 2, 'nothing else was queued');
});

test('a trigger after a run ended starts a run at once', async () => {
  const g = gatedJob();
  const trigger = coalesce(g.job);
  trigger();
  await g.open();
  trigger();
  assert.equal(g.started, 2);
  trigger();
  await g.open();
  assert.equal(g.started, 3, 'the trigger during the second run queued a third');
});
