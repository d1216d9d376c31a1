import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { formatAge, formatLatency } from '../../src/render/format.ts';
import { logTicks, PLOT_DECADES } from '../../src/render/plot.ts';
import { MAX_PLOTS, statusModel } from '../../src/render/status-model.ts';
import { renderStatusPage, STATUS_PAGE_CSP } from '../../src/render/status-page.ts';
import { buildInput, HOSTILE_ERROR, NOW_MS, SPECS } from './status-fixtures.ts';

describe('statusModel', () => {
  const input = buildInput();
  const model = statusModel(input);
  const byName = new Map(model.targets.map((t) => [t.name, t]));

  test("has one target per snapshot, in config order, with the snapshot's HDR row statistics in µs", () => {
    assert.deepEqual(
      model.targets.map((t) => t.name),
      SPECS.map((s) => s.name),
    );
    for (const snap of input.targets) {
      const t = byName.get(snap.name)!;
      assert.equal(t.up, snap.up === 1);
      assert.equal(t.count, snap.count);
      if (snap.latency === undefined) {
        assert.equal(t.latencyUs, undefined);
      } else {
        assert.equal(t.latencyUs!.p99, snap.latency.p99 * 1e6);
        assert.equal(t.latencyUs!.max, snap.latency.max * 1e6);
      }
    }
    assert.equal(model.generatedAtMs, NOW_MS);
    assert.equal(model.unplotted, 0);
  });

  test('ages, rates and errors come from the snapshot and the rate window', () => {
    const redis = byName.get('redis')!;
    assert.ok(Math.abs(redis.lastProbeAgeSeconds! - 0.3) < 0.01, `age ${redis.lastProbeAgeSeconds}`);
    assert.ok(Math.abs(redis.probesPerSecond! - 10_000 / 60) < 0.01, `rate ${redis.probesPerSecond}`);
    assert.deepEqual(redis.errors, [{ reason: 'timeout', count: 1 }]);
    const dead = byName.get('dead-tcp')!;
    assert.equal(dead.up, false);
    assert.deepEqual(dead.errors, [{ reason: 'refused', count: 300 }]);
    assert.equal(dead.lastError!.message, HOSTILE_ERROR);
    assert.deepEqual(dead.distribution, [], 'no curve without a success');
    const fresh = byName.get('not-yet')!;
    assert.equal(fresh.lastProbeAgeSeconds, undefined);
    assert.equal(fresh.probesPerSecond, 0);
  });

  test('the curve runs from the minimum at 0% to 99.999%, never falls and never passes the max', () => {
    const t = byName.get('mysql')!;
    const snap = input.targets.find((s) => s.name === 'mysql')!;
    assert.equal(t.distribution.length, PLOT_DECADES * 20 + 1);
    assert.equal(t.distribution[0]!.percentile, 0);
    assert.equal(t.distribution[0]!.valueUs, snap.latency!.min * 1e6);
    assert.ok(Math.abs(t.distribution.at(-1)!.percentile - 99.999) < 1e-9);
    for (let i = 1; i < t.distribution.length; i++)
      assert.ok(t.distribution[i]!.valueUs >= t.distribution[i - 1]!.valueUs);
    assert.ok(t.distribution.at(-1)!.valueUs <= snap.latency!.max * 1e6);
  });

  test('bucket counts are per bucket (not cumulative), +Inf last, and add up to the successes', () => {
    for (const t of model.targets) {
      assert.equal(t.buckets.at(-1)!.le, Infinity);
      assert.equal(
        t.buckets.reduce((a, b) => a + b.count, 0),
        t.count,
        t.name,
      );
      assert.ok(t.buckets.every((b) => b.count >= 0));
    }
  });

  test('targets past maxPlots get a row but no plot data', () => {
    const limited = statusModel({ ...input, maxPlots: 2 });
    assert.equal(limited.unplotted, SPECS.length - 2);
    assert.ok(limited.targets.slice(2).every((t) => t.distribution.length === 0 && t.buckets.length === 0));
    assert.ok(limited.targets[1]!.distribution.length > 0);
    assert.equal(MAX_PLOTS, 100);
  });
});

