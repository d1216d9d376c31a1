/*
 * basic-auth.bench.ts: the web config's basic auth (http/basic-auth.ts), with real bcrypt.
 *   npm run bench:basic-auth
 * - check, cached: what every scrape with a credential already seen costs (tinybench v2).
 * - an uncached check's wall time for a wrong password and for an unknown user (both run one bcrypt
 *   against the same cost-10 hash, so the two medians must be alike), and the main thread's event-loop
 *   delay meanwhile: bcrypt runs on libuv's thread pool, so the loop keeps turning.
 */
import { hashSync } from '@node-rs/bcrypt';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { BasicAuth } from '../../src/http/basic-auth.ts';
import { fmt } from '../lib/report.ts';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const auth = new BasicAuth({ prometheus: hashSync('right-password', 10), grafana: hashSync('other', 10) });
const right = basic('prometheus', 'right-password');
if ((await auth.check(right)) !== true) throw new Error('the right password did not verify');

const bench = new Bench({ time: 500 });
let ok = 0;
bench.add('check: a cached right credential', () => {
  if (auth.check(right) === 'ok') ok++;
});
await bench.warmup();
await bench.run();
console.table(bench.table());
if (ok === 0) throw new Error('no check passed');

const ROUNDS = 15;
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const timings: Record<'wrong password' | 'unknown user', number[]> = { 'wrong password': [], 'unknown user': [] };
for (let i = 0; i < ROUNDS; i++) {
  for (const [kind, header] of [
    ['wrong password', basic('prometheus', `wrong-${i}`)],
    ['unknown user', basic(`nobody-${i}`, `wrong-${i}`)],
  ] as const) {
    const t0 = performance.now();
    await auth.check(header);
    timings[kind].push(performance.now() - t0);
  }
}
loop.disable();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.table(
  Object.fromEntries(
    Object.entries(timings).map(([kind, xs]) => [
      kind,
      { 'median ms': fmt(median(xs), 1), 'min ms': fmt(Math.min(...xs), 1) },
    ]),
  ),
);
console.log(
  `event-loop delay during ${ROUNDS * 2} uncached checks: p99 ${fmt(loop.percentile(99) / 1e6, 2)} ms, max ${fmt(loop.max / 1e6, 2)} ms`,
);
