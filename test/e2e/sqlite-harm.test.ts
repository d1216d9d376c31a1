/**
 * A sqlite target whose query cannot finish in time must not harm probex: the real probex process, real
 * SQLite files, and the states that used to abort it (a query that errors after its deadline, a locked
 * database with concurrency 2, reloads of a target whose database is locked) or hang it (a query that
 * never ends: SIGTERM, reloads, `probex run`). Children and threads are counted in /proc.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { findSamples, parseExposition, type ExpositionSample } from '../../support/exposition.ts';
import { runProbex, startProbex, waitFor, writeConfig, type ProbexProcess } from '../../support/probex-process.ts';
import type { RunSummary } from '../../src/benchmark/summary.ts';
import { alive, sqliteChildren, threadCount } from '../helpers/processes.ts';

const NEVER_ENDING = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';
/** ERRORS_LATE runs about 0.5 s (3M rows), then fails with an integer overflow. */
const ERRORS_LATE =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000000) SELECT abs(-9223372036854775807-1+count(*)-count(*)) FROM c';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** database creates a SQLite file with one table in a fresh temp dir. */
function database(): string {
  const dir = mkdtempSync(join(tmpdir(), 'probex-sqlite-harm-'));
  dirs.push(dir);
  const path = join(dir, 'app.db');
  const db = new Database(path);
  db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
  db.close();
  return path;
}

/** lock holds `BEGIN EXCLUSIVE` on `path` from a second connection until the test ends. */
function lock(path: string): void {
  const writer = new Database(path);
  writer.exec('BEGIN EXCLUSIVE');
  after(() => writer.close());
}

/** sqliteTarget is one YAML flow mapping. */
const sqliteTarget = (name: string, path: string, query: string, extra = ''): string =>
  `  - { name: ${name}, kind: sqlite, path: "${path}", query: "${query}"${extra} }`;

const yaml = (targets: string[]): string => `listen: { host: 127.0.0.1, port: 0 }\ntargets:\n${targets.join('\n')}\n`;

async function scrape(probex: ProbexProcess): Promise<ExpositionSample[]> {
  return parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
}
const errors = (s: ExpositionSample[], target: string, reason: string): number =>
  findSamples(s, 'probex_probe_errors_total', { target, reason }).reduce((a, x) => a + x.value, 0);
const successes = (s: ExpositionSample[], target: string): number =>
  findSamples(s, 'probex_probe_duration_seconds_count', { target }).reduce((a, x) => a + x.value, 0);
const probes = (s: ExpositionSample[], target: string): number =>
  findSamples(s, 'probex_probes_total', { target }).reduce((a, x) => a + x.value, 0);

