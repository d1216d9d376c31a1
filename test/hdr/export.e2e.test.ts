/**
 * src/hdr/export.ts against HdrHistogram's Java reference implementation: the same values recorded in
 * Java and here must print the same `.hgrm` bytes, Java must decode our base64 to the same counts, and
 * HistogramLogProcessor must read our `.hlog` back to the intervals we wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import {
  encodeHistogram,
  intervalLogHeader,
  intervalLogLine,
  maxValue,
  percentileDistribution,
  percentileSteps,
} from '../../src/hdr/export.ts';
import { formatFixed, javaDateUtc } from '../../src/hdr/java-format.ts';
import { java, reference, requireJavaHdr } from '../helpers/java-hdr.ts';
import { mulberry32 } from '../../support/rng.ts';

/** histogramOf records values as the aggregator's histograms do (1..2 auto-resizing, 3 digits, Int32 counts). */
function histogramOf(values: readonly number[]): hdr.JsHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  for (const v of values) h.recordValue(v);
  return h;
}

/** DISTRIBUTIONS are latency sets in µs that exercise the iteration: tiny, uniform, long-tailed, bimodal. */
function distributions(): Record<string, number[]> {
  const rand = mulberry32(21);
  const lognormal = (median: number, sigma: number): number => {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Math.max(1, Math.round(median * Math.exp(sigma * z)));
  };
  return {
    'one value': [1234],
    'five small values': [1, 2, 3, 4, 5],
    'uniform 1..10000': Array.from({ length: 10_000 }, (_, i) => i + 1),
    'lognormal redis-like': Array.from({ length: 20_000 }, () => lognormal(180, 0.6)),
    'bimodal with a 3 s stall': [
      ...Array.from({ length: 5000 }, () => lognormal(900, 0.3)),
      ...Array.from({ length: 50 }, () => lognormal(45_000, 0.2)),
      3_000_000,
    ],
    'wide range': Array.from({ length: 3000 }, () => Math.round(10 ** (rand() * 8))),
  };
}

describe('java-format', () => {
  test("formatFixed rounds half-up on the shortest digits, as Java's %.Nf does", async (t) => {
    if (!requireJavaHdr(t)) return;
    const rand = mulberry32(7);
    const cases: Array<[number, number]> = [
      [1, 0.15],
      [2, 1.005],
      [3, 1.0005],
      [2, 0.125],
      [3, 12345.6785],
      [12, 0.9990234375],
      [3, 0.0005],
      [3, 0.00049],
      [3, 0],
      [2, 1e21],
      [3, 123456789.0125],
      [12, 1e-13],
      [2, 99999.995],
      [0, 0.5],
      [0, 2.5],
      [3, 5e-324],
    ];
    for (let i = 0; i < 2000; i++) {
      const precision = [0, 2, 3, 12][i % 4]!;
      const x = i % 3 === 0 ? Math.round(rand() * 1e7) / 10 ** (1 + (i % 6)) : rand() * 10 ** (rand() * 12 - 4);
      cases.push([precision, x]);
    }
    const expected = (await reference('format', [], cases.map(([p, x]) => `${p} ${String(x)}`).join('\n'))).split('\n');
    cases.forEach(([p, x], i) => assert.equal(formatFixed(x, p), expected[i], `%.${p}f of ${String(x)}`));
  });

  test('javaDateUtc prints java.util.Date.toString in UTC', () => {
    assert.equal(javaDateUtc(1_700_000_000_123), 'Tue Nov 14 22:13:20 UTC 2023');
    assert.equal(javaDateUtc(0), 'Thu Jan 01 00:00:00 UTC 1970');
  });
});

describe('percentileDistribution (.hgrm)', () => {
  for (const [name, values] of Object.entries(distributions())) {
    test(`prints what Java's outputPercentileDistribution prints: ${name}`, async (t) => {
      if (!requireJavaHdr(t)) return;
      const expected = await reference('hgrm', [], values.join('\n'));
      assert.equal(percentileDistribution(histogramOf(values)), expected);
    });
  }

  test('an empty histogram prints the header and a zero footer, as Java does', async (t) => {
    if (!requireJavaHdr(t)) return;
    assert.equal(percentileDistribution(histogramOf([])), await reference('hgrm', [], ''));
  });

  test('a histogram widened to Float64 counts prints the same distribution', async (t) => {
    if (!requireJavaHdr(t)) return;
    const values = distributions()['lognormal redis-like']!;
    const wide = new hdr.Float64Histogram(1, 2, 3);
    wide.autoResize = true;
    wide.add(histogramOf(values));
    assert.equal(percentileDistribution(wide), await reference('hgrm', [], values.join('\n')));
  });

  test("the last step is the max at 100% and every step's count is cumulative", () => {
    const h = histogramOf([10, 20, 30, 40_000]);
    const steps = percentileSteps(h);
    assert.deepEqual(steps.at(-1), { value: maxValue(h), percentile: 100, totalCount: 4 });
    for (let i = 1; i < steps.length; i++) {
      assert.ok(steps[i]!.totalCount >= steps[i - 1]!.totalCount && steps[i]!.percentile > steps[i - 1]!.percentile);
    }
    assert.equal(maxValue(h), 40_031, 'the highest value equivalent to 40000 at 3 digits');
  });
});

