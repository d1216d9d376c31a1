/**
 * Host and process statistics for the JSON API's `node` body. Runs in the background thread once per
 * publish, so it only uses cheap calls: `os` getters (no `os.cpus()`, which builds an object per core),
 * one `process.memoryUsage()`, one `process.cpuUsage()` and one `statfs` per storage path, in parallel and
 * under a deadline (FilesystemReader). The result is plain data (structured-cloneable).
 */
import { statfs as fsStatfs } from 'node:fs/promises';
import { availableParallelism, freemem, hostname, loadavg, totalmem, uptime } from 'node:os';

/** FilesystemStats is the capacity of the filesystem holding one storage path, in bytes. */
export interface FilesystemStats {
  /** path is the storage path as configured (the filesystem's mount point is not looked up). */
  readonly path: string;
  readonly totalBytes: number;
  /** freeBytes is what an unprivileged writer can still use (`df`'s Avail: blocks available × block size). */
  readonly freeBytes: number;
  /** usedBytes is total minus every free block, including the root-reserved ones (`df`'s Used). */
  readonly usedBytes: number;
  /**
   * stale is true when the path's latest statfs has not answered within its deadline (a hung network
   * mount): the bytes are then the last reading that did answer.
   */
  readonly stale: boolean;
}

/** NodeStats is one reading of the host and of the probex process. */
export interface NodeStats {
  /** collectedAtMs is the Unix time in ms of the reading. */
  readonly collectedAtMs: number;
  readonly hostname: string;
  /** cpuCores is the parallelism available to the process (os.availableParallelism). */
  readonly cpuCores: number;
  /** load1/5/15 are the host load averages (0 on Windows). */
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
  readonly memoryTotalBytes: number;
  readonly memoryFreeBytes: number;
  readonly hostUptimeSeconds: number;
  readonly processUptimeSeconds: number;
  /** processCpuUserSeconds / SystemSeconds are process-wide: every thread's CPU time since start. */
  readonly processCpuUserSeconds: number;
  readonly processCpuSystemSeconds: number;
  /** residentMemoryBytes is the whole process's RSS. */
  readonly residentMemoryBytes: number;
  /** heapUsedBytes / heapTotalBytes are the V8 heap of the calling thread (the publisher), not the process. */
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  /** filesystems has one entry per distinct storage path that could be stat'ed, in the order given. */
  readonly filesystems: readonly FilesystemStats[];
}

/**
 * collectNodeStats reads the host and process statistics and the capacity of each storage path, through
 * `filesystems` (a publisher keeps one, so a hung path has at most one statfs in flight across publishes;
 * without it each call starts its own checks). A path that does not exist (or cannot be stat'ed) yields no
 * entry instead of an error: a missing storage directory is the storage probe's failure to report, not
 * the node's.
 */
export async function collectNodeStats(
  storagePaths: readonly string[],
  filesystems: FilesystemReader = new FilesystemReader(),
): Promise<NodeStats> {
  const fsStats = await filesystems.read(storagePaths);
  const [load1 = 0, load5 = 0, load15 = 0] = loadavg();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    collectedAtMs: Date.now(),
    hostname: hostname(),
    cpuCores: availableParallelism(),
    load1,
    load5,
    load15,
    memoryTotalBytes: totalmem(),
    memoryFreeBytes: freemem(),
    hostUptimeSeconds: uptime(),
    processUptimeSeconds: process.uptime(),
    processCpuUserSeconds: cpu.user / 1e6,
    processCpuSystemSeconds: cpu.system / 1e6,
    residentMemoryBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    heapTotalBytes: mem.heapTotal,
    filesystems: fsStats,
  };
}

/** StatFsLike is the part of fs.StatsFs that filesystemStats reads. */
export interface StatFsLike {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

/** filesystemStats converts a statfs reading into byte counts (pure; exported for tests). */
export function filesystemStats(path: string, s: StatFsLike, stale = false): FilesystemStats {
  const totalBytes = s.blocks * s.bsize;
  return {
    path,
    totalBytes,
    freeBytes: s.bavail * s.bsize,
    usedBytes: Math.max(0, totalBytes - s.bfree * s.bsize),
    stale,
  };
}

/** STATFS_DEADLINE_MS bounds how long one read waits for the storage paths' statfs calls. */
const STATFS_DEADLINE_MS = 250;

/** StatFs reads one path's filesystem (fs.promises.statfs; tests give their own). */
export type StatFs = (path: string) => Promise<StatFsLike>;

/** PathCheck is what a FilesystemReader knows of one path: its last answer and the statfs in flight. */
interface PathCheck {
  last: StatFsLike | undefined;
  inFlight: Promise<void> | undefined;
}

/**
 * FilesystemReader reads storage paths' capacity without ever waiting on a path that does not answer.
 * statfs on a hung network mount (NFS, CIFS) blocks in the kernel, for minutes or for ever, and it holds
 * one of libuv's four threadpool threads while it does (shared by every thread of the process: fs, dns,
 * zlib). So a read waits at most `deadlineMs` for all paths, and a path whose check has not answered keeps
 * that one check: no second statfs starts for it until the first returns. Meanwhile the path reports its
 * last answer marked `stale`; a path that never answered has no entry.
 */
export class FilesystemReader {
  readonly #statfs: StatFs;
  readonly #deadlineMs: number;
  readonly #checks = new Map<string, PathCheck>();

  constructor(statfs: StatFs = fsStatfs, deadlineMs = STATFS_DEADLINE_MS) {
    this.#statfs = statfs;
    this.#deadlineMs = deadlineMs;
  }

  /** read returns one entry per distinct path that has answered, in the order given; it never rejects. */
  async read(paths: readonly string[]): Promise<FilesystemStats[]> {
    const unique = [...new Set(paths)];
    for (const path of this.#checks.keys()) if (!unique.includes(path)) this.#checks.delete(path);
    const checks = unique.map((path) => this.#check(path));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(checks),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    const out: FilesystemStats[] = [];
    for (const path of unique) {
      const check = this.#checks.get(path)!;
      if (check.last !== undefined) out.push(filesystemStats(path, check.last, check.inFlight !== undefined));
    }
    return out;
  }

  /** #check starts a statfs of `path` unless one is still in flight, and returns the one in flight. */
  #check(path: string): Promise<void> {
    let check = this.#checks.get(path);
    if (check === undefined) {
      check = { last: undefined, inFlight: undefined };
      this.#checks.set(path, check);
    }
    if (check.inFlight !== undefined) return check.inFlight;
    const c = check;
    let attempt: Promise<StatFsLike>;
    try {
      attempt = this.#statfs(path);
    } catch (err) {
      attempt = Promise.reject(err);
    }
    c.inFlight = attempt
      .then(
        (s) => {
          c.last = s;
        },
        () => {
          c.last = undefined; // gone or not readable now: no entry (the storage probe reports why)
        },
      )
      .finally(() => {
        c.inFlight = undefined;
      });
    return c.inFlight;
  }
}
