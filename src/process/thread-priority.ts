/**
 * With backgroundNice, probex's background threads yield the CPU to the front end. A scrape waits for
 * nothing but a core, and on a busy box the main thread's tail is the time it waits behind probex's own
 * probe workers and background thread. On Linux the nice value belongs to a thread, not the process
 * (setpriority(2), "Bugs"), raising it needs no privilege, and a new thread starts with its creator's: so
 * the background thread raises its own, and the probe workers it starts inherit it.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** MAX_NICE is the lowest priority Linux has. */
const MAX_NICE = 19;

/**
 * lowerThreadPriority raises the calling thread's nice value by steps (up to 19), leaving the rest of the
 * process as it is. It returns why it could not, or undefined when done or when there is nothing to do:
 * steps 0, or not Linux, where the priority belongs to the whole process.
 */
export function lowerThreadPriority(steps: number): string | undefined {
  if (steps === 0 || process.platform !== 'linux') return undefined;
  try {
    // pid 0 is the calling thread on Linux.
    setPriority(0, Math.min(MAX_NICE, getPriority(0) + steps));
    return undefined;
  } catch (err) {
    return `cannot lower this thread's priority: ${(err as Error).message}`;
  }
}

/** linuxThreadId is the calling thread's Linux thread id, or undefined where /proc/thread-self does not exist. */
export function linuxThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined; // not Linux, or no /proc: the id is not known
  }
}
