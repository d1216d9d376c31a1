/**
 * RunRecorder holds a benchmark run's per-target state (`probex run`): a cumulative HDR histogram of
 * successful latencies in µs, the current interval's histogram (one `.hlog` line per interval), probe and
 * error counts, and the coordinated-omission bookkeeping. Fed the ProbeResults the scheduler delivers.
 * Pure: the caller writes the files.
 *
 * Coordinated omission (HdrHistogram's term): a probe that starts late, or that takes longer than its
 * interval (so the rounds due meanwhile are skipped), hides the latencies the skipped or delayed probes
 * would have seen. So:
 * - a run that started more than LATE_SHARE of its interval (and at least LATE_MIN_US) after its round
 *   fired is late: its latency is counted from when it was due (latency + start delay), as wrk2 measures;
 * - every success of a scheduled target is recorded with recordWithExpectedInterval(value, interval),
 *   which adds the values of the probes that could not run while it took two intervals or more.
 * Continuous targets (interval 0) expect nothing and are recorded as measured.
 */
import * as hdr from 'hdr-histogram-js';
import type { HdrHistogram } from '../hdr/export.ts';
import { intervalLogHeader, intervalLogLine } from '../hdr/export.ts';
import { recordWithExpectedInterval } from '../hdr/quantiles.ts';
import { kOk, type ProbeResults } from '../pool/messages.ts';
import { FAILURE_REASONS, type ProbeFailureReason } from '../probes/probe.ts';
import type { ProbeTarget } from '../probes/registry.ts';
import type { RunTarget } from './summary.ts';

/** LATE_SHARE is the share of its interval a probe may start after its round fired and still be on time. */
const LATE_SHARE = 0.1;
/** LATE_MIN_US is the least start delay that makes a probe late, whatever its interval (timer granularity). */
const LATE_MIN_US = 1000;

class RunState {
  probes = 0;
  count = 0;
  lateProbes = 0;
  madeUpValues = 0;
  readonly errors: Partial<Record<ProbeFailureReason, number>> = {};
  readonly histogram = newHistogram();
  interval = newHistogram();
  /** uncorrected is the current interval's latencies as measured, without coordinated-omission correction. */
  uncorrected = newHistogram();
  readonly intervalUs: number;
  readonly lateUs: number;

  constructor(readonly target: ProbeTarget) {
    this.intervalUs = target.intervalMs * 1000;
    this.lateUs = Math.max(LATE_MIN_US, LATE_SHARE * this.intervalUs);
  }

  success(latencyUs: number, startDelayUs: number): void {
    this.count++;
    let value = latencyUs;
    if (this.intervalUs > 0 && startDelayUs > this.lateUs) {
      this.lateProbes++;
      value += startDelayUs;
    }
    this.madeUpValues += recordWithExpectedInterval(this.histogram, value, this.intervalUs);
    recordWithExpectedInterval(this.interval, value, this.intervalUs);
    this.uncorrected.recordValue(Math.max(0, Math.round(latencyUs)));
  }
}

function newHistogram(): HdrHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  return h;
}

/** UNCORRECTED_TAG_SUFFIX ends the run.hlog tag of a target's histogram as measured (no correction). */
export const UNCORRECTED_TAG_SUFFIX = '.uncorrected';

/** IntervalLines are one interval's log lines: each target's .hlog line, and run.hlog's tagged lines. */
export interface IntervalLines {
  readonly byTarget: ReadonlyMap<string, string>;
  readonly tagged: string;
}

/** RunRecorder records a run's results by target name. */
export class RunRecorder {
  readonly #states = new Map<string, RunState>();
  readonly #startMs: number;
  #intervalStartMs: number;

  constructor(targets: readonly ProbeTarget[], startMs: number) {
    for (const t of targets) this.#states.set(t.name, new RunState(t));
    this.#startMs = startMs;
    this.#intervalStartMs = startMs;
  }

  /** record adds one delivery of runs. Runs of unknown targets are ignored. */
  record({ names, result }: ProbeResults): void {
    const states = names.map((n) => this.#states.get(n));
    for (let i = 0; i < result.target.length; i++) {
      const state = states[result.target[i]!];
      if (state === undefined) continue;
      state.probes++;
      const reason = result.reason[i]!;
      if (reason === kOk) {
        state.success(result.latencyUs[i]!, result.startDelayUs?.[i] ?? 0);
      } else {
        const r = FAILURE_REASONS[reason - 1]!;
        state.errors[r] = (state.errors[r] ?? 0) + 1;
      }
    }
  }

  /** hlogHeader is the start of each target's `.hlog` (BaseTime is the run's start: timestamps are seconds into the run). */
  hlogHeader(name: string): string {
    return intervalLogHeader({
      startTimeMs: this.#startMs,
      baseTimeMs: this.#startMs,
      comments: [`probex run: target ${name}`],
    });
  }

  /** runLogHeader is the start of `run.hlog`, the one log of every target's intervals, told apart by tag. */
  runLogHeader(): string {
    return intervalLogHeader({
      startTimeMs: this.#startMs,
      baseTimeMs: this.#startMs,
      comments: [
        'probex run: every target, Tag=NAME corrected for coordinated omission, Tag=NAME.uncorrected as measured',
      ],
    });
  }

  /**
   * endInterval closes the current interval at nowMs and starts the next. It returns each target's
   * `.hlog` line (by name) and the interval's lines of `run.hlog`: per target, `Tag=NAME` (corrected, the
   * same histogram as its own .hlog) then `Tag=NAME.uncorrected` (as measured).
   */
  endInterval(nowMs: number): IntervalLines {
    const byTarget = new Map<string, string>();
    let tagged = '';
    const startSec = (this.#intervalStartMs - this.#startMs) / 1000;
    const endSec = (nowMs - this.#startMs) / 1000;
    for (const [name, state] of this.#states) {
      const line = intervalLogLine({ startSec, endSec, histogram: state.interval });
      byTarget.set(name, line);
      tagged +=
        intervalLogLine({ startSec, endSec, histogram: state.interval, tag: name }) +
        intervalLogLine({ startSec, endSec, histogram: state.uncorrected, tag: `${name}${UNCORRECTED_TAG_SUFFIX}` });
      state.interval = newHistogram();
      state.uncorrected = newHistogram();
    }
    this.#intervalStartMs = nowMs;
    return { byTarget, tagged };
  }

  /** targets returns what summary.json and the report need, in config order. */
  targets(): RunTarget[] {
    return [...this.#states.values()].map((s) => ({
      name: s.target.name,
      kind: s.target.kind,
      probes: s.probes,
      count: s.count,
      errors: { ...s.errors },
      histogram: s.histogram,
      lateProbes: s.lateProbes,
      madeUpValues: s.madeUpValues,
    }));
  }
}
