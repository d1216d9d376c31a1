import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import type { RedisTarget } from '../../src/probes/redis.ts';
import { redisProbe } from '../../src/probes/redis.ts';
import { DEADLINE_MARGIN_MS, REDIS_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { openFds, startRedisErrorServer } from '../helpers/fake-servers.ts';
import { probeClientIds, redisAdmin } from '../helpers/redis-admin.ts';
import { waitFor } from '../../support/probex-process.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';

let targets = 0;

/** target makes a redis target with a name unique to this process, so parallel suites do not collide. */
function target(url: string, extra: Partial<RedisTarget> = {}): RedisTarget {
  return { ...TARGET_DEFAULTS, name: `redis-test-${process.pid}-${++targets}`, kind: 'redis', url, ...extra };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

function run(prober: { run(signal: AbortSignal): Promise<ProbeOutcome> }, ms = 2000): Promise<ProbeOutcome> {
  return prober.run(AbortSignal.timeout(ms));
}

/** proxy forwards every connection on `port` (0 = any) to the real Redis; closed after the test. */
async function startProxy(t: TestContext, port: number): Promise<net.Server> {
  const upstream = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const remote = net.connect(Number(upstream.port || 6379), upstream.hostname);
    for (const s of [client, remote]) {
      sockets.add(s);
      s.on('error', () => sockets.delete(s));
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        remote.destroy();
      });
    }
    client.pipe(remote).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return server;
}

test('PING answers PONG and one connection is reused across runs', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const adminClient = await redisAdmin(t);
  const tgt = target(REDIS_URL);
  const prober = redisProbe.create(tgt);
  t.after(() => prober.close());
  assert.deepEqual(await run(prober), { ok: true });
  const first = await probeClientIds(adminClient, tgt.name);
  assert.equal(first.length, 1);
  for (let i = 0; i < 5; i++) assert.equal(reasonOf(await run(prober)), 'ok');
  assert.deepEqual(await probeClientIds(adminClient, tgt.name), first);
});

test('concurrent runs share the one connection and all succeed', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const adminClient = await redisAdmin(t);
  const tgt = target(REDIS_URL, { concurrency: 8 });
  const prober = redisProbe.create(tgt);
  t.after(() => prober.close());
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => run(prober)));
  assert.deepEqual(outcomes.map(reasonOf), Array(8).fill('ok'));
  assert.equal((await probeClientIds(adminClient, tgt.name)).length, 1);
});

test('close() releases the connection', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const adminClient = await redisAdmin(t);
  const tgt = target(REDIS_URL);
  const prober = redisProbe.create(tgt);
  assert.equal(reasonOf(await run(prober)), 'ok');
  await prober.close();
  await prober.close(); // twice is fine
  await waitFor(
    'the server to drop the connection',
    async () => ((await probeClientIds(adminClient, tgt.name)).length === 0 ? true : undefined),
    2000,
  );
});

test('a closed port fails with refused', async (t) => {
  const prober = redisProbe.create(target(`redis://127.0.0.1:${await closedPort()}`));
  t.after(() => prober.close());
  assert.equal(reasonOf(await run(prober)), 'refused');
});

test('a wrong password fails with auth', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const url = new URL(REDIS_URL);
  url.username = 'nouser';
  url.password = 'wrongpass';
  const prober = redisProbe.create(target(url.toString()));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.doesNotMatch(outcome.ok ? '' : outcome.message, /wrongpass/);
  // The failed client is dropped; the next run tries again and fails the same way.
  assert.equal(reasonOf(await run(prober)), 'auth');
});

test('a server that accepts but never answers fails with timeout within the deadline', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = redisProbe.create(target(`redis://127.0.0.1:${silent.port}`, { timeoutMs: 250 }));
  t.after(() => prober.close());
  for (let i = 1; i <= 2; i++) {
    const t0 = performance.now();
    const outcome = await prober.run(AbortSignal.timeout(250));
    const elapsed = performance.now() - t0;
    assert.equal(reasonOf(outcome), 'timeout');
    assert.ok(elapsed < 250 + DEADLINE_MARGIN_MS, `run ${i} settled after ${elapsed} ms`);
    // Each timed-out handshake is dropped and the next run connects afresh.
    assert.equal(silent.connections(), i);
  }
});

