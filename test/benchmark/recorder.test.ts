import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kOk, type ProbeBatchResult } from '../../src/pool/messages.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { RunRecorder } from '../../src/benchmark/recorder.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';

const target = (name: string, intervalMs: number): ProbeTarget =>
  ({ ...TARGET_DEFAULTS, name, kind: 'tcp', url: 'tcp://127.0.0.1:1', intervalMs }) as unknown as ProbeTarget;

function runs(items: Array<{ latencyUs: number; startDelayUs?: number; reason?: number }>): ProbeBatchResult {
  return {
    target: new Uint32Array(items.length),
    latencyUs: Float64Array.from(items, (r) => r.latencyUs),
    reason: Uint8Array.from(items, (r) => r.reason ?? kOk),
    endedAtMs: new Float64Array(items.length),
    startDelayUs: Float64Array.from(items, (r) => r.startDelayUs ?? 0),
    app: [null],
    failure: [null],
  };
}

test('a probe that started late is counted from when it was due, with the skipped probes made up', () => {
  const rec = new RunRecorder([target('t', 100)], 0); // 100 ms interval: late beyond 10 ms
  rec.record({
    names: ['t'],
    result: runs([
      { latencyUs: 1000 },
      { latencyUs: 1000, startDelayUs: 5000 },
      { latencyUs: 2000, startDelayUs: 300_000 },
    ]),
  });
  const [t] = rec.targets();
  assert.equal(t!.count, 3);
  assert.equal(t!.lateProbes, 1, 'only the run 300 ms late is late; 5 ms is within 10% of the interval');
  // 302 ms at a 100 ms interval: the 202 ms and 102 ms values of the two probes that could not run.
  assert.equal(t!.madeUpValues, 2);
  assert.equal(t!.histogram.totalCount, 5);
  assert.ok(Math.abs(t!.histogram.maxValue - 302_000) <= 302, 'the late run counts its delay');
});

test('failures are counted by reason and not recorded; continuous targets are never corrected', () => {
  const rec = new RunRecorder([target('c', 0)], 0);
  rec.record({
    names: ['c'],
    result: runs([
      { latencyUs: 5_000_000, startDelayUs: 1_000_000 },
      { latencyUs: 10, reason: 1 },
    ]),
  });
  const [c] = rec.targets();
  assert.equal(c!.probes, 2);
  assert.equal(c!.count, 1);
  assert.equal(c!.lateProbes, 0);
  assert.equal(c!.madeUpValues, 0);
  assert.equal(c!.histogram.totalCount, 1);
  assert.equal(
    Object.values(c!.errors).reduce((a, b) => a + b, 0),
    1,
  );
});

test('each interval gets its own .hlog line and starts empty', () => {
  const rec = new RunRecorder([target('t', 1000)], 1_000_000);
  rec.record({ names: ['t'], result: runs([{ latencyUs: 1500 }]) });
  const first = rec.endInterval(1_001_000).byTarget.get('t')!;
  assert.match(first, /^0\.000,1\.000,1\.500,HISTF/);
  const second = rec.endInterval(1_002_000).byTarget.get('t')!;
  assert.match(second, /^1\.000,1\.000,0\.000,HISTF/);
  assert.match(rec.hlogHeader('t'), /#\[BaseTime: 1000\.000 \(seconds since epoch\)\]/);
});
