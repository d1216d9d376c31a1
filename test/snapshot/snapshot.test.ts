import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SnapshotOverflowError } from '../../src/errors.ts';
import {
  createSnapshotBuffer,
  DIRECTORY_ENTRY_BYTES,
  grownSlotBytes,
  kGenerationSlot,
  kSeqSlot,
  MAX_SLOT_BYTES,
} from '../../src/snapshot/layout.ts';
import { READ_ATTEMPTS, SnapshotReader } from '../../src/snapshot/reader.ts';
import { SnapshotWriter } from '../../src/snapshot/writer.ts';

const utf8 = new TextEncoder();
const text = (s: string): Uint8Array => utf8.encode(s);
const str = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : Buffer.from(b).toString('utf8');

function setup(slotBytes = 4096): { sab: SharedArrayBuffer; writer: SnapshotWriter; reader: SnapshotReader } {
  const sab = createSnapshotBuffer(slotBytes);
  return { sab, writer: new SnapshotWriter(sab), reader: new SnapshotReader(sab) };
}

test('a reader sees generation 0 and no bodies before the first publish', () => {
  const { reader } = setup();
  assert.equal(reader.generation(), 0);
  assert.equal(reader.get('text'), undefined);
  assert.equal(reader.get('json:containers'), undefined);
});

test('published bodies round-trip for fixed and directory keys', () => {
  const { writer, reader } = setup();
  const bodies = new Map([
    ['text', text('# TYPE probex_probe_up gauge\nprobex_probe_up 1\n')],
    ['text.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3])],
    ['om', text('probex_probe_up 1\n# EOF\n')],
    ['om.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 9])],
    ['json:node', text('{"datapoints":[]}')],
    ['json:containers/redis', text('{"datapoints":[{"name":"up","value":1}]}')],
  ]);
  assert.equal(writer.publish(bodies), 1);
  assert.equal(reader.generation(), 1);
  for (const [key, body] of bodies) assert.deepEqual(reader.get(key), body, key);
});

test('keys are arbitrary UTF-8 strings', () => {
  const { writer, reader } = setup();
  const keys = ['json:containers/データベース', 'json:containers/🦀/app', 'json:containers/a b%2F"c"', 'json:'];
  writer.publish(new Map(keys.map((k, i) => [k, text(`body ${i}`)])));
  keys.forEach((k, i) => assert.equal(str(reader.get(k)), `body ${i}`, k));
  assert.equal(reader.get('json:containers/データ'), undefined);
});

test('each publish returns the next generation and readers follow it', () => {
  const { writer, reader } = setup();
  for (let g = 1; g <= 5; g++) {
    assert.equal(
      writer.publish(
        new Map([
          ['text', text(`gen ${g}`)],
          ['json:x', text(`x ${g}`)],
        ]),
      ),
      g,
    );
    assert.equal(reader.generation(), g);
    assert.equal(str(reader.get('text')), `gen ${g}`);
    assert.equal(str(reader.get('json:x')), `x ${g}`);
  }
});

test('an unknown key returns undefined', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', text('t')],
      ['json:a', text('a')],
    ]),
  );
  assert.equal(reader.get('json:b'), undefined);
  assert.equal(reader.get('om'), undefined);
  assert.equal(reader.get(''), undefined);
});

test('a key dropped by a later generation returns undefined', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', text('t1')],
      ['json:containers/old', text('old')],
      ['json:keep', text('k1')],
    ]),
  );
  assert.equal(str(reader.get('json:containers/old')), 'old');
  assert.equal(str(reader.get('text')), 't1');
  writer.publish(new Map([['json:keep', text('k2')]]));
  assert.equal(reader.get('json:containers/old'), undefined);
  assert.equal(reader.get('text'), undefined);
  assert.equal(str(reader.get('json:keep')), 'k2');
});

test('keys whose bytes concatenate the same but split differently are told apart across generations', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['json:ab', text('1')],
      ['json:c', text('2')],
    ]),
  );
  assert.equal(str(reader.get('json:ab')), '1');
  writer.publish(
    new Map([
      ['json:a', text('3')],
      ['bjson:c', text('4')],
    ]),
  );
  assert.equal(reader.get('json:ab'), undefined);
  assert.equal(str(reader.get('json:a')), '3');
  assert.equal(str(reader.get('bjson:c')), '4');
  writer.publish(
    new Map([
      ['bjson:c', text('5')],
      ['json:a', text('6')],
    ]),
  );
  assert.equal(str(reader.get('json:a')), '6');
  assert.equal(str(reader.get('bjson:c')), '5');
});

