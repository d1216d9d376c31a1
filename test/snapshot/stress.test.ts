import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

import { createSnapshotBuffer } from '../../src/snapshot/layout.ts';
import { SnapshotReader } from '../../src/snapshot/reader.ts';
import type { WriterWorkerData } from './fixtures/stamp.ts';
import {
  bodyLength,
  CONTROL_BYTES,
  fillByte,
  kAttached,
  kStop,
  MAX_BODY_BYTES,
  readStamp,
  STRESS_KEYS,
} from './fixtures/stamp.ts';

const MIN_READS = 1_000_000;
const MIN_GENERATIONS = 1_000;
const DEADLINE_MS = 25_000;
/** Every SET_EVERY-th iteration reads all keys between two generation() calls, like a consistent multi-body read. */
const SET_EVERY = 16;

const fillBuffers = new Map<number, Buffer>();

/** expectedFill returns a buffer of MAX_BODY_BYTES filler bytes b, built once per byte value. */
function expectedFill(b: number): Buffer {
  let buf = fillBuffers.get(b);
  if (buf === undefined) {
    buf = Buffer.alloc(MAX_BODY_BYTES, b);
    fillBuffers.set(b, buf);
  }
  return buf;
}

/** validate checks every byte of body against what generation readStamp(body) wrote for key k; returns why it fails. */
function validate(body: Uint8Array, k: number): string | undefined {
  const len = body.byteLength;
  if (len < 16) return `short body (${len} bytes)`;
  const b = Buffer.from(body.buffer, body.byteOffset, len);
  const g = b.readUInt32LE(0);
  if (b.readUInt32LE(4) !== k) return `key index ${b.readUInt32LE(4)} in body of key ${k} (generation ${g})`;
  if (len !== bodyLength(g, k) || b.readUInt32LE(8) !== len) return `length ${len} does not match generation ${g}`;
  if (b.readUInt32LE(len - 4) !== g) return `trailer generation ${b.readUInt32LE(len - 4)} != header generation ${g}`;
  if (!b.subarray(12, len - 4).equals(expectedFill(fillByte(g, k)).subarray(0, len - 16))) {
    return `filler bytes of generation ${g} are mixed with another generation's`;
  }
  return undefined;
}

/** SWAP_EVERY is how many generations the writer publishes into one buffer before it moves to another. */
const SWAP_EVERY = 64;

test('a reader racing a writer thread sees zero torn reads over a million gets', { timeout: 60_000 }, async (t) => {
  await race(t, false);
});

test(
  'a reader racing a writer that keeps moving to new buffers sees zero torn or out-of-order reads',
  { timeout: 60_000 },
  async (t) => {
    await race(t, true);
  },
);

/**
 * race runs the writer thread against a reader in this thread and validates every body. With swaps, the
 * writer moves to a buffer of another size every SWAP_EVERY generations (publishing into it first, then
 * posting it) and the reader attaches each one between two reads, as the front end does.
 */
