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
import type { ProbeTarget } from '../../src/probes/registry.ts';
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
// or a MariaDB auth round trip on a loaded 2-core box can take more than a second, and what these targets
// are checked for is that they keep finishing rounds and the reason they fail, not a race with their deadline.
const ROOMY_TIMEOUT_MS = 2000;
// HANG_MS is the deadline (and interval) of a target whose server never answers: long beside the answering
// targets' rounds, so that their rounds finishing while it hangs is an order, not a race.
const HANG_MS = 3000;
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
  /** afterRecord, when set, runs after each delivery is recorded: a test reads the counts at that moment. */
  afterRecord: (() => void) | undefined;

  constructor(readonly targets: ProbeTarget[]) {
    this.aggregator.setTargets(targets);
    this.scheduler = new Scheduler(
      pool,
      ({ names, result }) => {
        this.aggregator.record(names, result);
        this.afterRecord?.();
      },
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

  /** probes maps each target to the probes it has finished. */
  probes(): Map<string, number> {
    return new Map(this.aggregator.snapshot().map((s) => [s.name, s.probes]));
  }

  /** stop waits for the rounds in flight; their results are recorded when it resolves. */
  stop(): Promise<void> {
    return this.scheduler.stop();
  }
}

const errorTotal = (s: TargetSnapshot): number => Object.values(s.errors).reduce((a, b) => a + b, 0);
const nonZeroErrors = (s: TargetSnapshot): Record<string, number> =>
  Object.fromEntries(Object.entries(s.errors).filter(([, n]) => n > 0));

test('healthy Redis and MariaDB keep finishing rounds while silent servers hang, beside a refused port and a wrong password', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL)) || !(await requireService(t, 'mysql', MYSQL_URL))) return;
  const closed = await closedPort();
  const badPassword = new URL(MYSQL_URL);
  badPassword.password = 'definitely-not-the-password';
  const answering = { ...BASE, timeoutMs: ROOMY_TIMEOUT_MS };
  const hanging = { ...BASE, intervalMs: HANG_MS, timeoutMs: HANG_MS };
  // One silent server per hanging target: each one's accepted connection is that target's round, hanging.
  const silents = {
    redis: await startSilentServer(),
    mysql: await startSilentServer(),
    http: await startSilentServer(),
  };
  t.after(() => Promise.all(Object.values(silents).map((s) => s.close())));
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
    { ...hanging, name: 'redis-silent', kind: 'redis', url: `redis://127.0.0.1:${silents.redis.port}` },
    {
      ...hanging,
      name: 'mysql-silent',
      kind: 'mysql',
      url: `mysql://root@127.0.0.1:${silents.mysql.port}/test`,
      query: 'SELECT 1',
    },
    {
      ...hanging,
      name: 'http-silent',
      kind: 'http',
      url: `http://127.0.0.1:${silents.http.port}/`,
      expectStatus: [],
      headers: {},
      maxBodyBytes: 1024 * 1024,
    },
  ] as ProbeTarget[]);
  const answeringNames = ['redis', 'mysql', 'redis-refused', 'tcp-refused', 'mysql-badpass'];
  const silentNames = ['redis-silent', 'mysql-silent', 'http-silent'];
  // The answering targets' counts when the first silent round ends (its timeout is recorded).
  let atFirstHangEnd: Map<string, number> | undefined;
  run.afterRecord = () => {
    const probes = run.probes();
    if (atFirstHangEnd === undefined && silentNames.some((name) => probes.get(name)! > 0)) atFirstHangEnd = probes;
  };
  try {
    await waitFor('every silent server holding its target round', async () =>
      Object.values(silents).every((s) => s.connections() > 0) ? true : undefined,
    );
    const atHangStart = run.probes();
    assert.deepEqual(
      silentNames.map((name) => atHangStart.get(name)),
      [0, 0, 0],
      'every silent round is still hanging once all three servers hold their connection',
    );
    await run.settled(1, 20_000);
    assert.ok(atFirstHangEnd !== undefined);
    for (const name of answeringNames) {
      // No blocking: each answering target, failing or not, finished rounds while every silent one hung.
      assert.ok(
        atFirstHangEnd.get(name)! > atHangStart.get(name)!,
        `${name} finished no round while the silent rounds hung (${atHangStart.get(name)} probes before, ${atFirstHangEnd.get(name)} after)`,
      );
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
    assert.ok(s.probes > 0, `${name} finished a round`);
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
  // next one is due, so that round is skipped by design. 40 targets at 100 ms share ten slots and their
  // batches with it. Slots fire in turn, so every synthetic target runs as many rounds as every other, the
  // silent one's batch-mates too, give or take the round in flight when the count is read. Before each
  // target tracked its own round, a batch-mate of the silent one lost about one round in five.
  const intervalMs = 100;
  const rounds = 40;
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
  let counts: number[];
  try {
    await waitFor(
      `a synthetic target probed ${rounds}×`,
      async () => (Math.max(...healthy.map((h) => run.get(h.name).probes)) >= rounds ? true : undefined),
      60_000,
    );
  } finally {
    await run.stop();
    counts = healthy.map((h) => run.get(h.name).probes);
  }
  const most = Math.max(...counts);
  // A slot whose round was a whole interval overdue (a stalled test thread) is skipped for its targets alike:
  // allow two such rounds; a batch-mate losing a round in five is eight short.
  for (const [i, done] of counts.entries()) {
    assert.ok(
      done >= most - 3,
      `s${i}: ${done} probes, its peers up to ${most}: it lost rounds to its silent batch-mate`,
    );
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
