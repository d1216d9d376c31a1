/**
 * storage: checks a directory the way Directus checks a storage location: write a small file, read it
 * back, compare, delete it. Each run uses its own file name, so concurrent runs (and several probex
 * processes sharing one volume) never touch each other's files.
 *
 * The directory must exist: probex never creates it. A missing directory is what an unmounted volume or a
 * wrong path looks like, and creating it would report a healthy directory on whatever filesystem lies
 * underneath (the root one) while the real volume is absent. A missing path or one that is not a directory
 * fails with reason `io`.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase } from './probe.ts';

export interface StorageTarget extends TargetBase {
  readonly kind: 'storage';
  /** path of the directory to write, read back and delete a small file in. */
  readonly path: string;
  /** location is the storage location name (Directus: `local`), used by the directus profile. */
  readonly location: string;
  /** filePrefix starts each probe file's name (default STORAGE_FILE_PREFIX; Directus's METRICS_HEALTH_CHECK_PREFIX). */
  readonly filePrefix?: string;
}

/** STORAGE_PROBE_BYTES is the size of the random payload each run writes and reads back. */
export const STORAGE_PROBE_BYTES = 64;

/**
 * STORAGE_FILE_PREFIX starts the name of every probe file, so leftovers are easy to spot and remove, unless
 * the target sets filePrefix (`--directus-env` sets METRICS_HEALTH_CHECK_PREFIX, as Directus names its file).
 */
export const STORAGE_FILE_PREFIX = '.probex-';

let sequence = 0;

/** storageProbe makes probers that write, read back and delete a small file in the target directory. */
export const storageProbe: Probe<StorageTarget> = {
  kind: 'storage',
  create(target: StorageTarget): Prober {
    const { path, timeoutMs } = target;
    const prefix = target.filePrefix ?? STORAGE_FILE_PREFIX;
    return {
      run: (signal) => settle(signal, timeoutMs, () => roundTrip(path, prefix, signal)),
      close: () => Promise.resolve(),
    };
  },
};

async function roundTrip(dir: string, prefix: string, signal: AbortSignal): Promise<ProbeOutcome> {
  const file = join(dir, `${prefix}${process.pid}-${threadId}-${++sequence}-${randomBytes(4).toString('hex')}.tmp`);
  const payload = randomBytes(STORAGE_PROBE_BYTES);
  try {
    // 'wx': create the file, never follow or overwrite something already there under that name.
    await writeFile(file, payload, { signal, flag: 'wx' }).catch((err: unknown) => {
      throw missingDirectory(err, dir) ?? err;
    });
    const back = await readFile(file, { signal });
    if (!payload.equals(back)) {
      return {
        ok: false,
        reason: 'bad_reply',
        message: `read back ${back.length} bytes that differ from the ${payload.length} written`,
      };
    }
  } finally {
    // Runs after a failure or an abort too, so no probe file is left behind; `force` makes a file that was
    // never created a no-op, and so is ENOTDIR (a path under a regular file holds no file). Any other
    // delete error propagates (as `io`), replacing an earlier write or read error.
    await rm(file, { force: true }).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 'ENOTDIR') throw err;
    });
  }
  return { ok: true, app: { bytes_written: payload.length } };
}

/**
 * missingDirectory turns the write's ENOENT / ENOTDIR into an error that names the directory (the
 * system's message names the probe file, which never existed). It keeps the code, so the reason stays `io`.
 */
function missingDirectory(err: unknown, dir: string): Error | undefined {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT')
    return Object.assign(new Error(`ENOENT: directory ${dir} does not exist (probex never creates it)`), { code });
  if (code === 'ENOTDIR') return Object.assign(new Error(`ENOTDIR: ${dir} is not a directory`), { code });
  return undefined;
}
