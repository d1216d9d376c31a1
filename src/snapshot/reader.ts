import {
  ABSENT_OFFSET,
  DIRECTORY_ENTRY_BYTES,
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
  readSlotBytes,
  SLOT_HEADER_BYTES,
  slotStart,
} from './layout.ts';

/** READ_ATTEMPTS bounds how many times one get retries a copy the writer overlapped before serving the last good copy. */
export const READ_ATTEMPTS = 16;

/** SnapshotReaderStats counts what a reader did since it was created (for self-metrics and tests). */
export interface SnapshotReaderStats {
  /** copies is the number of bodies copied out of shared memory (cache misses that succeeded). */
  readonly copies: number;
  /** directoryLoads is the number of key directories copied (at most one per generation; re-indexed only when keys change). */
  readonly directoryLoads: number;
  /** retries is the number of copies discarded because the writer overlapped them. */
  readonly retries: number;
  /** fallbacks is the number of gets that ran out of attempts and served the previously cached copy. */
  readonly fallbacks: number;
}

/** CacheEntry is one key's private copy and the generation it was copied from. */
interface CacheEntry {
  generation: number;
  bytes: Uint8Array | undefined;
}

/*
 * Why plain byte copies bracketed by Atomics are safe here (ECMAScript memory model, ECMA-262 "Memory Model").
 *
 * 1. A data race on plain (Unordered) accesses is not undefined behaviour in JavaScript: a racing read returns
 *    some mix of old and new bytes, nothing worse. So copying bytes the writer may be overwriting is allowed;
 *    we only have to detect it and throw the copy away.
 * 2. Every Atomics operation is sequentially consistent, and an Atomics read that reads the value of an Atomics
 *    write synchronizes-with it. Our load of the generation reads the writer's store of it, so the writer's even
 *    increment and all its plain writes into that slot happen-before our copy: we see that generation's bytes or
 *    bytes of a later pass over the same slot, never older ones.
 * 3. A later pass starts with Atomics.add(seq, 1). Our closing check is Atomics.add(seq, 0), a read-modify-write,
 *    not a load. RMWs on one word are totally ordered and each reads the one before it: if ours comes first, the
 *    writer's add reads our value, so our plain reads happen-before its plain writes and cannot have seen them;
 *    if the writer's comes first, ours returns a different count and we retry. A plain Atomics.load would leave
 *    the earlier plain reads unordered against that later writer pass (the classic seqlock hole, which C++ closes
 *    with a fence before the re-read; on ARM64 an acquire load alone lets earlier loads drift past it). The RMW
 *    costs one uncontended atomic per copy and is never on the cached path.
 * 4. Between loading the generation G and the sequence, the writer may have lapped us and refilled our slot with
 *    G + 2 (even count, complete). The slot's own generation word catches that: it must equal G.
 */

/**
 * SnapshotReader serves bodies from a snapshot buffer without locks or waits. Each key keeps a private copy
 * and the generation it came from; while the generation is unchanged, get returns that same Uint8Array.
 */
export class SnapshotReader {
  // The buffer's views; attach() replaces them all at once, between two reads.
  #header!: Uint32Array;
  #asOf!: BigInt64Array;
  #words!: Uint32Array;
  #bytes!: Uint8Array;
  #slotBytes!: number;
  /** #slotWord is each slot's first Uint32 word index; #payload is each slot's first payload byte. */
  #slotWord!: readonly [number, number];
  #payload!: readonly [number, number];
  readonly #cache = new Map<string, CacheEntry>();
  // The directory of the newest generation a non-fixed key was asked for, loaded at most once per generation.
  #dirGeneration = 0;
  #dirSeq = 0;
  #dirIndex = new Map<string, number>();
  /** #dirTable is the private copy of the directory table; #dirKeys the private copy of its key bytes. */
  #dirTable = new Uint32Array(0);
  #dirKeys: Buffer | undefined;
  #copies = 0;
  #directoryLoads = 0;
  #retries = 0;
  #fallbacks = 0;

  constructor(sab: SharedArrayBuffer) {
    this.#use(sab);
  }

  /**
   * attach switches the reader to another buffer: the larger one that replaces a buffer the snapshot has
   * outgrown (see "Growth" in layout.ts). The new buffer must already hold a complete snapshot whose
   * generation is above every one of the old buffer, so each cached copy is refreshed on its next get,
   * never served in place of a newer body. The old buffer is no longer referenced once this returns.
   */
  attach(sab: SharedArrayBuffer): void {
    readSlotBytes(sab);
    const generation = Atomics.load(new Uint32Array(sab, 0, kHeaderSlots), kGenerationSlot);
    if (generation === 0)
      throw new RangeError('cannot attach a snapshot buffer before a snapshot is published into it');
    this.#use(sab);
    // The directory index stays: the same keys in the new buffer map to the same entries (#sameKeys checks).
    this.#dirGeneration = 0;
  }

