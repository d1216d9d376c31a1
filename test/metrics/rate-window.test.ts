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
});

test('RateWindow rates span between one window and a sixth more: a sample every sixth of it, not every publish', () => {
  const w = new RateWindow(60_000, 1000);
  // The count is t² at t seconds, so a rate from a sample taken at s seconds is (t² - s²) / (t - s) = t + s:
  // each rate names the sample it started from.
  const starts = new Set<number>();
  for (let ms = 0; ms <= 300_000; ms += 250) {
    const t = ms / 1000;
    const rate = w.update(ms, [{ name: 'a', probes: t * t }]).get('a');
    if (t < 70) continue;
    assert.ok(rate !== undefined, `no rate at ${t} s`);
    const start = Math.round((rate - t) * 4) / 4;
    starts.add(start);
    assert.ok(t - start >= 60 && t - start <= 70, `at ${t} s the rate spans ${t - start} s`);
  }
  // 921 publishes drew on a sample every 10 s: about 24 of them, not one per publish.
  assert.ok(starts.size <= 25, `rates started from ${starts.size} samples`);
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
