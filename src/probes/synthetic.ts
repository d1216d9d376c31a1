/**
 * synthetic: draws a latency from the target's distribution and answers at once, with no I/O. It exists
 * for load tests and benchmarks with thousands of targets at 10 Hz, so a run costs a few Math.random()
 * calls and one small object; the caller records `latencyUs` instead of the wall time.
 */
import { timeoutOutcome } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase } from './probe.ts';

export interface SyntheticTarget extends TargetBase {
  readonly kind: 'synthetic';
  /** distribution of latencies in ms; values are drawn, then the probe resolves after no I/O at all. */
  readonly distribution: SyntheticDistribution;
  /** errorRate in [0, 1]: the share of probes that fail with reason `other`. */
  readonly errorRate: number;
}
export type SyntheticDistribution =
  | { readonly type: 'constant'; readonly valueMs: number }
  | { readonly type: 'uniform'; readonly minMs: number; readonly maxMs: number }
  | { readonly type: 'lognormal'; readonly medianMs: number; readonly sigma: number }
  | { readonly type: 'exponential'; readonly meanMs: number };

const SYNTHETIC_FAILURE: ProbeOutcome = Object.freeze({ ok: false, reason: 'other', message: 'synthetic failure' });

/** syntheticProbe makes probers that draw latencies instead of measuring them. */
export const syntheticProbe: Probe<SyntheticTarget> = {
  kind: 'synthetic',
  create(target: SyntheticTarget): Prober {
    const draw = sampler(target.distribution);
    const { errorRate, timeoutMs } = target;
    const timedOut = Object.freeze(timeoutOutcome(timeoutMs));
    return {
      run(signal: AbortSignal): Promise<ProbeOutcome> {
        if (signal.aborted) return Promise.resolve(timedOut);
        // errorRate 0 never fails and 1 always does: Math.random() is in [0, 1).
        if (Math.random() < errorRate) return Promise.resolve(SYNTHETIC_FAILURE);
        return Promise.resolve({ ok: true, latencyUs: Math.round(draw() * 1000) });
      },
      close(): Promise<void> {
        return Promise.resolve();
      },
    };
  },
};

/**
 * sampler returns a function that draws one latency in ms (>= 0) from the distribution. The switch runs
 * once per target, not once per draw.
 */
export function sampler(d: SyntheticDistribution): () => number {
  switch (d.type) {
    case 'constant': {
      const value = d.valueMs;
      return () => value;
    }
    case 'uniform': {
      const { minMs, maxMs } = d;
      const span = maxMs - minMs;
      return () => minMs + Math.random() * span;
    }
    case 'lognormal': {
      // median * e^(sigma * Z), Z standard normal: the median of the result is exactly medianMs.
      const { medianMs, sigma } = d;
      const normal = normalSampler();
      return () => medianMs * Math.exp(sigma * normal());
    }
    case 'exponential': {
      // Inverse CDF; 1 - U is in (0, 1], so the log is finite.
      const { meanMs } = d;
      return () => -meanMs * Math.log(1 - Math.random());
    }
  }
}

/** normalSampler draws standard normal values with the Box-Muller transform, using both values of each pair. */
function normalSampler(): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const theta = 2 * Math.PI * Math.random();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
