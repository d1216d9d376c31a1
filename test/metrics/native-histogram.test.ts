import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_NATIVE_WINDOW,
  NATIVE_DEFAULTS,
  NATIVE_DEFAULT_ZERO_THRESHOLD,
  NativeHistogram,
  nativeBucketKey,
  nativeBucketUpperBound,
  validateNativeOptions,
  type NativeBuckets,
  type NativeHistogramOptions,
} from '../../src/metrics/native-histogram.ts';
import { mulberry32 } from '../../support/rng.ts';

const bits = new Float64Array(1);
const word = new BigUint64Array(bits.buffer);
/** nextUp and nextDown step one float64 (positive values only). */
function nextUp(v: number): number {
  bits[0] = v;
  word[0]! += 1n;
  return bits[0]!;
}
function nextDown(v: number): number {
  bits[0] = v;
  word[0]! -= 1n;
  return bits[0]!;
}

function histogram(observations: readonly number[], options: Partial<NativeHistogramOptions> = {}): NativeHistogram {
  const h = new NativeHistogram({ ...NATIVE_DEFAULTS, ...options });
  for (const v of observations) h.observe(v);
  return h;
}

/** expand turns spans and deltas back into key → count (empty buckets inside spans left out). */
function expand(b: NativeBuckets): Map<number, number> {
  const out = new Map<number, number>();
  let key = 0;
  let count = 0;
  let d = 0;
  for (const span of b.positiveSpans) {
    key += span.offset;
    for (let i = 0; i < span.length; i++) {
      count += b.positiveDeltas[d++]!;
      if (count !== 0) out.set(key, count);
      key++;
    }
  }
  assert.equal(d, b.positiveDeltas.length, 'as many deltas as the spans cover');
  return out;
}

function shape(b: NativeBuckets): unknown {
  return {
    schema: b.schema,
    zeroThreshold: b.zeroThreshold,
    zeroCount: b.zeroCount,
    spans: b.positiveSpans.map((s) => [s.offset, s.length]),
    deltas: [...b.positiveDeltas],
  };
}

