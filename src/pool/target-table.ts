/**
 * TargetTable: one config's target list, written once as JSON into a SharedArrayBuffer. Every batch
 * refers to its table and names its targets by index, so dispatching a batch clones a few numbers and
 * a buffer handle (shared, not copied) instead of every target object, and each worker parses a table
 * once per config rather than once per batch. A worker Piscina starts later (after a crash) reads the
 * same table from the first batch it gets, so no broadcast has to reach it.
 *
 * The table also holds one busy flag per target: the scheduler sets it when it dispatches the target's
 * round, the worker clears it as soon as that target's probes are done. So a target whose round runs
 * long makes only its own next round wait, not those of the targets batched with it (a batch as a whole
 * finishes with its slowest target).
 */
import type { ProbeTarget } from '../probes/registry.ts';

/** TargetTable is the shared form; `epoch` is unique within the process and grows with every table. */
export interface TargetTable {
  readonly epoch: number;
  readonly json: SharedArrayBuffer;
  /**
   * busy holds one flag per target, 1 while a round of it is dispatched and not done. It views shared
   * memory, so the copy a batch carries to a worker is the same memory, not a clone of it.
   */
  readonly busy: Int32Array;
}

/** DecodedTable is a table as a worker uses it. */
export interface DecodedTable {
  readonly epoch: number;
  readonly targets: readonly ProbeTarget[];
  /** busy is the table's busy flags (see markDone). */
  readonly busy: Int32Array;
}

let lastEpoch = 0;

/**
 * encodeTargetTable writes targets into a new shared buffer under a new epoch. Epochs are per process,
 * not per scheduler, so two schedulers sharing a pool (tests) never hand a worker two tables as one.
 */
export function encodeTargetTable(targets: readonly ProbeTarget[]): TargetTable {
  const epoch = ++lastEpoch;
  const bytes = new TextEncoder().encode(JSON.stringify(targets));
  const json = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(json).set(bytes);
  return { epoch, json, busy: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * targets.length)) };
}

/**
 * markDone clears a target's busy flag: its round is done (or its batch failed) and its next one may be
 * dispatched.
 */
export function markDone(table: Pick<TargetTable, 'busy'>, target: number): void {
  Atomics.store(table.busy, target, 0);
}

/** decodeTargetTable parses a table (TextDecoder does not read shared memory: copy it out first). */
export function decodeTargetTable(table: TargetTable): DecodedTable {
  const targets = JSON.parse(new TextDecoder().decode(new Uint8Array(table.json).slice())) as ProbeTarget[];
  return { epoch: table.epoch, targets, busy: table.busy };
}

/**
 * TableCache keeps the newest table a worker has decoded. A batch of an older epoch (still queued when
 * the config was reloaded) is decoded for itself without replacing the newest.
 */
export class TableCache {
  private newest: DecodedTable | undefined;

  get(table: TargetTable): DecodedTable {
    if (this.newest?.epoch === table.epoch) return this.newest;
    const decoded = decodeTargetTable(table);
    if (this.newest === undefined || decoded.epoch > this.newest.epoch) this.newest = decoded;
    return decoded;
  }
}
