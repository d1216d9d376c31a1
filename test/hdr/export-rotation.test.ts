import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { HdrExportRotation, type RotationTarget } from '../../src/hdr/export-rotation.ts';
import { hdrKey } from '../../src/snapshot/keys.ts';

function histogram(...values: number[]): hdr.JsHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  for (const v of values) h.recordValue(v);
  return h;
}

const decoder = new TextDecoder();
const totalOf = (body: Uint8Array | undefined): number => decodeFromCompressedBase64(decoder.decode(body!)).totalCount;
/** A clock that never moves: no budget is ever spent. */
const frozen = (): number => 0;

test('the first publish exports every target, the next only those whose histogram changed', () => {
  const a = histogram(100, 200);
  const b = histogram(5);
  const targets: RotationTarget[] = [
    { name: 'a', histogram: a },
    { name: 'b', histogram: b },
  ];
  const rotation = new HdrExportRotation();
  const first = rotation.next(targets, 1000, frozen);
  assert.deepEqual([...first.bodies.keys()].sort(), ['hdr:a', 'hdr:b', 'hgrm:a', 'hgrm:b']);
  assert.equal(totalOf(first.bodies.get(hdrKey.base64('a'))), 2);
  assert.deepEqual([...first.carry], []);

  const unchanged = rotation.next(targets, 1000, frozen);
  assert.equal(unchanged.bodies.size, 0);
  assert.deepEqual([...unchanged.carry].sort(), ['hdr:a', 'hdr:b', 'hgrm:a', 'hgrm:b']);

  a.recordValue(300);
  const changed = rotation.next(targets, 1000, frozen);
  assert.deepEqual([...changed.bodies.keys()].sort(), ['hdr:a', 'hgrm:a']);
  assert.equal(totalOf(changed.bodies.get('hdr:a')), 3);
  assert.deepEqual([...changed.carry].sort(), ['hdr:b', 'hgrm:b']);
});

test('a spent budget leaves the rest for later publishes, oldest export first, and at least one per publish', () => {
  const hs = [histogram(1), histogram(2), histogram(3)];
  const targets = hs.map((histogram, i) => ({ name: `t${i}`, histogram }));
  const rotation = new HdrExportRotation();
  let clock = 0;
  const tick = (): number => (clock += 10); // every reading of the clock is 10 ms later: one export per 10 ms budget
  const first = rotation.next(targets, 10, tick);
  assert.deepEqual([...first.bodies.keys()], ['hdr:t0', 'hgrm:t0']);
  assert.equal(first.pending, 2);
  assert.deepEqual([...rotation.next(targets, 10, tick).bodies.keys()], ['hdr:t1', 'hgrm:t1']);
  // t0 changes: t2 has never been exported, so it goes before t0.
  hs[0]!.recordValue(9);
  assert.deepEqual([...rotation.next(targets, 10, tick).bodies.keys()], ['hdr:t2', 'hgrm:t2']);
  assert.deepEqual([...rotation.next(targets, 10, tick).bodies.keys()], ['hdr:t0', 'hgrm:t0']);
  assert.equal(rotation.next(targets, 10, tick).pending, 0);
});

test('a removed target is no longer carried; a re-created histogram is exported again', () => {
  const rotation = new HdrExportRotation();
  rotation.next(
    [
      { name: 'a', histogram: histogram(1) },
      { name: 'b', histogram: histogram(2) },
    ],
    1000,
    frozen,
  );
  const fresh = histogram(); // a reload re-created a's state from zero
  const next = rotation.next([{ name: 'a', histogram: fresh }], 1000, frozen);
  assert.deepEqual([...next.bodies.keys()], ['hdr:a', 'hgrm:a']);
  assert.equal(totalOf(next.bodies.get('hdr:a')), 0);
  assert.deepEqual([...next.carry], []);
});

test('invalidate renders everything again, carrying the old exports until then', () => {
  const rotation = new HdrExportRotation();
  const targets = [
    { name: 'a', histogram: histogram(1) },
    { name: 'b', histogram: histogram(2) },
  ];
  rotation.next(targets, 1000, frozen);
  rotation.invalidate();
  let clock = 0;
  const again = rotation.next(targets, 1, () => (clock += 1));
  assert.deepEqual([...again.bodies.keys()], ['hdr:a', 'hgrm:a']);
  assert.deepEqual([...again.carry].sort(), ['hdr:b', 'hgrm:b']);
});

test('a target without a histogram exports a valid empty one', () => {
  const out = new HdrExportRotation().next([{ name: 'x', histogram: undefined }], 1000, frozen);
  assert.equal(totalOf(out.bodies.get('hdr:x')), 0);
  assert.match(decoder.decode(out.bodies.get('hgrm:x')), /Total count {4}= {12}0\]/);
});

test('a target a client asked for and did not find goes first; forget starts every export over', () => {
  const targets = [0, 1, 2, 3].map((i) => ({ name: `t${i}`, histogram: histogram(i + 1) }));
  const rotation = new HdrExportRotation();
  let clock = 0;
  const tick = (): number => (clock += 10); // one export per 10 ms budget
  assert.deepEqual([...rotation.next(targets, 10, tick, new Set(['t3'])).bodies.keys()], ['hdr:t3', 'hgrm:t3']);
  assert.deepEqual([...rotation.next(targets, 10, tick).bodies.keys()], ['hdr:t0', 'hgrm:t0']);

  rotation.forget();
  const again = rotation.next(targets, 1000, frozen);
  assert.equal(again.bodies.size, 8, 'every export is rendered again');
  assert.deepEqual([...again.carry], [], 'and none is carried: the snapshot no longer holds them');
});
