/*
 * Snapshot layout: one SharedArrayBuffer holding a small header and two slots (a double buffer).
 *
 *   byte 0                    HEADER_BYTES        HEADER_BYTES + stride     HEADER_BYTES + 2 * stride
 *   | header (Uint32 words)   | slot 0             | slot 1                  |
 *
 * Header words (read and written only with Atomics):
 *   kGenerationSlot  generation of the newest complete snapshot; 0 = nothing published yet.
 *                    Its parity selects the slot holding it (generation & 1).
 *   kSeqSlot + i     sequence counter of slot i (a seqlock): odd while the writer is filling that slot,
 *                    even when the slot is complete. It only ever grows (mod 2^32), so an unchanged value
 *                    means unchanged slot contents.
 *   kSlotBytesSlot   payload capacity of each slot, in bytes (what createSnapshotBuffer was given).
 *   kMagicSlot       SNAPSHOT_MAGIC, so a reader or writer refuses a buffer that is not a snapshot.
 *   kMaxAgeSlot      how old (ms) the newest snapshot may grow before readers call it stale; 0 = never.
 *   kAsOfSlot        (a BigInt64 word, bytes 24-31) process.hrtime.bigint() when the probe data of the newest
 *                    snapshot was read. hrtime is the process's monotonic clock, the same in every thread, so
 *                    the front end compares it with its own reading: no wall-clock step makes it stale.
 *                    0 = the snapshot holds no probe data (only self-metrics, before any complete publish).
 * The writer stores kMaxAgeSlot and kAsOfSlot after the generation; they describe the newest snapshot, and a
 * reader that loads them a moment apart from the generation is off by one publish at most.
 *
 * Each slot starts with SLOT_HEADER_BYTES of Uint32 words (plain memory, guarded by the slot's sequence):
 *   kSlotGenerationWord        generation stored in this slot (the reader checks it equals the one it loaded)
 *   kSlotEntryCountWord        number of directory entries
 *   kSlotDirectoryOffsetWord   directory offset, relative to the payload start
 *   kSlotDirectoryLengthWord   directory length in bytes
 *   kSlotFixedWord + 2k, +2k+1 offset and length of FIXED_KEYS[k] (offset ABSENT_OFFSET when not published),
 *                              so the six `/metrics` bodies never need the directory.
 * then slotBytes of payload: the directory first, then the bodies. The directory is a table of entryCount
 * entries of three Uint32 words in host byte order (the buffer never leaves the process):
 *   key length in UTF-16 code units, body offset (relative to the payload start), body length
 * followed by every key's UTF-8 concatenated. The reader decodes that blob with one call and cuts keys by
 * their UTF-16 lengths, so parsing thousands of keys costs one decode, not one per key.
 *
 * Protocol (single writer, any number of readers, no locks):
 *   writer: next = generation + 1; slot = next & 1 (the inactive one); seq[slot] += 1 (odd);
 *           write slot header, bodies, directory; seq[slot] += 1 (even); store generation = next.
 *   reader: load generation → slot; load seq[slot] (retry if odd); check the slot's generation word;
 *           copy; re-read seq[slot] (retry if changed). Bounded retries, then the last good copy.
 * Generation is a Uint32 that skips 0 and 1 when it wraps (0xFFFFFFFF → 2) so parity keeps alternating.
 *
 * Growth: a buffer never changes size. When the bodies outgrow it, the writer's owner makes a larger one
 * (grownSlotBytes), publishes into it with a writer that continues the old one's generations, and only
 * then hands it to the readers, which switch between two reads (SnapshotReader.attach). A reader therefore
 * never sees a buffer with nothing complete in it, and generations keep increasing across the switch.
 */

/** kGenerationSlot is the header word holding the newest published generation (0 before the first). */
export const kGenerationSlot = 0;
/** kSeqSlot is the header word of slot 0's sequence counter; slot 1's is kSeqSlot + 1. */
export const kSeqSlot = 1;
/** kSlotBytesSlot is the header word holding the payload capacity of each slot. */
const kSlotBytesSlot = 3;
/** kMagicSlot is the header word holding SNAPSHOT_MAGIC. */
const kMagicSlot = 4;
/** kMaxAgeSlot is the header word holding how old (ms) the newest snapshot may grow before it is stale. */
export const kMaxAgeSlot = 5;
/** kAsOfSlot is the index, in a BigInt64Array over the header, of the newest snapshot's data time (hrtime ns). */
export const kAsOfSlot = 3;
/** kHeaderSlots is the number of Uint32 words reserved for the header (padded to 8-byte alignment). */
export const kHeaderSlots = 8;

/** kSlotGenerationWord is the slot-header word holding the generation the slot contains. */
export const kSlotGenerationWord = 0;
/** kSlotEntryCountWord is the slot-header word holding the number of directory entries. */
export const kSlotEntryCountWord = 1;
/** kSlotDirectoryOffsetWord is the slot-header word holding the directory offset within the payload. */
export const kSlotDirectoryOffsetWord = 2;
/** kSlotDirectoryLengthWord is the slot-header word holding the directory length in bytes. */
export const kSlotDirectoryLengthWord = 3;
/** kSlotFixedWord is the first slot-header word of the fixed-key table (offset, length per key). */
export const kSlotFixedWord = 4;

/** FIXED_KEYS are the `/metrics` bodies served on every scrape; they live in the slot header, not the directory. */
export const FIXED_KEYS = ['text', 'text.gz', 'om', 'om.gz', 'pb', 'pb.gz'] as const;
/** FixedKey is one of FIXED_KEYS. */
export type FixedKey = (typeof FIXED_KEYS)[number];

