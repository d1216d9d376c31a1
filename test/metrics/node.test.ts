import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectNodeStats, filesystemStats } from '../../src/metrics/node.ts';

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
  assert.deepEqual(s.filesystems.map((f) => f.path), [dir]);
});

test('filesystem bytes are blocks times block size, free is what unprivileged writers can use', () => {
  assert.deepEqual(filesystemStats('/data', { bsize: 4096, blocks: 1000, bfree: 300, bavail: 250 }), {
    path: '/data', totalBytes: 4_096_000, freeBytes: 1_024_000, usedBytes: 2_867_200,
  });
});

test('node stats are plain data that can cross threads', async () => {
  const s = await collectNodeStats([tmpdir()]);
  assert.deepEqual(structuredClone(s), s);
});
