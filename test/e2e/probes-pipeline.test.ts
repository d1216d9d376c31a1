/**
 * The probe pipeline as probex runs it, minus HTTP: the Piscina pool running workers/probe-worker.ts, the
 * Scheduler, and the Aggregator the background thread uses, against the real local Redis and MariaDB and
 * against broken dependencies (a closed port, a wrong password, a server that never answers, a Redis that
 * is killed and restarted). Counts are checked against the servers' own counters where they have one.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import mysql from 'mysql2/promise';
import { createLogger } from '../../src/log.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import type { TargetSnapshot } from '../../src/metrics/model.ts';
import { createProbePool, type ProbePool } from '../../src/pool/probe-pool.ts';
import type { ProbeTarget } from '../../src/probes/probe.ts';
import { Scheduler } from '../../src/scheduler.ts';
import { freePort, waitFor } from '../../support/probex-process.ts';
import { MYSQL_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { closedPort, startSilentServer, type SilentServer } from '../helpers/silent-server.ts';

/** rethrow fails the run on a pool error no task was waiting on (none is expected here). */
const rethrow = (err: unknown): never => {
  throw err;
};

const THREADS = 2;
const INTERVAL_MS = 300;
// Targets that answer (healthy, refusing or rejecting the password) get a roomy deadline: a cold connect
// or a MariaDB auth round trip on a loaded 2-core box can take more than 150 ms, and what these targets
// are checked for is their rate and the reason they fail, not a race with their deadline.
const ROOMY_TIMEOUT_MS = 1000;
// Silent servers time out in half their interval: a round that ends later than the next one is due is
// skipped by design (probex_probes_skipped_total), and a loaded CI box can add tens of ms to a round.
const BASE = {
  intervalMs: INTERVAL_MS,
  timeoutMs: 150,
  concurrency: 1,
  labels: {},
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1],
};

let pool: ProbePool;
let silent: SilentServer;
before(async () => {
  pool = createProbePool(THREADS, rethrow);
  silent = await startSilentServer();
});
after(async () => {
  await pool.close();
  await silent.close();
});

/**
 * Run is one scheduler over the shared pool and its own aggregator, fed as the background thread is: with
 * every batch's results the scheduler delivers.
 */
class Run {
  readonly aggregator = new Aggregator();
  readonly scheduler: Scheduler;

  constructor(readonly targets: ProbeTarget[]) {
    this.aggregator.setTargets(targets);
    this.scheduler = new Scheduler(
      pool,
      ({ names, result }) => this.aggregator.record(names, result),
      THREADS,
      createLogger('silent', 'test'),
    );
    this.scheduler.start(targets);
  }

  get(name: string): TargetSnapshot {
    const found = this.aggregator.snapshot().find((s) => s.name === name);
    assert.ok(found, `no target ${name}`);
    return found;
  }

  /** settled waits until every target has finished at least `probes` probes. */
  settled(probes: number, timeoutMs = 15_000): Promise<true> {
    return waitFor(
      `every target probed ${probes}×`,
      async () => (this.aggregator.snapshot().every((s) => s.probes >= probes) ? true : undefined),
      timeoutMs,
    );
  }

  /** probesDuring counts each target's probes over windowMs, once start-up is over (every target probed twice). */
  async probesDuring(windowMs: number): Promise<Map<string, number>> {
    await this.settled(2);
    const start = new Map(this.aggregator.snapshot().map((s) => [s.name, s.probes]));
    // A measurement window, not a wait: the tests compare rates over a fixed time.
    await new Promise((r) => setTimeout(r, windowMs));
    return new Map(this.aggregator.snapshot().map((s) => [s.name, s.probes - start.get(s.name)!]));
  }

  /** stop waits for the rounds in flight; their results are recorded when it resolves. */
  stop(): Promise<void> {
    return this.scheduler.stop();
  }
}

const errorTotal = (s: TargetSnapshot): number => Object.values(s.errors).reduce((a, b) => a + b, 0);
const nonZeroErrors = (s: TargetSnapshot): Record<string, number> =>
  Object.fromEntries(Object.entries(s.errors).filter(([, n]) => n > 0));

