import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAILURE_REASONS } from '../../src/probes/probe.ts';
import { kOk } from '../../src/pool/messages.ts';
import { BatchResults, transferables } from '../../src/pool/batch-results.ts';

test('take hands out the runs and finished targets since the previous take, then starts afresh', () => {
  const log = new BatchResults(3);
  log.add(0, { ok: true, app: { rows: 1 } }, 1500);
  log.add(2, { ok: false, reason: 'timeout', message: 'deadline' }, 40_000);
  log.finish(0);
  assert.equal(log.size, 2);
  const first = log.take();
  assert.deepEqual([...first.result.target], [0, 2]);
  assert.deepEqual([...first.result.latencyUs], [1500, 40_000]);
  assert.deepEqual([...first.result.reason], [kOk, FAILURE_REASONS.indexOf('timeout') + 1]);
  assert.deepEqual(first.result.app, [{ rows: 1 }, null, null]);
  assert.deepEqual(first.result.failure, [null, null, 'deadline']);
  assert.deepEqual(first.done, [0]);
  assert.equal(log.size, 0);

  log.add(1, { ok: true, latencyUs: 7 }, 9);
  log.finish(1);
  log.finish(2);
  const second = log.take();
  assert.deepEqual([...second.result.target], [1]);
  assert.deepEqual([...second.result.latencyUs], [7], 'a latency the probe supplies wins over the measured one');
  assert.deepEqual(second.result.app, [null, null, null], 'app values are those of this part only');
  assert.deepEqual(second.result.failure, [null, null, null]);
  assert.deepEqual(second.done, [1, 2]);
});

test("a part's typed arrays are its own buffers, so they can be transferred", () => {
  const log = new BatchResults(1);
  log.add(0, { ok: true }, 1);
  const { result } = log.take();
  const buffers = transferables(result);
  assert.equal(new Set(buffers).size, 5);
  structuredClone(result, { transfer: buffers });
  assert.equal(result.target.length, 0, 'moved, not copied');
});

test('each run carries how late it started after its round was due (0 when not given)', () => {
  const log = new BatchResults(2);
  log.add(0, { ok: true }, 100, 2500);
  log.add(1, { ok: false, reason: 'timeout', message: 'deadline' }, 100);
  assert.deepEqual([...log.take().result.startDelayUs!], [2500, 0]);
});

test('certificate dates travel only in a batch that reported one, as a pair per target, NaN for the others', () => {
  const log = new BatchResults(3);
  log.add(0, { ok: true }, 1);
  const plain = log.take().result;
  assert.equal(plain.certificate, undefined, 'a batch without TLS carries nothing');
  assert.equal(transferables(plain).length, 5);

  log.add(
    1,
    { ok: false, reason: 'tls', message: 'unknown CA', tls: { notBeforeSeconds: 10, notAfterSeconds: 20 } },
    1,
  );
  log.add(2, { ok: true }, 1);
  const { result } = log.take();
  assert.deepEqual([...result.certificate!], [NaN, NaN, 10, 20, NaN, NaN]);
  assert.equal(transferables(result).length, 6, 'the certificate buffer moves with the others');
  assert.equal(log.take().result.certificate, undefined, 'the next part starts without');
});
