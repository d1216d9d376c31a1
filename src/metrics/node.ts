/**
 * Host and process statistics for the JSON API's `node` body. Runs in the publisher thread once per
 * publish, so it only uses cheap calls: `os` getters (no `os.cpus()`, which builds an object per core),
 * one `process.memoryUsage()`, one `process.cpuUsage()` and one `statfs` per storage path, in parallel.
 * The result is plain data (structured-cloneable) so it could cross threads if the split ever changes.
 */
import { statfs } from 'node:fs/promises';
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
 * collectNodeStats reads the host and process statistics and the capacity of each storage path. A path
 * that does not exist (or cannot be stat'ed) yields no entry instead of an error: a missing storage
 * directory is the storage probe's failure to report, not the node's.
 */
export async function collectNodeStats(storagePaths: readonly string[]): Promise<NodeStats> {
  const paths = [...new Set(storagePaths)];
  const settled = await Promise.allSettled(paths.map((p) => statfs(p)));
  const filesystems: FilesystemStats[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') filesystems.push(filesystemStats(paths[i]!, r.value));
  });
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
    filesystems,
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
export function filesystemStats(path: string, s: StatFsLike): FilesystemStats {
  const totalBytes = s.blocks * s.bsize;
  return {
    path,
    totalBytes,
    freeBytes: s.bavail * s.bsize,
    usedBytes: Math.max(0, totalBytes - s.bfree * s.bsize),
  };
}