test('healthy Redis and MariaDB keep their rate next to a refused port, a wrong password and silent servers', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
  const closed = await closedPort();
  const badPassword = new URL(MYSQL_URL);
  badPassword.password = 'definitely-not-the-password';
  const answering = { ...BASE, timeoutMs: ROOMY_TIMEOUT_MS };
  const run = new Run([
    { ...answering, name: 'redis', kind: 'redis', url: REDIS_URL },
    { ...answering, name: 'mysql', kind: 'mysql', url: MYSQL_URL, query: 'SELECT 1' },
    { ...answering, name: 'redis-refused', kind: 'redis', url: `redis://127.0.0.1:${closed}` },
    { ...answering, name: 'tcp-refused', kind: 'tcp', host: '127.0.0.1', port: closed },
    {
      ...answering,
      name: 'mysql-badpass',
      kind: 'mysql',
      url: badPassword.href,
      query: 'SELECT 1',
    },
    { ...BASE, name: 'redis-silent', kind: 'redis', url: `redis://127.0.0.1:${silent.port}` },
    {
      ...BASE,
      name: 'mysql-silent',
      kind: 'mysql',
      url: `mysql://root@127.0.0.1:${silent.port}/test`,
      query: 'SELECT 1',
    },
    {
      ...BASE,
      name: 'http-silent',
      kind: 'http',
      url: `http://127.0.0.1:${silent.port}/`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024 * 1024,
    },
  ] as ProbeTarget[]);
  try {
    // Measure the rate after start-up (workers loading, first connections), over a fixed window.
    const windowMs = 3_000;
    const rounds = windowMs / INTERVAL_MS;
    for (const [name, done] of await run.probesDuring(windowMs)) {
      // Each target, failing or not, runs on its own schedule: ≥ 80% of its rounds (load on a 2-core CI box).
      assert.ok(done >= rounds * 0.8, `${name}: ${done} probes in ${windowMs} ms, expected about ${rounds}`);
      assert.ok(done <= rounds + 1, `${name}: ${done} probes in ${windowMs} ms is more than its interval allows`);
    }
  } finally {
    await run.stop();
  }

  for (const name of ['redis', 'mysql']) {
    const s = run.get(name);
    assert.deepEqual(nonZeroErrors(s), {}, `${name} must not fail next to broken targets`);
    assert.equal(s.count, s.probes, `${name}: every probe is one observation`);
    assert.equal(s.up, 1);
    assert.equal(s.bucketCounts.at(-1)! <= s.count, true);
    assert.ok(s.sumSeconds > 0 && s.latency !== undefined && s.latency.max < ROOMY_TIMEOUT_MS / 1000);
  }
  const expected: Record<string, string> = {
    'redis-refused': 'refused',
    'tcp-refused': 'refused',
    'mysql-badpass': 'auth',
    'redis-silent': 'timeout',
    'mysql-silent': 'timeout',
    'http-silent': 'timeout',
  };
  for (const [name, reason] of Object.entries(expected)) {
    const s = run.get(name);
    assert.deepEqual(nonZeroErrors(s), { [reason]: s.probes }, `${name} counts every probe as ${reason}`);
    assert.equal(s.count, 0);
    assert.equal(s.up, 0);
    assert.deepEqual(
      s.bucketCounts,
      BASE.buckets.map(() => 0),
    );
  }
});

test('a target whose round lasts its whole interval costs its batch-mates no rounds', async () => {
  // timeout = interval (the default is min(interval, 1 s)): the silent target's round ends just after its
  // next one is due, so that round is skipped by design. 40 targets at 100 ms share slots and batches
  // with it; each of them must still run every round.
  const intervalMs = 100;
  const healthy = Array.from({ length: 39 }, (_, i) => ({
    ...BASE,
    intervalMs,
    timeoutMs: intervalMs,
    name: `s${i}`,
    kind: 'synthetic',
    distribution: { type: 'constant', valueMs: 1 },
    errorRate: 0,
  }));
  const run = new Run([
    {
      ...BASE,
      intervalMs,
      timeoutMs: intervalMs,
      name: 'silent',
      kind: 'redis',
      url: `redis://127.0.0.1:${silent.port}`,
    },
    ...healthy,
  ] as ProbeTarget[]);
  try {
    const windowMs = 3_000;
    const rounds = windowMs / intervalMs;
    for (const [name, done] of await run.probesDuring(windowMs)) {
      if (name === 'silent') continue;
      // A round of a synthetic target takes well under 1 ms: only timer drift at the window's edges may
      // cost one. Before each target tracked its own round, a batch-mate of the silent one lost ~20%.
      assert.ok(done >= rounds - 2, `${name}: ${done} probes in ${windowMs} ms, expected ${rounds}`);
    }
  } finally {
    await run.stop();
  }
});

