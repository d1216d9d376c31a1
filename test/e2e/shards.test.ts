/**
 * Three real probex processes with the same 30 targets and PROBEX_SHARD 0/3, 1/3 and 2/3: each target
 * is probed, and exposed, by exactly one of them, the one its rendezvous hash names; each says which
 * shard it is and how many targets it left to the others, in /metrics, the JSON API and the status page.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { shardOf } from '../../src/shard.ts';
import { findSamples, parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

const NAMES = Array.from({ length: 30 }, (_, i) => `svc-${i}`);
const YAML = `listen: { host: 127.0.0.1, port: 0 }
publishInterval: 200ms
threads: 1
targets:
${NAMES.map((n) => `  - { name: ${n}, kind: synthetic, interval: 100ms }`).join('\n')}
`;

const shards: ProbexProcess[] = [];
before(async () => {
  for (const index of [0, 1, 2]) shards.push(await startProbex(YAML, { PROBEX_SHARD: `${index}/3` }));
});
after(async () => {
  await Promise.all(shards.map((p) => p.stop()));
});

async function metrics(p: ProbexProcess): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition(await (await fetch(`${p.url}/metrics`)).text());
}

test('each of the 30 targets is probed by exactly one of the three shards, the one its hash names', async () => {
  const probedBy = new Map<string, number[]>();
  await waitFor('every shard to have probed each of its targets', async () => {
    probedBy.clear();
    for (const [index, p] of shards.entries()) {
      for (const s of findSamples(await metrics(p), 'probex_probes_total')) {
        if (s.value > 0) probedBy.set(s.labels.target!, [...(probedBy.get(s.labels.target!) ?? []), index]);
      }
    }
    return probedBy.size === NAMES.length ? true : undefined;
  });
  for (const name of NAMES) assert.deepEqual(probedBy.get(name), [shardOf(name, 3)], name);
  // Nothing of another shard's targets is exposed, not even at 0.
  for (const [index, p] of shards.entries()) {
    const exposed = new Set(findSamples(await metrics(p), 'probex_probe_up').map((s) => s.labels.target!));
    assert.deepEqual([...exposed].sort(), NAMES.filter((n) => shardOf(n, 3) === index).sort());
  }
});

test('each shard says which it is and how many targets it skipped: /metrics, the JSON API, the status page', async () => {
  for (const [index, p] of shards.entries()) {
    const own = NAMES.filter((n) => shardOf(n, 3) === index).length;
    const samples = await metrics(p);
    assert.equal(sampleValue(samples, 'probex_shard_info', { shard: String(index), shards: '3' }), 1);
    assert.equal(sampleValue(samples, 'probex_shard_targets_skipped'), NAMES.length - own);
    const node = (await (
      await fetch(`${p.url}/system/v1/metrics/v0/node`, { headers: { accept: 'application/json' } })
    ).json()) as { datapoints: Array<{ name: string; value: number }> };
    const dp = (name: string): number | undefined => node.datapoints.find((d) => d.name === name)?.value;
    assert.equal(dp('shard.index'), index);
    assert.equal(dp('shard.count'), 3);
    assert.equal(dp('shard.targets.skipped'), NAMES.length - own);
    const page = await (await fetch(`${p.url}/`)).text();
    assert.match(page, new RegExp(`shard ${index}/3 · ${NAMES.length - own} targets? on other shards`));
  }
});