test('a run whose deadline retires the shared connection times out the runs queued on it too', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = redisProbe.create(target(`redis://127.0.0.1:${silent.port}`, { timeoutMs: 250, concurrency: 2 }));
  t.after(() => prober.close());
  const t0 = performance.now();
  const [short, long] = await Promise.all([
    prober.run(AbortSignal.timeout(250)),
    prober.run(AbortSignal.timeout(5000)),
  ]);
  assert.equal(reasonOf(short), 'timeout');
  assert.equal(reasonOf(long), 'timeout');
  assert.match(long.ok ? '' : long.message, /concurrent PING/);
  assert.ok(performance.now() - t0 < 250 + DEADLINE_MARGIN_MS);
  assert.equal(silent.connections(), 1);
});

test('a server that answers something other than PONG fails with bad_reply', async (t) => {
  // A RESP server that answers +OK to every command, including PING.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => sockets.delete(socket));
    socket.on('data', (data) => {
      const commands = data.toString('latin1').match(/(^|\n)\*\d+\r\n/g)?.length ?? 0;
      socket.write('+OK\r\n'.repeat(commands));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const prober = redisProbe.create(target(`redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.deepEqual(outcome, { ok: false, reason: 'bad_reply', message: 'PING answered "OK", expected PONG' });
});

test('a prober recovers after its connection is killed with CLIENT KILL', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const adminClient = await redisAdmin(t);
  const tgt = target(REDIS_URL);
  const prober = redisProbe.create(tgt);
  t.after(() => prober.close());
  assert.equal(reasonOf(await run(prober)), 'ok');
  const [before] = await probeClientIds(adminClient, tgt.name);
  assert.ok(before !== undefined);
  await adminClient.sendCommand(['CLIENT', 'KILL', 'ID', String(before)]);
  // The run right after the kill may still see the old socket (reset); the one after must succeed.
  const next = await run(prober);
  t.diagnostic(`first run after CLIENT KILL: ${JSON.stringify(next)}`);
  assert.ok(['ok', 'reset'].includes(reasonOf(next)), JSON.stringify(next));
  if (!next.ok) assert.equal(reasonOf(await run(prober)), 'ok');
  const after = await probeClientIds(adminClient, tgt.name);
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before);
});

test('a prober recovers when a server appears on a port where nothing listened', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const port = await closedPort();
  const prober = redisProbe.create(target(`redis://127.0.0.1:${port}`));
  t.after(() => prober.close());
  assert.equal(reasonOf(await run(prober)), 'refused');
  assert.equal(reasonOf(await run(prober)), 'refused');
  await startProxy(t, port);
  assert.equal(reasonOf(await run(prober)), 'ok');
});

test('a password sent to a Redis that has none configured fails with auth, and the password is not in the message', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const adminClient = await redisAdmin(t);
  const requirepass = await adminClient.configGet('requirepass');
  assert.equal(requirepass.requirepass, '', 'this test needs the default user without a password');
  const url = new URL(REDIS_URL);
  url.username = '';
  url.password = `probex-nopass-${process.pid}`;
  const prober = redisProbe.create(target(url.toString()));
  t.after(() => prober.close());
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  // Redis 6+'s own words; the `<password>` in them is literal, not the password sent.
  assert.match(
    outcome.ok ? '' : outcome.message,
    /^ERR AUTH <password> called without any password configured for the default user/,
  );
  assert.doesNotMatch(outcome.ok ? '' : outcome.message, /probex-nopass/);
});

test('a server that answers every command with an error and stays open: no socket is left open', async (t) => {
  const server = await startRedisErrorServer('ERR max number of clients reached');
  t.after(() => server.close());
  const prober = redisProbe.create(target(`redis://127.0.0.1:${server.port}`, { timeoutMs: 2000 }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(2000))), 'other'); // warm up
  const fdsBefore = openFds();
  const runs = 50;
  for (let i = 0; i < runs; i++) {
    const outcome = await prober.run(AbortSignal.timeout(2000));
    assert.deepEqual(outcome, { ok: false, reason: 'other', message: 'ERR max number of clients reached' });
  }
  assert.equal(server.accepted(), runs + 1, 'each run tried a new connection');
  await waitFor('the server to see every socket closed', async () => (server.open() === 0 ? true : undefined));
  const grown = openFds() - fdsBefore;
  assert.ok(grown <= 2, `${grown} more open fds after ${runs} failed connects`);
});