test('every MariaDB probe is one statement on the server: observations equal rows inserted', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const admin = await mysql.createConnection(MYSQL_URL);
  const table = `probex_pipeline_${process.pid}`;
  await admin.query(`CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY)`);
  try {
    // A statement with a visible effect: the server's own count of executions is the table's row count.
    const run = new Run([
      {
        ...BASE,
        intervalMs: 50,
        timeoutMs: 1000,
        name: 'mysql-insert',
        kind: 'mysql',
        url: MYSQL_URL,
        query: `INSERT INTO ${table} () VALUES ()`,
      } as ProbeTarget,
    ]);
    await run.settled(20);
    await run.stop();
    const s = run.get('mysql-insert');
    const [[row]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${table}`)) as unknown as [[{ n: number }]];
    assert.deepEqual(nonZeroErrors(s), {});
    assert.equal(s.count, s.probes);
    assert.equal(Number(row.n), s.count, 'rows inserted by the server = observations recorded');
    assert.deepEqual(s.app, { affected_rows: 1 });
  } finally {
    await admin.query(`DROP TABLE ${table}`);
    await admin.end();
  }
});

/** PrivateRedis is a redis-server of this test's own, so its counters see only our probes and it can be killed. */
class PrivateRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.spawn();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async spawn(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const failed = new Promise<never>((_, reject) => this.child!.once('error', reject));
    await Promise.race([failed, waitFor('private redis-server', () => this.ping())]);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** pings reads the server's own count of PING commands. */
  async pings(): Promise<number> {
    return this.withClient(async (c) => {
      const stats = await c.info('commandstats');
      return Number(/cmdstat_ping:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    });
  }

  private async ping(): Promise<true | undefined> {
    return this.withClient(async (c) => ((await c.ping()) === 'PONG' ? true : undefined));
  }

  private async withClient<T>(fn: (c: AdminClient) => Promise<T>): Promise<T> {
    const client = adminClient(this.url);
    client.on('error', () => {});
    await client.connect();
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  }
}

type AdminClient = ReturnType<typeof adminClient>;
function adminClient(url: string) {
  return createClient({ url, socket: { reconnectStrategy: false } });
}

test('every Redis probe is one PING on the server, at concurrency 8', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const redis = await PrivateRedis.start();
  try {
    const before = await redis.pings(); // the start-up check's own PING
    const run = new Run([
      {
        ...BASE,
        intervalMs: 50,
        timeoutMs: 1000,
        concurrency: 8,
        name: 'pings',
        kind: 'redis',
        url: redis.url,
      } as ProbeTarget,
    ]);
    await run.settled(200);
    await run.stop();
    const s = run.get('pings');
    assert.deepEqual(nonZeroErrors(s), {});
    assert.equal(s.count, s.probes);
    assert.equal((await redis.pings()) - before, s.count, 'PINGs the server answered = observations recorded');
  } finally {
    await redis.kill();
  }
});

test('Redis killed mid-run counts errors and goes down, then recovers when it is back', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const redis = await PrivateRedis.start();
  const run = new Run([
    { ...BASE, intervalMs: 200, timeoutMs: 200, name: 'flaky', kind: 'redis', url: redis.url },
    {
      ...BASE,
      intervalMs: 200,
      timeoutMs: 200,
      name: 'steady',
      kind: 'synthetic',
      distribution: { type: 'constant', valueMs: 1 },
      errorRate: 0,
    },
  ] as ProbeTarget[]);
  try {
    // Healthy first: the server's counts only from here on (a cold first connect to a server that just
    // started may miss its deadline on a loaded box), then 5 more probes without a single error.
    await waitFor('warm probes', async () => (run.get('flaky').count >= 5 ? true : undefined));
    const warm = run.get('flaky');
    await waitFor('healthy probes', async () => (run.get('flaky').count >= warm.count + 5 ? true : undefined));
    assert.equal(errorTotal(run.get('flaky')), errorTotal(warm), 'no errors while Redis is up');

    await redis.kill();
    await waitFor('errors while redis is down', async () => {
      const s = run.get('flaky');
      return s.up === 0 && errorTotal(s) >= 5 ? true : undefined;
    });
    const down = run.get('flaky');
    // A killed server refuses new connections; a probe caught on the dying connection sees a reset.
    const reasons = Object.keys(nonZeroErrors(down));
    assert.ok(reasons.includes('refused'), `reasons ${reasons.join()}`);
    assert.ok(
      reasons.every((r) => ['refused', 'reset', 'timeout'].includes(r)),
      `reasons ${reasons.join()}`,
    );

    await redis.spawn();
    const recovered = await waitFor('recovery', async () => {
      const s = run.get('flaky');
      return s.up === 1 && s.count >= down.count + 5 ? s : undefined;
    });
    // Errors stop growing once it is back: the next five probes all succeed.
    const errorsAtRecovery = errorTotal(recovered);
    const later = await waitFor('five more probes', async () => {
      const s = run.get('flaky');
      return s.probes >= recovered.probes + 5 ? s : undefined;
    });
    assert.equal(errorTotal(later), errorsAtRecovery);
    // The other target never noticed.
    const steady = run.get('steady');
    assert.equal(errorTotal(steady), 0);
    assert.equal(steady.count, steady.probes);
  } finally {
    await run.stop();
    await redis.kill();
  }
});