test('an empty body is present, not absent', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', new Uint8Array(0)],
      ['json:empty', new Uint8Array(0)],
    ]),
  );
  assert.deepEqual(reader.get('text'), new Uint8Array(0));
  assert.deepEqual(reader.get('json:empty'), new Uint8Array(0));
});

test('bodies given as views into larger buffers are copied from their own range', () => {
  const { writer, reader } = setup();
  const backing = text('xxxxHELLOyyyy');
  writer.publish(
    new Map([
      ['text', backing.subarray(4, 9)],
      ['json:v', backing.subarray(9)],
    ]),
  );
  assert.equal(str(reader.get('text')), 'HELLO');
  assert.equal(str(reader.get('json:v')), 'yyyy');
});

test('a cached get returns the identical Uint8Array while the generation is unchanged', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', text('a')],
      ['json:containers/x', text('x')],
    ]),
  );
  const first = reader.get('text');
  const firstJson = reader.get('json:containers/x');
  const copies = reader.stats.copies;
  assert.equal(reader.get('text'), first);
  assert.equal(reader.get('json:containers/x'), firstJson);
  assert.equal(reader.stats.copies, copies, 'a cache hit copies nothing');
  writer.publish(
    new Map([
      ['text', text('a')],
      ['json:containers/x', text('x')],
    ]),
  );
  const second = reader.get('text');
  assert.notEqual(second, first, 'a new generation is copied again');
  assert.deepEqual(second, first);
  assert.equal(reader.get('text'), second);
});

test('returned bodies are private copies that later publishes never change', () => {
  const { writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', text('one')],
      ['json:k', text('uno')],
    ]),
  );
  const body = reader.get('text');
  const json = reader.get('json:k');
  assert.ok(body !== undefined && json !== undefined);
  assert.ok(!(body.buffer instanceof SharedArrayBuffer));
  assert.ok(!(json.buffer instanceof SharedArrayBuffer));
  // Two publishes reuse both slots, including the one the copies came from.
  writer.publish(
    new Map([
      ['text', text('two')],
      ['json:k', text('dos')],
    ]),
  );
  writer.publish(
    new Map([
      ['text', text('six')],
      ['json:k', text('tre')],
    ]),
  );
  assert.equal(str(body), 'one');
  assert.equal(str(json), 'uno');
});

test('the directory is parsed once per generation however many keys are read', () => {
  const { writer, reader } = setup(1 << 16);
  const bodies = new Map<string, Uint8Array>();
  for (let i = 0; i < 200; i++) bodies.set(`json:containers/t${i}`, text(`{"i":${i}}`));
  writer.publish(bodies);
  for (let i = 0; i < 200; i++) assert.equal(str(reader.get(`json:containers/t${i}`)), `{"i":${i}}`);
  assert.equal(reader.get('json:containers/missing'), undefined);
  assert.equal(reader.stats.directoryLoads, 1);
  reader.get('text');
  assert.equal(reader.stats.directoryLoads, 1, 'fixed keys never need the directory');
});

test('an overflowing publish throws EXPORTER_SNAPSHOT_OVERFLOW and leaves the snapshot untouched', () => {
  const { sab, writer, reader } = setup(1024);
  assert.equal(
    writer.publish(
      new Map([
        ['text', text('good')],
        ['json:a', text('A')],
      ]),
    ),
    1,
  );
  const before = new Uint8Array(sab).slice();
  const tooBig = new Map([
    ['text', new Uint8Array(1000)],
    ['json:a', new Uint8Array(100)],
  ]);
  assert.throws(
    () => writer.publish(tooBig),
    (err: unknown) => {
      assert.ok(err instanceof SnapshotOverflowError);
      assert.equal(err.code, 'EXPORTER_SNAPSHOT_OVERFLOW');
      assert.match(err.message, /needs 1118 bytes/);
      assert.match(err.message, /holds 1024 bytes/);
      assert.equal(err.neededBytes, 1118);
      assert.equal(err.capacityBytes, 1024);
      return true;
    },
  );
  assert.deepEqual(new Uint8Array(sab), before, 'no byte of the buffer changed');
  assert.equal(reader.generation(), 1);
  assert.equal(str(reader.get('text')), 'good');
  assert.equal(str(reader.get('json:a')), 'A');
  assert.equal(writer.publish(new Map([['text', text('next')]])), 2, 'the failed publish used no generation');
});

