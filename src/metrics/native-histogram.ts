/**
 * Native histograms (Prometheus's exponential buckets), counted exactly: every observation lands in the
 * bucket the Go client would put it in, and the publisher turns the counts into the spans and
 * delta-encoded counts of io.prometheus.client.Histogram.
 *
 * Buckets: at schema s, bucket k holds the observations in (2^((k-1)/2^s), 2^(k/2^s)]: upper-inclusive,
 * so a value exactly on a boundary counts in the lower bucket. Observations with |v| <= zeroThreshold go
 * to the zero bucket. The index is computed as client_golang's histogramCounts.observe does (frexp, then
 * a search of the boundary table for s > 0, exponent shifts for s <= 0), with its table of boundaries, so
 * both agree on every value, boundaries included.
 *
 * Bounded: when more than `maxBuckets` buckets are populated, the resolution halves (schema - 1, each
 * pair of buckets merged into one) as client_golang's doubleBucketWidth does, until the count fits or
 * the schema is -4; no observation is dropped. Unlike client_golang, which reduces one step per
 * observation and resets the histogram after NativeHistogramMinResetDuration, this reduces until the limit
 * holds and never resets: counts stay cumulative for the life of the series. The dense count window is
 * capped at MAX_NATIVE_WINDOW slots too (latencies spread over more than 2^(MAX_NATIVE_WINDOW / 2^s)
 * also halve the resolution), so memory stays bounded whatever is observed.
 *
 * Spec: https://prometheus.io/docs/specs/native_histograms/ and client_golang prometheus/histogram.go.
 */

/** NativeHistogramOptions configure one native histogram. */
export interface NativeHistogramOptions {
  /** schema is the initial (and highest) resolution: 2^s buckets per power of two, -4..8. */
  readonly schema: number;
  /** zeroThreshold: observations with |v| <= zeroThreshold count in the zero bucket (seconds, >= 0). */
  readonly zeroThreshold: number;
  /** maxBuckets is the most populated buckets kept before the resolution is halved (1..MAX_NATIVE_WINDOW). */
  readonly maxBuckets: number;
}

/** NATIVE_SCHEMA_MIN and NATIVE_SCHEMA_MAX bound the schema (metrics.proto: -4 <= n <= 8). */
const NATIVE_SCHEMA_MIN = -4;
const NATIVE_SCHEMA_MAX = 8;

/**
 * NATIVE_DEFAULT_ZERO_THRESHOLD is client_golang's DefNativeHistogramZeroThreshold, 2^-128: a bucket
 * boundary at every schema, far below any duration, and > 0, so that even a histogram without
 * observations is recognised as native by scrapers that test the zero threshold (Prometheus 2.x).
 */
export const NATIVE_DEFAULT_ZERO_THRESHOLD = 2 ** -128;

/** MAX_NATIVE_WINDOW is the most bucket slots one histogram holds (64 KiB of counts). */
export const MAX_NATIVE_WINDOW = 8192;

/**
 * NATIVE_DEFAULTS: schema 3 (8 buckets per power of two, each at most 9.05% wider than the one before),
 * the Go client's zero threshold, and 160 buckets, which hold every latency from 1 µs to 1 s at schema 3
 * (20 powers of two) before any loss of resolution.
 */
export const NATIVE_DEFAULTS: NativeHistogramOptions = Object.freeze({
  schema: 3,
  zeroThreshold: NATIVE_DEFAULT_ZERO_THRESHOLD,
  maxBuckets: 160,
});

/** BucketSpan is a run of `length` consecutive buckets, `offset` buckets after the previous span's end. */
interface BucketSpan {
  readonly offset: number;
  readonly length: number;
}

/**
 * NativeBuckets is a native histogram as io.prometheus.client.Histogram carries it (positive side only:
 * durations are never negative). Count and sum are the histogram's own, shared with the classic buckets.
 */
export interface NativeBuckets {
  readonly schema: number;
  readonly zeroThreshold: number;
  readonly zeroCount: number;
  readonly positiveSpans: readonly BucketSpan[];
  /** positiveDeltas[i] is bucket i's count minus bucket i-1's (across spans; the first minus 0). */
  readonly positiveDeltas: readonly number[];
}

/**
 * validateNativeOptions returns the options if they are usable and throws a RangeError naming the
 * first bad one otherwise (`path` prefixes the name, e.g. `config.nativeHistograms`).
 */
