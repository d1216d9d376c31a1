import { SnapshotOverflowError } from '../errors.ts';
import {
  ABSENT_OFFSET,
  DIRECTORY_ENTRY_BYTES,
  FIXED_KEYS,
  fixedKeyIndex,
  kDirectoryEntryWords,
  kAsOfSlot,
  kGenerationSlot,
  kHeaderSlots,
  kMaxAgeSlot,
  kSeqSlot,
  kSlotDirectoryLengthWord,
  kSlotDirectoryOffsetWord,
  kSlotEntryCountWord,
  kSlotFixedWord,
  kSlotGenerationWord,
  nextGeneration,
  readSlotBytes,
  SLOT_HEADER_BYTES,
  slotStart,
} from './layout.ts';

/** PublishOptions describe one publish beyond its bodies. */
export interface PublishOptions {
  /**
   * asOfNs is process.hrtime.bigint() when the probe data in the bodies was read (default: now). A snapshot
   * that only re-publishes older data (after a failed render) passes that data's time, so it ages on; one
   * with no probe data at all passes 0n, which readers report as not ready.
   */
  readonly asOfNs?: bigint;
  /** maxAgeMs is how old the snapshot may grow before readers call it stale; 0 (the default) = never. */
  readonly maxAgeMs?: number;
  /**
   * carry selects directory keys of the current snapshot to copy into the new one when `bodies` lacks them.
   * The bytes go from slot to slot in shared memory, never through the JS heap.
   */
  readonly carry?: (key: string) => boolean;
}

/**
 * SnapshotWriter publishes rendered bodies into a snapshot buffer. There must be exactly one writer per
 * buffer at a time (the seqlock has one writer by design); any number of SnapshotReaders may read it.
 */
export class SnapshotWriter {
  readonly #header: Uint32Array;
  readonly #asOf: BigInt64Array;
  readonly #words: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #slotBytes: number;
  readonly #encoder = new TextEncoder();
  #generation: number;

  /**
   * A writer continues from the generation in the buffer, or from `after` when that is higher: a buffer
   * that replaces a smaller one starts after the generations readers have already seen in the old one.
   */
  constructor(sab: SharedArrayBuffer, after = 0) {
    this.#slotBytes = readSlotBytes(sab);
    this.#header = new Uint32Array(sab, 0, kHeaderSlots);
    this.#asOf = new BigInt64Array(sab, 0, kAsOfSlot + 1);
    this.#words = new Uint32Array(sab);
    this.#bytes = new Uint8Array(sab);
    // Continue from what is in the buffer, so a writer recreated after a worker restart keeps
    // generations increasing and never rewrites the slot readers are currently served from.
    this.#generation = Math.max(Atomics.load(this.#header, kGenerationSlot), after);
  }

  /** capacity is the payload size of each slot: the most a publish can hold. */
  get capacity(): number {
    return this.#slotBytes;
  }