describe('bucket index', () => {
  test("the boundary table is client_golang's nativeHistogramBounds (schemas 1 to 3 as literals)", () => {
    // prometheus/client_golang prometheus/histogram.go, nativeHistogramBounds[1..3].
    const golang: Record<number, number[]> = {
      1: [0.5, 0.7071067811865475],
      2: [0.5, 0.5946035575013605, 0.7071067811865475, 0.8408964152537144],
      3: [
        0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048, 0.7071067811865475, 0.7711054127039704,
        0.8408964152537144, 0.9170040432046711,
      ],
    };
    for (const [schema, fracs] of Object.entries(golang)) {
      // Bucket k (0 <= k < 2^s) has the upper bound frac[k] * 2^1.
      assert.deepEqual(
        fracs.map((_, k) => nativeBucketUpperBound(k, Number(schema)) / 2),
        fracs,
        `schema ${schema}`,
      );
    }
    // The last schema-8 entries, as in the Go source.
    assert.equal(nativeBucketUpperBound(255, 8) / 2, 0.9972960560854698);
    assert.equal(nativeBucketUpperBound(254, 8) / 2, 0.9945994234836328);
  });

  test('known values land in their buckets (schema 3: 1 s is bucket 0, 2 s bucket 8, 1.5 s bucket 5)', () => {
    assert.equal(nativeBucketKey(1, 3), 0);
    assert.equal(nativeBucketKey(2, 3), 8);
    assert.equal(nativeBucketKey(1.5, 3), 5); // (2^(4/8), 2^(5/8)] = (1.414, 1.542]
    assert.equal(nativeBucketKey(0.001, 3), -79); // log2(0.001) * 8 = -79.73
    assert.equal(nativeBucketKey(0.5, 0), -1);
    assert.equal(nativeBucketKey(3, -1), 1); // (1, 4]
    assert.equal(nativeBucketKey(33.33, -2), 2); // (16, 256]
    assert.equal(nativeBucketKey(Number.MAX_VALUE, 3), 8192);
    assert.equal(nativeBucketKey(Infinity, 3), 8193);
    assert.equal(nativeBucketKey(Infinity, 2), 4097);
    assert.equal(nativeBucketUpperBound(8192, 3), Number.MAX_VALUE);
    assert.equal(nativeBucketUpperBound(64, -4), Number.MAX_VALUE);
  });

  test('a value exactly on a boundary counts in the lower bucket, the next float above in the next one', () => {
    for (let schema = -4; schema <= 8; schema++) {
      for (let key = -1100; key <= 1100; key += 7) {
        const upper = nativeBucketUpperBound(key, schema);
        if (!(upper > 0) || upper < 2 ** -1000 || upper > 2 ** 1000) continue;
        assert.equal(nativeBucketKey(upper, schema), key, `upper bound of ${key} at schema ${schema}`);
        assert.equal(nativeBucketKey(nextUp(upper), schema), key + 1, `just above ${key} at schema ${schema}`);
        assert.equal(nativeBucketKey(nextDown(upper), schema), key, `just below ${key} at schema ${schema}`);
        const lower = nativeBucketUpperBound(key - 1, schema);
        assert.equal(nativeBucketKey(nextUp(lower), schema), key, `just above the lower bound of ${key}`);
      }
    }
  });

  test('away from boundaries the key is ceil(log2(v) * 2^schema)', () => {
    const rand = mulberry32(7);
    let checked = 0;
    for (let i = 0; i < 20_000; i++) {
      const v = 2 ** (rand() * 80 - 40);
      const schema = Math.floor(rand() * 13) - 4;
      const x = Math.log2(v) * 2 ** schema;
      if (Math.abs(x - Math.round(x)) < 1e-6) continue; // too close to a boundary for Math.log2
      assert.equal(nativeBucketKey(v, schema), Math.ceil(x) + 0, `${v} at schema ${schema}`); // + 0: no -0
      checked++;
    }
    assert.ok(checked > 19_000);
  });

  test("the key equals a plain frexp and linear search of the boundary table (client_golang's method), near boundaries too", () => {
    // Reference: frexp by division by a power of two (exact), then the first table entry >= frac.
    const reference = (v: number, schema: number): number => {
      let exp = Math.floor(Math.log2(v)) + 1;
      let frac = v / 2 ** exp;
      if (frac >= 1) {
        frac /= 2;
        exp++;
      }
      if (frac < 0.5) {
        frac *= 2;
        exp--;
      }
      if (schema <= 0) {
        const key = frac === 0.5 ? exp - 1 : exp;
        return (key + (1 << -schema) - 1) >> -schema;
      }
      const table = Array.from({ length: 2 ** schema }, (_, k) => nativeBucketUpperBound(k, schema) / 2);
      let i = 0;
      while (i < table.length && table[i]! < frac) i++;
      return i + (exp - 1) * table.length;
    };
    const rand = mulberry32(11);
    for (let n = 0; n < 20_000; n++) {
      const schema = Math.floor(rand() * 13) - 4;
      let v = 2 ** (rand() * 60 - 30);
      if (n % 2 === 0) {
        // A boundary, or one float either side of it.
        const upper = nativeBucketUpperBound(Math.floor(Math.log2(v) * 2 ** schema), schema);
        v = n % 6 === 0 ? upper : n % 6 === 2 ? nextUp(upper) : nextDown(upper);
      }
      assert.equal(nativeBucketKey(v, schema), reference(v, schema), `${v} at schema ${schema}`);
    }
  });

  test('subnormal values get their key too', () => {
    assert.equal(nativeBucketKey(2 ** -1074, 0), -1074);
    assert.equal(nativeBucketKey(3 * 2 ** -1074, 0), -1072);
    assert.equal(nativeBucketKey(2 ** -1060, 3), -1060 * 8);
  });
});