export function validateNativeOptions(options: NativeHistogramOptions, path = 'options'): NativeHistogramOptions {
  const { schema, zeroThreshold, maxBuckets } = options;
  if (!Number.isInteger(schema) || schema < NATIVE_SCHEMA_MIN || schema > NATIVE_SCHEMA_MAX) {
    throw new RangeError(
      `${path}.schema must be an integer from ${NATIVE_SCHEMA_MIN} to ${NATIVE_SCHEMA_MAX}, got ${schema}`,
    );
  }
  if (typeof zeroThreshold !== 'number' || !Number.isFinite(zeroThreshold) || zeroThreshold < 0) {
    throw new RangeError(`${path}.zeroThreshold must be a finite number >= 0, got ${zeroThreshold}`);
  }
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1 || maxBuckets > MAX_NATIVE_WINDOW) {
    throw new RangeError(`${path}.maxBuckets must be an integer from 1 to ${MAX_NATIVE_WINDOW}, got ${maxBuckets}`);
  }
  return options;
}

/**
 * BOUNDS_SCHEMA_8 is client_golang's nativeHistogramBounds[8]: frac (in [0.5, 1)) of each schema-8
 * boundary. Each lower schema's table is every 2^(8-s)-th entry of it (the Go tables nest exactly; the
 * test checks them against the Go literals). These are the Go constants, not recomputed: Math.pow
 * differs from them in the last bit for 341 of the 510 entries.
 */
const BOUNDS_SCHEMA_8 = [
  0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088, 0.5054446430258502, 0.5068150424757447,
  0.5081891574554764, 0.509566998038869, 0.5109485743270583, 0.5123338964485679, 0.5137229745593818, 0.5151158188430205,
  0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158, 0.5221368912137069, 0.5235525479396449,
  0.5249720429003435, 0.526395386502313, 0.5278225891802786, 0.5292536613972564, 0.5306886136446309, 0.5321274564422321,
  0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954, 0.5393803988785598,
  0.5408428074966075, 0.5423091811066545, 0.5437795304588847, 0.5452538663326288, 0.5467321995364429,
  0.5482145409081883, 0.549700901315111, 0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
  0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098, 0.5632608093041209, 0.564787964283144,
  0.5663192597993595, 0.5678547070789026, 0.5693943173783458, 0.5709381019847808, 0.572486072215902, 0.5740382394200894,
  0.5755946149764913, 0.5771552102951081, 0.5787200368168754, 0.5802891060137493, 0.5818624293887887,
  0.5834400184762408, 0.585021884841625, 0.5866080400818185, 0.5881984958251406, 0.5897932637314379, 0.5913923554921704,
  0.5929957828304968, 0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
  0.6010783657263515, 0.6027080545025619, 0.6043421618132907, 0.6059806996384005, 0.6076236799902344,
  0.6092711149137041, 0.6109230164863786, 0.6125793968185725, 0.6142402680534349, 0.6159056423670379,
  0.6175755319684665, 0.6192499490999082, 0.620928906036742, 0.622612415087629, 0.6243004885946023, 0.6259931389331581,
  0.6276903785123455, 0.6293922197748583, 0.6310986751971253, 0.6328097572894031, 0.6345254785958666,
  0.6362458516947014, 0.637970889198196, 0.6397006037528346, 0.6414350080393891, 0.6431741147730128, 0.6449179367033329,
  0.6466664866145447, 0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
  0.6554806057623822, 0.6572577939746774, 0.659039800633032, 0.6608266388015788, 0.6626183215798706, 0.6644148621029772,
  0.6662162735415805, 0.6680225691020727, 0.6698337620266515, 0.6716498655934177, 0.6734708931164728,
  0.6752968579460171, 0.6771277734684463, 0.6789636531064505, 0.6808045103191123, 0.6826503586020058,
  0.6845012114872953, 0.6863570825438342, 0.688217985377265, 0.690083933630119, 0.6919549409819159, 0.6938310211492645,
  0.6957121878859629, 0.6975984549830999, 0.6994898362691555, 0.7013863456101023, 0.7032879969095076,
  0.7051948041086352, 0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
  0.7148066691959849, 0.7167447066838943, 0.718687998724491, 0.7206365595643126, 0.7225904034885232, 0.7245495448210174,
  0.7265139979245261, 0.7284837772007218, 0.7304588970903234, 0.7324393720732029, 0.7344252166684908,
  0.7364164454346837, 0.7384130729697496, 0.7404151139112358, 0.7424225829363761, 0.7444354947621984,
  0.7464538641456323, 0.7484777058836176, 0.7505070348132126, 0.7525418658117031, 0.7545822137967112,
  0.7566280937263048, 0.7586795205991071, 0.7607365094544071, 0.762799075372269, 0.7648672334736434, 0.7669409989204777,
  0.7690203869158282, 0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
  0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461707, 0.7879904225539431,
  0.7901268813264122, 0.7922691326262467, 0.7944171921585818, 0.7965710756711334, 0.7987307989543135,
  0.8008963778413465, 0.8030678282083853, 0.805245165974627, 0.8074284071024302, 0.8096175675974316, 0.8118126635086642,
  0.8140137109286738, 0.8162207259936375, 0.8184337248834821, 0.820652723822003, 0.8228777390769823, 0.8251087869603088,
  0.8273458838280969, 0.8295890460808079, 0.8318382901633681, 0.8340936325652911, 0.8363550898207981,
  0.8386226785089391, 0.8408964152537144, 0.8431763167241966, 0.8454623996346523, 0.8477546807446661,
  0.8500531768592616, 0.8523579048290255, 0.8546688815502312, 0.8569861239649629, 0.8593096490612387,
  0.8616394738731368, 0.8639756154809185, 0.8663180910111553, 0.8686669176368529, 0.871022112577578, 0.8733836930995842,
  0.8757516765159389, 0.8781260801866495, 0.8805069215187917, 0.8828942179666361, 0.8852879870317771,
  0.8876882462632604, 0.890095013257712, 0.8925083056594671, 0.8949281411607002, 0.8973545375015533, 0.8997875124702672,
  0.9022270839033115, 0.9046732696855155, 0.9071260877501991, 0.909585556079304, 0.9120516927035263, 0.9145245157024483,
  0.9170040432046711, 0.9194902933879467, 0.9219832844793128, 0.9244830347552253, 0.9269895625416926, 0.92950288621441,
  0.9320230241988943, 0.9345499949706191, 0.9370838170551498, 0.93962450902828, 0.9421720895161669, 0.9447265771954693,
  0.9472879907934827, 0.9498563490882775, 0.9524316709088368, 0.9550139751351947, 0.9576032806985735,
  0.9601996065815236, 0.9628029718180622, 0.9654133954938133, 0.9680308967461471, 0.9706554947643201,
  0.9732872087896164, 0.9759260581154889, 0.9785720620876999, 0.9812252401044634, 0.9838856116165875,
  0.9865531961276168, 0.9892280131939752, 0.9919100824251095, 0.9945994234836328, 0.9972960560854698,
];

