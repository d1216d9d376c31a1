import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateWindow } from '../../src/metrics/rate-window.ts';

test('RateWindow gives probes per second once a second of history exists', () => {
  const w = new RateWindow(60_000, 1000);
  assert.equal(w.update(0, [{ name: 'a', probes: 0 }]).size, 0);
  assert.equal(w.update(500, [{ name: 'a', probes: 2 }]).size, 0, 'half a second is too short');
  assert.equal(w.update(2000, [{ name: 'a', probes: 8 }]).get('a'), 4);
});

test('RateWindow looks back about a window, not to the start', () => {
  const w = new RateWindow(60_000, 1000);
  // 1 probe/s for 5 minutes, then 10 probes/s for 2 minutes; publishes every 250 ms.
  let probes = 0;
  let rate: number | undefined;
  for (let ms = 0; ms <= 420_000; ms += 250) {
    probes += ms <= 300_000 ? 0.25 : 2.5;
    rate = w.update(ms, [{ name: 'a', probes }]).get('a');
  }
  assert.ok(rate !== undefined && Math.abs(rate - 10) < 0.01, `rate ${rate}`);
  assert.ok((w as unknown as { samples: unknown[] }).samples.length <= 8, 'a handful of samples, not one per publish');
});

test('RateWindow gives no rate for a target whose count went down or that is new', () => {
  const w = new RateWindow(60_000, 1000);
  w.update(0, [{ name: 'a', probes: 100 }]);
  const rates = w.update(5000, [
    { name: 'a', probes: 3 },
    { name: 'b', probes: 50 },
  ]);
  assert.equal(rates.has('a'), false);
  assert.equal(rates.has('b'), false);
});