describe('renderStatusPage', () => {
  const html = renderStatusPage(statusModel(buildInput()));

  test('the CSP hash is the hash of the one <style> block, and nothing else needs the CSP to allow it', () => {
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)];
    assert.equal(styles.length, 1);
    const hash = createHash('sha256').update(styles[0]![1]!).digest('base64');
    assert.ok(STATUS_PAGE_CSP.includes(`'sha256-${hash}'`), STATUS_PAGE_CSP);
    assert.match(STATUS_PAGE_CSP, /^default-src 'none'; /);
    assert.doesNotMatch(STATUS_PAGE_CSP, /unsafe/);
    const tags = html.match(/<[a-z][^>]*>/gi)!;
    assert.ok(tags.length > 100);
    for (const tag of tags) {
      assert.doesNotMatch(tag, /\sstyle=/i, `no style attribute (it would need unsafe-inline): ${tag}`);
      assert.doesNotMatch(tag, /^<script|\son[a-z]+=/i, `no script, no event handler: ${tag}`);
      assert.doesNotMatch(tag, /\s(?:src|href)="(?!#|data:,"|metrics")/, `no external asset: ${tag}`);
    }
  });

  test('probe text is escaped: the hostile error shows as text', () => {
    assert.ok(!html.includes(HOSTILE_ERROR));
    assert.ok(
      html.includes(
        'connect ECONNREFUSED 127.0.0.1:1 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; &amp; &#39;q&#39;',
      ),
    );
  });

  test('every target has a row; probed ones a plot card with an anchor the row links to', () => {
    for (const s of SPECS) {
      assert.ok(html.includes(`id="row-${s.name}"`), s.name);
      assert.ok(html.includes(`<section class="panel card" id="t-${s.name}">`), s.name);
      assert.ok(html.includes(`href="#t-${s.name}"`), s.name);
    }
    assert.match(html, /<meta http-equiv="refresh" content="10">/);
    assert.match(html, /<title>probex · 7 targets · 2 down<\/title>/);
  });
});

describe('formatting', () => {
  test('formatLatency keeps three significant digits and picks the unit', () => {
    assert.deepEqual([0.5, 12, 850, 1000, 1234, 12_345, 123_456, 1_050_000].map(formatLatency), [
      '0.5µs',
      '12µs',
      '850µs',
      '1ms',
      '1.23ms',
      '12.3ms',
      '123ms',
      '1.05s',
    ]);
  });

  test('formatAge', () => {
    assert.deepEqual([0.42, 12.4, 125, 7384, 266_400].map(formatAge), ['0.4s', '12s', '2m 5s', '2h 3m', '3d 2h']);
  });

  test('a value is rounded before its unit is chosen: never 60s in a minute, 1000µs or 1000ms', () => {
    assert.deepEqual([9.96, 59.6, 119.6, 3599.6, 86_399.6].map(formatAge), ['10s', '1m 0s', '2m 0s', '1h 0m', '1d 0h']);
    assert.deepEqual([999.4, 999.6, 999_499, 999_600, 1_000_000].map(formatLatency), [
      '999µs',
      '1ms',
      '999ms',
      '1s',
      '1s',
    ]);
  });

  test('logTicks spans whole decades around the data, with 2-5 ticks when narrow', () => {
    const wide = logTicks(45, 3_960);
    assert.deepEqual([wide.lo, wide.hi], [1, 4]);
    assert.deepEqual(
      wide.ticks.map((t) => t.label),
      ['10µs', '100µs', '1ms', '10ms'],
    );
    const narrow = logTicks(2000, 2700);
    assert.deepEqual([narrow.lo, narrow.hi], [3, 4]);
    assert.deepEqual(
      narrow.ticks.map((t) => t.label),
      ['1ms', '2ms', '5ms', '10ms'],
    );
  });
});
