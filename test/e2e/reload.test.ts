/**
 * Process-level config reload (SIGHUP) and log rate limiting: the real probex process, its config file
 * rewritten on disk, `kill -HUP`, and assertions over /metrics and the JSON log lines.
 *
 * The tests run in order against one process: a good reload, a bad one, a good one again.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { findSamples, parseExposition, sampleValue, type ExpositionSample } from '../../support/exposition.ts';
import { freePort, startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

const TOKEN = 'reload-test-token-1';
/** DEAD_INTERVAL probes the dead target at 20 Hz, so ~2 s of it is ~40 failed probes. */
const DEAD_INTERVAL = '50ms';

/** config renders the probex YAML; `targets` are YAML flow mappings, one per line. */
const config = (targets: string[]): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
threads: 1
auth:
  tokens:
    - { token: ${TOKEN}, permissions: [metrics] }
targets:
${targets.map((t) => `  - ${t}`).join('\n')}
`;

let deadPort: number;
/** steady is a synthetic target at 20 Hz answering in a constant 2 ms. */
const steady = (name: string): string =>
  `{ name: ${name}, kind: synthetic, interval: 50ms, distribution: { type: constant, valueMs: 2 } }`;
const A = steady('a');
const B = steady('b');
const C_BEFORE =
  '{ name: c, kind: synthetic, interval: 50ms, buckets: [0.001, 0.01, 0.1], distribution: { type: constant, valueMs: 2 } }';
// Changed buckets make c a re-shaped series (it restarts from zero with the new le set); interval too.
const C_AFTER =
  '{ name: c, kind: synthetic, interval: 100ms, buckets: [0.005, 0.05], distribution: { type: constant, valueMs: 2 } }';
const D = steady('d');
// Fails every other probe on average: a flapping dependency, which must not flood the log either.
const FLAPPY =
  '{ name: flappy, kind: synthetic, interval: 50ms, errorRate: 0.5, distribution: { type: constant, valueMs: 1 } }';
const dead = (): string =>
  `{ name: dead, kind: tcp, address: "127.0.0.1:${deadPort}", interval: ${DEAD_INTERVAL}, timeout: 40ms }`;

let probex: ProbexProcess;
before(async () => {
  // A port that was free a moment ago: nothing listens there, so every connect is refused.
  deadPort = await freePort();
  probex = await startProbex(config([A, B, C_BEFORE, FLAPPY, dead()]));
});
after(async () => {
  await probex?.stop();
  if (probex?.configPath !== undefined) rmSync(dirname(probex.configPath), { recursive: true, force: true });
});

async function scrape(): Promise<ExpositionSample[]> {
  const res = await fetch(`${probex.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, `GET /metrics: ${res.status}`);
  return parseExposition(await res.text());
}

const value = (samples: ExpositionSample[], name: string, labels: Record<string, string> = {}): number =>
  sampleValue(samples, name, labels);
const count = (samples: ExpositionSample[], target: string): number =>
  value(samples, 'probex_probe_duration_seconds_count', { target });
const probes = (samples: ExpositionSample[], target: string): number =>
  value(samples, 'probex_probes_total', { target });
const bucketBounds = (samples: ExpositionSample[], target: string): string[] =>
  findSamples(samples, 'probex_probe_duration_seconds_bucket', { target }).map((s) => s.labels.le!);
const reloadStats = (samples: ExpositionSample[]): { total: number; failures: number; lastOk: number } => ({
  total: value(samples, 'probex_config_reloads_total'),
  failures: value(samples, 'probex_config_reload_failures_total'),
  lastOk: value(samples, 'probex_config_last_reload_successful'),
});

/** hup rewrites the config file and sends SIGHUP. */
function hup(yaml: string): void {
  writeFileSync(probex.configPath!, yaml);
  assert.ok(probex.child.kill('SIGHUP'), 'SIGHUP delivered');
}

test('a dead or flapping target probed at 20 Hz for 2 s writes a few log lines, not one per probe', async () => {
  // ~40 probes each at 20 Hz; the log may say "failed" once (and at most once more), never per probe.
  const samples = await waitFor(
    '40 probes of the dead and the flapping target',
    async () => {
      const s = await scrape();
      return value(s, 'probex_probe_errors_total', { target: 'dead', reason: 'refused' }) >= 40 &&
        probes(s, 'flappy') >= 40
        ? s
        : undefined;
    },
    15_000,
  );
  const failureLines = (target: string) =>
    probex.logs.filter((l) => l.target === target && /^probe failed/.test(String(l.msg)));
  const deadLines = failureLines('dead');
  assert.ok(deadLines.length >= 1, 'the first failure is logged');
  assert.ok(deadLines.length <= 2, `${deadLines.length} failure lines for the dead target`);
  assert.equal(deadLines[0]!.reason, 'refused');
  const flappyErrors = value(samples, 'probex_probe_errors_total', { target: 'flappy', reason: 'other' });
  assert.ok(flappyErrors >= 5, `flappy failed ${flappyErrors} times`);
  // Two outages told as they start and end, then one line saying it flaps (src/log.ts, burst 4).
  const flappyLines = probex.logs.filter((l) => l.target === 'flappy');
  assert.ok(
    flappyLines.length >= 1 && flappyLines.length <= 5,
    `${flappyLines.length} log lines for flappy (${flappyErrors} failures)`,
  );
});

