/**
 * RSS from /proc, for the process benches: VmRSS sampled over a run, with RssAnon and RssFile beside it,
 * and the kernel's high-water mark (VmHWM).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** statusKb reads one field (VmRSS, VmHWM) of /proc/<pid>/status in KiB. */
function statusKb(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
}

/** RssFigures are a process's RSS over a run, in MiB (RssSampler.finish). */
export interface RssFigures {
  steadyMiB: number;
  steadyAnonMiB: number;
  steadyFileMiB: number;
  peakMiB: number;
  hwmMiB: number;
  sampledMaxMiB: number;
}

/**
 * RssSampler samples a process's VmRSS until stopped, and beside it RssAnon (heaps, stacks, buffers:
 * what probex's own choices make) and RssFile (mapped files, mostly the node binary's own code and data,
 * ~37 MiB in a bare `node -e`; clean pages the kernel may drop and reread).
 */
export class RssSampler {
  readonly samples: Array<{ atMs: number; kb: number; anonKb: number; fileKb: number }> = [];
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    private readonly steadyS: number,
    sampleEveryMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(), sampleEveryMs);
    this.sample();
  }
  private sample(): void {
    try {
      this.samples.push({
        atMs: performance.now(),
        kb: statusKb(this.pid, 'VmRSS'),
        anonKb: statusKb(this.pid, 'RssAnon'),
        fileKb: statusKb(this.pid, 'RssFile'),
      });
    } catch {
      // the process ended: nothing more to sample
    }
  }
  /** finish stops sampling and returns steady (mean of the last steadyS s) and peak RSS in MiB. */
  finish(): RssFigures {
    clearInterval(this.timer);
    const hwmKb = statusKb(this.pid, 'VmHWM');
    const end = this.samples.at(-1)!.atMs;
    const last = this.samples.filter((s) => s.atMs >= end - this.steadyS * 1000);
    const mean = (f: (s: (typeof last)[number]) => number): number => last.reduce((a, s) => a + f(s), 0) / last.length;
    const maxKb = Math.max(...this.samples.map((s) => s.kb));
    return {
      steadyMiB: mean((s) => s.kb) / 1024,
      steadyAnonMiB: mean((s) => s.anonKb) / 1024,
      steadyFileMiB: mean((s) => s.fileKb) / 1024,
      peakMiB: Math.max(hwmKb, maxKb) / 1024,
      hwmMiB: hwmKb / 1024,
      sampledMaxMiB: maxKb / 1024,
    };
  }
}
