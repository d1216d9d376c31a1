/**
 * The registry loads a kind's probe module, and with it the kind's client library, only when asked for
 * that kind: a thread that runs only synthetic or HTTP targets never pays for mysql2, pg or node-redis.
 * Each case runs in a fresh process, whose module cache says what was loaded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ProbeKind, ProbeTarget } from '../../src/probes/registry.ts';
import { createProber, loadProbes } from '../../src/probes/registry.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** librariesLoadedFor loads the probes of `kinds` in a fresh process and lists the client libraries it loaded. */
function librariesLoadedFor(kinds: readonly ProbeKind[]): string[] {
  // mysql2 and pg are CommonJS: an import of them goes through require's cache. node-redis loads
  // @redis/client, also CommonJS.
  const script = `
    const { loadProbes } = await import('./src/probes/registry.ts');
    await loadProbes(${JSON.stringify(kinds)});
    const { createRequire } = await import('node:module');
    const cache = createRequire(import.meta.url).cache;
    const libs = new Set();
    for (const path of Object.keys(cache)) {
      const m = /node_modules\\/(mysql2|pg|@redis\\/client|better-sqlite3)\\//.exec(path);
      if (m) libs.add(m[1]);
    }
    console.log(JSON.stringify([...libs].sort()));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as string[];
}

test('loading the synthetic, http, tcp and storage probes loads no database client library', () => {
  assert.deepEqual(librariesLoadedFor(['synthetic', 'http', 'tcp', 'storage']), []);
});

test('loading the mysql probe loads mysql2 and nothing else', () => {
  assert.deepEqual(librariesLoadedFor(['mysql']), ['mysql2']);
});

test('loading the postgres and redis probes loads pg and node-redis', () => {
  assert.deepEqual(librariesLoadedFor(['postgres', 'redis']), ['@redis/client', 'pg']);
});

test('createProber names the kind whose probe was not loaded', () => {
  assert.throws(
    () =>
      createProber({ ...TARGET_DEFAULTS, name: 't', kind: 'tcp', host: '127.0.0.1', port: 1 } satisfies ProbeTarget),
    /the tcp probe is not loaded: call loadProbes first/,
  );
});

test('createProber creates a prober of a loaded kind', async () => {
  await loadProbes(['synthetic']);
  const prober = createProber({
    ...TARGET_DEFAULTS,
    name: 's',
    kind: 'synthetic',
    distribution: { type: 'constant', valueMs: 0 },
    errorRate: 0,
  } satisfies ProbeTarget);
  const outcome = await prober.run(new AbortController().signal);
  assert.equal(outcome.ok, true);
  await prober.close();
});