test('bodies plus directory exactly filling a slot fit', () => {
  const key = 'json:k';
  const { writer, reader } = setup(1024);
  const dir = DIRECTORY_ENTRY_BYTES + key.length;
  const bodies = new Map([
    ['text', new Uint8Array(1000 - dir).fill(7)],
    [key, new Uint8Array(24).fill(9)],
  ]);
  assert.equal(writer.publish(bodies), 1);
  assert.deepEqual(reader.get('text'), bodies.get('text'));
  assert.deepEqual(reader.get(key), bodies.get(key));
  assert.throws(() => writer.publish(new Map([...bodies, ['om', new Uint8Array(1)]])), SnapshotOverflowError);
});

test('a writer created on a used buffer continues the generation sequence', () => {
  const { sab, writer, reader } = setup();
  writer.publish(new Map([['text', text('1')]]));
  writer.publish(new Map([['text', text('2')]]));
  const restarted = new SnapshotWriter(sab);
  assert.equal(restarted.publish(new Map([['text', text('3')]])), 3);
  assert.equal(str(reader.get('text')), '3');
});

test('the generation wraps from 0xFFFFFFFF to 2, skipping 0 and keeping slots alternating', () => {
  const sab = createSnapshotBuffer(256);
  const header = new Uint32Array(sab);
  Atomics.store(header, kGenerationSlot, 0xfffffffe);
  const writer = new SnapshotWriter(sab);
  const reader = new SnapshotReader(sab);
  assert.equal(writer.publish(new Map([['text', text('a')]])), 0xffffffff);
  assert.equal(str(reader.get('text')), 'a');
  assert.equal(writer.publish(new Map([['text', text('b')]])), 2);
  assert.equal(str(reader.get('text')), 'b');
  assert.equal(writer.publish(new Map([['text', text('c')]])), 3);
  assert.equal(str(reader.get('text')), 'c');
});

test('a reader that keeps finding its slot mid-write serves the last good copy instead of spinning', () => {
  const { sab, writer, reader } = setup();
  writer.publish(
    new Map([
      ['text', text('old')],
      ['json:j', text('old json')],
    ]),
  );
  const old = reader.get('text');
  const oldJson = reader.get('json:j');
  writer.publish(
    new Map([
      ['text', text('new')],
      ['json:j', text('new json')],
    ]),
  );
  // Simulate a writer stuck inside generation 2's slot: its sequence is odd.
  const header = new Uint32Array(sab);
  Atomics.add(header, kSeqSlot + 0, 1);
  assert.equal(reader.get('text'), old);
  assert.equal(reader.get('json:j'), oldJson);
  assert.equal(reader.stats.fallbacks, 2);
  assert.ok(reader.stats.retries >= 2 * READ_ATTEMPTS);
  Atomics.add(header, kSeqSlot + 0, 1);
  assert.equal(str(reader.get('text')), 'new');
  assert.equal(str(reader.get('json:j')), 'new json');
});

test('createSnapshotBuffer and the constructors reject bad buffers', () => {
  assert.throws(() => createSnapshotBuffer(0), RangeError);
  assert.throws(() => createSnapshotBuffer(1.5), RangeError);
  assert.throws(() => new SnapshotReader(new SharedArrayBuffer(4096)), /bad magic/);
  assert.throws(() => new SnapshotWriter(new SharedArrayBuffer(4)), TypeError);
  assert.throws(() => new SnapshotReader(new ArrayBuffer(64) as unknown as SharedArrayBuffer), TypeError);
});

test('a reader attached to a larger buffer serves its bodies and follows its generations', () => {
  const { writer, reader } = setup(1024);
  writer.publish(
    new Map([
      ['text', text('small 1')],
      ['json:a', text('a1')],
      ['json:b', text('b1')],
    ]),
  );
  const cachedText = reader.get('text');
  assert.equal(str(reader.get('json:a')), 'a1');
  const loads = reader.stats.directoryLoads;

  const larger = createSnapshotBuffer(8192);
  const grown = new SnapshotWriter(larger, writer.generation);
  assert.equal(grown.generation, 1, "the new writer continues after the old buffer's generations");
  assert.equal(
    grown.publish(
      new Map([
        ['text', text('large 2')],
        ['json:a', text('a2')],
        ['json:b', text('b2')],
      ]),
    ),
    2,
  );
  // The old buffer still reads as it was until the reader switches.
  assert.equal(reader.get('text'), cachedText);
  reader.attach(larger);
  assert.equal(reader.generation(), 2);
  assert.equal(
    str(reader.get('text')),
    'large 2',
    'no cached copy of the old buffer is served in place of a newer body',
  );
  assert.equal(str(reader.get('json:a')), 'a2');
  assert.equal(str(reader.get('json:b')), 'b2');
  assert.equal(reader.stats.directoryLoads, loads + 1);
  assert.equal(
    grown.publish(
      new Map([
        ['text', text('large 3')],
        ['json:a', text('a3')],
      ]),
    ),
    3,
  );
  assert.equal(str(reader.get('text')), 'large 3');
  assert.equal(reader.get('json:b'), undefined);
});

