import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { ownTargets, shardOf, shardScore, shardSchema } from '../src/shard.ts';

const NAMES = Array.from({ length: 1000 }, (_, i) => `target-${i}`);

test('a shard score is the first 8 bytes of SHA-256 over "j:name", as documented', () => {
  // Computed independently: printf '0:redis' | sha256sum
  assert.equal(shardScore('redis', 0), 0xcef8d042dfaaf676n);
  for (const [name, j] of [
    ['redis', 1],
    ['é', 2],
    ['api.example.com', 3],
  ] as const) {
    const digest = createHash('sha256')
      .update(Buffer.from(`${j}:${name}`, 'utf8'))
      .digest('hex');
    assert.equal(shardScore(name, j), BigInt(`0x${digest.slice(0, 16)}`));
  }
});

test('the split is stable: these names keep these shards in every release', () => {
  const golden: Array<[string, number, number]> = [
    ['redis', 0, 0],
    ['mysql', 0, 0],
    ['postgres', 0, 0],
    ['target-0', 2, 3],
    ['target-1', 0, 0],
    ['target-2', 1, 1],
    ['api.example.com', 2, 3],
  ];
  for (const [name, of3, of4] of golden) assert.deepEqual([name, shardOf(name, 3), shardOf(name, 4)], [name, of3, of4]);
  assert.equal(shardOf('anything', 1), 0);
});

test('every name has exactly one shard, and the shards are about even', () => {
  const counts = [0, 0, 0];
  for (const name of NAMES) counts[shardOf(name, 3)]!++;
  assert.equal(counts[0]! + counts[1]! + counts[2]!, NAMES.length);
  for (const c of counts) assert.ok(c > 270 && c < 400, `shard sizes ${counts.join(', ')}`);
  const parts = [0, 1, 2].map((index) =>
    ownTargets(
      NAMES.map((name) => ({ name })),
      { index, count: 3 },
    ),
  );
  assert.deepEqual(
    parts.map((p) => p.own.length),
    counts,
  );
  assert.deepEqual(
    parts.map((p) => p.skipped),
    counts.map((c) => NAMES.length - c),
  );
  assert.deepEqual(new Set(parts.flatMap((p) => p.own.map((t) => t.name))).size, NAMES.length);
});

test('going from 3 to 4 shards moves about a quarter of 1,000 names, each to the new shard', () => {
  let moved = 0;
  for (const name of NAMES) {
    const before = shardOf(name, 3);
    const after = shardOf(name, 4);
    if (before === after) continue;
    moved++;
    assert.equal(after, 3, `${name} moved from ${before} to ${after}, not to the new shard`);
  }
  assert.ok(moved > 200 && moved < 300, `${moved} of 1000 moved`);
});

test('shard reads "i/n" and { index, count }, and refuses an index past the count', () => {
  assert.deepEqual(shardSchema.parse('1/3'), { index: 1, count: 3 });
  assert.deepEqual(shardSchema.parse({ index: 2, count: 3 }), { index: 2, count: 3 });
  for (const bad of ['3/3', '-1/3', '1/0', 'a/3', '1', { index: 0 }, { index: 0.5, count: 2 }])
    assert.equal(shardSchema.safeParse(bad).success, false, JSON.stringify(bad));
});

const YAML = `targets:\n${NAMES.slice(0, 30)
  .map((n) => `  - { name: ${n}, kind: synthetic, interval: 1s }`)
  .join('\n')}\n`;

test("PROBEX_SHARD keeps this shard's targets and says how many it left to the others", () => {
  const whole = loadConfig({ yaml: YAML }).config;
  assert.equal(whole.shard, undefined);
  assert.equal(whole.targets.length, 30);
  const seen: string[] = [];
  for (const index of [0, 1, 2]) {
    const config = loadConfig({ yaml: YAML, env: { PROBEX_SHARD: `${index}/3` } }).config;
    assert.deepEqual(config.shard, { index, count: 3, skippedTargets: 30 - config.targets.length });
    for (const t of config.targets) assert.equal(shardOf(t.name, 3), index);
    seen.push(...config.targets.map((t) => t.name));
  }
  assert.deepEqual(seen.sort(), whole.targets.map((t) => t.name).sort());
  const fromFile = loadConfig({ yaml: `shard: { index: 1, count: 3 }\n${YAML}` }).config;
  assert.equal(fromFile.shard?.index, 1);
});

test('a bad PROBEX_SHARD is a config error naming shard', () => {
  assert.throws(
    () => loadConfig({ yaml: YAML, env: { PROBEX_SHARD: '3/3' } }).config,
    (err: unknown) =>
      err instanceof ConfigError && /shard: index must be an integer from 0 to count - 1 \(2\)/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ yaml: YAML, env: { PROBEX_SHARD: 'web-1/3' } }).config,
    (err: unknown) => err instanceof ConfigError && /shard: must be "INDEX\/COUNT"/.test(err.message),
  );
});
