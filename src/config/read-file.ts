/**
 * The one way probex reads a file it was pointed at: the config file, the token file, the web config and
 * the TLS material it names, the files a target's `tls` block or postgres URL names. What is read is a
 * regular file (after symlinks, so a Kubernetes Secret volume's `..data` links work) of at most
 * `maxBytes`, read from the descriptor it checked:
 *
 * - it never blocks on open: the file is opened with O_NONBLOCK (a FIFO with no writer would block a plain
 *   open) and O_NOCTTY, and what was opened must be a regular file (fstat), not a FIFO, a device such as
 *   /dev/zero, a socket or a directory; /dev/null is read as the empty file it stands for;
 * - it never reads without end: a file larger than `maxBytes` is refused, and so is one that grows past it
 *   while it is read. The size fstat reports is not trusted for the read itself: procfs and sysfs files
 *   are regular files that report a size of 0, so the read goes in chunks to the end of the file (or one
 *   byte past the cap), never to the reported size plus one.
 *
 * A refusal is a FileReadError whose `reason` is short (`ENOENT`, `a FIFO, not a regular file`,
 * `larger than 1 MiB, the most probex reads`) and never quotes the file.
 *
 * readCappedFileSync is for the config thread (start, reload, --check-config); readCappedFile is for the
 * main thread, which watches the certificate files: it never blocks the event loop, and gives up after
 * `timeoutMs` (a hung network mount), leaving the read to finish on libuv's thread pool.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';

/** READ_FLAGS: O_NONBLOCK, so opening a FIFO does not wait for a writer (it is then refused as not a regular file). */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

const READ_CHUNK_BYTES = 64 * 1024;

/** FileReadError says why a file could not be read; `reason` is short and never quotes the file. */
export class FileReadError extends Error {
  override name = 'FileReadError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read ${path}: ${reason}`);
  }
}

/** CappedFile is a file's content and the stats of the descriptor it was read from (its mode, its owner). */
export interface CappedFile {
  readonly bytes: Buffer;
  readonly stats: Stats;
}

/** readCappedFileSync reads a regular file of at most maxBytes, or throws FileReadError. */
export function readCappedFileSync(path: string, maxBytes: number): CappedFile {
  let fd: number | undefined;
  try {
    fd = openSync(path, READ_FLAGS);
    const stats = fstatSync(fd);
    if (!checkStats(path, stats, maxBytes)) return { bytes: Buffer.alloc(0), stats };
    const reader = new CappedReader(path, maxBytes);
    for (let n; (n = readSync(fd, reader.chunk, 0, reader.chunk.length, null)) > 0;) reader.add(n);
    return { bytes: reader.bytes(), stats };
  } catch (err) {
    throw asReadError(path, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** readCappedFile is readCappedFileSync off the event loop, failing after timeoutMs. */
export async function readCappedFile(path: string, maxBytes: number, timeoutMs: number): Promise<CappedFile> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FileReadError(path, `no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([readAsync(path, maxBytes), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAsync(path: string, maxBytes: number): Promise<CappedFile> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
    const stats = await handle.stat();
    if (!checkStats(path, stats, maxBytes)) return { bytes: Buffer.alloc(0), stats };
    const reader = new CappedReader(path, maxBytes);
    for (let n; (n = (await handle.read(reader.chunk, 0, reader.chunk.length, null)).bytesRead) > 0;) reader.add(n);
    return { bytes: reader.bytes(), stats };
  } catch (err) {
    throw asReadError(path, err);
  } finally {
    await handle?.close();
  }
}

/** CappedReader collects the chunks of one read and refuses the file once they pass the cap. */
class CappedReader {
  readonly chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private readonly chunks: Buffer[] = [];
  private total = 0;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
  ) {}

  add(n: number): void {
    this.total += n;
    if (this.total > this.maxBytes) throw tooLarge(this.path, this.maxBytes);
    this.chunks.push(Buffer.from(this.chunk.subarray(0, n)));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.total);
  }
}

/** checkStats refuses what is not a regular file or is over the cap; false means /dev/null (read as empty). */
function checkStats(path: string, stats: Stats, maxBytes: number): boolean {
  if (isDevNull(stats)) return false;
  if (!stats.isFile()) throw new FileReadError(path, `${fileType(stats)}, not a regular file`);
  if (stats.size > maxBytes) throw tooLarge(path, maxBytes);
  return true;
}

function tooLarge(path: string, maxBytes: number): FileReadError {
  return new FileReadError(path, `larger than ${formatBytes(maxBytes)}, the most probex reads`);
}

/**
 * isDevNull: the file opened is the null device, the usual way to say "an empty file", which never blocks
 * and holds nothing, so it is read as one.
 */
function isDevNull(stats: Stats): boolean {
  if (!stats.isCharacterDevice()) return false;
  try {
    return stats.rdev === statSync('/dev/null').rdev;
  } catch {
    return false; // no /dev/null here: nothing can be it
  }
}

/** fileType names what a path that is not a regular file is, for a message. */
function fileType(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}

function asReadError(path: string, err: unknown): FileReadError {
  if (err instanceof FileReadError) return err;
  return new FileReadError(path, (err as NodeJS.ErrnoException).code ?? String(err));
}

function formatBytes(n: number): string {
  return n % 1024 ** 2 === 0 ? `${n / 1024 ** 2} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}
