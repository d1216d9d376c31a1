/**
 * OutDir against real files and file systems: a planted symlink is never written through, a directory
 * that holds anything is refused unless --force, and every I/O failure (EEXIST, ENOTDIR, EROFS, ENOSPC)
 * is one OutputError line. The read-only and full file systems are small tmpfs mounts of the test's own
 * (root only; elsewhere those two cases skip, or fail under CI=true).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { OutDir, OutputError } from '../../src/benchmark/out-dir.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'probex-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** expectOutputError runs fn and returns the OutputError's message, checking it is one line. */
function expectOutputError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof OutputError, `not an OutputError: ${String(err)}`);
    assert.ok(!err.message.includes('\n'), err.message);
    return err.message;
  }
  assert.fail('no OutputError');
}

/**
 * tmpfs mounts a tmpfs of `size` for the test (unmounted after it), or skips when the test may not mount
 * (not root); under CI=true it fails instead, as a missing service does.
 */
function tmpfs(t: TestContext, size: string, readOnly = false): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'probex-out-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', dir], {
      stdio: 'pipe',
    });
  } catch (err) {
    const why = `cannot mount a tmpfs (${String(err).split('\n')[0]}): run as root`;
    if (process.env.CI === 'true') assert.fail(`${why}; CI=true, so this fails instead of skipping`);
    rmSync(dir, { recursive: true });
    t.skip(why);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true });
  });
  return dir;
}

test('a new directory is created with its parents, and every file is created by the run and written', (t) => {
  const out = join(tempDir(t), 'a', 'b');
  const files = OutDir.prepare(out, false);
  files.create(['x.hlog', 'summary.json']);
  files.append('x.hlog', 'one\n');
  files.append('x.hlog', 'two\n');
  files.append('summary.json', '{}\n');
  files.close();
  assert.deepEqual(readdirSync(out).sort(), ['summary.json', 'x.hlog']);
  assert.equal(readFileSync(join(out, 'x.hlog'), 'utf8'), 'one\ntwo\n');
});

test('a planted symlink is never written through, and the directory that holds it is refused', (t) => {
  const dir = tempDir(t);
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'precious\n');
  const out = join(dir, 'out');
  mkdirSync(out);
  symlinkSync(victim, join(out, 'syn.hlog'));
  const refused = expectOutputError(() => OutDir.prepare(out, false));
  assert.match(refused, /--out .*out is not empty \(1 entry\).*--force/);
  // Planted after the check: the exclusive create refuses the name rather than follow it.
  const files = OutDir.prepare(join(dir, 'later'), false);
  symlinkSync(victim, join(dir, 'later', 'report.html'));
  assert.match(
    expectOutputError(() => files.create(['syn.hlog', 'report.html'])),
    /report\.html: EEXIST/,
  );
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
});

test("--force replaces an entry of the run's names (a symlink is removed, not followed) and keeps the rest", (t) => {
  const dir = tempDir(t);
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'precious\n');
  const out = join(dir, 'out');
  mkdirSync(out);
  symlinkSync(victim, join(out, 'syn.hlog'));
  writeFileSync(join(out, 'summary.json'), 'old run\n');
  writeFileSync(join(out, 'notes.txt'), 'mine\n');
  const files = OutDir.prepare(out, true);
  files.create(['syn.hlog', 'summary.json']);
  files.append('syn.hlog', 'new log\n');
  files.append('summary.json', '{}\n');
  files.close();
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(lstatSync(join(out, 'syn.hlog')).isFile(), 'the symlink was replaced by a file of the run');
  assert.equal(readFileSync(join(out, 'syn.hlog'), 'utf8'), 'new log\n');
  assert.equal(readFileSync(join(out, 'summary.json'), 'utf8'), '{}\n');
  assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'mine\n');
  // A directory in the way is not removed.
  mkdirSync(join(out, 'x.hgrm'));
  assert.match(
    expectOutputError(() => OutDir.prepare(out, true).create(['x.hgrm'])),
    /cannot replace .*x\.hgrm: EISDIR/,
  );
});

test('--out that is a file, or under a file, is one line naming the path and the errno', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'file');
  writeFileSync(file, '');
  assert.match(
    expectOutputError(() => OutDir.prepare(file, false)),
    /--out .*file exists and is not a directory/,
  );
  assert.match(
    expectOutputError(() => OutDir.prepare(join(file, 'sub'), false)),
    /cannot use --out .*file\/sub: ENOTDIR \(not a directory\)/,
  );
  assert.match(
    expectOutputError(() => OutDir.prepare(join(file, 'sub', 'deeper'), false)),
    /ENOTDIR \(not a directory\)/,
  );
});

test('a read-only file system is EROFS when the run starts, before it probes', (t) => {
  const ro = tmpfs(t, '64k', true);
  if (ro === undefined) return;
  assert.match(
    expectOutputError(() => OutDir.prepare(join(ro, 'out'), false)),
    /EROFS \(read-only file system\)/,
  );
  const files = OutDir.prepare(ro, false); // the mount point itself: empty, but nothing can be created in it
  assert.match(
    expectOutputError(() => files.create(['a.hlog'])),
    /cannot create .*a\.hlog: EROFS/,
  );
});

test('a full file system is ENOSPC on the write that does not fit, one line', (t) => {
  const small = tmpfs(t, '64k');
  if (small === undefined) return;
  const files = OutDir.prepare(join(small, 'out'), false);
  files.create(['big.hlog']);
  const message = expectOutputError(() => {
    for (let i = 0; i < 64; i++) files.append('big.hlog', 'x'.repeat(8192));
  });
  files.close();
  assert.match(message, /^cannot write .*big\.hlog: ENOSPC \(no space left on device\)$/);
});