test('SIGHUP applies a new config: kept targets stay cumulative, removed ones go, new and changed ones show', async () => {
  const before = await waitFor(
    'a, b and c probed',
    async () => {
      const samples = await scrape();
      return ['a', 'b', 'c'].every((t) => count(samples, t) >= 5) ? samples : undefined;
    },
    15_000,
  );
  assert.deepEqual(bucketBounds(before, 'c'), ['0.001', '0.01', '0.1', '+Inf']);
  assert.deepEqual(reloadStats(before), { total: 0, failures: 0, lastOk: 1 });

  // Scrape continuously across the reload: a's counters must never drop in any scrape.
  const seen: Array<{ count: number; probes: number }> = [{ count: count(before, 'a'), probes: probes(before, 'a') }];
  hup(config([A, C_AFTER, D, dead()]));
  const afterReload = await waitFor(
    'the reload to show in /metrics',
    async () => {
      const samples = await scrape();
      seen.push({ count: count(samples, 'a'), probes: probes(samples, 'a') });
      const reloaded =
        reloadStats(samples).total === 1 && findSamples(samples, 'probex_probes_total', { target: 'd' }).length === 1;
      return reloaded && count(samples, 'd') > 0 && count(samples, 'c') > 0 ? samples : undefined;
    },
    15_000,
  );

  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i]!.count >= seen[i - 1]!.count, `a's _count dropped: ${JSON.stringify(seen)}`);
    assert.ok(seen[i]!.probes >= seen[i - 1]!.probes, `a's probes_total dropped: ${JSON.stringify(seen)}`);
  }
  assert.ok(count(afterReload, 'a') > count(before, 'a'), 'a kept being probed');
  assert.equal(findSamples(afterReload, 'probex_probes_total', { target: 'b' }).length, 0, 'b is gone');
  assert.equal(afterReload.filter((s) => s.labels.target === 'b').length, 0, 'no family keeps a b series');
  assert.deepEqual(bucketBounds(afterReload, 'c'), ['0.005', '0.05', '+Inf'], 'c has its new buckets');
  assert.equal(value(afterReload, 'probex_probe_up', { target: 'd' }), 1);
  assert.deepEqual(reloadStats(afterReload), { total: 1, failures: 0, lastOk: 1 });
  assert.ok(probex.logs.some((l) => l.msg === 'config reloaded' && l.targets === 4));
});

test('a bad config on SIGHUP is counted and the running config keeps probing; a good one recovers', async () => {
  hup('targets:\n  - { name: broken, kind: no-such-kind }\n');
  const failedReload = await waitFor(
    'the failed reload to show in /metrics',
    async () => {
      const samples = await scrape();
      return reloadStats(samples).failures === 1 ? samples : undefined;
    },
    15_000,
  );
  assert.deepEqual(reloadStats(failedReload), { total: 2, failures: 1, lastOk: 0 });
  assert.ok(
    probex.logs.some((l) => l.level === 50 && /config reload failed/.test(String(l.msg))),
    'the failure is logged',
  );
  assert.equal(findSamples(failedReload, 'probex_probes_total', { target: 'broken' }).length, 0);

  // The running targets keep being probed, and the process is still up.
  const start = { a: count(failedReload, 'a'), d: count(failedReload, 'd') };
  await waitFor(
    'a and d probed after the failed reload',
    async () => {
      const samples = await scrape();
      return count(samples, 'a') > start.a && count(samples, 'd') > start.d ? true : undefined;
    },
    15_000,
  );
  assert.equal(probex.child.exitCode, null, 'probex is still running');
  assert.equal((await fetch(`${probex.url}/healthz`)).status, 200);

  // A config file that is gone fails the same way, with its path and the reason in the log.
  rmSync(probex.configPath!);
  assert.ok(probex.child.kill('SIGHUP'), 'SIGHUP delivered');
  const missing = await waitFor(
    'the reload of a missing file to show in /metrics',
    async () => {
      const samples = await scrape();
      return reloadStats(samples).failures === 2 ? samples : undefined;
    },
    15_000,
  );
  assert.deepEqual(reloadStats(missing), { total: 3, failures: 2, lastOk: 0 });
  assert.ok(
    probex.logs.some(
      (l) => l.level === 50 && JSON.stringify(l.err).includes(`${probex.configPath}: cannot read: ENOENT`),
    ),
    'the log names the file and ENOENT',
  );

  hup(config([A, D, dead()]));
  const recovered = await waitFor(
    'the good reload to show in /metrics',
    async () => {
      const samples = await scrape();
      return reloadStats(samples).total === 4 ? samples : undefined;
    },
    15_000,
  );
  assert.deepEqual(reloadStats(recovered), { total: 4, failures: 2, lastOk: 1 });
  assert.equal(findSamples(recovered, 'probex_probes_total', { target: 'c' }).length, 0, 'c removed by this reload');
});
