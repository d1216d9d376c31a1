import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  collectNodeStats,
  FilesystemReader,
  filesystemStats,
  type StatFs,
  type StatFsLike,
} from '../../src/metrics/host.ts';

test('node stats report the host and the process with plausible values', async () => {
  const s = await collectNodeStats([]);
  assert.ok(s.cpuCores >= 1);
  assert.ok(s.memoryTotalBytes > 0);
  assert.ok(s.memoryFreeBytes >= 0 && s.memoryFreeBytes <= s.memoryTotalBytes);
  assert.ok(s.hostUptimeSeconds > 0);
  assert.ok(s.processUptimeSeconds > 0);
  assert.ok(s.processCpuUserSeconds > 0);
  assert.ok(s.processCpuSystemSeconds >= 0);
  assert.ok(s.residentMemoryBytes > 0);
  assert.ok(s.heapUsedBytes > 0 && s.heapUsedBytes <= s.heapTotalBytes);
  for (const l of [s.load1, s.load5, s.load15]) assert.ok(Number.isFinite(l) && l >= 0);
  assert.ok(s.hostname.length > 0);
  assert.ok(Math.abs(s.collectedAtMs - Date.now()) < 5000);
  assert.deepEqual(s.filesystems, []);
});

test('a real storage directory reports its filesystem capacity', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'probex-node-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const s = await collectNodeStats([dir]);
  assert.equal(s.filesystems.length, 1);
  const fs = s.filesystems[0]!;
  assert.equal(fs.path, dir);
  assert.ok(fs.totalBytes > 0);
  assert.ok(fs.freeBytes >= 0 && fs.freeBytes <= fs.totalBytes);
  assert.ok(fs.usedBytes >= 0 && fs.usedBytes <= fs.totalBytes);
});

test('a missing storage path yields no entry and no error, and duplicates are read once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'probex-node-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'does', 'not', 'exist');
  const s = await collectNodeStats([missing, dir, dir]);
  assert.deepEqual(
    s.filesystems.map((f) => f.path),
    [dir],
  );
});

test('filesystem bytes are blocks times block size, free is what unprivileged writers can use', () => {
  assert.deepEqual(filesystemStats('/data', { bsize: 4096, blocks: 1000, bfree: 300, bavail: 250 }), {
    path: '/data',
    totalBytes: 4_096_000,
    freeBytes: 1_024_000,
    usedBytes: 2_867_200,
    stale: false,
  });
});

test('node stats are plain data that can cross threads', async () => {
  const s = await collectNodeStats([tmpdir()]);
  assert.deepEqual(structuredClone(s), s);
});

/** hungStatfs is a statfs that answers for `answering` paths and never for the others, counting its calls. */
function hungStatfs(answering: Set<string>): { statfs: StatFs; calls: string[]; release: (path: string) => void } {
  const calls: string[] = [];
  const pending = new Map<string, (s: StatFsLike) => void>();
  const reading: StatFsLike = { bsize: 4096, blocks: 100, bfree: 50, bavail: 40 };
  return {
    calls,
    statfs: (path) => {
      calls.push(path);
      if (answering.has(path)) return Promise.resolve(reading);
      return new Promise((resolve) => pending.set(path, resolve));
    },
    release: (path) => pending.get(path)?.({ bsize: 4096, blocks: 200, bfree: 50, bavail: 40 }),
  };
}

test('a path whose statfs hangs does not hold up the read: the others answer, it has no entry until it answers', async () => {
  const fake = hungStatfs(new Set(['/ok']));
  const reader = new FilesystemReader(fake.statfs, 20);
  const first = await reader.read(['/ok', '/nfs']);
  assert.deepEqual(
    first.map((f) => [f.path, f.stale]),
    [['/ok', false]],
  );
  const second = await reader.read(['/ok', '/nfs']);
  assert.deepEqual(
    second.map((f) => [f.path, f.stale]),
    [['/ok', false]],
  );
  assert.deepEqual(
    fake.calls.filter((p) => p === '/nfs'),
    ['/nfs'],
    'one statfs in flight for the hung path, not one per read',
  );
  fake.release('/nfs');
  const third = await reader.read(['/ok', '/nfs']);
  assert.deepEqual(
    third.map((f) => [f.path, f.stale, f.totalBytes]),
    [
      ['/ok', false, 409_600],
      ['/nfs', false, 819_200],
    ],
  );
});

test('a path that answered before and hangs now reports its last answer, marked stale', async () => {
  let hang = false;
  const calls: string[] = [];
  const statfs: StatFs = (path) => {
    calls.push(path);
    return hang ? new Promise(() => {}) : Promise.resolve({ bsize: 1, blocks: 10, bfree: 4, bavail: 3 });
  };
  const reader = new FilesystemReader(statfs, 20);
  assert.deepEqual(await reader.read(['/nfs']), [
    { path: '/nfs', totalBytes: 10, freeBytes: 3, usedBytes: 6, stale: false },
  ]);
  hang = true;
  assert.deepEqual(await reader.read(['/nfs']), [
    { path: '/nfs', totalBytes: 10, freeBytes: 3, usedBytes: 6, stale: true },
  ]);
  assert.deepEqual(await reader.read(['/nfs']), [
    { path: '/nfs', totalBytes: 10, freeBytes: 3, usedBytes: 6, stale: true },
  ]);
  assert.equal(calls.length, 2, 'the hung check is the only one in flight');
});

test('a statfs that throws synchronously is a path with no entry, not a failed read', async () => {
  const reader = new FilesystemReader(() => {
    throw new Error('boom');
  }, 20);
  assert.deepEqual(await reader.read(['/x']), []);
});