describe('encodeHistogram (V2 compressed base64)', () => {
  test('Java decodes it to the same counts, min, max and distribution', async (t) => {
    if (!requireJavaHdr(t)) return;
    const sets = Object.values(distributions());
    const histograms = sets.map(histogramOf);
    const out = await reference('decode', [], histograms.map(encodeHistogram).join('\n'));
    const sections = out.split(/^(?=total )/m);
    assert.equal(sections.length, histograms.length);
    histograms.forEach((h, i) => {
      const lines = sections[i]!.split('\n');
      assert.equal(lines[0], `total ${h.totalCount} min ${h.minNonZeroValue} max ${maxValue(h)}`);
      const counts = lines.filter((l) => l.startsWith('count ')).map((l) => l.slice(6));
      const ours: string[] = [];
      for (let j = 0; j < h.countsArrayLength; j++) {
        const c = h.getCountAtIndex(j);
        if (c > 0) ours.push(`${h.highestEquivalentValue(h.valueFromIndex(j))} ${c}`);
      }
      assert.deepEqual(counts, ours);
      assert.equal(sections[i]!.slice(sections[i]!.indexOf('       Value')), percentileDistribution(h));
    });
  });

  test('hdr-histogram-js decodes it back to the same histogram', () => {
    const h = histogramOf(distributions()['bimodal with a 3 s stall']!);
    const back = hdr.decodeFromCompressedBase64(encodeHistogram(h)) as hdr.JsHistogram;
    assert.equal(percentileDistribution(back), percentileDistribution(h));
  });
});

describe('interval log (.hlog)', () => {
  const START_MS = 1_700_000_000_250;
  // Three 1 s intervals: fast, with a stall, and one with nothing recorded.
  const INTERVALS: Array<{ startMs: number; endMs: number; values: number[] }> = [
    { startMs: START_MS, endMs: START_MS + 1000, values: [150, 160, 170, 180, 2500] },
    { startMs: START_MS + 1000, endMs: START_MS + 2000, values: [140, 155, 90_000, 1_250_000] },
    { startMs: START_MS + 2000, endMs: START_MS + 3001, values: [] },
  ];
  const ourLog = (): string =>
    intervalLogHeader({ startTimeMs: START_MS, baseTimeMs: START_MS }) +
    INTERVALS.map((iv) =>
      intervalLogLine({
        startSec: (iv.startMs - START_MS) / 1000,
        endSec: (iv.endMs - START_MS) / 1000,
        histogram: histogramOf(iv.values),
      }),
    ).join('');

  test("the header and the lines are HistogramLogWriter's, field for field", async (t) => {
    if (!requireJavaHdr(t)) return;
    const javaLog = await reference(
      'hlog',
      [START_MS, START_MS],
      INTERVALS.map((iv) => `${iv.startMs} ${iv.endMs} ${iv.values.join(' ')}`).join('\n'),
    );
    const ours = ourLog().split('\n');
    const theirs = javaLog.split('\n');
    assert.equal(ours.length, theirs.length);
    ours.forEach((line, i) => {
      // The compressed payload may differ byte-wise (zlib levels); its decoding is checked below.
      const strip = (l: string): string => l.replace(/,HISTF[A-Za-z0-9+/=]+$/, ',<histogram>');
      assert.equal(strip(line), strip(theirs[i]!), `line ${i + 1}`);
    });
  });

  test('HistogramLogProcessor reads it: per-interval counts and maxima, and the overall .hgrm', async (t) => {
    if (!requireJavaHdr(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'probex-hlog-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'in.hlog'), ourLog());
    await java([
      'org.HdrHistogram.HistogramLogProcessor',
      '-i',
      join(dir, 'in.hlog'),
      '-o',
      join(dir, 'out'),
      '-outputValueUnitRatio',
      '1000',
    ]);

    // Interval lines: `Time: I:count ( p50 p90 max ) T:count ( ... )`, time relative to StartTime.
    const intervals = readFileSync(join(dir, 'out'), 'utf8')
      .split('\n')
      .filter((l) => /^\s*\d+\.\d+: I:/.test(l));
    assert.equal(intervals.length, INTERVALS.length);
    let total = 0;
    intervals.forEach((line, i) => {
      const iv = INTERVALS[i]!;
      total += iv.values.length;
      const m = /^\s*([\d.]+): I:(\d+) \(\s*[\d.]+\s+[\d.]+\s+([\d.]+) \) T:(\d+)/.exec(line);
      assert.ok(m, line);
      assert.equal(Number(m[1]), (iv.endMs - START_MS) / 1000, 'interval end, seconds after StartTime');
      assert.equal(Number(m[2]), iv.values.length, 'interval count');
      assert.equal(m[3], formatFixed(maxValue(histogramOf(iv.values)) / 1000, 3), 'interval max (ms)');
      assert.equal(Number(m[4]), total, 'running total');
    });

    const all = histogramOf(INTERVALS.flatMap((iv) => iv.values));
    const hgrm = readFileSync(join(dir, 'out.hgrm'), 'utf8');
    assert.equal(hgrm.slice(hgrm.indexOf('       Value')), percentileDistribution(all));
    assert.match(hgrm, new RegExp(`#\\[StartTime: ${formatFixed(START_MS / 1000, 3).replace('.', '\\.')} `));
  });

  test('tags prefix the line; a tag with a separator is refused', () => {
    const h = histogramOf([100]);
    assert.match(
      intervalLogLine({ startSec: 0, endSec: 1, histogram: h, tag: 'redis' }),
      /^Tag=redis,0\.000,1\.000,0\.100,HISTF/,
    );
    assert.throws(() => intervalLogLine({ startSec: 0, endSec: 1, histogram: h, tag: 'a,b' }), RangeError);
    assert.throws(() => intervalLogLine({ startSec: 0, endSec: 1, histogram: h, tag: 'a b' }), RangeError);
    assert.throws(() => intervalLogHeader({ startTimeMs: 0, comments: ['two\nlines'] }), RangeError);
  });
});
