/**
 * Shards: n probex replicas with the same targets split them so that each target is probed, and
 * exposed, by exactly one. `PROBEX_SHARD=i/n` (or `shard: i/n`, or `shard: { index, count }`, in the
 * config) keeps the targets whose shard is i.
 *
 * A target's shard is chosen by rendezvous (highest random weight) hashing on its name: every shard j
 * of 0..n-1 scores the name, and the highest score wins. The score is the first 8 bytes, read as an
 * unsigned big-endian integer, of SHA-256 over the UTF-8 bytes of `${j}:${name}` (a tie, which SHA-256
 * makes practically impossible, goes to the smaller j). Only the name and n decide, never the order of
 * the targets, the replica's address or the probex version: the same config gives the same split on
 * every replica and every release. Going from n to n+1 shards moves only the targets whose new shard
 * n wins, about 1/(n+1) of them, and each moves to the new shard; the others stay where they were.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** ShardSpec is this replica's place among the shards. */
export interface ShardSpec {
  /** index is this replica's shard, from 0. */
  readonly index: number;
  /** count is the number of shards (replicas). */
  readonly count: number;
}

/** MAX_SHARDS bounds count: more would cost every target that many hashes at each (re)load. */
const MAX_SHARDS = 1024;

/** shardSchema reads `i/n` or `{ index, count }`; index must be below count. */
export const shardSchema = z
  .union(
    [
      z
        .string()
        .regex(/^\s*\d+\s*\/\s*\d+\s*$/)
        .transform((s) => {
          const [index, count] = s.split('/').map((p) => Number(p.trim())) as [number, number];
          return { index, count };
        }),
      z.object({ index: z.number(), count: z.number() }).strict(),
    ],
    { error: 'must be "INDEX/COUNT", e.g. 0/3, or { index, count }' },
  )
  .superRefine(({ index, count }, ctx) => {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)
      ctx.addIssue({ code: 'custom', message: `count must be an integer from 1 to ${MAX_SHARDS}` });
    else if (!Number.isInteger(index) || index < 0 || index >= count)
      ctx.addIssue({ code: 'custom', message: `index must be an integer from 0 to count - 1 (${count - 1})` });
  });

/** shardScore is shard j's score for a target name: the first 8 bytes of SHA-256(`${j}:${name}`). */
export function shardScore(name: string, shard: number): bigint {
  return createHash('sha256').update(`${shard}:${name}`, 'utf8').digest().readBigUInt64BE(0);
}

/** shardOf is the shard (0..count-1) that owns the target name. */
export function shardOf(name: string, count: number): number {
  let best = 0;
  let bestScore = -1n;
  for (let j = 0; j < count; j++) {
    const score = shardScore(name, j);
    if (score > bestScore) {
      best = j;
      bestScore = score;
    }
  }
  return best;
}

/** ownTargets splits targets into this shard's and the number it leaves to the others. */
export function ownTargets<T extends { readonly name: string }>(
  targets: readonly T[],
  shard: ShardSpec,
): { readonly own: T[]; readonly skipped: number } {
  const own = targets.filter((t) => shardOf(t.name, shard.count) === shard.index);
  return { own, skipped: targets.length - own.length };
}
