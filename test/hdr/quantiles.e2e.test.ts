import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { percentileDistribution } from '../../src/hdr/export.ts';
import { recordWithExpectedInterval, valuesAtPercentiles } from '../../src/hdr/quantiles.ts';
import { reference, requireJavaHdr } from '../helpers/java-hdr.ts';
import { mulberry32 } from '../../support/rng.ts';

function histogram(): hdr.JsHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  return h;
}

test('valuesAtPercentiles answers getValueAtPercentile for every percentile, clamped to [min, max], in one call', () => {
  const rand = mulberry32(3);
  const h = histogram();
  for (let i = 0; i < 5000; i++) h.recordValue(Math.round(100 * Math.exp(3 * rand())));
  const ps = [99.999, 0, 50, 90, 99, 99.9, 12.5, 100, 75, 99.99, 1e-9];
  const got = valuesAtPercentiles(h, ps);
  ps.forEach((p, i) => {
    const expected = p === 0 ? h.minNonZeroValue : Math.min(h.maxValue, h.getValueAtPercentile(p));
    assert.equal(got[i], expected, `p${p}`);
  });
  assert.equal(got[ps.indexOf(100)], h.maxValue, 'p100 is the recorded max, not its bucket top');
});

test('valuesAtPercentiles of an empty histogram is all zeros, and a recorded 0 is the minimum', () => {
  assert.deepEqual(valuesAtPercentiles(histogram(), [0, 50, 100]), [0, 0, 0]);
  const h = histogram();
  [0, 0, 10, 20].forEach((v) => h.recordValue(v));
  assert.deepEqual(valuesAtPercentiles(h, [0, 50, 75, 100]), [0, 0, 10, 20]);
});

test("recordWithExpectedInterval records what Java's recordValueWithExpectedInterval records, and counts what it made up", async (t) => {
  if (!requireJavaHdr(t)) return;
  const values = [900, 1000, 1999, 2000, 2001, 25_000, 1_000_000, 150, 3];
  const interval = 1000;
  const h = histogram();
  let madeUp = 0;
  for (const v of values) madeUp += recordWithExpectedInterval(h, v, interval);
  assert.equal(madeUp, 0 + 0 + 0 + 1 + 1 + 24 + 999 + 0 + 0);
  assert.equal(h.totalCount, values.length + madeUp);
  assert.equal(percentileDistribution(h), await reference('hgrm', [interval], values.join('\n')));
});

test('recordWithExpectedInterval without an interval (continuous probing) records the value alone', () => {
  const h = histogram();
  assert.equal(recordWithExpectedInterval(h, 5_000_000, 0), 0);
  assert.equal(recordWithExpectedInterval(h, 12.6, -5), 0);
  assert.equal(h.totalCount, 2);
  assert.equal(h.maxValue, 5_000_000);
});