  /** generation is the newest generation this writer published (or continued from); 0 before any. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * publish writes all bodies into the inactive slot and makes them current; returns the new generation (1, 2, ...).
   * Throws SnapshotOverflowError (and leaves the current snapshot untouched) when they don't fit.
   */
  publish(given: ReadonlyMap<string, Uint8Array>, options: PublishOptions = {}): number {
    const bodies = options.carry === undefined ? given : this.#withCarried(given, options.carry);
    // Size everything before touching shared memory: an overflow must leave both slots as they were.
    let bodyBytes = 0;
    let entries = 0;
    let keyBlob = '';
    for (const [key, body] of bodies) {
      bodyBytes += body.byteLength;
      if (fixedKeyIndex(key) < 0) {
        keyBlob += key;
        entries += 1;
      }
    }
    const blobBytes = Buffer.byteLength(keyBlob, 'utf8');
    const directoryBytes = entries * DIRECTORY_ENTRY_BYTES + blobBytes;
    const needed = bodyBytes + directoryBytes;
    if (needed > this.#slotBytes) {
      throw new SnapshotOverflowError(
        `snapshot needs ${needed} bytes (${bodies.size} bodies: ${bodyBytes} bytes of bodies + ` +
          `${directoryBytes} bytes of directory for ${entries} keys) but a slot holds ${this.#slotBytes} bytes`,
        needed,
        this.#slotBytes,
      );
    }

    const generation = nextGeneration(this.#generation);
    const slot = generation & 1;
    const start = slotStart(this.#slotBytes, slot);
    const payload = start + SLOT_HEADER_BYTES;
    const w = start >>> 2;
    const words = this.#words;
    const bytes = this.#bytes;

    /*
     * Seqlock write side. The slot we fill is the inactive one: readers are served from the other slot
     * (generation & 1), and only a reader that loaded the previous generation and is still copying can be
     * in here. The odd sequence tells such a reader that what it copies may be torn, and the final check of
     * its copy sees the counter moved. Both increments are Atomics.add (read-modify-write, sequentially
     * consistent) because the reader's validating re-read is an RMW too: RMWs on one word are totally ordered,
     * so a reader whose check precedes our first add cannot have seen any byte we write after it, and one
     * whose check follows it sees a changed count (the full argument is above SnapshotReader in reader.ts).
     * The generation is stored last, after the even count, so a reader that sees it finds a complete slot.
     */
    Atomics.add(this.#header, kSeqSlot + slot, 1);
    try {
      let offset = directoryBytes;
      for (let k = 0; k < FIXED_KEYS.length; k++) {
        words[w + kSlotFixedWord + 2 * k] = ABSENT_OFFSET;
        words[w + kSlotFixedWord + 2 * k + 1] = 0;
      }
      // The directory table sits at the start of the payload, the key blob after it, then the bodies.
      let entry = payload >>> 2;
      for (const [key, body] of bodies) {
        const length = body.byteLength;
        bytes.set(body, payload + offset);
        const fixed = fixedKeyIndex(key);
        if (fixed >= 0) {
          words[w + kSlotFixedWord + 2 * fixed] = offset;
          words[w + kSlotFixedWord + 2 * fixed + 1] = length;
        } else {
          words[entry] = key.length;
          words[entry + 1] = offset;
          words[entry + 2] = length;
          entry += kDirectoryEntryWords;
        }
        offset += length;
      }
      const blobStart = payload + entries * DIRECTORY_ENTRY_BYTES;
      this.#encoder.encodeInto(keyBlob, bytes.subarray(blobStart, blobStart + blobBytes));
      words[w + kSlotGenerationWord] = generation;
      words[w + kSlotEntryCountWord] = entries;
      words[w + kSlotDirectoryOffsetWord] = 0;
      words[w + kSlotDirectoryLengthWord] = directoryBytes;
    } finally {
      // Even again whatever happened: an odd count left behind would make the next publish into this
      // slot end on an odd count. Readers never select this slot unless the generation below is stored.
      Atomics.add(this.#header, kSeqSlot + slot, 1);
    }
    Atomics.store(this.#header, kGenerationSlot, generation);
    Atomics.store(this.#header, kMaxAgeSlot, options.maxAgeMs ?? 0);
    Atomics.store(this.#asOf, kAsOfSlot, options.asOfNs ?? process.hrtime.bigint());
    this.#generation = generation;
    return generation;
  }

  /**
   * carried returns bodies plus the current snapshot's keys that `carry` selects and bodies lacks (views into
   * the current slot, valid until this writer publishes twice): what publish writes with that `carry`. A
   * publisher moving to a larger buffer hands these to the new buffer's writer, which has nothing to carry from.
   */
  carried(bodies: ReadonlyMap<string, Uint8Array>, carry: (key: string) => boolean): Map<string, Uint8Array> {
    return this.#withCarried(bodies, carry);
  }

  /**
   * #withCarried adds to bodies the current snapshot's keys (fixed and directory) that `carry` selects and bodies lacks,
   * as views into the current slot. That slot is not written by this publish (it fills the other one), and
   * this writer is the only one, so the views stay valid until publish has copied them.
   */
  #withCarried(bodies: ReadonlyMap<string, Uint8Array>, carry: (key: string) => boolean): Map<string, Uint8Array> {
    const all = new Map(bodies);
    if (this.#generation === 0 || Atomics.load(this.#header, kGenerationSlot) !== this.#generation) return all;
    const start = slotStart(this.#slotBytes, this.#generation & 1);
    const payload = start + SLOT_HEADER_BYTES;
    const w = start >>> 2;
    const count = this.#words[w + kSlotEntryCountWord]!;
    const table = (payload + this.#words[w + kSlotDirectoryOffsetWord]!) >>> 2;
    const blobStart = payload + this.#words[w + kSlotDirectoryOffsetWord]! + count * DIRECTORY_ENTRY_BYTES;
    const blobEnd = payload + this.#words[w + kSlotDirectoryOffsetWord]! + this.#words[w + kSlotDirectoryLengthWord]!;
    const blob = this.#bytes.slice(blobStart, blobEnd); // a private copy: TextDecoder and Buffer decode no shared memory
    const keys = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('utf8');
    let p = 0;
    // The fixed keys (the /metrics bodies) sit in the slot header's table, not in the directory.
    for (let k = 0; k < FIXED_KEYS.length; k++) {
      const key = FIXED_KEYS[k]!;
      const offset = this.#words[w + kSlotFixedWord + 2 * k]!;
      if (offset === ABSENT_OFFSET || all.has(key) || !carry(key)) continue;
      all.set(
        key,
        this.#bytes.subarray(payload + offset, payload + offset + this.#words[w + kSlotFixedWord + 2 * k + 1]!),
      );
    }
    for (let i = 0; i < count; i++) {
      const e = table + i * kDirectoryEntryWords;
      const key = keys.slice(p, p + this.#words[e]!);
      p += this.#words[e]!;
      if (all.has(key) || !carry(key)) continue;
      const offset = payload + this.#words[e + 1]!;
      all.set(key, this.#bytes.subarray(offset, offset + this.#words[e + 2]!));
    }
    return all;
  }
}
