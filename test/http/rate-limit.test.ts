import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../src/http/rate-limit.ts';

test('a token bucket starts full, lets `burst` through, then one per interval', () => {
  let now = 0;
  const stats = { limited: 0 };
  const bucket = new TokenBucket(1000, 3, stats, () => now);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  now = 999;
  assert.equal(bucket.take(), false);
  now = 1000;
  assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
  now = 1_000_000; // a long pause refills only up to burst
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  assert.equal(stats.limited, 4);
});

test('burst 0 refuses everything, as Go rate.NewLimiter(rate.Every(i), 0) does', () => {
  let now = 0;
  const bucket = new TokenBucket(1000, 0, undefined, () => now);
  now = 60_000;
  assert.equal(bucket.take(), false);
});
