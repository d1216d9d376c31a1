import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { ProbeOutcome, StorageTarget } from '../../src/probes/probe.ts';
import { STORAGE_PROBE_BYTES, storageProbe } from '../../src/probes/storage.ts';
import { TARGET_DEFAULTS } from '../helpers/services.ts';

function target(path: string): StorageTarget {
  return { ...TARGET_DEFAULTS, name: 'storage-test', kind: 'storage', path, location: 'local' };
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

test('a missing directory is created, with its parents', async (t) => {
  const dir = join(await tempDir(t), 'a', 'b');
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
  assert.deepEqual(await readdir(dir), []);
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
  assert.match(outcome.ok ? '' : outcome.message, /ENOTDIR|EEXIST/);
});

test('an aborted run answers timeout and still removes its file', async (t) => {
  const dir = await tempDir(t);
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  const ac = new AbortController();
  const pending = prober.run(ac.signal);
  ac.abort();
  assert.equal(reasonOf(await pending), 'timeout');
  // The abandoned attempt finishes in the background; give it a moment to clean up.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(await readdir(dir), []);
});

test('a prober recovers when its directory is removed', async (t) => {
  const dir = join(await tempDir(t), 'volume');
  const prober = storageProbe.create(target(dir));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
  await rm(dir, { recursive: true });
  assert.equal(reasonOf(await prober.run(new AbortController().signal)), 'ok');
});
