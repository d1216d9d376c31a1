/** Reads Linux threads' nice values from /proc, as `ps -L -o nice` does. */
import { readdirSync, readFileSync } from 'node:fs';

/** statNice reads the nice value out of a /proc/…/stat line (field 19; the name before it may hold spaces). */
function statNice(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** threadNice is the nice value of a thread: the calling one by default. */
export function threadNice(path = '/proc/thread-self'): number {
  return statNice(readFileSync(`${path}/stat`, 'utf8'));
}

/** processThreadNices maps every thread ID of process pid to its nice value. */
export function processThreadNices(pid: number): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nices.set(Number(tid), threadNice(`/proc/${pid}/task/${tid}`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nices;
}
