import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileReadError, readCappedFile, readCappedFileSync } from '../src/config/read-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'probex-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FileReadError);
    return err.reason;
  }
  assert.fail('expected a FileReadError');
};

test('reads a regular file, also through a symlink (a Kubernetes Secret volume)', async () => {
  writeFileSync(join(dir, 'a.pem'), 'hello');
  symlinkSync(join(dir, 'a.pem'), join(dir, 'link.pem'));
  assert.equal(readCappedFileSync(join(dir, 'link.pem'), 10).bytes.toString(), 'hello');
  assert.equal((await readCappedFile(join(dir, 'link.pem'), 10, 1000)).bytes.toString(), 'hello');
  assert.equal(readCappedFileSync(join(dir, 'a.pem'), 5).bytes.toString(), 'hello', 'exactly the cap');
  assert.ok(readCappedFileSync(join(dir, 'a.pem'), 5).stats.isFile(), 'the stats of the descriptor read');
});

test('refuses a file over the cap, a directory, a FIFO and a missing file, saying why and never what is in it', async () => {
  writeFileSync(join(dir, 'big.pem'), 'secret-content-0123456789');
  assert.equal(
    reasonOf(() => readCappedFileSync(join(dir, 'big.pem'), 10)),
    'larger than 10 bytes, the most probex reads',
  );
  assert.equal(
    reasonOf(() => readCappedFileSync(dir, 10)),
    'a directory, not a regular file',
  );
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  assert.equal(
    reasonOf(() => readCappedFileSync(join(dir, 'fifo'), 10)),
    'a FIFO, not a regular file',
  );
  assert.equal(
    reasonOf(() => readCappedFileSync(join(dir, 'missing'), 10)),
    'ENOENT',
  );
  await assert.rejects(readCappedFile(join(dir, 'big.pem'), 10, 1000), (err: FileReadError) => {
    assert.equal(err.reason, 'larger than 10 bytes, the most probex reads');
    assert.ok(!err.message.includes('secret-content'));
    return true;
  });
  await assert.rejects(readCappedFile(join(dir, 'fifo'), 10, 1000), /: a FIFO, not a regular file$/);
  assert.equal(
    reasonOf(() => readCappedFileSync('/dev/zero', 10)),
    'a character device, not a regular file',
  );
});

test('/dev/null reads as an empty file, and a procfs file (size 0 in its stats) is read whole, up to the cap', async (t) => {
  assert.equal(readCappedFileSync('/dev/null', 10).bytes.length, 0);
  assert.equal((await readCappedFile('/dev/null', 10, 1000)).bytes.length, 0);
  if (!existsSync('/proc/self/status')) return t.skip('no procfs here');
  // procfs reports a size of 0: a read sized by the stats would stop after one byte.
  for (const text of [
    readCappedFileSync('/proc/self/status', 1024 * 1024).bytes.toString(),
    (await readCappedFile('/proc/self/status', 1024 * 1024, 1000)).bytes.toString(),
  ]) {
    assert.match(text, /^Name:\t/);
    assert.match(text, /\nPid:\t\d+\n/);
  }
  assert.equal(
    reasonOf(() => readCappedFileSync('/proc/self/status', 10)),
    'larger than 10 bytes, the most probex reads',
  );
});
