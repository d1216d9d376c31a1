/**
 * What a process has started, read from /proc (Linux): its descendants and its threads. Tests use it to
 * prove that nothing leaks: no child process or thread outlives what started it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** childPids lists the processes whose parent is `pid` (every thread's children), [] once it is gone. */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((p) => p.trim() !== '')
        .map(Number),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** alive tells whether `pid` runs (a zombie, dead but not yet reaped, does not). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** sqliteChildren lists the live sqlite child processes (workers/sqlite-child) started by `pid`. */
export function sqliteChildren(pid: number): number[] {
  return childPids(pid).filter((child) => {
    try {
      return alive(child) && readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('sqlite-child');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  });
}

/** threadCount is the number of threads of `pid`. */
export function threadCount(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}