/** BOUNDS[s] for s in 1..8 is client_golang's nativeHistogramBounds[s]. */
const BOUNDS: readonly Float64Array[] = Array.from({ length: NATIVE_SCHEMA_MAX + 1 }, (_, s) =>
  Float64Array.from({ length: 2 ** s }, (_, i) => BOUNDS_SCHEMA_8[i << (NATIVE_SCHEMA_MAX - s)]!),
);

/**
 * FIRST_BOUND[s][c] is the search answer for the lowest frac of cell c, where the cells split [0.5, 1)
 * into 2^(s+2) equal parts by the top s+2 mantissa bits. Bounds are at least 0.5 * (2^(2^-s) - 1) >
 * 0.34 * 2^-s apart and a cell is 0.125 * 2^-s wide, so a cell holds at most one bound: for any frac in
 * cell c the answer is FIRST_BOUND[s][c] or the index after it, and one comparison tells which. This
 * is the same search over the same table as client_golang's, without its 3 to 8 unpredictable branches.
 */
const FIRST_BOUND: readonly Uint16Array[] = BOUNDS.map((bounds, s) => {
  if (s === 0) return new Uint16Array(0);
  const cells = 2 ** (s + 2);
  return Uint16Array.from({ length: cells }, (_, c) => searchBounds(bounds, 0.5 + (0.5 * c) / cells));
});

/** searchBounds is Go's sort.SearchFloat64s: the first index whose bound is >= frac, bounds.length if none. */
function searchBounds(bounds: Float64Array, frac: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid]! < frac) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// frexp through the bits of one float64: no allocation per call. The high word holds the sign, the
// 11-bit exponent and 20 bits of mantissa; which Uint32 it is depends on the platform's byte order.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
const TWO_POW_64 = 2 ** 64;

