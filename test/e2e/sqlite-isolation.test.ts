/**
 * A slow SQLite query next to a fast target on the same probe worker: better-sqlite3 blocks the thread
 * that runs a query until it ends, so this checks that the sqlite kind keeps its queries off the probe
 * worker's event loop. One Piscina worker runs both targets through the real Scheduler and Aggregator.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createLogger } from '../../src/log.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import type { TargetSnapshot } from '../../src/metrics/model.ts';
import { createProbePool } from '../../src/pool/probe-pool.ts';
import type { ProbeTarget } from '../../src/probes/probe.ts';
import { Scheduler } from '../../src/scheduler.ts';
import { waitFor } from '../../support/probex-process.ts';
import { REDIS_URL, requireService } from '../../support/services.ts';

/** rethrow fails the run on a pool error no task was waiting on (none is expected here). */
const rethrow = (err: unknown): never => {
  throw err;
};

const BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 1];
const COMMON = { concurrency: 1, labels: {}, buckets: BUCKETS };
// Counting to SLOW_N in a recursive CTE takes seconds of one core; FAST_N takes microseconds.
const SLOW_N = 20_000_000;
const FAST_N = 1;

test('a SQLite query that runs for seconds is a timeout, and a Redis target on the same worker keeps its pace', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const dir = mkdtempSync(join(tmpdir(), 'probex-sqlite-isolation-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.db');
  // The writer waits for the probe's read lock (a slow query holds it for seconds), however long it takes.
  const setN = (n: number): void => {
    const db = new Database(path, { timeout: 120_000 });
    db.exec(`CREATE TABLE IF NOT EXISTS cfg (n INTEGER); DELETE FROM cfg; INSERT INTO cfg VALUES (${n});`);
    db.close();
  };
  setN(FAST_N);

  const targets: ProbeTarget[] = [
    {
      ...COMMON,
      name: 'sqlite-slow',
      kind: 'sqlite',
      path,
      intervalMs: 1000,
      timeoutMs: 500,
      query:
        'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM cfg)) SELECT count(*) FROM c',
    },
    { ...COMMON, name: 'redis', kind: 'redis', url: REDIS_URL, intervalMs: 100, timeoutMs: 500 },
  ];
  const pool = createProbePool(1, rethrow);
  const aggregator = new Aggregator();
  aggregator.setTargets(targets);
  const scheduler = new Scheduler(
    pool,
    ({ names, result }) => aggregator.record(names, result),
    1,
    createLogger('silent', 'test'),
  );
  const get = (name: string): TargetSnapshot => aggregator.snapshot().find((s) => s.name === name)!;
  try {
    scheduler.start(targets);
    // Start-up: both targets answered once (the sqlite thread has started and its query is fast).
    await waitFor(
      'both targets to succeed once',
      async () => (get('sqlite-slow').count >= 1 && get('redis').count >= 1 ? true : undefined),
      20_000,
    );

    setN(SLOW_N);
    const before = { redis: get('redis'), sqlite: get('sqlite-slow') };
    const windowMs = 4_000;
    const t0 = performance.now();
    // A measurement window, not a wait: redis's rounds are counted over a fixed time next to the slow query.
    await new Promise((r) => setTimeout(r, windowMs));
    const elapsed = performance.now() - t0;
    const redis = get('redis');
    const sqlite = get('sqlite-slow');

    const redisProbes = redis.probes - before.redis.probes;
    const redisObserved = redis.count - before.redis.count;
    const rounds = elapsed / 100;
    t.diagnostic(`redis: ${redisProbes} probes in ${elapsed.toFixed(0)} ms (${rounds.toFixed(0)} rounds due)`);
    assert.ok(
      redisProbes >= rounds * 0.7,
      `redis ran ${redisProbes} of ${rounds.toFixed(0)} rounds next to the slow query`,
    );
    assert.equal(redisObserved, redisProbes, `redis failed next to the slow query: ${JSON.stringify(redis.errors)}`);
    // A stalled event loop would show in redis's own latency (the query stalls for seconds): every probe of
    // the window stays under 250 ms, which leaves room for a loaded machine's scheduling.
    const at250ms = BUCKETS.indexOf(0.25);
    const fastInWindow = redis.bucketCounts[at250ms]! - before.redis.bucketCounts[at250ms]!;
    assert.equal(fastInWindow, redisObserved, `redis probes slower than 250 ms: ${redisObserved - fastInWindow}`);

    const sqliteTimeouts = (sqlite.errors.timeout ?? 0) - (before.sqlite.errors.timeout ?? 0);
    assert.ok(sqliteTimeouts >= 2, `sqlite: ${sqliteTimeouts} timeouts in ${elapsed.toFixed(0)} ms`);
    assert.equal(sqlite.count, before.sqlite.count, 'no slow query finished within its deadline');

    // Once the query is cheap again, the target recovers (its stuck thread ends and a fresh one answers).
    setN(FAST_N);
    const recovered = sqlite.count;
    await waitFor(
      'the sqlite target to recover',
      async () => (get('sqlite-slow').count > recovered ? true : undefined),
      60_000,
    );
  } finally {
    await scheduler.stop();
    await pool.close();
  }
});