test('a reader refuses a buffer with no snapshot in it yet', () => {
  const { writer, reader } = setup();
  writer.publish(new Map([['text', text('t')]]));
  assert.throws(() => reader.attach(createSnapshotBuffer(8192)), /before a snapshot is published into it/);
  assert.throws(() => reader.attach(new SharedArrayBuffer(4096)), /bad magic/);
  assert.equal(str(reader.get('text')), 't', 'the reader still reads its buffer');
});

test('grown buffers get 1.5 times what is needed in 64 KiB steps, up to the cap', () => {
  assert.equal(grownSlotBytes(100_000), 196_608);
  assert.equal(grownSlotBytes(65_536 * 2), 196_608);
  assert.equal(grownSlotBytes(1), 65_536);
  assert.equal(grownSlotBytes(MAX_SLOT_BYTES), MAX_SLOT_BYTES);
  assert.equal(grownSlotBytes(MAX_SLOT_BYTES - 1), MAX_SLOT_BYTES);
  assert.equal(grownSlotBytes(MAX_SLOT_BYTES + 1), undefined);
  assert.equal(grownSlotBytes(200_000, 250_000), 250_000, 'capped below 1.5×');
  assert.equal(grownSlotBytes(300_000, 250_000), undefined);
});

test("a snapshot is ready until its data is older than its publisher allows, by the reader's monotonic clock", () => {
  const { writer, reader } = setup();
  assert.equal(reader.unready(), 'no snapshot published yet');
  assert.ok(Number.isNaN(reader.ageMs()));
  const asOfNs = process.hrtime.bigint();
  writer.publish(new Map([['text', text('t')]]), { asOfNs, maxAgeMs: 300 });
  assert.equal(reader.ageMs(asOfNs + 250_000_000n), 250);
  assert.equal(reader.unready(asOfNs + 300_000_000n), undefined);
  assert.equal(
    reader.unready(asOfNs + 300_000_001n),
    'snapshot is stale: its data is 0.30s old, more than the 0.3s its publisher allows; the publisher is stalled or failing',
  );
  // A publish that only repeats older data keeps its data time: it does not make the snapshot fresh.
  writer.publish(new Map([['text', text('t2')]]), { asOfNs, maxAgeMs: 300 });
  assert.match(reader.unready(asOfNs + 1_000_000_000n) ?? '', /data is 1\.00s old/);
  // A snapshot without probe data (data time 0) is never ready.
  writer.publish(new Map([['text', text('self only')]]), { asOfNs: 0n, maxAgeMs: 300 });
  assert.equal(reader.unready(asOfNs), 'no complete snapshot published yet: the publisher is failing');
  assert.ok(Number.isNaN(reader.ageMs()));
  // Without a limit (maxAgeMs 0) a snapshot never goes stale.
  writer.publish(new Map([['text', text('t3')]]), { asOfNs });
  assert.equal(reader.unready(asOfNs + 3_600_000_000_000n), undefined);
});

test('carried keys are copied from the current snapshot when the new bodies lack them', () => {
  const { writer, reader } = setup(4096);
  writer.publish(
    new Map([
      ['text', text('full')],
      ['json:node', text('{"n":1}')],
      ['json:c:x', text('{"x":1}')],
      ['other', text('o')],
    ]),
  );
  writer.publish(
    new Map([
      ['text', text('reduced')],
      ['json:c:x', text('{"x":2}')],
    ]),
    { carry: (key) => key.startsWith('json:') },
  );
  assert.equal(str(reader.get('text')), 'reduced');
  assert.equal(str(reader.get('json:node')), '{"n":1}', 'carried');
  assert.equal(str(reader.get('json:c:x')), '{"x":2}', 'a body given wins over the carried one');
  assert.equal(reader.get('other'), undefined, 'not selected, not carried');
  // Carrying again carries what was carried.
  writer.publish(new Map([['text', text('reduced 2')]]), { carry: (key) => key.startsWith('json:') });
  assert.equal(str(reader.get('json:node')), '{"n":1}');
  assert.equal(str(reader.get('json:c:x')), '{"x":2}');
});
