import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import type { ProbeOutcome, Prober } from '../../src/probes/probe.ts';
import type { SqliteTarget } from '../../src/probes/sqlite.ts';
import { SqliteProber, sqliteProbe } from '../../src/probes/sqlite.ts';
import { alive, sqliteChildren } from '../helpers/processes.ts';
import { waitFor } from '../../support/probex-process.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../../support/services.ts';

let targets = 0;

function target(path: string, query = 'SELECT 1', extra: Partial<SqliteTarget> = {}): SqliteTarget {
  return { ...TARGET_DEFAULTS, name: `sqlite-test-${process.pid}-${++targets}`, kind: 'sqlite', path, query, ...extra };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** run gives the first run of a prober time for its child to start (a few hundred ms under tsx). */
function run(prober: Prober, ms = 5000): Promise<ProbeOutcome> {
  return prober.run(AbortSignal.timeout(ms));
}

function create(t: TestContext, tgt: SqliteTarget): Prober {
  const prober = sqliteProbe.create(tgt);
  t.after(() => prober.close());
  return prober;
}

/** database creates a SQLite file in a fresh temp dir (removed after the test) with `sql` run in it. */
function database(t: TestContext, sql = 'CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);'): string {
  const dir = mkdtempSync(join(tmpdir(), 'probex-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.db');
  const db = new Database(path);
  db.exec(sql);
  db.close();
  return path;
}

test('the default SELECT 1 succeeds with rows and value datapoints and the query time as latency', async (t) => {
  const prober = create(t, target(database(t)));
  const outcome = await run(prober);
  assert.ok(outcome.ok, JSON.stringify(outcome));
  assert.deepEqual(outcome.app, { rows: 1, value: 1 });
  assert.ok(
    typeof outcome.latencyUs === 'number' && outcome.latencyUs > 0 && outcome.latencyUs < 1e6,
    String(outcome.latencyUs),
  );
});

test('a configured query reports its rows, and a single numeric cell as value', async (t) => {
  const path = database(t, "CREATE TABLE jobs (state TEXT); INSERT INTO jobs VALUES ('queued'), ('queued'), ('done');");
  const counted = await run(create(t, target(path, "SELECT count(*) FROM jobs WHERE state = 'queued'")));
  assert.deepEqual(counted.ok ? counted.app : counted, { rows: 1, value: 2 });
  const listed = await run(create(t, target(path, 'SELECT state FROM jobs')));
  assert.deepEqual(listed.ok ? listed.app : listed, { rows: 3 });
});

test('a missing file fails with io and is never created', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'missing.db');
  const prober = create(t, target(path));
  for (let i = 0; i < 2; i++) assert.equal(reasonOf(await run(prober)), 'io');
  assert.equal(existsSync(path), false);
});

test('a file that is not a database fails with bad_reply', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notes.txt');
  writeFileSync(
    path,
    'this is not a SQLite database, just some text that is long enough to have a header\n'.repeat(20),
  );
  assert.equal(reasonOf(await run(create(t, target(path)))), 'bad_reply');
});

test('a statement that would write is refused before it runs, and writes nothing', async (t) => {
  const path = database(t);
  const copy = join(mkdtempSync(join(tmpdir(), 'probex-sqlite-vacuum-')), 'copy.db');
  t.after(() => rmSync(join(copy, '..'), { recursive: true, force: true }));
  for (const query of ['INSERT INTO t VALUES (2)', `VACUUM INTO '${copy}'`, 'PRAGMA user_version = 7']) {
    const outcome = await run(create(t, target(path, query)));
    assert.equal(reasonOf(outcome), 'other', `${query}: ${JSON.stringify(outcome)}`);
    assert.match(outcome.ok ? '' : outcome.message, /not read-only/, query);
  }
  assert.equal(existsSync(copy), false, 'VACUUM INTO wrote no file');
  const db = new Database(path, { readonly: true });
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 1);
  assert.equal(db.pragma('user_version', { simple: true }), 0);
  db.close();
});

test('check() refuses a statement that would write without running it, on the file or, when missing, in memory', async (t) => {
  const path = database(t);
  const check = async (p: string, query: string): Promise<string> => {
    const prober = new SqliteProber(target(p, query));
    t.after(() => prober.close());
    return reasonOf(await prober.check(AbortSignal.timeout(10_000)));
  };
  assert.equal(await check(path, 'SELECT count(*) FROM t'), 'ok');
  assert.equal(await check(path, 'DELETE FROM t'), 'other');
  const missing = join(path, '..', 'missing.db');
  assert.equal(await check(missing, "VACUUM INTO '/tmp/never-written.db'"), 'other');
  assert.equal(await check(missing, 'PRAGMA user_version = 1'), 'other');
  // A table only the (missing) file would have: not decidable now; each run checks again.
  assert.equal(await check(missing, 'DELETE FROM t'), 'ok');
  assert.equal(existsSync(missing), false);
});

test('a locked database fails with busy after the busy timeout, within the deadline, and recovers', async (t) => {
  const path = database(t);
  const prober = create(t, target(path, 'SELECT count(*) FROM t', { timeoutMs: 1000 }));
  assert.equal(reasonOf(await run(prober)), 'ok'); // the thread is up: the next run measures the lock alone
  const writer = new Database(path);
  t.after(() => writer.close());
  writer.exec('BEGIN EXCLUSIVE');
  const t0 = performance.now();
  const outcome = await prober.run(AbortSignal.timeout(1000));
  const elapsed = performance.now() - t0;
  assert.equal(reasonOf(outcome), 'busy', JSON.stringify(outcome));
  // The busy timeout is half the probe's timeout, so `busy` comes before the deadline would say `timeout`.
  assert.ok(elapsed >= 450 && elapsed < 1000, `settled after ${elapsed} ms`);
  writer.exec('COMMIT');
  assert.equal(reasonOf(await run(prober)), 'ok');
});

