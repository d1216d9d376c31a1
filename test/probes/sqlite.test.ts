import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import type { ProbeOutcome, Prober, SqliteTarget } from '../../src/probes/probe.ts';
import { sqliteProbe } from '../../src/probes/sqlite.ts';
import { waitFor } from '../../support/probex-process.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../../support/services.ts';

let targets = 0;

function target(path: string, query = 'SELECT 1', extra: Partial<SqliteTarget> = {}): SqliteTarget {
  return { ...TARGET_DEFAULTS, name: `sqlite-test-${process.pid}-${++targets}`, kind: 'sqlite', path, query, ...extra };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** run gives the first run of a prober time for its thread to start (a few hundred ms under tsx). */
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

test('the database is opened read-only: a write fails with io and changes nothing', async (t) => {
  const path = database(t);
  const outcome = await run(create(t, target(path, 'INSERT INTO t VALUES (2)')));
  assert.equal(reasonOf(outcome), 'io', JSON.stringify(outcome));
  const db = new Database(path, { readonly: true });
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 1);
  db.close();
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

test('a query slower than the deadline times out on time; the target holds one thread until it ends, then recovers', async (t) => {
  // The probe counts to the number in `cfg`: 1 is instant; 10 million takes seconds.
  const path = database(t, 'CREATE TABLE cfg (n INTEGER); INSERT INTO cfg VALUES (1);');
  const query =
    'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM cfg)) SELECT count(*) FROM c';
  const prober = create(t, target(path, query, { timeoutMs: 300 }));
  assert.equal(reasonOf(await run(prober)), 'ok');
  const writer = new Database(path);
  writer.exec('UPDATE cfg SET n = 10000000');
  writer.close();

  const t0 = performance.now();
  const slow = await prober.run(AbortSignal.timeout(300));
  const elapsed = performance.now() - t0;
  assert.equal(reasonOf(slow), 'timeout', JSON.stringify(slow));
  assert.ok(elapsed < 300 + DEADLINE_MARGIN_MS, `settled after ${elapsed} ms`);
  // While that query still runs, the next run does not queue behind it nor start a second thread.
  const t1 = performance.now();
  const meanwhile = await prober.run(AbortSignal.timeout(300));
  assert.equal(reasonOf(meanwhile), 'timeout');
  assert.match(meanwhile.ok ? '' : meanwhile.message, /still running/);
  assert.ok(performance.now() - t1 < 50, 'a run during the stuck query settles at once');

  // This write waits for the slow query's read lock to go (seconds on a loaded machine).
  const fast = new Database(path, { timeout: 120_000 });
  fast.exec('UPDATE cfg SET n = 1');
  fast.close();
  // Once the abandoned query ends, its thread exits and the next run starts a fresh one.
  const recovered = await waitFor(
    'the target to recover',
    async () => {
      const outcome = await prober.run(AbortSignal.timeout(5000));
      return outcome.ok ? outcome : undefined;
    },
    60_000,
  );
  assert.deepEqual(recovered.app, { rows: 1, value: 1 });
});

test('close() ends the thread; a closed prober answers other', async (t) => {
  const prober = sqliteProbe.create(target(database(t)));
  assert.equal(reasonOf(await run(prober)), 'ok');
  await prober.close();
  await prober.close();
  assert.equal(reasonOf(await run(prober)), 'other');
});
