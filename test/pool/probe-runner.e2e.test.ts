import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbeRunner } from '../../src/pool/probe-runner.ts';
import { encodeTargetTable } from '../../src/pool/target-table.ts';
import type { RedisTarget } from '../../src/probes/redis.ts';
import { waitFor } from '../../support/probex-process.ts';
import { REDIS_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { probeClientIds, redisAdmin } from '../helpers/redis-admin.ts';

test("a reloaded table keeps an unchanged target's connection and replaces a changed one's", async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const admin = await redisAdmin(t);
  const ids = (name: string): Promise<number[]> => probeClientIds(admin, name);

  const target = (name: string, timeoutMs = 1000): RedisTarget => ({
    ...TARGET_DEFAULTS,
    timeoutMs,
    name: `${name}-${process.pid}`,
    kind: 'redis',
    url: REDIS_URL,
  });
  const [kept, changed, removed] = ['kept', 'changed', 'removed'].map((n) => target(n)) as [
    RedisTarget,
    RedisTarget,
    RedisTarget,
  ];
  const runner = new ProbeRunner();
  t.after(() => runner.close());
  const first = await runner.run({
    owner: 1,
    id: 1,
    table: encodeTargetTable([kept, changed, removed]),
    targets: [0, 1, 2],
    burstMs: 0,
  });
  assert.deepEqual([...first.result.reason], [0, 0, 0], 'three successful runs');
  const before = { kept: await ids(kept.name), changed: await ids(changed.name), removed: await ids(removed.name) };
  assert.deepEqual([before.kept.length, before.changed.length, before.removed.length], [1, 1, 1]);

  // The reloaded table holds new objects: `kept` equal to the old one, `changed` with another timeout.
  const reloaded = encodeTargetTable([{ ...kept }, target('changed', 2000)]);
  const second = await runner.run({ owner: 1, id: 2, table: reloaded, targets: [0, 1], burstMs: 0 });
  assert.deepEqual([...second.result.reason], [0, 0]);
  assert.deepEqual(await ids(kept.name), before.kept, 'the unchanged target kept its connection');
  await waitFor('the changed and the removed targets to close their old connections', async () => {
    const now = await ids(changed.name);
    return now.length === 1 && now[0] !== before.changed[0] && (await ids(removed.name)).length === 0
      ? true
      : undefined;
  });

  await runner.close();
  await waitFor('every connection closed', async () =>
    (await ids(kept.name)).length + (await ids(changed.name)).length === 0 ? true : undefined,
  );
});
