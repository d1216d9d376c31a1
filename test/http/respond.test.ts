import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptsGzip, lastValueCache } from '../../src/http/respond.ts';

test('acceptsGzip: gzip, x-gzip or * with q > 0 allow it (RFC 9110 §12.5.3)', () => {
  for (const header of ['gzip', 'GZIP', 'gzip, deflate, br', 'br;q=1.0, gzip;q=0.8', 'x-gzip', '*', 'identity, *;q=0.1', ' gzip ; q=1 ']) {
    assert.equal(acceptsGzip(header), true, header);
  }
});

test('acceptsGzip: absent, other codings, q=0, a malformed q or an over-long header do not', () => {
  for (const header of [undefined, '', 'br', 'deflate, identity', 'gzip;q=0', 'gzip;q=0.000', '*;q=0', 'gzip;q=abc', 'gzip;q=2',
    'gzip;q=0, *', `${'x'.repeat(1100)}, gzip`]) {
    assert.equal(acceptsGzip(header), false, String(header));
  }
  // An explicit gzip entry wins over *, in either order.
  assert.equal(acceptsGzip('*, gzip;q=0'), false);
});

test('lastValueCache answers as the predicate does and parses a repeated header once', () => {
  const seen: Array<string | undefined> = [];
  const cached = lastValueCache((h) => {
    seen.push(h);
    return acceptsGzip(h);
  });
  const headers = ['gzip', 'gzip', 'gzip', 'br', 'br', undefined, 'gzip;q=0', 'gzip', 'gzip'];
  assert.deepEqual(headers.map(cached), headers.map(acceptsGzip));
  // One call for the initial undefined, then one per change of value.
  assert.deepEqual(seen, [undefined, 'gzip', 'br', undefined, 'gzip;q=0', 'gzip']);
});
