/**
 * OutDir is where `probex run` writes its files, and the only code of the run that touches the file
 * system. probex writes only files it creates:
 * - every file is created with O_CREAT | O_EXCL | O_NOFOLLOW, so a name that already exists (a file, or a
 *   symlink planted to make probex write somewhere else) is never opened, let alone written through;
 * - every file is created when the run starts, before the first probe, and written through the
 *   descriptor it was created with, so a name swapped during the run changes nothing, and a directory
 *   that cannot be written is found before the run spends its duration;
 * - a directory that holds anything is refused, so the files of two runs are never mixed, unless the
 *   caller passes `force`: then an entry with one of the run's names is unlinked first (a symlink is
 *   removed, what it points to is left alone) and every other entry stays as it is.
 * Every failure is an OutputError whose message is one line: what was being done, the path and the errno
 * code with what it means.
 */
import { closeSync, constants, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** OutputError: an output file or directory cannot be created or written. Its message is one line. */
export class OutputError extends Error {
  override name = 'OutputError';
  readonly code = 'EXPORTER_RUN_OUTPUT';
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const FILE_MODE = 0o644;

/** OutDir holds the run's output files, each created by this process and open until close(). */
export class OutDir {
  readonly #dir: string;
  readonly #force: boolean;
  readonly #fds = new Map<string, number>();
  /** #paths holds the paths of the files createPath made (the others are in #dir under their name). */
  readonly #paths = new Map<string, string>();

  private constructor(dir: string, force: boolean) {
    this.#dir = dir;
    this.#force = force;
  }

  /**
   * prepare makes `dir` if it is missing (with its parents), or checks that it is a directory and, unless
   * `force`, empty. It throws OutputError.
   */
  static prepare(dir: string, force: boolean): OutDir {
    prepareDir(dir, force);
    return new OutDir(dir, force);
  }

  /** create creates every file of `names`; it throws OutputError, after closing what it had created. */
  create(names: readonly string[]): void {
    try {
      for (const name of names) this.#fds.set(name, createFile(join(this.#dir, name), this.#force));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * createPath creates a file outside the directory's naming (e.g. --junit FILE) under the same rules:
   * exclusive, no symlink followed, replaced only with force; its directory must exist. `key` names it
   * for append.
   */
  createPath(key: string, path: string): void {
    try {
      this.#fds.set(key, createFile(path, this.#force));
      this.#paths.set(key, path);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** append writes text at the end of what `name` holds so far. */
  append(name: string, text: string): void {
    const fd = this.#fds.get(name);
    if (fd === undefined) throw new Error(`${name} is not one of the run's files`);
    const path = this.#paths.get(name) ?? join(this.#dir, name);
    const bytes = Buffer.from(text, 'utf8');
    try {
      for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written);
    } catch (err) {
      throw new OutputError(`cannot write ${path}: ${errnoText(err)}`, { cause: err });
    }
  }

  /** close closes every file; it never throws (a file already written is complete on disk). */
  close(): void {
    for (const fd of this.#fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // close(2) fails only for a bad descriptor here: there is nothing left to release.
      }
    }
    this.#fds.clear();
  }
}

/** prepareDir creates dir if it is missing; an existing one must be a directory, and empty unless force. */
function prepareDir(dir: string, force: boolean): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new OutputError(`cannot use --out ${dir}: ${errnoText(err)}`, { cause: err });
    try {
      makeDirs(dir);
    } catch (mkdirErr) {
      throw new OutputError(`cannot create --out ${dir}: ${errnoText(mkdirErr)}`, { cause: mkdirErr });
    }
    return;
  }
  if (!isDirectory) throw new OutputError(`--out ${dir} exists and is not a directory`);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw new OutputError(`cannot read --out ${dir}: ${errnoText(err)}`, { cause: err });
  }
  if (entries.length > 0 && !force) {
    throw new OutputError(
      `--out ${dir} is not empty (${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}): ` +
        'give a new or empty directory, or pass --force to write beside what it holds (files of the same names are replaced)',
    );
  }
}

/**
 * makeDirs creates dir and its missing parents, one mkdir(2) each, so a failure is that call's own error
 * (Node's recursive mkdir reports ENOENT for a read-only file system).
 */
function makeDirs(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const parent = dirname(dir);
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw err;
    try {
      makeDirs(parent);
    } catch (parentErr) {
      // Made meanwhile by someone else: a file there fails the mkdir below with ENOTDIR.
      if ((parentErr as NodeJS.ErrnoException).code !== 'EEXIST') throw parentErr;
    }
    mkdirSync(dir);
  }
}

/** createFile creates path exclusively; with force an entry of that name is unlinked first. */
function createFile(path: string, force: boolean): number {
  if (force) {
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new OutputError(`cannot replace ${path}: ${errnoText(err)}`, { cause: err });
    }
  }
  try {
    return openSync(path, CREATE_FLAGS, FILE_MODE);
  } catch (err) {
    throw new OutputError(`cannot create ${path}: ${errnoText(err)}`, { cause: err });
  }
}

/**
 * errnoText is an fs error as `ENOSPC (no space left on device)`: Node's message is
 * `ENOSPC: no space left on device, write` (with the path for some calls), which repeats what the caller says.
 */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') return String((e as Error | undefined)?.message ?? err);
  const what = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message)?.[1];
  return what === undefined ? e.code : `${e.code} (${what})`;
}
