/**
 * BatchResults gathers the outcomes of one batch's probes in a worker and hands them out as the flat typed
 * arrays that cross threads (ProbeBatchResult). `take` hands out what was gathered since the previous take,
 * so a batch can report its results in parts: early, for results a slow batch-mate would hold back
 * (ProbeProgress), and at the end, with the rest.
 */
import { FAILURE_REASONS, type ProbeOutcome } from '../probes/probe.ts';
import { kOk, type ProbeBatchResult } from './messages.ts';

const reasonCode = new Map(FAILURE_REASONS.map((r, i) => [r, i + 1]));

/** BatchResults accumulates probe outcomes of one batch of `targets` targets (by batch position). */
export class BatchResults {
  private target: number[] = [];
  private latencyUs: number[] = [];
  private reason: number[] = [];
  private endedAtMs: number[] = [];
  private startDelayUs: number[] = [];
  private app: (Readonly<Record<string, number>> | null)[];
  private failure: (string | null)[];
  /** certificate is ProbeBatchResult.certificate, made when the first outcome reports a certificate. */
  private certificate: Float64Array | undefined;
  private done: number[] = [];

  constructor(private readonly targets: number) {
    this.app = new Array(targets).fill(null);
    this.failure = new Array(targets).fill(null);
  }

  /** size is the number of outcomes gathered since the last take. */
  get size(): number {
    return this.target.length;
  }

  /** add records one probe's outcome; startDelayUs is how late it started after its round was due (0 when not known). */
  add(t: number, outcome: ProbeOutcome, elapsedUs: number, startDelayUs = 0): void {
    this.target.push(t);
    this.endedAtMs.push(Date.now());
    this.startDelayUs.push(startDelayUs);
    if (outcome.ok) {
      this.latencyUs.push(outcome.latencyUs ?? elapsedUs);
      this.reason.push(kOk);
      if (outcome.app !== undefined) this.app[t] = outcome.app;
    } else {
      this.latencyUs.push(elapsedUs);
      this.reason.push(reasonCode.get(outcome.reason) ?? reasonCode.get('other')!);
      this.failure[t] = outcome.message;
    }
    if (outcome.tls !== undefined) {
      const certificate = (this.certificate ??= new Float64Array(this.targets * 2).fill(NaN));
      certificate[t * 2] = outcome.tls.notBeforeSeconds;
      certificate[t * 2 + 1] = outcome.tls.notAfterSeconds;
    }
  }

  /** finish records that target t's round is complete: no probe of it will follow in this batch. */
  finish(t: number): void {
    this.done.push(t);
  }

  /** take returns the outcomes since the last take and the targets finished since then, and forgets them. */
  take(): { result: ProbeBatchResult; done: number[] } {
    const result: ProbeBatchResult = {
      target: Uint32Array.from(this.target),
      latencyUs: Float64Array.from(this.latencyUs),
      reason: Uint8Array.from(this.reason),
      endedAtMs: Float64Array.from(this.endedAtMs),
      startDelayUs: Float64Array.from(this.startDelayUs),
      app: this.app,
      failure: this.failure,
      ...(this.certificate === undefined ? {} : { certificate: this.certificate }),
    };
    const done = this.done;
    this.target = [];
    this.latencyUs = [];
    this.reason = [];
    this.endedAtMs = [];
    this.startDelayUs = [];
    this.app = new Array(this.targets).fill(null);
    this.failure = new Array(this.targets).fill(null);
    this.certificate = undefined;
    this.done = [];
    return { result, done };
  }
}

/** transferables lists a result's typed-array buffers, to move them across threads instead of copying. */
export function transferables(result: ProbeBatchResult): ArrayBuffer[] {
  const buffers = [result.target.buffer, result.latencyUs.buffer, result.reason.buffer, result.endedAtMs.buffer];
  if (result.startDelayUs !== undefined) buffers.push(result.startDelayUs.buffer);
  if (result.certificate !== undefined) buffers.push(result.certificate.buffer);
  return buffers as ArrayBuffer[];
}