/** kSlotHeaderWords is the number of Uint32 words at the start of each slot. */
const kSlotHeaderWords = kSlotFixedWord + 2 * FIXED_KEYS.length;
/** HEADER_BYTES is the size of the buffer header in bytes. */
const HEADER_BYTES = kHeaderSlots * 4;
/** SLOT_HEADER_BYTES is the size of each slot's header in bytes (a multiple of 8). */
export const SLOT_HEADER_BYTES = Math.ceil((kSlotHeaderWords * 4) / 8) * 8;
/** kDirectoryEntryWords is the number of Uint32 words per directory entry (key length, body offset, body length). */
export const kDirectoryEntryWords = 3;
/** DIRECTORY_ENTRY_BYTES is the size of one directory table entry; the key's UTF-8 bytes come on top. */
export const DIRECTORY_ENTRY_BYTES = kDirectoryEntryWords * 4;
/** ABSENT_OFFSET marks a fixed key that the snapshot does not contain. */
export const ABSENT_OFFSET = 0xffffffff;
/** SNAPSHOT_MAGIC identifies a buffer made by createSnapshotBuffer ("PRB", layout version 2 in the low byte). */
const SNAPSHOT_MAGIC = 0x50524202;
/** MAX_SLOT_BYTES bounds the payload of a slot so every offset fits a Uint32 and the buffer stays allocatable. */
export const MAX_SLOT_BYTES = 2 ** 30;
/** GROWTH_FACTOR is the headroom a grown buffer gets over what the snapshot needed. */
const GROWTH_FACTOR = 1.5;
/** GROWTH_STEP_BYTES rounds grown slot sizes up, so sizes stay few and readable. */
const GROWTH_STEP_BYTES = 64 * 1024;

/** fixedKeyIndex returns the index of key in FIXED_KEYS, or -1 when it is a directory key. */
export function fixedKeyIndex(key: string): number {
  switch (key) {
    case 'text':
      return 0;
    case 'text.gz':
      return 1;
    case 'om':
      return 2;
    case 'om.gz':
      return 3;
    case 'pb':
      return 4;
    case 'pb.gz':
      return 5;
    default:
      return -1;
  }
}

/** slotStride returns the distance in bytes between the starts of slot 0 and slot 1. */
function slotStride(slotBytes: number): number {
  return Math.ceil((SLOT_HEADER_BYTES + slotBytes) / 8) * 8;
}

/** slotStart returns the byte offset of slot (0 or 1) in a buffer whose payload capacity is slotBytes. */
export function slotStart(slotBytes: number, slot: number): number {
  return HEADER_BYTES + slot * slotStride(slotBytes);
}

/** nextGeneration returns the generation after g, wrapping 0xFFFFFFFF to 2 so 0 stays "never published" and parity alternates. */
export function nextGeneration(g: number): number {
  return g === 0xffffffff ? 2 : g + 1;
}

/**
 * grownSlotBytes is the slot size of the buffer that replaces one too small for `neededBytes`: 1.5 times
 * what is needed, so the next few reloads that add targets fit without another switch, rounded up to
 * 64 KiB and capped at maxSlotBytes (MAX_SLOT_BYTES unless smaller). Returns undefined when even the cap
 * cannot hold neededBytes.
 */
export function grownSlotBytes(neededBytes: number, maxSlotBytes = MAX_SLOT_BYTES): number | undefined {
  const cap = Math.min(maxSlotBytes, MAX_SLOT_BYTES);
  if (neededBytes > cap) return undefined;
  return Math.min(cap, Math.ceil((neededBytes * GROWTH_FACTOR) / GROWTH_STEP_BYTES) * GROWTH_STEP_BYTES);
}

/** createSnapshotBuffer allocates a header and two slots that each hold slotBytes of bodies plus directory. */
export function createSnapshotBuffer(slotBytes: number): SharedArrayBuffer {
  if (!Number.isInteger(slotBytes) || slotBytes <= 0 || slotBytes > MAX_SLOT_BYTES) {
    throw new RangeError(`slotBytes must be an integer between 1 and ${MAX_SLOT_BYTES}, got ${slotBytes}`);
  }
  const sab = new SharedArrayBuffer(HEADER_BYTES + 2 * slotStride(slotBytes));
  const header = new Uint32Array(sab, 0, kHeaderSlots);
  Atomics.store(header, kSlotBytesSlot, slotBytes);
  // The magic goes last: a buffer is only recognised once its capacity is in place.
  Atomics.store(header, kMagicSlot, SNAPSHOT_MAGIC);
  return sab;
}

/** readSlotBytes validates that sab was made by createSnapshotBuffer and returns its slot payload capacity. */
export function readSlotBytes(sab: SharedArrayBuffer): number {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) {
    throw new TypeError('sab must be a SharedArrayBuffer created by createSnapshotBuffer');
  }
  const header = new Uint32Array(sab, 0, kHeaderSlots);
  if (Atomics.load(header, kMagicSlot) !== SNAPSHOT_MAGIC) {
    throw new TypeError('sab is not a snapshot buffer (bad magic); create it with createSnapshotBuffer');
  }
  const slotBytes = Atomics.load(header, kSlotBytesSlot);
  if (sab.byteLength !== HEADER_BYTES + 2 * slotStride(slotBytes)) {
    throw new RangeError(
      `snapshot buffer is ${sab.byteLength} bytes but its header describes slots of ${slotBytes} bytes`,
    );
  }
  return slotBytes;
}