describe("NativeHistogram: client_golang's TestNativeHistogram cases (positive side)", () => {
  // Expected values are those of prometheus/client_golang histogram_test.go TestNativeHistogram.
  const Z = NATIVE_DEFAULT_ZERO_THRESHOLD;
  const cases: {
    name: string;
    obs: number[];
    options: Partial<NativeHistogramOptions>;
    count: number;
    sum: number;
    want: unknown;
  }[] = [
    {
      name: 'no observations',
      obs: [],
      options: { schema: 3 },
      count: 0,
      sum: 0,
      want: { schema: 3, zeroThreshold: Z, zeroCount: 0, spans: [], deltas: [] },
    },
    {
      name: 'no observations and zero threshold of zero resulting in no-op span',
      obs: [],
      options: { schema: 3, zeroThreshold: 0 },
      count: 0,
      sum: 0,
      want: { schema: 3, zeroThreshold: 0, zeroCount: 0, spans: [[0, 0]], deltas: [] },
    },
    {
      name: 'factor 1.1 results in schema 3',
      obs: [0, 1, 2, 3],
      options: { schema: 3 },
      count: 4,
      sum: 6,
      want: {
        schema: 3,
        zeroThreshold: Z,
        zeroCount: 1,
        spans: [
          [0, 1],
          [7, 1],
          [4, 1],
        ],
        deltas: [1, 0, 0],
      },
    },
    {
      name: 'factor 1.2 results in schema 2',
      obs: [0, 1, 1.2, 1.4, 1.8, 2],
      options: { schema: 2 },
      count: 6,
      sum: 7.4,
      want: { schema: 2, zeroThreshold: Z, zeroCount: 1, spans: [[0, 5]], deltas: [1, -1, 2, -2, 2] },
    },
    {
      name: 'factor 4 results in schema -1',
      options: { schema: -1 },
      count: 14,
      sum: 63.2581251,
      obs: [0.0156251, 0.0625, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 3.5, 5, 6, 7, 33.33],
      want: { schema: -1, zeroThreshold: Z, zeroCount: 0, spans: [[-2, 6]], deltas: [2, 0, 0, 2, -1, -2] },
    },
    {
      name: 'factor 17 results in schema -2',
      options: { schema: -2 },
      count: 14,
      sum: 63.2581251,
      obs: [0.0156251, 0.0625, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 3.5, 5, 6, 7, 33.33],
      want: { schema: -2, zeroThreshold: Z, zeroCount: 0, spans: [[-1, 4]], deltas: [2, 2, 3, -6] },
    },
    // The Go case also observes the negated values; on the positive side 0, 1, 1.2 and 1.4 are <= 1.4.
    {
      name: 'wide zero bucket',
      obs: [0, 1, 1.2, 1.4, 1.8, 2],
      options: { schema: 2, zeroThreshold: 1.4 },
      count: 6,
      sum: 7.4,
      want: { schema: 2, zeroThreshold: 1.4, zeroCount: 4, spans: [[4, 1]], deltas: [2] },
    },
    {
      name: '+Inf observation',
      obs: [0, 1, 1.2, 1.4, 1.8, 2, Infinity],
      options: { schema: 2 },
      count: 7,
      sum: Infinity,
      want: {
        schema: 2,
        zeroThreshold: Z,
        zeroCount: 1,
        spans: [
          [0, 5],
          [4092, 1],
        ],
        deltas: [1, -1, 2, -2, 2, -1],
      },
    },
    {
      name: 'limited buckets but nothing triggered',
      obs: [0, 1, 1.2, 1.4, 1.8, 2],
      options: { schema: 2, maxBuckets: 4 },
      count: 6,
      sum: 7.4,
      want: { schema: 2, zeroThreshold: Z, zeroCount: 1, spans: [[0, 5]], deltas: [1, -1, 2, -2, 2] },
    },
    {
      name: 'buckets limited by halving resolution',
      obs: [0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3],
      options: { schema: 2, maxBuckets: 4 },
      count: 8,
      sum: 11.5,
      want: { schema: 1, zeroThreshold: Z, zeroCount: 1, spans: [[0, 5]], deltas: [1, 2, -1, -2, 1] },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const h = histogram(c.obs, c.options);
      assert.deepEqual(shape(h.buckets()), c.want);
      assert.equal(h.count, c.count);
      assert.ok(Math.abs(h.sum - c.sum) < 1e-9 || h.sum === c.sum, `sum ${h.sum}`);
    });
  }

  test('NaN observation: counted in count (and sum), in no bucket', () => {
    const h = histogram([0, 1, 1.2, 1.4, 1.8, 2, NaN], { schema: 2 });
    assert.deepEqual(shape(h.buckets()), {
      schema: 2,
      zeroThreshold: NATIVE_DEFAULT_ZERO_THRESHOLD,
      zeroCount: 1,
      spans: [[0, 5]],
      deltas: [1, -1, 2, -2, 2],
    });
    assert.equal(h.count, 7);
    assert.ok(Number.isNaN(h.sum));
  });
});

