import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createClient } from 'redis';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import type { RedisTarget } from '../../src/probes/redis.ts';
import { redisProbe, SETDEL_EXPIRY_SECONDS, SETDEL_KEY_PREFIX } from '../../src/probes/redis.ts';
import { waitFor } from '../../support/probex-process.ts';
import { DEADLINE_MARGIN_MS, REDIS_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { startSilentServer } from '../helpers/silent-server.ts';

let targets = 0;

function target(url: string, extra: Partial<RedisTarget> = {}): RedisTarget {
  return { ...TARGET_DEFAULTS, name: `redis-setdel-test-${process.pid}-${++targets}`, kind: 'redis', url, ...extra };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

async function admin(t: TestContext) {
  const client = createClient({ url: REDIS_URL });
  client.on('error', (err: unknown) => t.diagnostic(`admin client: ${String(err)}`));
  await client.connect();
  t.after(() => client.destroy());
  return client;
}

test('setdel SETs a throwaway key with an expiry, then DELs it, as Directus checks its Redis', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const monitor = await admin(t);
  const seen: string[] = [];
  await monitor.monitor((line) => {
    if (String(line).includes(SETDEL_KEY_PREFIX)) seen.push(String(line));
  });
  const prober = redisProbe.create(target(REDIS_URL, { command: 'setdel' }));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(2000)), { ok: true });
  const lines = await waitFor(
    'MONITOR to show the SET and the DEL',
    async () => (seen.length >= 2 ? seen : undefined),
    5000,
  );
  const set = /"SET" "(probex-metric-[0-9a-f-]{36})" "1" "EX" "(\d+)"/i.exec(lines[0]!);
  assert.ok(set, `first command: ${lines[0]}`);
  assert.equal(Number(set[2]), SETDEL_EXPIRY_SECONDS);
  assert.match(lines[1]!, new RegExp(`"DEL" "${set[1]}"`, 'i'));
  const check = await admin(t);
  assert.equal(await check.exists(set[1]!), 0, 'the key is gone after the run');
});

test("keyPrefix names the key, as Directus's METRICS_HEALTH_CHECK_PREFIX names its own", async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const prefix = `directus-metric-${process.pid}-`;
  const monitor = await admin(t);
  const seen: string[] = [];
  await monitor.monitor((line) => {
    if (String(line).includes(prefix)) seen.push(String(line));
  });
  const prober = redisProbe.create(target(REDIS_URL, { command: 'setdel', keyPrefix: prefix }));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(2000)), { ok: true });
  const lines = await waitFor('MONITOR to show the SET and the DEL', async () => (seen.length >= 2 ? seen : undefined));
  const key = new RegExp(`"SET" "(${prefix}[0-9a-f-]{36})"`, 'i').exec(lines[0]!)?.[1];
  assert.ok(key !== undefined, `first command: ${lines[0]}`);
  assert.match(lines[1]!, new RegExp(`"DEL" "${key}"`, 'i'));
});

test('each setdel run uses a key of its own', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const monitor = await admin(t);
  const keys = new Set<string>();
  await monitor.monitor((line) => {
    const key = /"SET" "(probex-metric-[^"]+)"/i.exec(String(line))?.[1];
    if (key !== undefined) keys.add(key);
  });
  const prober = redisProbe.create(target(REDIS_URL, { command: 'setdel', concurrency: 3 }));
  t.after(() => prober.close());
  const outcomes = await Promise.all([1, 2, 3].map(() => prober.run(AbortSignal.timeout(2000))));
  assert.deepEqual(outcomes.map(reasonOf), ['ok', 'ok', 'ok']);
  await waitFor('MONITOR to show three SETs', async () => (keys.size >= 3 ? true : undefined), 5000);
});

test('setdel fails where PING passes: a user that may not write fails with auth', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const user = `probex-ro-${process.pid}`;
  const password = `pw-${process.pid}-${Date.now()}`;
  // One hook deletes the user and then closes the admin client (after hooks run in order).
  const adminClient = createClient({ url: REDIS_URL });
  adminClient.on('error', (err: unknown) => t.diagnostic(`admin client: ${String(err)}`));
  await adminClient.connect();
  t.after(async () => {
    try {
      await adminClient.sendCommand(['ACL', 'DELUSER', user]);
    } finally {
      adminClient.destroy();
    }
  });
  // May PING and name its connection, nothing else: a server or role that refuses writes.
  await adminClient.sendCommand([
    'ACL',
    'SETUSER',
    user,
    'on',
    `>${password}`,
    '+ping',
    '+client|setname',
    '+auth',
    '~*',
  ]);
  const url = new URL(REDIS_URL);
  url.username = user;
  url.password = password;
  const ping = redisProbe.create(target(url.toString()));
  const setdel = redisProbe.create(target(url.toString(), { command: 'setdel' }));
  t.after(() => Promise.all([ping.close(), setdel.close()]));
  assert.deepEqual(await ping.run(AbortSignal.timeout(2000)), { ok: true });
  const outcome = await setdel.run(AbortSignal.timeout(2000));
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.match(outcome.ok ? '' : outcome.message, /NOPERM/);
});

test('setdel against a server that never answers times out within the deadline', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = redisProbe.create(target(`redis://127.0.0.1:${silent.port}`, { command: 'setdel', timeoutMs: 250 }));
  t.after(() => prober.close());
  const t0 = performance.now();
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(250))), 'timeout');
  assert.ok(performance.now() - t0 < 250 + DEADLINE_MARGIN_MS);
});