  #use(sab: SharedArrayBuffer): void {
    const slotBytes = readSlotBytes(sab);
    this.#slotBytes = slotBytes;
    this.#header = new Uint32Array(sab, 0, kHeaderSlots);
    this.#asOf = new BigInt64Array(sab, 0, kAsOfSlot + 1);
    this.#words = new Uint32Array(sab);
    this.#bytes = new Uint8Array(sab);
    const s0 = slotStart(slotBytes, 0);
    const s1 = slotStart(slotBytes, 1);
    this.#slotWord = [s0 >>> 2, s1 >>> 2];
    this.#payload = [s0 + SLOT_HEADER_BYTES, s1 + SLOT_HEADER_BYTES];
  }

  /** generation of the newest published snapshot, 0 before the first publish (one Atomics.load). */
  generation(): number {
    return Atomics.load(this.#header, kGenerationSlot);
  }

  /**
   * ageMs is how old the newest snapshot's probe data is, by the process's monotonic clock: NaN before the
   * first publish, and while no snapshot with probe data has been published (data time 0).
   */
  ageMs(nowNs = process.hrtime.bigint()): number {
    const asOfNs = Atomics.load(this.#asOf, kAsOfSlot);
    if (this.generation() === 0 || asOfNs === 0n) return NaN;
    return Number(nowNs - asOfNs) / 1e6;
  }

  /**
   * unready says why the snapshot must not be served as current (for /readyz), or undefined when it may:
   * nothing published yet, or its data older than the age its publisher allowed (the publisher is stalled,
   * or keeps failing to publish a complete snapshot).
   */
  unready(nowNs = process.hrtime.bigint()): string | undefined {
    if (this.generation() === 0) return 'no snapshot published yet';
    const maxAgeMs = Atomics.load(this.#header, kMaxAgeSlot);
    const ageMs = this.ageMs(nowNs);
    if (Number.isNaN(ageMs)) return 'no complete snapshot published yet: the publisher is failing';
    if (maxAgeMs === 0 || ageMs <= maxAgeMs) return undefined;
    return (
      `snapshot is stale: its data is ${(ageMs / 1000).toFixed(2)}s old, more than the ${maxAgeMs / 1000}s ` +
      'its publisher allows; the publisher is stalled or failing'
    );
  }

  /** get returns the body for key from one consistent generation, or undefined when there is none / key unknown. */
  get(key: string): Uint8Array | undefined {
    // Hot path (every scrape): one Atomics.load and one Map lookup, no allocation, no copy.
    const generation = Atomics.load(this.#header, kGenerationSlot);
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.generation === generation) return cached.bytes;
    return this.#refresh(key, cached);
  }

  /** stats returns the reader's counters. */
  get stats(): SnapshotReaderStats {
    return {
      copies: this.#copies,
      directoryLoads: this.#directoryLoads,
      retries: this.#retries,
      fallbacks: this.#fallbacks,
    };
  }

  /**
   * #refresh copies key's body out of the current generation (the seqlock read side, see the comment above the
   * class), caches it and returns it. A returned Uint8Array is never a view into shared memory, because uWS may
   * still be sending it when the writer reuses the slot.
   */
  #refresh(key: string, cached: CacheEntry | undefined): Uint8Array | undefined {
    const header = this.#header;
    const words = this.#words;
    const fixed = fixedKeyIndex(key);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const generation = Atomics.load(header, kGenerationSlot);
      if (generation === 0) return undefined;
      const slot = generation & 1;
      let seq: number;
      let offset: number;
      let length: number;
      if (fixed >= 0) {
        seq = Atomics.load(header, kSeqSlot + slot);
        const w = this.#slotWord[slot]!;
        if ((seq & 1) !== 0 || words[w + kSlotGenerationWord] !== generation) {
          // The writer lapped us (it is refilling, or has refilled, the slot of the generation we loaded).
          this.#retries += 1;
          continue;
        }
        offset = words[w + kSlotFixedWord + 2 * fixed]!;
        length = words[w + kSlotFixedWord + 2 * fixed + 1]!;
      } else {
        if (this.#dirGeneration !== generation && !this.#loadDirectory(generation)) {
          this.#retries += 1;
          continue;
        }
        const index = this.#dirIndex.get(key);
        if (index === undefined) return undefined;
        seq = Atomics.load(header, kSeqSlot + slot);
        if (seq !== this.#dirSeq) {
          this.#retries += 1;
          continue;
        }
        offset = this.#dirTable[index * kDirectoryEntryWords + 1]!;
        length = this.#dirTable[index * kDirectoryEntryWords + 2]!;
      }
      let body: Uint8Array | undefined;
      if (offset !== ABSENT_OFFSET) {
        // Unvalidated numbers may be torn: never let them drive an out-of-range or huge copy.
        if (offset + length > this.#slotBytes) {
          this.#retries += 1;
          continue;
        }
        const start = this.#payload[slot]! + offset;
        // slice (not subarray) copies into a fresh, unshared ArrayBuffer.
        body = this.#bytes.slice(start, start + length);
      }
      if (Atomics.add(header, kSeqSlot + slot, 0) !== seq) {
        this.#retries += 1;
        continue;
      }
      this.#copies += 1;
      if (cached === undefined) {
        this.#cache.set(key, { generation, bytes: body });
      } else {
        cached.generation = generation;
        cached.bytes = body;
      }
      return body;
    }
    // The writer kept lapping us: serve the last good copy (older, but whole) rather than spin or tear.
    this.#fallbacks += 1;
    return cached?.bytes;
  }

  /**
   * #loadDirectory copies the key directory of generation under the seqlock, then parses the private copy
   * (so parsing never sees bytes change). Returns false when the writer overlapped the copy.
   */
  #loadDirectory(generation: number): boolean {
    const header = this.#header;
    const words = this.#words;
    const slot = generation & 1;
    const w = this.#slotWord[slot]!;
    const seq = Atomics.load(header, kSeqSlot + slot);
    if ((seq & 1) !== 0 || words[w + kSlotGenerationWord] !== generation) return false;
    const count = words[w + kSlotEntryCountWord]!;
    const dirOffset = words[w + kSlotDirectoryOffsetWord]!;
    const dirLength = words[w + kSlotDirectoryLengthWord]!;
    if (dirOffset + dirLength > this.#slotBytes || count * DIRECTORY_ENTRY_BYTES > dirLength) return false;
    const start = this.#payload[slot]! + dirOffset;
    const copy = this.#bytes.slice(start, start + dirLength);
    if (Atomics.add(header, kSeqSlot + slot, 0) !== seq) return false;

    const table = new Uint32Array(copy.buffer, 0, count * kDirectoryEntryWords);
    const tableBytes = count * DIRECTORY_ENTRY_BYTES;
    const keys = Buffer.from(copy.buffer, tableBytes, dirLength - tableBytes);
    for (let i = 0; i < count; i++) {
      if (table[i * kDirectoryEntryWords + 1]! + table[i * kDirectoryEntryWords + 2]! > this.#slotBytes) {
        // The copy was validated, so this is not a torn read: the writer and reader disagree on the layout.
        throw new Error(`snapshot directory of generation ${generation} has a body out of bounds at entry ${i}`);
      }
    }
    // Targets rarely change between publishes: when the keys are the same bytes cut the same way, the index
    // built for an earlier generation still maps each key to its entry, and only the table is new.
    if (!this.#sameKeys(table, keys)) {
      this.#dirIndex = buildIndex(table, keys, count, generation);
      // Drop copies of keys the new generation no longer has, so the cache never outgrows the directory.
      for (const key of this.#cache.keys()) {
        if (fixedKeyIndex(key) < 0 && !this.#dirIndex.has(key)) this.#cache.delete(key);
      }
    }
    this.#dirGeneration = generation;
    this.#dirSeq = seq;
    this.#dirTable = table;
    this.#dirKeys = keys;
    this.#directoryLoads += 1;
    return true;
  }

  /** #sameKeys reports whether a directory has the same keys, in the same order, as the current index. */
  #sameKeys(table: Uint32Array, keys: Buffer): boolean {
    const previous = this.#dirTable;
    if (this.#dirKeys === undefined || previous.length !== table.length || !keys.equals(this.#dirKeys)) return false;
    for (let i = 0; i < table.length; i += kDirectoryEntryWords) {
      if (table[i] !== previous[i]) return false;
    }
    return true;
  }
}

/** buildIndex maps each directory key to its entry: one UTF-8 decode of all keys, then a cut per key. */
function buildIndex(table: Uint32Array, keys: Buffer, count: number, generation: number): Map<string, number> {
  const all = keys.toString('utf8');
  const index = new Map<string, number>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    const keyLength = table[i * kDirectoryEntryWords]!;
    if (p + keyLength > all.length) {
      throw new Error(`snapshot directory of generation ${generation} has a key out of bounds at entry ${i}`);
    }
    index.set(all.slice(p, p + keyLength), i);
    p += keyLength;
  }
  return index;
}
