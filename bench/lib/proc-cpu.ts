/**
 * CPU time from /proc, for the benches that compare CPU per request or per query rather than wall time
 * (a figure the machine's noise moves less).
 */
import { readFileSync } from 'node:fs';

/** CLOCK_TICKS_PER_SECOND is the unit of /proc's CPU times (getconf CLK_TCK on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * cpuSeconds reads user + system CPU time in seconds: of the whole process (all threads), or with `tid`
 * of that one thread (the main thread's id is the pid).
 */
export function cpuSeconds(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields after the parenthesised command name start at field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** machineBusySeconds reads the CPU time every core spent not idle since boot, from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - ticks[3]! - ticks[4]!) / CLOCK_TICKS_PER_SECOND;
}
