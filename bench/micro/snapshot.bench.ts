/*
 * snapshot.bench.ts: the shared-memory snapshot's hot paths (tinybench v2).
 *   npx tsx bench/micro/snapshot.bench.ts
 * The scrape path is `get` with an unchanged generation; a copy happens once per key per generation;
 * publish runs on the background thread once per render.
 */
import { Bench } from 'tinybench';

import { createSnapshotBuffer } from '../../src/snapshot/layout.ts';
import { SnapshotReader } from '../../src/snapshot/reader.ts';
import { SnapshotWriter } from '../../src/snapshot/writer.ts';

const BODY_BYTES = 45 * 1024;
const JSON_KEYS = 1_000;
const JSON_BODY_BYTES = 512;
const SLOT_BYTES = 2 * 1024 * 1024;

/** body returns n bytes of printable filler derived from seed. */
function body(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = 32 + ((i * 31 + seed) % 95);
  return b;
}

const metrics = new Map<string, Uint8Array>([
  ['text', body(BODY_BYTES, 1)],
  ['text.gz', body(BODY_BYTES, 2)],
  ['om', body(BODY_BYTES, 3)],
  ['om.gz', body(BODY_BYTES, 4)],
]);
const withJson = new Map(metrics);
const renamed = new Map(metrics);
for (let i = 0; i < JSON_KEYS; i++) {
  withJson.set(`json:containers/target-${i}`, body(JSON_BODY_BYTES, i));
  renamed.set(`json:containers/renamed-${i}`, body(JSON_BODY_BYTES, i));
}

/** pair returns a fresh buffer with its writer and reader, so tasks never share generations. */
function pair(): { writer: SnapshotWriter; reader: SnapshotReader } {
  const sab = createSnapshotBuffer(SLOT_BYTES);
  return { writer: new SnapshotWriter(sab), reader: new SnapshotReader(sab) };
}

const hot = pair();
hot.writer.publish(metrics);
hot.reader.get('text');
const fresh = pair();
const freshJson = pair();
const churnJson = pair();
let churn = 0;
const publisher = pair();
const jsonPublisher = pair();

let sink = 0;
const bench = new Bench({ time: 500 });
bench
  .add('get text, cached (scrape hot path)', () => {
    sink += hot.reader.get('text')!.byteLength;
  })
  .add(
    'get text after a new generation (copy 45 KB)',
    () => {
      sink += fresh.reader.get('text')!.byteLength;
    },
    {
      beforeEach: () => {
        fresh.writer.publish(metrics);
      },
    },
  )
  .add(
    'get json key after a new generation, same 1,000 keys (directory + copy)',
    () => {
      sink += freshJson.reader.get('json:containers/target-500')!.byteLength;
    },
    {
      beforeEach: () => {
        freshJson.writer.publish(withJson);
      },
    },
  )
  .add(
    'get json key after a new generation, 1,000 new keys (re-index + copy)',
    () => {
      sink += churnJson.reader.get(
        churn % 2 === 0 ? 'json:containers/target-500' : 'json:containers/renamed-500',
      )!.byteLength;
    },
    {
      beforeEach: () => {
        churn += 1;
        churnJson.writer.publish(churn % 2 === 0 ? withJson : renamed);
      },
    },
  )
  .add('publish 4 bodies x 45 KB', () => {
    sink += publisher.writer.publish(metrics);
  })
  .add('publish 4 x 45 KB + 1,000 JSON keys', () => {
    sink += jsonPublisher.writer.publish(withJson);
  });

await bench.warmup();
await bench.run();
console.table(bench.table());
if (sink === 0) console.log('unreachable: keeps results alive');