/**
 * nativeBucketKey returns the index of the bucket that holds v (> 0, finite or +Inf) at `schema`, as
 * client_golang computes it: frexp(v) = frac * 2^exp with frac in [0.5, 1); for schema > 0 the key is
 * the first boundary >= frac plus (exp - 1) * 2^schema; for schema <= 0 it is exp (minus 1 when v is a
 * power of two) shifted right by -schema, rounding up. +Inf is one above the bucket of Number.MAX_VALUE.
 */
export function nativeBucketKey(v: number, schema: number): number {
  if (v === Infinity) return nativeBucketKey(Number.MAX_VALUE, schema) + 1;
  f64[0] = v;
  let hi = u32[HI]!;
  let exp = (hi >>> 20) & 0x7ff;
  if (exp === 0) {
    // Subnormal: scale into the normal range (exact for a power of two) and correct the exponent.
    f64[0] = v * TWO_POW_64;
    hi = u32[HI]!;
    exp = ((hi >>> 20) & 0x7ff) - 64;
  }
  exp -= 1022; // frexp's exponent: v = frac * 2^exp
  if (schema > 0) {
    u32[HI] = (hi & 0x800fffff) | 0x3fe00000; // same mantissa, exponent of [0.5, 1)
    const frac = f64[0]!;
    const bounds = BOUNDS[schema]!;
    // sort.SearchFloat64s(bounds, frac) (the first index whose bound is >= frac), answered by FIRST_BOUND
    // and at most one comparison: see there.
    let i = FIRST_BOUND[schema]![(hi & 0xfffff) >>> (18 - schema)]!;
    if (i < bounds.length && bounds[i]! < frac) i++;
    return i + (exp - 1) * bounds.length;
  }
  // frac === 0.5 exactly when the mantissa bits are all zero: v is a power of two, the top of its bucket.
  const key = (hi & 0xfffff) === 0 && u32[LO] === 0 ? exp - 1 : exp;
  return (key + (1 << -schema) - 1) >> -schema;
}

/**
 * nativeBucketUpperBound returns bucket `key`'s inclusive upper bound at `schema` (client_golang's
 * getLe): 2^(key / 2^schema) from the same boundary table, Number.MAX_VALUE for the last finite bucket.
 */
export function nativeBucketUpperBound(key: number, schema: number): number {
  if (schema < 0) {
    const exp = key * 2 ** -schema;
    if (exp === 1024) return Number.MAX_VALUE;
    return ldexp(1, exp);
  }
  const frac = BOUNDS[schema]![key & ((1 << schema) - 1)]!;
  const exp = Math.floor(key / 2 ** schema) + 1;
  if (frac === 0.5 && exp === 1025) return Number.MAX_VALUE;
  return ldexp(frac, exp);
}

/** ldexp is frac * 2^exp, exact wherever the result is a normal number. */
function ldexp(frac: number, exp: number): number {
  // Two steps keep each power of two representable (2^1024 is not) before the product is rounded.
  const half = Math.trunc(exp / 2);
  return frac * 2 ** half * 2 ** (exp - half);
}

const EMPTY = new Float64Array(0);
const INITIAL_WINDOW = 32;

/**
 * NativeHistogram counts observations (seconds) into exponential buckets. Not thread-safe: one owner
 * (the publisher's aggregator) observes and reads it. Cost per observation: a frexp through a typed
 * array, a binary search of at most 8 steps and one increment in a dense window of counts.
 */
export class NativeHistogram {
  /** count is the number of observations, NaN included (client_golang counts NaN but buckets it nowhere). */
  count = 0;
  /** sum is the sum of the observed values. */
  sum = 0;
  /** zeroCount counts observations with v <= zeroThreshold (0, tiny and, should one come, negative). */
  zeroCount = 0;
  readonly options: NativeHistogramOptions;
  private currentSchema: number;
  /** counts[i] is the count of bucket `first + i`. */
  private counts: Float64Array = EMPTY;
  private first = 0;
  private populated = 0;
  private cached: NativeBuckets | undefined;
  private cachedCount = -1;

  constructor(options: NativeHistogramOptions = NATIVE_DEFAULTS) {
    this.options = validateNativeOptions(options);
    this.currentSchema = options.schema;
  }

  /** schema is the current resolution: the configured one, lower after the bucket limit halved it. */
  get schema(): number {
    return this.currentSchema;
  }

  /** bucketCount is the number of populated buckets (zero bucket not included). */
  get bucketCount(): number {
    return this.populated;
  }

  /**
   * observe counts one value in seconds. Values above the zero threshold go to their exponential
   * bucket, the rest (0, tiny, negative) to the zero bucket; NaN adds to count and sum only.
   */
  observe(v: number): void {
    this.count++;
    this.sum += v;
    if (v > this.options.zeroThreshold) {
      this.add(nativeBucketKey(v, this.currentSchema));
    } else if (v === v) {
      this.zeroCount++;
    }
  }