describe('NativeHistogram: exact and bounded', () => {
  function lognormal(seed: number, medianSeconds: number, sigma: number): () => number {
    const rand = mulberry32(seed);
    return () =>
      medianSeconds * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
  }

  test('every observation is in the bucket of its own key: count == zero bucket + buckets', () => {
    const draw = lognormal(1, 0.002, 1.5);
    const h = new NativeHistogram({ ...NATIVE_DEFAULTS, maxBuckets: MAX_NATIVE_WINDOW });
    const want = new Map<number, number>();
    for (let i = 0; i < 50_000; i++) {
      const v = i % 1000 === 0 ? 0 : draw();
      h.observe(v);
      if (v > 0) want.set(nativeBucketKey(v, 3), (want.get(nativeBucketKey(v, 3)) ?? 0) + 1);
    }
    const b = h.buckets();
    assert.equal(b.schema, 3, 'no reduction needed');
    assert.deepEqual(
      [...expand(b)].sort((x, y) => x[0] - y[0]),
      [...want].sort((x, y) => x[0] - y[0]),
    );
    assert.equal(b.zeroCount, 50);
    assert.equal(h.count, 50_000);
  });

  test('over the bucket limit the schema drops and the counts equal a histogram observed at that schema from the start', () => {
    const draw = lognormal(2, 0.01, 3); // spread over ~30 powers of two
    const values = Array.from({ length: 20_000 }, draw);
    const limited = histogram(values, { schema: 8, maxBuckets: 100 });
    const b = limited.buckets();
    assert.ok(b.schema < 8, `schema ${b.schema}`);
    assert.ok(limited.bucketCount <= 100, `${limited.bucketCount} buckets`);
    const direct = histogram(values, { schema: b.schema, maxBuckets: MAX_NATIVE_WINDOW });
    assert.deepEqual(shape(b), shape(direct.buckets()));
    assert.equal(limited.count, values.length, 'no observation dropped');
    // One step more would also have been within the limit for client_golang; here the limit holds after every observation.
    assert.ok(histogram(values, { schema: b.schema + 1, maxBuckets: MAX_NATIVE_WINDOW }).bucketCount > 100);
  });

  test('values spread wider than the window halve the resolution instead of growing without bound', () => {
    const h = histogram([1e-30, 1, 1e30, 5e-20, 7e20], { schema: 8, maxBuckets: 100 });
    const b = h.buckets();
    // 1e-30 to 1e30 is 200 powers of two: 6,400 slots at schema 5, 12,800 (over MAX_NATIVE_WINDOW) at schema 6.
    assert.equal(b.schema, 5);
    let total = 0;
    for (const c of expand(b).values()) total += c;
    assert.equal(total, 5);
    assert.equal(
      expand(histogram([1e-30, 1, 1e30, 5e-20, 7e20], { schema: b.schema, maxBuckets: 100 }).buckets()).size,
      expand(b).size,
    );
  });

  test('at schema -4 the limit cannot be met and every observation is still counted', () => {
    const values = [1e-300, 1e-200, 1e-100, 1e-50, 1, 1e50, 1e100, 1e200, 1e300];
    const h = histogram(values, { schema: 0, maxBuckets: 2, zeroThreshold: 0 });
    assert.equal(h.schema, -4);
    assert.equal(h.bucketCount, values.length, 'one bucket per value even at the lowest resolution');
    assert.equal(
      [...expand(h.buckets()).values()].reduce((a, c) => a + c, 0),
      values.length,
    );
  });

  test('zero, values at or below the zero threshold and negative values go to the zero bucket', () => {
    const h = histogram([0, -0, 1e-40, NATIVE_DEFAULT_ZERO_THRESHOLD, -1, 0.5]);
    const b = h.buckets();
    assert.equal(b.zeroCount, 5);
    assert.deepEqual([...expand(b)], [[nativeBucketKey(0.5, 3), 1]]);
    assert.equal(nativeBucketKey(0.5, 3), -8);
  });

  test('buckets() is reused until the next observation', () => {
    const h = histogram([0.1, 0.2]);
    const first = h.buckets();
    assert.equal(h.buckets(), first);
    h.observe(0.3);
    assert.notEqual(h.buckets(), first);
    assert.equal(
      [...expand(h.buckets()).values()].reduce((a, c) => a + c, 0),
      3,
    );
  });

  test('a gap of one or two empty buckets stays inside a span, a gap of three starts a new one', () => {
    // Schema 0: bucket k is (2^(k-1), 2^k].
    assert.deepEqual(shape(histogram([1, 4], { schema: 0 }).buckets()), {
      schema: 0,
      zeroThreshold: NATIVE_DEFAULT_ZERO_THRESHOLD,
      zeroCount: 0,
      spans: [[0, 3]],
      deltas: [1, -1, 1],
    });
    assert.deepEqual(shape(histogram([1, 8, 8], { schema: 0 }).buckets()), {
      schema: 0,
      zeroThreshold: NATIVE_DEFAULT_ZERO_THRESHOLD,
      zeroCount: 0,
      spans: [[0, 4]],
      deltas: [1, -1, 0, 2],
    });
    assert.deepEqual(shape(histogram([1, 16], { schema: 0 }).buckets()), {
      schema: 0,
      zeroThreshold: NATIVE_DEFAULT_ZERO_THRESHOLD,
      zeroCount: 0,
      spans: [
        [0, 1],
        [3, 1],
      ],
      deltas: [1, 0],
    });
  });

  test('observations arriving far below and far above the first one grow the window both ways', () => {
    const values = [1, 1e-6, 1e3, 2e-6, 1.5, 5e2];
    const h = histogram(values, { maxBuckets: MAX_NATIVE_WINDOW });
    const want = new Map<number, number>();
    for (const v of values) want.set(nativeBucketKey(v, 3), (want.get(nativeBucketKey(v, 3)) ?? 0) + 1);
    assert.deepEqual(
      [...expand(h.buckets())].sort((a, b) => a[0] - b[0]),
      [...want].sort((a, b) => a[0] - b[0]),
    );
  });
});