async function race(t: TestContext, swapping: boolean): Promise<void> {
  const sab = createSnapshotBuffer(STRESS_KEYS.length * MAX_BODY_BYTES + 4096);
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const controlWords = new Int32Array(control);
  const swaps = swapping ? new MessageChannel() : undefined;
  const workerData: WriterWorkerData =
    swaps === undefined ? { sab, control } : { sab, control, swaps: swaps.port2, swapEvery: SWAP_EVERY };
  const worker = new Worker(new URL('./fixtures/writer.mjs', import.meta.url), {
    workerData,
    transferList: swaps === undefined ? [] : [swaps.port2],
  });
  t.after(() => {
    swaps?.port1.close();
    return worker.terminate();
  });
  const [ready] = (await once(worker, 'message')) as [{ type: string }];
  assert.equal(ready.type, 'ready');
  const done = once(worker, 'message') as Promise<[{ type: string; published: number; buffers: number }]>;

  const reader = new SnapshotReader(sab);
  let attached = 0;
  let generationWentBack = 0;
  let lastGeneration = 0;
  /** attachPending attaches every buffer the writer has handed over since the last call, in order. */
  const attachPending = (): void => {
    if (swaps === undefined) return;
    for (let msg = receiveMessageOnPort(swaps.port1); msg !== undefined; msg = receiveMessageOnPort(swaps.port1)) {
      reader.attach((msg.message as { buffer: SharedArrayBuffer }).buffer);
      attached += 1;
      Atomics.store(controlWords, kAttached, attached);
      const g = reader.generation();
      if (g < lastGeneration) generationWentBack += 1;
      lastGeneration = g;
    }
  };
  const keys = STRESS_KEYS;
  const last: (Uint8Array | undefined)[] = keys.map(() => undefined);
  const lastStamp: number[] = keys.map(() => 0);
  const seen = new Set<number>();
  let reads = 0;
  let validated = 0;
  let torn = 0;
  let stale = 0;
  let missing = 0;
  let sets = 0;
  let consistentSets = 0;
  let firstFailure: string | undefined;

  const fail = (why: string): void => {
    torn += 1;
    firstFailure ??= why;
  };
  /** check validates one get of key k made when generation() was g0 and returns its stamp. */
  const check = (body: Uint8Array | undefined, k: number, g0: number): number => {
    if (body === undefined) {
      // Every generation has every key: undefined only comes from a fallback before the key's first copy.
      missing += 1;
      return -1;
    }
    // The same object as last time was validated then; it is a private copy, so it cannot have changed.
    if (body === last[k]) return lastStamp[k]!;
    const why = validate(body, k);
    validated += 1;
    if (why !== undefined) {
      fail(`get(${keys[k]}): ${why}`);
      return -1;
    }
    const stamp = readStamp(body);
    if (stamp < lastStamp[k]!) fail(`get(${keys[k]}) went back from generation ${lastStamp[k]} to ${stamp}`);
    if (stamp < g0) stale += 1; // only allowed when the reader fell back to its last good copy
    last[k] = body;
    lastStamp[k] = stamp;
    seen.add(stamp);
    return stamp;
  };

  const started = performance.now();
  let now = started;
  for (let i = 0; (reads < MIN_READS || seen.size <= MIN_GENERATIONS) && now - started < DEADLINE_MS; i++) {
    if (i % 4 === 0) attachPending();
    if (i % SET_EVERY === 0) {
      // A multi-body read: when the generation did not move across it, every body must carry that generation.
      const g0 = reader.generation();
      const stamps = keys.map((key, k) => check(reader.get(key), k, g0));
      const g1 = reader.generation();
      reads += keys.length;
      sets += 1;
      if (g0 === g1) {
        consistentSets += 1;
        if (stamps.some((s) => s !== g0)) fail(`generation stayed ${g0} but bodies carry ${stamps.join(',')}`);
      }
      now = performance.now();
    } else {
      const k = i % keys.length;
      const g0 = reader.generation();
      check(reader.get(keys[k]!), k, g0);
      reads += 1;
    }
  }
  const seconds = (performance.now() - started) / 1000;

  Atomics.store(controlWords, kStop, 1);
  const [{ published, buffers }] = await done;
  await once(worker, 'exit');

  const stats = reader.stats;
  t.diagnostic(
    `reads=${reads} seconds=${seconds.toFixed(2)} published=${published} generationsSeen=${seen.size} ` +
      `copies=${stats.copies} validated=${validated} directoryLoads=${stats.directoryLoads} retries=${stats.retries} ` +
      `fallbacks=${stats.fallbacks} stale=${stale} missing=${missing} sets=${sets} consistentSets=${consistentSets} torn=${torn}` +
      (swapping ? ` buffers=${buffers} attached=${attached}` : ''),
  );
  assert.equal(torn, 0, firstFailure);
  assert.ok(reads >= MIN_READS, `only ${reads} reads in ${DEADLINE_MS} ms`);
  assert.ok(seen.size > MIN_GENERATIONS, `only ${seen.size} distinct generations seen`);
  assert.ok(stats.copies > MIN_GENERATIONS, `only ${stats.copies} copies`);
  assert.ok(consistentSets > 0, 'no multi-body read stayed within one generation');
  // A writer that laps the reader READ_ATTEMPTS times in a row makes get serve its last good copy (older, or
  // undefined before the first one): whole bytes, never torn, and counted.
  assert.ok(
    stale + missing <= stats.fallbacks,
    `${stale} stale and ${missing} missing bodies but ${stats.fallbacks} fallbacks`,
  );
  if (swapping) {
    // How many switches fit in the run depends on the machine; a handful already crosses every path.
    assert.ok(attached >= 5, `only ${attached} buffer switches (${buffers} buffers)`);
    assert.ok(attached >= buffers - 2, `${buffers} buffers made but ${attached} attached`);
    assert.equal(generationWentBack, 0, 'the generation never went back across a switch');
  }
}