/** stop sends SIGTERM and asserts probex exits 0 within 5 s, leaving no sqlite child behind. */
async function stopCleanly(probex: ProbexProcess, children: readonly number[]): Promise<void> {
  probex.child.kill('SIGTERM');
  const exit = await Promise.race([
    probex.exited,
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000)),
  ]);
  if (exit === 'hung') probex.child.kill('SIGKILL');
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM: ${JSON.stringify(exit)}\n${probex.output().stderr}`);
  await waitFor('no sqlite child left', async () => (children.some(alive) ? undefined : true), 5000);
}

test('a locked database with concurrency 2: probex keeps running and reports busy or timeout', async (t) => {
  const path = database();
  lock(path);
  const probex = await startProbex(
    yaml([sqliteTarget('locked', path, 'SELECT count(*) FROM t', ', concurrency: 2, interval: 500ms, timeout: 400ms')]),
  );
  t.after(() => probex.stop());
  const samples = await waitFor(
    'ten failed runs',
    async () => {
      const s = await scrape(probex);
      return errors(s, 'locked', 'busy') + errors(s, 'locked', 'timeout') >= 10 ? s : undefined;
    },
    30_000,
  );
  assert.equal(successes(samples, 'locked'), 0);
  assert.equal(probex.child.exitCode, null, 'probex still runs');
  await stopCleanly(probex, sqliteChildren(probex.child.pid!));
});

test('a query that errors after its deadline: no abort, every run is a timeout', async (t) => {
  const probex = await startProbex(
    yaml([sqliteTarget('late-error', database(), ERRORS_LATE, ', interval: 400ms, timeout: 300ms')]),
  );
  t.after(() => probex.stop());
  const samples = await waitFor(
    'six timeouts',
    async () => {
      const s = await scrape(probex);
      return errors(s, 'late-error', 'timeout') >= 6 ? s : undefined;
    },
    30_000,
  );
  assert.equal(probex.child.exitCode, null, 'probex still runs');
  assert.equal(successes(samples, 'late-error'), 0);
  await stopCleanly(probex, sqliteChildren(probex.child.pid!));
});

test('a never-ending query: timeouts, the other targets keep their pace, reloads leak nothing, SIGTERM exits 0', async (t) => {
  const stuckPath = database();
  const fastPath = database();
  const config = (generation: number): string =>
    yaml([
      // The comment changes the target on each reload, so the reload re-creates it.
      sqliteTarget('stuck', stuckPath, `${NEVER_ENDING} -- ${generation}`, ', interval: 400ms, timeout: 300ms'),
      sqliteTarget('fast', fastPath, 'SELECT count(*) FROM t', ', interval: 400ms, timeout: 300ms'),
      '  - { name: synth, kind: synthetic, interval: 400ms, distribution: { type: constant, valueMs: 1 } }',
    ]);
  const probex = await startProbex(config(0));
  t.after(() => probex.stop());
  const pid = probex.child.pid!;

  // Once every target has answered (or timed out) once, the child processes have started. From there,
  // each round the stuck target's run times out while the others answer, at the same interval: over the
  // same rounds the others count as many probes as the stuck one counts timeouts (a stuck query that
  // blocked them would leave their counts behind), less one round in flight, and none of them fails.
  const ready = await waitFor(
    'every target to have answered once',
    async () => {
      const s = await scrape(probex);
      return successes(s, 'fast') >= 1 && successes(s, 'synth') >= 1 && errors(s, 'stuck', 'timeout') >= 1
        ? s
        : undefined;
    },
    30_000,
  );
  const samples = await waitFor(
    'eight more timeouts of the stuck target',
    async () => {
      const s = await scrape(probex);
      return errors(s, 'stuck', 'timeout') - errors(ready, 'stuck', 'timeout') >= 8 ? s : undefined;
    },
    30_000,
  );
  const delta = (f: (s: ExpositionSample[], name: string) => number, name: string): number =>
    f(samples, name) - f(ready, name);
  const timeouts = delta((s, n) => errors(s, n, 'timeout'), 'stuck');
  for (const name of ['fast', 'synth']) {
    assert.ok(delta(probes, name) >= timeouts - 1, `${name}: ${delta(probes, name)} probes vs ${timeouts} timeouts`);
    assert.equal(delta(successes, name), delta(probes, name), `${name} failed next to the stuck query`);
  }
  assert.equal(successes(samples, 'stuck'), 0);

  // Reloads that re-create the stuck target: its old child is killed, nothing accumulates.
  const threadsBefore = threadCount(pid);
  for (let generation = 1; generation <= 4; generation++) {
    writeFileSync(probex.configPath!, config(generation));
    probex.child.kill('SIGHUP');
    await waitFor(
      `reload ${generation}`,
      async () => {
        const s = await scrape(probex);
        return findSamples(s, 'probex_config_reloads_total').some((x) => x.value >= generation) ? true : undefined;
      },
      15_000,
    );
    await new Promise((r) => setTimeout(r, 800)); // two rounds of the re-created target
  }
  const children = await waitFor(
    'one child per sqlite target at most',
    async () => {
      const pids = sqliteChildren(pid);
      return pids.length <= 2 ? pids : undefined;
    },
    5000,
  );
  const threads = await waitFor(
    'the thread count back where it was',
    async () => {
      const n = threadCount(pid);
      return n <= threadsBefore ? n : undefined;
    },
    10_000,
  ).catch(() => threadCount(pid));
  assert.ok(threads <= threadsBefore, `threads: ${threadsBefore} before the reloads, ${threads} after`);
  assert.equal(probex.child.exitCode, null, 'probex still runs');
  await stopCleanly(probex, children);
});

test('SIGHUP re-creating a sqlite target whose database is locked, 4 times: probex survives; SIGTERM exits 0', async (t) => {
  const path = database();
  lock(path);
  const config = (generation: number): string =>
    yaml([
      sqliteTarget(
        'locked',
        path,
        `SELECT count(*) FROM t -- ${generation}`,
        ', concurrency: 2, interval: 300ms, timeout: 250ms',
      ),
    ]);
  const probex = await startProbex(config(0));
  t.after(() => probex.stop());
  let samples: ExpositionSample[] = [];
  for (let generation = 1; generation <= 4; generation++) {
    await new Promise((r) => setTimeout(r, 700)); // runs are inside the lock wait when the reload lands
    writeFileSync(probex.configPath!, config(generation));
    probex.child.kill('SIGHUP');
    samples = await waitFor(
      `reload ${generation}`,
      async () => {
        const s = await scrape(probex);
        return findSamples(s, 'probex_config_reloads_total').some((x) => x.value >= generation) ? s : undefined;
      },
      15_000,
    );
  }
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(probex.child.exitCode, null, `probex still runs: ${probex.output().stderr}`);
  assert.ok(errors(samples, 'locked', 'busy') + errors(samples, 'locked', 'timeout') > 0);
  await stopCleanly(probex, sqliteChildren(probex.child.pid!));
});

test('probex run --duration 2s with a never-ending sqlite query ends on time and writes every file', async () => {
  const out = mkdtempSync(join(tmpdir(), 'probex-sqlite-run-'));
  dirs.push(out);
  const config = writeConfig(
    yaml([
      sqliteTarget('stuck', database(), NEVER_ENDING, ', interval: 400ms, timeout: 300ms'),
      sqliteTarget('fast', database(), 'SELECT 1', ', interval: 400ms, timeout: 300ms'),
    ]),
  );
  dirs.push(join(config, '..'));
  const t0 = performance.now();
  const result = await Promise.race([
    runProbex(['run', '--config', config, '--duration', '2s', '--out', join(out, 'run')]),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000)),
  ]);
  assert.ok(result !== undefined, 'probex run ended');
  const elapsed = performance.now() - t0;
  assert.ok(result.code === 0 || result.code === 1, `exit ${result.code}: ${result.stderr}`);
  // "On time": the 2 s, plus start-up and writing the files: seconds, not a hang.
  assert.ok(elapsed < 20_000, `probex run took ${elapsed} ms`);
  assert.deepEqual(readdirSync(join(out, 'run')).sort(), [
    'fast.hgrm',
    'fast.hlog',
    'report.html',
    'run.hlog',
    'stuck.hgrm',
    'stuck.hlog',
    'summary.json',
  ]);
  const summary = JSON.parse(readFileSync(join(out, 'run', 'summary.json'), 'utf8')) as RunSummary;
  assert.ok((summary.targets.stuck!.errors.timeout ?? 0) >= 1, JSON.stringify(summary.targets.stuck));
  assert.ok(summary.targets.fast!.count >= 1, JSON.stringify(summary.targets.fast));
});

test('a statement that would write: --check-config refuses it naming the target; a run refuses it and writes nothing', async () => {
  const path = database();
  const copy = join(path, '..', 'copy.db');
  for (const query of [`VACUUM INTO '${copy}'`, 'INSERT INTO t VALUES (2)', 'PRAGMA user_version=1']) {
    const config = writeConfig(yaml([sqliteTarget('writer', path, query)]));
    dirs.push(join(config, '..'));
    const checked = await runProbex(['--config', config, '--check-config']);
    assert.equal(checked.code, 2, `${query}: ${checked.stdout}${checked.stderr}`);
    assert.match(checked.stderr, /targets\[0\]\.query \(writer\): query is not read-only/);
  }
  // `probex run` takes the config as it is: each run refuses the statement before it runs.
  // The timeout leaves the child time to start under tsx (a second or more on a loaded machine).
  const config = writeConfig(
    yaml([sqliteTarget('writer', path, `VACUUM INTO '${copy}'`, ', interval: 1s, timeout: 1s')]),
  );
  dirs.push(join(config, '..'));
  const out = join(path, '..', 'run');
  const result = await runProbex(['run', '--config', config, '--duration', '5s', '--out', out]);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary;
  assert.ok(
    (summary.targets.writer!.errors.other ?? 0) >= 1,
    `${JSON.stringify(summary.targets.writer)} ${result.stderr}`,
  );
  assert.equal(summary.targets.writer!.count, 0);
  assert.equal(existsSync(copy), false, 'VACUUM INTO wrote no file');
});
