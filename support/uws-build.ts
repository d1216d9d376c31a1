/**
 * The uWebSockets.js build a probex process serves from, for tests whose expectations depend on it: its
 * start log names the build (src/http/uws.ts describeUws), and each build keeps an idle connection, or one
 * that stopped reading, for a time of its own. A build not listed here fails those tests: measure it first.
 */
import assert from 'node:assert/strict';

/**
 * IDLE_CLOSE_MS bounds, per uWebSockets.js version, when the build closes a connection that makes no
 * progress (a request that never completes, a client that stops reading). 20.30: a 10 s timeout on a
 * timer that ticks every 4 s, seen at 10-12 s. 20.57: seen at 30-32 s.
 */
const IDLE_CLOSE_MS: Readonly<Record<string, number>> = { '20.30.0': 16_000, '20.57.0': 36_000 };

/** servingUws is the build a probex serves from, as its `probex listening` line names it: `uWebSockets.js 20.57.0 (...)`. */
export function servingUws(logs: ReadonlyArray<Record<string, unknown>>): { build: string; version: string } {
  const build = String(logs.find((l) => l.msg === 'probex listening')?.uws);
  const version = /^uWebSockets\.js (\d+\.\d+\.\d+)/.exec(build)?.[1];
  assert.ok(version !== undefined, `the start log names the uWebSockets.js build serving: ${build}`);
  return { build, version };
}

/** idleCloseMs is IDLE_CLOSE_MS for a version, or fails naming a build nobody measured. */
export function idleCloseMs(version: string): number {
  const ms = IDLE_CLOSE_MS[version];
  assert.ok(
    ms !== undefined,
    `uWebSockets.js ${version}: its idle timeout was never measured; add it to IDLE_CLOSE_MS`,
  );
  return ms;
}
