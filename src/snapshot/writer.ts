import { SnapshotOverflowError } from '../errors.ts';
import {
  ABSENT_OFFSET,
  DIRECTORY_ENTRY_BYTES,
  FIXED_KEYS,
  fixedKeyIndex,
  kDirectoryEntryWords,
  kGenerationSlot,
  kHeaderSlots,
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

/**
 * SnapshotWriter publishes rendered bodies into a snapshot buffer. There must be exactly one writer per
 * buffer at a time (the seqlock has one writer by design); any number of SnapshotReaders may read it.
 */
export class SnapshotWriter {
  readonly #header: Uint32Array;
  readonly #words: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #slotBytes: number;
  readonly #encoder = new TextEncoder();
  #generation: number;

  constructor(sab: SharedArrayBuffer) {
    this.#slotBytes = readSlotBytes(sab);
    this.#header = new Uint32Array(sab, 0, kHeaderSlots);
    this.#words = new Uint32Array(sab);
    this.#bytes = new Uint8Array(sab);
    // Continue from what is in the buffer, so a writer recreated after a worker restart keeps
    // generations increasing and never rewrites the slot readers are currently served from.
    this.#generation = Atomics.load(this.#header, kGenerationSlot);
  }

  /**
   * publish writes all bodies into the inactive slot and makes them current; returns the new generation (1, 2, ...).
   * Throws SnapshotOverflowError (and leaves the current snapshot untouched) when they don't fit.
   */
  publish(bodies: ReadonlyMap<string, Uint8Array>): number {
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
    this.#generation = generation;
    return generation;
  }
}
