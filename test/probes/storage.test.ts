import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import type { StorageTarget } from '../../src/probes/storage.ts';
import { STORAGE_PROBE_BYTES, storageProbe } from '../../src/probes/storage.ts';
import { waitFor } from '../../support/probex-process.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';

function target(path: string, extra: Partial<StorageTarget> = {}): StorageTarget {
  return { ...TARGET_DEFAULTS, name: 'storage-test', kind: 'storage', path, location: 'local', ...extra };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'probex-storage-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

test('a writable directory succeeds and no probe file is left behind', async (t) => {
  const dir = await tempDir(t);
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  const outcome = await prober.run(new AbortController().signal);
  assert.deepEqual(outcome, { ok: true, app: { bytes_written: STORAGE_PROBE_BYTES } });
  assert.deepEqual(await readdir(dir), []);
});

test("filePrefix names the probe file (Directus's METRICS_HEALTH_CHECK_PREFIX), which is still deleted", async (t) => {
  const dir = await tempDir(t);
  const names: string[] = [];
  const watcher = watch(dir, (_event, name) => {
    if (name !== null) names.push(name);
  });
  t.after(() => watcher.close());
  const prober = storageProbe.create(target(dir, { filePrefix: 'directus-metric-' }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
  await waitFor('the watcher to see the file', async () => (names.length > 0 ? true : undefined));
  assert.ok(
    names.every((n) => n.startsWith('directus-metric-')),
    names.join(', '),
  );
  assert.deepEqual(await readdir(dir), [], 'unlike Directus, probex deletes its file');
});

test('a missing directory fails with io and is not created', async (t) => {
  const parent = await tempDir(t);
  const dir = join(parent, 'a', 'b');
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  for (let run = 0; run < 2; run++) {
    const outcome = await prober.run(new AbortController().signal);
    assert.equal(reasonOf(outcome), 'io');
    assert.equal(
      outcome.ok ? '' : outcome.message,
      `ENOENT: directory ${dir} does not exist (probex never creates it)`,
    );
  }
  assert.deepEqual(await readdir(parent), [], 'nothing was created under the parent');
});

test('a path that is a regular file fails with io and the file is untouched', async (t) => {
  const file = join(await tempDir(t), 'not-a-directory');
  await writeFile(file, 'x');
  const prober = storageProbe.create(target(file));
  t.after(() => prober.close());
  const outcome = await prober.run(new AbortController().signal);
  assert.equal(reasonOf(outcome), 'io');
  assert.equal(outcome.ok ? '' : outcome.message, `ENOTDIR: ${file} is not a directory`);
  assert.equal(await readFile(file, 'utf8'), 'x');
});

test('concurrent runs use distinct files and all succeed', async (t) => {
  const dir = await tempDir(t);
  const prober = storageProbe.create({ ...target(dir), concurrency: 16 });
  t.after(() => prober.close());
  const outcomes = await Promise.all(Array.from({ length: 16 }, () => prober.run(new AbortController().signal)));
  assert.deepEqual(outcomes.map(reasonOf), Array(16).fill('ok'));
  assert.deepEqual(await readdir(dir), []);
});

test('a path under a regular file fails with io', async (t) => {
  const file = join(await tempDir(t), 'not-a-directory');
  await writeFile(file, 'x');
  const prober = storageProbe.create(target(join(file, 'sub')));
  t.after(() => prober.close());
  const outcome = await prober.run(new AbortController().signal);
  assert.equal(reasonOf(outcome), 'io');
  assert.match(outcome.ok ? '' : outcome.message, /^ENOTDIR: /);
});

test('an aborted run answers timeout and still removes its file', async (t) => {
  const dir = await tempDir(t);
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  const ac = new AbortController();
  const pending = prober.run(ac.signal);
  ac.abort();
  assert.equal(reasonOf(await pending), 'timeout');
  // The abandoned attempt finishes in the background and removes its file there.
  await waitFor('the abandoned attempt to remove its file', async () =>
    (await readdir(dir)).length === 0 ? true : undefined,
  );
});

test('a directory removed while probed fails with io until it is back, and is never recreated', async (t) => {
  const dir = join(await tempDir(t), 'volume');
  await mkdir(dir);
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
  await rm(dir, { recursive: true });
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'io');
  await assert.rejects(stat(dir), { code: 'ENOENT' });
  await mkdir(dir); // the volume is mounted again
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
});

test('the embedded default config probes a directory that exists on a fresh machine, and succeeds', async (t) => {
  const storage = loadConfig().config.targets.filter((target) => target.kind === 'storage');
  assert.equal(storage.length, 1);
  // The temp directory itself: a subdirectory of it exists only if something created it.
  assert.equal(storage[0]!.kind === 'storage' && storage[0]!.path, tmpdir());
  const prober = storageProbe.create(storage[0]!);
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(new AbortController().signal), {
    ok: true,
    app: { bytes_written: STORAGE_PROBE_BYTES },
  });
});