describe('options', () => {
  test("defaults: schema 3, client_golang's zero threshold 2^-128, 160 buckets", () => {
    assert.deepEqual({ ...NATIVE_DEFAULTS }, { schema: 3, zeroThreshold: 2.938735877055719e-39, maxBuckets: 160 });
    assert.equal(NATIVE_DEFAULT_ZERO_THRESHOLD, 2 ** -128);
  });

  test('bad options throw a RangeError naming the option', () => {
    const bad: [Partial<NativeHistogramOptions>, RegExp][] = [
      [{ schema: 9 }, /x\.schema must be an integer from -4 to 8, got 9/],
      [{ schema: -5 }, /x\.schema/],
      [{ schema: 2.5 }, /x\.schema/],
      [{ zeroThreshold: -1 }, /x\.zeroThreshold must be a finite number >= 0/],
      [{ zeroThreshold: NaN }, /x\.zeroThreshold/],
      [{ zeroThreshold: Infinity }, /x\.zeroThreshold/],
      [{ maxBuckets: 0 }, /x\.maxBuckets must be an integer from 1 to 8192, got 0/],
      [{ maxBuckets: 1e6 }, /x\.maxBuckets/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => validateNativeOptions({ ...NATIVE_DEFAULTS, ...options }, 'x'),
        (err: unknown) => err instanceof RangeError && message.test(err.message),
      );
      assert.throws(() => new NativeHistogram({ ...NATIVE_DEFAULTS, ...options }), RangeError);
    }
  });
});
