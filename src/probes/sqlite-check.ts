/**
 * The config-time half of the sqlite kind's read-only rule: every sqlite target's query is prepared, not
 * run, in a child process (as each run is: better-sqlite3 stays out of probex's own threads), and a query
 * that would write is refused with the target's path and name. Each run checks again (sqlite-session.ts).
 */
import type { ProbeTarget } from './registry.ts';
import { SqliteProber } from './sqlite.ts';

/** CHECK_TIMEOUT_MS bounds one target's check, child start-up included; a check past it refuses nothing. */
export const CHECK_TIMEOUT_MS = 10_000;

/** sqliteQueryProblems returns one `targets[i].query: ...` line per sqlite target whose query would write. */
export async function sqliteQueryProblems(targets: readonly ProbeTarget[]): Promise<string[]> {
  const problems = await Promise.all(
    targets.map(async (target, i) => {
      if (target.kind !== 'sqlite') return undefined;
      const prober = new SqliteProber(target);
      try {
        const outcome = await prober.check(AbortSignal.timeout(CHECK_TIMEOUT_MS));
        // Only a definite answer refuses: a check that could not finish leaves the rule to each run.
        return outcome.ok || outcome.reason !== 'other'
          ? undefined
          : `targets[${i}].query (${target.name}): ${outcome.message}`;
      } finally {
        await prober.close();
      }
    }),
  );
  return problems.filter((p) => p !== undefined);
}