  private add(key: number): void {
    let i = key - this.first;
    if (i < 0 || i >= this.counts.length) {
      while (!this.cover(key)) {
        this.halveResolution();
        key = Math.ceil(key / 2); // the key the value has at the new schema
      }
      i = key - this.first;
    }
    if (this.counts[i]!++ === 0 && ++this.populated > this.options.maxBuckets) {
      while (this.populated > this.options.maxBuckets && this.currentSchema > NATIVE_SCHEMA_MIN) this.halveResolution();
    }
  }

  /**
   * cover grows the window to include `key` (doubling, with the new room on the side that grew) and
   * returns false when that would take more than MAX_NATIVE_WINDOW slots.
   */
  private cover(key: number): boolean {
    const old = this.counts;
    if (this.populated === 0) {
      this.counts = old.length === 0 ? new Float64Array(INITIAL_WINDOW) : old.fill(0);
      this.first = key - (this.counts.length >>> 1);
      return true;
    }
    const last = this.first + old.length - 1;
    const lo = Math.min(this.first, key);
    const span = Math.max(last, key) - lo + 1;
    if (span > MAX_NATIVE_WINDOW) return false;
    const length = Math.min(MAX_NATIVE_WINDOW, Math.max(span, old.length * 2));
    const first = key < this.first ? lo - (length - span) : lo;
    const counts = new Float64Array(length);
    counts.set(old, this.first - first);
    this.counts = counts;
    this.first = first;
    return true;
  }

  /** halveResolution lowers the schema by one, merging buckets 2j-1 and 2j into j (doubleBucketWidth). */
  private halveResolution(): void {
    this.currentSchema--;
    const old = this.counts;
    const oldFirst = this.first;
    let firstKey = Infinity;
    let lastKey = -Infinity;
    for (let i = 0; i < old.length; i++) {
      if (old[i] === 0) continue;
      if (firstKey === Infinity) firstKey = oldFirst + i;
      lastKey = oldFirst + i;
    }
    if (firstKey === Infinity) {
      this.counts = EMPTY;
      this.populated = 0;
      return;
    }
    const lo = Math.ceil(firstKey / 2);
    const span = Math.ceil(lastKey / 2) - lo + 1;
    const length = Math.max(INITIAL_WINDOW, span * 2);
    const counts = new Float64Array(length);
    this.first = lo - ((length - span) >>> 1);
    let populated = 0;
    for (let i = 0; i < old.length; i++) {
      const c = old[i]!;
      if (c === 0) continue;
      const j = Math.ceil((oldFirst + i) / 2) - this.first;
      if (counts[j] === 0) populated++;
      counts[j]! += c;
    }
    this.counts = counts;
    this.populated = populated;
  }

  /**
   * buckets returns the histogram as spans and delta-encoded counts, built as client_golang's makeBuckets
   * builds them: one span per run of populated buckets, runs separated by gaps of one or two empty
   * buckets joined into one span with explicit zeros. A histogram with a zero threshold of 0 and no
   * observations gets the no-op span {0, 0}, so it still reads as native. The result is reused until the
   * next observation: treat it as immutable.
   */
  buckets(): NativeBuckets {
    if (this.cached !== undefined && this.cachedCount === this.count) return this.cached;
    const spans: { offset: number; length: number }[] = [];
    const deltas: number[] = [];
    const counts = this.counts;
    let prev = 0;
    let nextKey = 0;
    let span: { offset: number; length: number } | undefined;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      const key = this.first + i;
      const gap = key - nextKey;
      if (span === undefined || gap > 2) {
        span = { offset: gap, length: 0 };
        spans.push(span);
      } else {
        for (let g = 0; g < gap; g++) {
          span.length++;
          deltas.push(0 - prev);
          prev = 0;
        }
      }
      span.length++;
      deltas.push(c - prev);
      prev = c;
      nextKey = key + 1;
    }
    if (spans.length === 0 && this.options.zeroThreshold === 0 && this.zeroCount === 0)
      spans.push({ offset: 0, length: 0 });
    this.cached = {
      schema: this.currentSchema,
      zeroThreshold: this.options.zeroThreshold,
      zeroCount: this.zeroCount,
      positiveSpans: spans,
      positiveDeltas: deltas,
    };
    this.cachedCount = this.count;
    return this.cached;
  }
}
