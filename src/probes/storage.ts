/**
 * storage: checks a directory the way Directus checks a storage location: write a small file, read it
 * back, compare, delete it. Each run uses its own file name, so concurrent runs (and several probex
 * processes sharing one volume) never touch each other's files.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, StorageTarget } from './probe.ts';

/** STORAGE_PROBE_BYTES is the size of the random payload each run writes and reads back. */
export const STORAGE_PROBE_BYTES = 64;

/** STORAGE_FILE_PREFIX starts the name of every probe file, so leftovers are easy to spot and remove. */
export const STORAGE_FILE_PREFIX = '.probex-';

let sequence = 0;

/** storageProbe makes probers that write, read back and delete a small file in the target directory. */
export const storageProbe: Probe<'storage'> = {
  kind: 'storage',
  create(target: StorageTarget): Prober {
    const { path, timeoutMs } = target;
    return {
      run: (signal) => settle(signal, timeoutMs, () => roundTrip(path, signal)),
      close: () => Promise.resolve(),
    };
  },
};

async function roundTrip(dir: string, signal: AbortSignal): Promise<ProbeOutcome> {
  // mkdir -p on every run: a directory removed while probex runs comes back instead of failing forever.
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${STORAGE_FILE_PREFIX}${process.pid}-${threadId}-${++sequence}-${randomBytes(4).toString('hex')}.tmp`);
  const payload = randomBytes(STORAGE_PROBE_BYTES);
  try {
    await writeFile(file, payload, { signal });
    const back = await readFile(file, { signal });
    if (!payload.equals(back)) {
      return { ok: false, reason: 'bad_reply', message: `read back ${back.length} bytes that differ from the ${payload.length} written` };
    }
  } finally {
    // Runs after a failure or an abort too, so no probe file is left behind; `force` makes a file that was
    // never created a no-op. A delete error propagates (as `io`), replacing an earlier write or read error.
    await rm(file, { force: true });
  }
  return { ok: true, app: { bytes_written: payload.length } };
}
