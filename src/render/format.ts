/**
 * Numbers as people read them on the status page, in the run report and in `probex run`'s output:
 * latencies with the unit that fits, ages, rates and counts. Every formatter rounds before it picks a
 * unit, so a value never shows as 1000µs, 1000ms or 1m 60s. Pure.
 */

/**
 * formatLatency prints µs with three significant digits and the unit that fits: 850µs, 1.23ms, 12.3ms,
 * 1.05s. The value is rounded before the unit is chosen, so 999.7µs is 1ms, never 1000µs.
 */
export function formatLatency(us: number): string {
  if (!Number.isFinite(us)) return '–';
  return withUnit(us, 'µs', sig, sig);
}

/**
 * formatUs prints a latency as --slo writes one (`us`, not `µs`) and precisely enough to compare with the
 * objective: 850us, 3.21ms, 1.5s (0.1µs, then three decimals). The value is rounded before the unit is
 * chosen, so 999.97us is 1ms, never 1000us.
 */
export function formatUs(us: number): string {
  return withUnit(
    us,
    'us',
    (v) => Number(v.toFixed(1)),
    (v) => Number(v.toFixed(3)),
  );
}

/** withUnit prints µs in µs, ms or s: the first unit in which the rounded value is below 1000. */
function withUnit(us: number, micro: string, roundUs: (v: number) => number, round: (v: number) => number): string {
  const inUs = roundUs(us);
  if (inUs < 1000) return `${inUs}${micro}`;
  const inMs = round(us / 1000);
  if (inMs < 1000) return `${inMs}ms`;
  return `${round(us / 1_000_000)}s`;
}

/** sig rounds to three significant digits (whole numbers from 100 on). */
function sig(v: number): number {
  return v >= 100 ? Math.round(v) : Number(v.toPrecision(3));
}

/**
 * formatAge prints seconds as 0.4s, 12s, 3m 5s, 2h 4m, 3d 1h. Whole seconds are rounded before they are
 * split into units, so 119.6s is 2m 0s, never 1m 60s.
 */
export function formatAge(s: number): string {
  if (s < 9.95) return `${Number(s.toFixed(1))}s`;
  const whole = Math.round(s);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${whole % 60}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h ${Math.floor((whole % 3600) / 60)}m`;
  return `${Math.floor(whole / 86_400)}d ${Math.floor((whole % 86_400) / 3600)}h`;
}

/** formatRate prints a rate with three significant digits (whole numbers from 100 on). */
export function formatRate(perSecond: number): string {
  return String(sig(perSecond));
}

/** formatCount groups thousands with a thin space: 12 345. */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009');
}
