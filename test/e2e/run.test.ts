/**
 * `probex run` as a user runs it, against the local Redis and MariaDB and a synthetic target for a few
 * seconds: the files it writes, its .hlog read by HdrHistogram's own HistogramLogProcessor, summary.json
 * consistent with the .hgrm and the .hlog, report.html without script, and its exit status (0 met,
 * 1 missed, 2 bad arguments or an output it cannot write), --listen serving the run's results while it
 * lasts, and that it writes only files it creates (planted symlinks, --out that is a file, a full disk).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { java, requireJavaHdr } from '../helpers/java-hdr.ts';
import { runProbex, spawnProbex, waitFor, writeConfig } from '../../support/probex-process.ts';
import { MYSQL_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import type { RunSummary } from '../../src/benchmark/summary.ts';

const dirs: string[] = [];
const outDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-run-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CONFIG = `
threads: 2
targets:
  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 50ms }
  - { name: db, kind: mysql, url: "${MYSQL_URL}", interval: 50ms }
  - { name: synth, kind: synthetic, interval: 20ms, distribution: { type: lognormal, medianMs: 2, sigma: 0.5 } }
`;

describe('probex run against Redis and MariaDB', () => {
  let configPath = '';
  let out = '';
  let result: { code: number | null; stdout: string; stderr: string };

  before(async () => {
    configPath = writeConfig(CONFIG);
    out = outDir();
    // A generous objective: it must pass.
    result = await runProbex([
      'run',
      '--config',
      configPath,
      '--duration',
      '3s',
      '--out',
      out,
      '--slo',
      'redis:p50<10s,db:p99.9<30s',
      '--slo',
      'synth:errors<=0%',
    ]);
  });

  test('exits 0 when every objective is met, and writes every file', async (t) => {
    if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
    assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.deepEqual(readdirSync(out).sort(), [
      'db.hgrm',
      'db.hlog',
      'redis.hgrm',
      'redis.hlog',
      'report.html',
      'run.hlog',
      'summary.json',
      'synth.hgrm',
      'synth.hlog',
    ]);
    assert.match(result.stdout, /slo redis p50 .* < 10s: ok/);
    assert.equal(result.stderr, '', 'no progress line when stderr is not a terminal');
  });

  test('summary.json agrees with the .hgrm totals, and probed every target for real', async (t) => {
    if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
    assert.ok(summary.durationSeconds >= 3);
    for (const name of ['redis', 'db', 'synth']) {
      const s = summary.targets[name]!;
      assert.ok(s.count >= 10, `${name}: ${s.count} successes in 3 s`);
      assert.equal(s.probes, s.count + Object.values(s.errors).reduce((a, b) => a + b, 0), name);
      assert.equal(s.recorded, s.count + s.coordinatedOmission.madeUpValues, name);
      const hgrm = readFileSync(join(out, `${name}.hgrm`), 'utf8');
      assert.equal(Number(/Total count {4}= +(\d+)\]/.exec(hgrm)?.[1]), s.recorded, `${name}: .hgrm total`);
      const l = s.latencyMs!;
      assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, name);
    }
  });

  test('HistogramLogProcessor (Java) reads each .hlog, and its intervals add up to the summary', async (t) => {
    if (!requireJavaHdr(t)) return;
    if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
    for (const name of ['redis', 'db', 'synth']) {
      const hlog = readFileSync(join(out, `${name}.hlog`), 'utf8');
      const intervals = hlog.split('\n').filter((l) => /^\d/.test(l));
      assert.ok(intervals.length >= 3, `${name}: one interval per second (${intervals.length})`);
      // -csv: the per-interval table; the accumulated histogram's percentiles go to the -o file's .hgrm.
      const dir = outDir();
      await java(
        [
          'org.HdrHistogram.HistogramLogProcessor',
          '-i',
          join(out, `${name}.hlog`),
          '-o',
          join(dir, 'p'),
          '-csv',
          '-outputValueUnitRatio',
          '1000',
        ],
        '',
      );
      const csv = readFileSync(join(dir, 'p'), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('#'));
      const header = csv[0]!.split(',');
      const totalCol = header.indexOf('"Total_Count"');
      assert.ok(totalCol >= 0, `${name}: ${csv[0]}`);
      const last = csv.at(-1)!.split(',');
      assert.equal(
        Number(last[totalCol]),
        summary.targets[name]!.recorded,
        `${name}: the log's accumulated count is the summary's`,
      );
      // Its percentile distribution of the whole log (CSV: Value,Percentile,TotalCount,...) ends at the same count.
      const hgrm = readFileSync(join(dir, 'p.hgrm'), 'utf8').trim().split('\n');
      assert.equal(
        Number(hgrm.at(-1)!.split(',')[2]),
        summary.targets[name]!.recorded,
        `${name}: the log's distribution`,
      );
    }
  });

  test("report.html overlays every target's curve with no script and a CSP", async (t) => {
    if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-/,
    );
    assert.equal((html.match(/<path class="curve/g) ?? []).length, 3);
    assert.doesNotMatch(html, /<script|javascript:|\son[a-z]+=/i);
    assert.match(html, /Late probes/);
  });

  test('an impossible objective exits 1 and says which', async (t) => {
    if (!(await requireService(t, 'redis', REDIS_URL))) return;
    const missed = await runProbex([
      'run',
      '--config',
      configPath,
      '--duration',
      '1s',
      '--out',
      outDir(),
      '--slo',
      'redis:p50<1us',
    ]);
    assert.equal(missed.code, 1, missed.stderr);
    assert.match(missed.stdout, /slo redis p50 \S+ < 1us: MISSED/);
  });

  test('bad arguments exit 2 before probing', async () => {
    for (const args of [
      ['run', '--config', configPath, '--out', outDir()], // no duration
      ['run', '--config', configPath, '--duration', 'soon', '--out', outDir()],
      ['run', '--config', configPath, '--duration', '1s', '--out', outDir(), '--slo', 'nosuch:p99<5ms'],
      ['run', '--config', configPath, '--duration', '1s', '--out', outDir(), '--slo', 'redis:p99<5'],
      ['run', '--config', '/nonexistent/probex.yaml', '--duration', '1s', '--out', outDir()],
      ['run', '--bogus'],
    ]) {
      const r = await runProbex(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: probex run/);
    }
  });
});

test('Ctrl-C ends a run early and still writes what it measured', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const out = outDir();
  const configPath = writeConfig(`targets:\n  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 50ms }\n`);
  const run = spawnProbex(['run', '--config', configPath, '--duration', '10m', '--out', out]);
  t.after(() => run.child.kill('SIGKILL'));
  const hlog = join(out, 'redis.hlog');
  await waitFor(
    'two intervals in the log',
    async () =>
      existsSync(hlog) &&
      readFileSync(hlog, 'utf8')
        .split('\n')
        .filter((l) => /^\d/.test(l)).length >= 2
        ? true
        : undefined,
    30_000,
  );
  run.child.kill('SIGINT');
  const { code, stdout } = await run.exited;
  assert.equal(code, 0);
  assert.match(stdout, /interrupted after [\d.]+s; wrote /);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
  assert.ok(summary.durationSeconds >= 2 && summary.durationSeconds < 600, String(summary.durationSeconds));
  assert.ok(summary.targets.redis!.count > 0);
  assert.ok(existsSync(join(out, 'report.html')) && existsSync(join(out, 'redis.hgrm')));
});

test('--listen also serves /metrics, the status page and the HDR export while the run lasts', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const out = outDir();
  const configPath = writeConfig(`targets:
  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 50ms }
  - { name: synth, kind: synthetic, interval: 20ms }
`);
  const run = spawnProbex(['run', '--config', configPath, '--duration', '6s', '--out', out, '--listen', '127.0.0.1:0']);
  t.after(() => run.child.kill('SIGKILL'));
  const base = await waitFor(
    'the serving line',
    async () => /serving on (http:\/\/127\.0\.0\.1:\d+)\//.exec(run.output().stderr)?.[1],
    30_000,
  );
  // Counts grow while the run probes: the front end serves the run's own results.
  const count = async (target: string): Promise<number> => {
    const samples = findSamples(
      parseExposition(await (await fetch(`${base}/metrics`)).text()),
      'probex_probe_duration_seconds_count',
      { target },
    );
    return samples[0]?.value ?? 0;
  };
  const first = await waitFor('a published count for redis', async () =>
    (await count('redis')) > 0 ? await count('redis') : undefined,
  );
  await waitFor('the count to grow', async () => ((await count('redis')) > first ? true : undefined));
  const status = await fetch(`${base}/`);
  assert.equal(status.status, 200);
  assert.match(await status.text(), /synth/);
  const hdr = await fetch(`${base}/hdr/synth?format=hgrm`);
  assert.equal(hdr.status, 200);
  assert.match(await hdr.text(), /#\[Mean/);

  const { code, stderr } = await run.exited;
  assert.equal(code, 0, stderr);
  // The files are written as without --listen, and the port is closed once the run has ended.
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
  assert.ok(summary.targets.redis!.count >= first);
  await assert.rejects(fetch(`${base}/healthz`));
});

test('--listen takes PORT or HOST:PORT, and the config auth rules apply to it', async () => {
  const configPath = writeConfig('targets:\n  - { name: synth, kind: synthetic }\n');
  const args = ['run', '--config', configPath, '--duration', '1s', '--out', outDir(), '--listen'];
  const bad = await runProbex([...args, 'not-an-address']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--listen must be PORT or HOST:PORT/);
  const outOfRange = await runProbex([...args, '70000']);
  assert.equal(outOfRange.code, 2);
  assert.match(outOfRange.stderr, /listen\.port/);
  // Beyond loopback without a token: refused, as probex itself refuses it.
  const open = await runProbex([...args, '0.0.0.0:0']);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /not a loopback address, with no token/);
});

describe('probex run writes only files it creates, and an I/O failure is one line and exit 2', () => {
  const config = (): string => writeConfig('targets:\n  - { name: syn, kind: synthetic, interval: 20ms }\n');
  /** oneLine checks stderr is a single `probex run: ...` line: no stack trace, no usage text. */
  const oneLine = (stderr: string, re: RegExp): void => {
    assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    assert.match(stderr, /^probex run: /);
    assert.match(stderr.trimEnd(), re);
  };

  test('a planted symlink: the directory is refused, victim.txt keeps its bytes, and --force replaces the link', async () => {
    const dir = outDir();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const out = join(dir, 'out');
    mkdirSync(out);
    symlinkSync(victim, join(out, 'syn.hlog'));
    symlinkSync(victim, join(out, 'report.html'));
    symlinkSync(victim, join(out, 'summary.json'));
    const refused = await runProbex(['run', '--config', config(), '--duration', '500ms', '--out', out]);
    assert.equal(refused.code, 2, refused.stderr);
    oneLine(refused.stderr, /--out \S+ is not empty \(3 entries\).*--force/);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');

    const forced = await runProbex(['run', '--config', config(), '--duration', '500ms', '--out', out, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    for (const name of ['syn.hlog', 'report.html', 'summary.json']) {
      assert.ok(lstatSync(join(out, name)).isFile(), `${name} is a file of the run`);
    }
    assert.match(readFileSync(join(out, 'syn.hlog'), 'utf8'), /^#\[StartTime/m);
  });

  test('--out that is a file or under a file: one line, exit 2, not 1 (a missed objective)', async () => {
    const file = join(outDir(), 'file');
    writeFileSync(file, 'x');
    const isFile = await runProbex(['run', '--config', config(), '--duration', '500ms', '--out', file]);
    assert.equal(isFile.code, 2, isFile.stderr);
    oneLine(isFile.stderr, /exists and is not a directory/);
    const under = await runProbex(['run', '--config', config(), '--duration', '500ms', '--out', join(file, 'out')]);
    assert.equal(under.code, 2, under.stderr);
    oneLine(under.stderr, /ENOTDIR \(not a directory\)/);
  });

  test('a file system that fills up during the run ends it early: one line, exit 2', async (t) => {
    const small = mkdtempSync(join(tmpdir(), 'probex-run-fs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', small], { stdio: 'pipe' });
    } catch (err) {
      rmSync(small, { recursive: true });
      if (process.env.CI === 'true') assert.fail(`cannot mount a tmpfs: ${String(err)}`);
      t.skip('cannot mount a tmpfs: run as root');
      return;
    }
    t.after(() => {
      execFileSync('umount', [small]);
      rmSync(small, { recursive: true });
    });
    // One page of 4 KiB holds the header and a few interval lines of a wide distribution, then ENOSPC.
    const wide = writeConfig(
      'targets:\n  - { name: wide, kind: synthetic, interval: 0, concurrency: 4, distribution: { type: lognormal, medianMs: 0.05, sigma: 3 } }\n',
    );
    const started = Date.now();
    const run = await runProbex(['run', '--config', wide, '--duration', '2m', '--out', join(small, 'out')]);
    assert.equal(run.code, 2, run.stderr);
    oneLine(run.stderr, /cannot write \S+(wide|run)\.hlog: ENOSPC \(no space left on device\)$/);
    assert.ok(Date.now() - started < 60_000, 'the run ended at the failure, not after --duration');
  });

  test('a duration Node timers cannot hold is refused, not run for 0 s', async () => {
    const r = await runProbex(['run', '--config', config(), '--duration', '597h', '--out', outDir()]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--duration must be a duration from 100ms to 576h \(24 days\)/);
  });
});

test('--listen takes a bracketed IPv6 address', async (t) => {
  const configPath = writeConfig('targets:\n  - { name: synth, kind: synthetic, interval: 20ms }\n');
  const run = spawnProbex([
    'run',
    '--config',
    configPath,
    '--duration',
    '4s',
    '--out',
    outDir(),
    '--listen',
    '[::1]:0',
  ]);
  t.after(() => run.child.kill('SIGKILL'));
  const base = await waitFor(
    'the serving line',
    async () => /serving on (http:\/\/\[::1\]:\d+)\//.exec(run.output().stderr)?.[1],
    30_000,
  );
  const res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  const { code, stderr } = await run.exited;
  assert.equal(code, 0, stderr);
});