test('a file replaced under the probe is re-opened, and a deleted one fails with io', async (t) => {
  const path = database(t);
  const prober = create(t, target(path, 'SELECT count(*) FROM t'));
  const first = await run(prober);
  assert.deepEqual(first.ok ? first.app : first, { rows: 1, value: 1 });
  // A restore writes a new file and renames it over the old one: the old handle would still read 1 row.
  const next = `${path}.new`;
  const db = new Database(next);
  db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);');
  db.close();
  renameSync(next, path);
  const second = await run(prober);
  assert.deepEqual(second.ok ? second.app : second, { rows: 1, value: 2 });
  rmSync(path);
  assert.equal(reasonOf(await run(prober)), 'io');
});

const COUNT_TO_CFG =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM cfg)) SELECT count(*) FROM c';
const NEVER_ENDING = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

test('a query past its deadline times out on time and its process is killed at once; the next run recovers', async (t) => {
  // The probe counts to the number in `cfg`: 1 is instant; a billion takes minutes.
  const path = database(t, 'CREATE TABLE cfg (n INTEGER); INSERT INTO cfg VALUES (1);');
  const prober = create(t, target(path, COUNT_TO_CFG, { timeoutMs: 300 }));
  assert.equal(reasonOf(await run(prober)), 'ok');
  const before = sqliteChildren(process.pid);
  assert.equal(before.length, 1, 'one child process for the target');
  const writer = new Database(path);
  writer.exec('UPDATE cfg SET n = 1000000000');

  const t0 = performance.now();
  const slow = await prober.run(AbortSignal.timeout(300));
  const elapsed = performance.now() - t0;
  assert.equal(reasonOf(slow), 'timeout', JSON.stringify(slow));
  assert.ok(elapsed < 300 + DEADLINE_MARGIN_MS, `settled after ${elapsed} ms`);
  // The child holding the query is gone: its read lock with it, so a writer that does not wait gets in.
  await waitFor('the killed child to be gone', async () => (alive(before[0]!) ? undefined : true), 5000);
  writer.exec('UPDATE cfg SET n = 1');
  writer.close();
  const recovered = await run(prober);
  assert.deepEqual(recovered.ok ? recovered.app : recovered, { rows: 1, value: 1 });
});

test('a never-ending query times out each run and leaves no process behind; close() waits for the kill', async (t) => {
  const prober = sqliteProbe.create(target(database(t), NEVER_ENDING, { timeoutMs: 300 }));
  assert.equal(reasonOf(await run(prober, 3000)), 'timeout'); // child start-up included
  for (let i = 0; i < 3; i++) assert.equal(reasonOf(await prober.run(AbortSignal.timeout(300))), 'timeout');
  await waitFor('at most one child', async () => (sqliteChildren(process.pid).length <= 1 ? true : undefined), 5000);
  await prober.close();
  assert.deepEqual(sqliteChildren(process.pid), []);
});

test('a child that dies on its own fails the run it held with worker, and nothing else', async (t) => {
  const prober = create(t, target(database(t), NEVER_ENDING, { timeoutMs: 5000 }));
  const running = prober.run(AbortSignal.timeout(20_000));
  const [child] = await waitFor('the child to start', async () => {
    const pids = sqliteChildren(process.pid);
    return pids.length === 1 ? pids : undefined;
  });
  await new Promise((r) => setTimeout(r, 500)); // into the query
  process.kill(child!, 'SIGSEGV');
  const outcome = await running;
  assert.equal(reasonOf(outcome), 'worker', JSON.stringify(outcome));
  assert.match(outcome.ok ? '' : outcome.message, /sqlite process ended \(SIGSEGV\)/);
  await prober.close();
});

test('a child whose parent is killed (SIGKILL, nothing of it runs) kills itself, mid-query', async (t) => {
  const path = database(t);
  const parent = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../fixtures/sqlite/never-ending.ts', import.meta.url)), path],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(() => parent.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    parent.stdout.on('data', (d: Buffer) => (String(d).includes('running') ? resolve() : undefined));
    parent.on('exit', (code) => reject(new Error(`the parent exited with ${code}`)));
  });
  const children = sqliteChildren(parent.pid!);
  assert.equal(children.length, 1, 'the parent runs its query in one child');
  parent.kill('SIGKILL');
  await waitFor('the orphaned child to kill itself', async () => (alive(children[0]!) ? undefined : true), 5000);
});

test('close() ends the child; a closed prober answers other', async (t) => {
  const prober = sqliteProbe.create(target(database(t)));
  assert.equal(reasonOf(await run(prober)), 'ok');
  assert.equal(sqliteChildren(process.pid).length, 1);
  await prober.close();
  await prober.close();
  assert.deepEqual(sqliteChildren(process.pid), []);
  assert.equal(reasonOf(await run(prober)), 'other');
});

test("ready() starts the child before the first run, so its start-up is not spent in the run's deadline", async (t) => {
  const prober = create(t, target(database(t), 'SELECT 1', { timeoutMs: 200 }));
  assert.ok(prober.ready !== undefined);
  await prober.ready();
  assert.equal(sqliteChildren(process.pid).length, 1, 'one child, up before any run');
  // 200 ms is well below the child's start-up (~0.5 s built, more under tsx), not below a SELECT 1.
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(200))), 'ok');
});
