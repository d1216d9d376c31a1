/**
 * src/publisher.ts: the real Publisher (aggregator, renderers, snapshot writer) publishing into a real
 * snapshot buffer that a SnapshotReader reads, as the front end does. Targets come through the real config
 * loader; probe runs are fed as the probe workers send them. Staleness is checked with explicit clocks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { createLogger } from '../src/log.ts';
import type { StatFs } from '../src/metrics/host.ts';
import { kOk, type MainStats, type ProbeResults } from '../src/pool/messages.ts';
import protobuf from 'protobufjs/light.js';
import { Publisher, STALE_AFTER_INTERVALS, STATUS_MIN_INTERVAL_MS, ZERO_MAIN_STATS } from '../src/publisher.ts';
import { LARGE_BODY_BYTES } from '../src/render/bodies.ts';
import { zeroDemand, type DemandCounts } from '../src/render/plan.ts';
import { hdrKey, jsonKey } from '../src/snapshot/keys.ts';
import { MetricFamilyMessage } from './helpers/protobuf-schema.ts';
import { createSnapshotBuffer } from '../src/snapshot/layout.ts';
import { SnapshotReader } from '../src/snapshot/reader.ts';
import { findSamples, parseExposition, sampleValue } from '../support/exposition.ts';
import { waitFor } from '../support/probex-process.ts';

const MIN_SNAPSHOT_BYTES = 64 * 1024;
const PUBLISH_INTERVAL_MS = 100;

/** config loads n synthetic targets named s0.. through the real loader. */
function config(n: number, publishIntervalMs = PUBLISH_INTERVAL_MS): Config {
  const targets = Array.from({ length: n }, (_, i) => `  - { name: s${i}, kind: synthetic, interval: 1s }`).join('\n');
  return loadConfig({
    yaml:
      `publishInterval: ${publishIntervalMs}ms\nagentId: test\nsnapshotBytes: ${MIN_SNAPSHOT_BYTES}\n` +
      `log: { level: silent }\ntargets:\n${targets}\n`,
  }).config;
}

/** runs is one successful 2 ms run per target, as a worker reports a batch. */
function runs(cfg: Config): ProbeResults {
  const n = cfg.targets.length;
  return {
    names: cfg.targets.map((t) => t.name),
    result: {
      target: Uint32Array.from({ length: n }, (_, i) => i),
      latencyUs: new Float64Array(n).fill(2000),
      reason: new Uint8Array(n).fill(kOk),
      endedAtMs: new Float64Array(n).fill(Date.now()),
      app: new Array(n).fill(null),
      failure: new Array(n).fill(null),
    },
  };
}

interface Setup {
  publisher: Publisher;
  reader: SnapshotReader;
  handedOver: SharedArrayBuffer[];
}

/** setup wires a Publisher to a reader the way main.ts does: handed-over buffers are attached at once. */
function setup(initial: Config, maxSlotBytes?: number, statfs?: StatFs, onDemand = false): Setup {
  const buffer = createSnapshotBuffer(initial.snapshotBytes);
  const reader = new SnapshotReader(buffer);
  const handedOver: SharedArrayBuffer[] = [];
  const publisher = new Publisher({
    config: initial,
    buffer,
    version: 'test',
    startTimeSeconds: 1,
    log: createLogger('silent', 'test'),
    handOver: (b) => {
      handedOver.push(b);
      reader.attach(b);
    },
    ...(maxSlotBytes === undefined ? {} : { maxSlotBytes }),
    ...(statfs === undefined ? {} : { statfs }),
    onDemand,
  });
  return { publisher, reader, handedOver };
}

const text = (reader: SnapshotReader): string => Buffer.from(reader.get('text')!).toString('utf8');
const probed = (body: string): string[] =>
  findSamples(parseExposition(body), 'probex_probes_total').map((s) => s.labels.target!);

test('a snapshot that outgrows its buffer moves to a larger one, with every target and the next generation', async () => {
  const small = config(2);
  const { publisher, reader, handedOver } = setup(small);
  publisher.record(runs(small));
  await publisher.publish();
  assert.equal(reader.generation(), 1);
  assert.deepEqual(probed(text(reader)), ['s0', 's1']);

  const large = config(300);
  publisher.configure(large);
  publisher.record(runs(large));
  await publisher.publish();
  assert.equal(handedOver.length, 1, 'one larger buffer handed over');
  assert.equal(reader.generation(), 2, 'generations go on across the switch');
  const samples = parseExposition(text(reader));
  assert.equal(probed(text(reader)).length, 300);
  assert.equal(sampleValue(samples, 'probex_publish_failures_total'), 0);
  assert.equal(sampleValue(samples, 'probex_snapshot_generation'), 2);
  assert.ok(publisher.capacity > MIN_SNAPSHOT_BYTES, `capacity ${publisher.capacity}`);
  assert.equal(publisher.capacity % (64 * 1024), 0, 'grown sizes are whole 64 KiB steps');
  // Every body came along: gzip, OpenMetrics and the JSON API.
  assert.equal(gunzipSync(reader.get('text.gz')!).toString('utf8'), text(reader));
  assert.match(Buffer.from(reader.get('om')!).toString('utf8'), /# EOF\n$/);
  assert.equal(JSON.parse(Buffer.from(reader.get('json:containers')!).toString('utf8')).length, 300);

  // The next publishes fit the larger buffer: no further switch.
  await publisher.publish();
  await publisher.publish();
  assert.equal(handedOver.length, 1);
  assert.equal(reader.generation(), 4);
  assert.equal(reader.unready(), undefined);
});

test("a publish that cannot complete publishes the self-metrics with the failure and the data's age, and goes stale", async () => {
  const small = config(2);
  // Slots may not grow past the first buffer: 300 targets cannot be published completely.
  const { publisher, reader, handedOver } = setup(small, MIN_SNAPSHOT_BYTES);
  publisher.record(runs(small));
  await publisher.publish();
  const completeAt = process.hrtime.bigint();
  const complete = text(reader);
  const completeNode = reader.get('json:node');
  assert.ok(completeNode !== undefined);

  const large = config(300);
  publisher.configure(large);
  publisher.record(runs(large));
  await publisher.publish();
  assert.equal(handedOver.length, 0);
  assert.equal(publisher.publishFailures, 1);
  assert.equal(reader.generation(), 2, 'the reduced snapshot is published');
  let samples = parseExposition(text(reader));
  assert.equal(sampleValue(samples, 'probex_publish_failures_total'), 1);
  assert.deepEqual(probed(text(reader)), [], 'no target series served again as if new');
  assert.notEqual(text(reader), complete);
  // The JSON bodies of the last complete snapshot are carried over (their datapoints carry their own times).
  assert.deepEqual(reader.get('json:node'), completeNode);
  assert.deepEqual(JSON.parse(Buffer.from(reader.get('json:containers')!).toString('utf8')), ['s0', 's1']);
  for (const key of ['text.gz', 'om', 'om.gz']) assert.ok(reader.get(key) !== undefined, key);

  // Failures go on: each one counted, the age of the last complete data growing in what is served.
  const firstAge = sampleValue(samples, 'probex_snapshot_age_seconds');
  let failures = 1;
  samples = await waitFor('the served age to grow while publishes fail', async () => {
    await publisher.publish();
    failures++;
    const now = parseExposition(text(reader));
    return sampleValue(now, 'probex_snapshot_age_seconds') > firstAge ? now : undefined;
  });
  assert.equal(sampleValue(samples, 'probex_publish_failures_total'), failures, 'every failed publish is counted');

  // /readyz: ready until the complete data is 3 publish intervals old, by the front end's own clock.
  const staleAfterNs = BigInt(STALE_AFTER_INTERVALS * PUBLISH_INTERVAL_MS) * 1_000_000n;
  assert.equal(reader.unready(completeAt), undefined);
  assert.match(
    reader.unready(completeAt + staleAfterNs + 1_000_000n) ?? '',
    /^snapshot is stale: its data is 0\.3\ds old, more than the 0\.3s/,
  );

  // Back to a config that fits: complete again, fresh again.
  publisher.configure(small);
  await publisher.publish();
  samples = parseExposition(text(reader));
  assert.deepEqual(probed(text(reader)), ['s0', 's1']);
  assert.equal(sampleValue(samples, 'probex_publish_failures_total'), failures);
  assert.equal(reader.unready(), undefined);
});

test('when the first publish already fails, the self-metrics are served and /readyz says no complete snapshot exists', async () => {
  const large = config(300);
  const { publisher, reader } = setup(large, MIN_SNAPSHOT_BYTES);
  publisher.record(runs(large));
  await publisher.publish();
  assert.equal(reader.generation(), 1);
  const samples = parseExposition(text(reader));
  assert.equal(sampleValue(samples, 'probex_publish_failures_total'), 1);
  assert.deepEqual(probed(text(reader)), []);
  assert.equal(reader.get('json:containers'), undefined, 'no JSON body to carry yet');
  assert.equal(reader.unready(), 'no complete snapshot published yet: the publisher is failing');
});

test("the status page and every target's HDR exports are in the snapshot, and carried ones survive a move to a larger buffer", async () => {
  // A long publish interval gives the exports a budget (5% of it) that covers every target on this loaded machine.
  const cfg = config(40, 60_000);
  const { publisher, reader, handedOver } = setup(cfg);
  publisher.record(runs(cfg));
  await publisher.publish();
  assert.match(Buffer.from(reader.get('status')!).toString('utf8'), /^<!doctype html>[^]*id="row-s39"/);
  assert.match(gunzipSync(reader.get('status.gz')!).toString('utf8'), /^<!doctype html>/);
  for (const t of cfg.targets) {
    assert.match(Buffer.from(reader.get(`hdr:${t.name}`)!).toString('ascii'), /^HISTF/, t.name);
    assert.match(Buffer.from(reader.get(`hgrm:${t.name}`)!).toString('ascii'), /Total count {4}= {12}1\]/, t.name);
  }
  // Only s0 changes, and its next publish no longer fits: the other 39 exports are carried into the new buffer.
  const one: ProbeResults = {
    names: ['s0'],
    result: {
      ...runs(cfg).result,
      target: Uint32Array.of(0),
      latencyUs: Float64Array.of(3000),
      reason: Uint8Array.of(kOk),
      endedAtMs: Float64Array.of(Date.now()),
      app: [null],
      failure: [null],
    },
  };
  publisher.record(one);
  const filler = config(40 + 400, 60_000); // many more targets in the status page and JSON: the snapshot must grow
  publisher.configure(filler);
  const before = handedOver.length;
  await publisher.publish();
  assert.ok(handedOver.length > before, 'the snapshot moved to a larger buffer');
  assert.match(Buffer.from(reader.get('hgrm:s0')!).toString('ascii'), /Total count {4}= {12}2\]/);
  for (const t of cfg.targets.slice(1)) {
    assert.match(
      Buffer.from(reader.get(`hgrm:${t.name}`)!).toString('ascii'),
      /Total count {4}= {12}1\]/,
      `${t.name} carried`,
    );
  }
});

test('the status page is rendered at most once per STATUS_MIN_INTERVAL_MS and carried over in between', async () => {
  const cfg = config(3);
  const { publisher, reader } = setup(cfg);
  publisher.record(runs(cfg));
  // The page is rendered during the publish, so no earlier than this.
  const renderedAt = Date.now();
  await publisher.publish();
  const page = (): string => Buffer.from(reader.get('status')!).toString('utf8');
  const first = page();
  await publisher.publish();
  if (Date.now() - renderedAt < STATUS_MIN_INTERVAL_MS) {
    assert.equal(page(), first, 'the second publish carried the page');
    assert.equal(gunzipSync(reader.get('status.gz')!).toString('utf8'), first);
  }
  assert.equal(reader.generation(), 2);
  // Later, a publish renders it again (its snapshot number moves on).
  const next = await waitFor('a newly rendered page', async () => {
    await publisher.publish();
    return page() !== first ? page() : undefined;
  });
  assert.ok(Date.now() - renderedAt >= STATUS_MIN_INTERVAL_MS);
  assert.match(next, /snapshot \d+/);
});

/** DecodedHistogram is the part of a decoded protobuf Histogram these checks read. */
interface DecodedHistogram {
  readonly schema: number;
  readonly sampleCount: number;
  readonly positiveDelta: number[];
  readonly createdTimestamp: { readonly seconds: number; readonly nanos: number };
}

/** DecodedMetric is a decoded protobuf Metric with its labels and histogram. */
interface DecodedMetric {
  readonly label: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly histogram: DecodedHistogram;
}

/** nativeOf decodes the snapshot's protobuf body and returns target s0's duration histogram. */
function nativeOf(reader: SnapshotReader): DecodedHistogram {
  const reader2 = protobuf.Reader.create(reader.get('pb')!);
  while (reader2.pos < reader2.len) {
    const family = MetricFamilyMessage.toObject(MetricFamilyMessage.decodeDelimited(reader2), { longs: Number }) as {
      name: string;
      metric: DecodedMetric[];
    };
    if (family.name !== 'probex_probe_duration_seconds') continue;
    const s0 = family.metric.find((m) => m.label.some((l) => l.name === 'target' && l.value === 's0'));
    if (s0 !== undefined) return s0.histogram;
  }
  assert.fail('no probex_probe_duration_seconds family in the protobuf body');
}

test('the protobuf body and its gzip are published with the configured native schema; a schema change on reload starts over', async () => {
  const first = loadConfig({
    yaml:
      `agentId: test\nlog: { level: silent }\nnativeHistograms: { schema: 2 }\n` +
      'targets:\n  - { name: s0, kind: synthetic, interval: 1s }\n',
  }).config;
  const { publisher, reader } = setup(first);
  publisher.record(runs(first));
  publisher.record(runs(first));
  await publisher.publish();
  assert.deepEqual(gunzipSync(reader.get('pb.gz')!), Buffer.from(reader.get('pb')!));
  const before = nativeOf(reader);
  assert.equal(before.schema, 2);
  assert.equal(before.sampleCount, 2);
  assert.deepEqual(before.positiveDelta, [2], 'both 2 ms runs in one bucket');

  // Same options again: counts stay cumulative, the created timestamp stays.
  publisher.configure(first);
  publisher.record(runs(first));
  await publisher.publish();
  const same = nativeOf(reader);
  assert.equal(same.sampleCount, 3);
  assert.deepEqual(same.createdTimestamp, before.createdTimestamp);

  // A new schema: the histogram starts from zero with a new created timestamp.
  await waitFor('the clock to move past the first created timestamp', async () =>
    Date.now() > createdMs(before) ? true : undefined,
  );
  const second = loadConfig({
    yaml:
      `agentId: test\nlog: { level: silent }\nnativeHistograms: { schema: 5 }\n` +
      'targets:\n  - { name: s0, kind: synthetic, interval: 1s }\n',
  }).config;
  publisher.configure(second);
  publisher.record(runs(second));
  await publisher.publish();
  const after = nativeOf(reader);
  assert.equal(after.schema, 5);
  assert.equal(after.sampleCount, 1);
  assert.ok(createdMs(after) > createdMs(before), `created ${createdMs(after)} after ${createdMs(before)}`);
});

test('a reload that changes hdr.significantDigits re-records the HDR counts at that precision; no counter restarts', async () => {
  const at = (digits: number): Config =>
    loadConfig({
      yaml:
        `agentId: test\nlog: { level: silent }\npublishInterval: 60s\nhdr: { significantDigits: ${digits} }\n` +
        'targets:\n  - { name: s0, kind: synthetic, interval: 1s }\n',
    }).config;
  const exported = (reader: SnapshotReader): hdr.Histogram =>
    hdr.decodeFromCompressedBase64(Buffer.from(reader.get(hdrKey.base64('s0'))!).toString('ascii'));
  const count = (reader: SnapshotReader): number =>
    sampleValue(parseExposition(text(reader)), 'probex_probe_duration_seconds_count', { target: 's0' });
  const first = at(3);
  const { publisher, reader } = setup(first);
  publisher.record(runs(first));
  publisher.record(runs(first));
  await publisher.publish();
  const renderedAt = Date.now();
  assert.equal(exported(reader).numberOfSignificantValueDigits, 3);
  assert.equal(exported(reader).totalCount, 2);
  assert.match(Buffer.from(reader.get('status')!).toString('utf8'), /HDR histograms \(3 significant digits\)/);

  const second = at(2);
  publisher.configure(second);
  publisher.record(runs(second));
  await waitFor('the status page to be due again', async () =>
    Date.now() - renderedAt > STATUS_MIN_INTERVAL_MS ? true : undefined,
  );
  await publisher.publish();
  const after = exported(reader);
  assert.equal(after.numberOfSignificantValueDigits, 2);
  assert.equal(after.totalCount, 3, 'the two earlier runs are kept');
  assert.equal(count(reader), 3, 'the duration histogram goes on counting');
  assert.match(Buffer.from(reader.get('status')!).toString('utf8'), /HDR histograms \(2 significant digits\)/);
});

function createdMs(histogram: DecodedHistogram): number {
  return histogram.createdTimestamp.seconds * 1000 + histogram.createdTimestamp.nanos / 1e6;
}
test("the scheduler's pool stats and the main thread's stats each reach the self-metrics on their own", async () => {
  const cfg = config(1);
  const { publisher, reader } = setup(cfg);
  publisher.setSchedulerStats({ threads: 3, utilization: 0.5, queueSize: 2, probesSkippedTotal: 7 });
  publisher.setMainStats({
    scrapesTotal: 11,
    apiRequestsTotal: 0,
    eventLoopDelay: { p50: 0, p99: 0, max: 0 },
    configReloadsTotal: 4,
    configReloadFailuresTotal: 1,
    configLastReloadSuccessful: 0,
  });
  await publisher.publish();
  const samples = parseExposition(text(reader));
  assert.equal(sampleValue(samples, 'probex_pool_threads'), 3);
  assert.equal(sampleValue(samples, 'probex_pool_utilization_ratio'), 0.5);
  assert.equal(sampleValue(samples, 'probex_pool_queue_size'), 2);
  assert.equal(sampleValue(samples, 'probex_probes_skipped_total'), 7);
  assert.equal(sampleValue(samples, 'probex_config_reloads_total'), 4);
});

test('a storage path whose statfs never answers does not stop publishing; its node datapoint turns stale', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'probex-pub-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cfg = loadConfig({
    yaml:
      `publishInterval: ${PUBLISH_INTERVAL_MS}ms\nagentId: test\nlog: { level: silent }\n` +
      `targets:\n  - { name: files, kind: storage, path: ${JSON.stringify(dir)} }\n`,
  }).config;
  let hang = false;
  const calls: string[] = [];
  const statfs: StatFs = (path) => {
    calls.push(path);
    return hang ? new Promise(() => {}) : Promise.resolve({ bsize: 1, blocks: 10, bfree: 4, bavail: 3 });
  };
  const { publisher, reader } = setup(cfg, undefined, statfs);
  const stale = (): number | undefined => {
    const node = JSON.parse(Buffer.from(reader.get('json:node')!).toString('utf8')) as {
      datapoints: Array<{ name: string; value: number }>;
    };
    return node.datapoints.find((d) => d.name === 'filesystem.capacity.stale')?.value;
  };
  await publisher.publish();
  assert.equal(stale(), 0);
  hang = true;
  await publisher.publish();
  await publisher.publish();
  assert.equal(reader.generation(), 3, 'every publish completed');
  assert.equal(stale(), 1);
  assert.equal(calls.length, 2, 'one statfs in flight for the hung path');
});

/** mainStats are the main thread's stats with `demand` as its request counts. */
function mainStats(demand: Partial<DemandCounts>): MainStats {
  return { ...ZERO_MAIN_STATS, demand: { ...zeroDemand(), ...demand } };
}

/** generationIn is the probex_snapshot_generation a text or OpenMetrics body says it was rendered in. */
function generationIn(body: Uint8Array): number {
  return sampleValue(parseExposition(Buffer.from(body).toString('utf8')), 'probex_snapshot_generation');
}

test('on demand, only text and what was asked for lately are rendered; nothing else is held', async () => {
  const cfg = config(3, 1000); // an HDR export budget (5% of the interval) that covers all three targets under load
  const { publisher, reader } = setup(cfg, undefined, undefined, true);
  publisher.record(runs(cfg));
  await publisher.publish();
  // Nothing asked for yet: text (what stands in for every format) and nothing else.
  assert.ok(reader.get('text') && reader.get('text.gz'));
  for (const key of ['om', 'om.gz', 'pb', 'pb.gz', 'status', 'status.gz', jsonKey.ping(), jsonKey.container('s0')])
    assert.equal(reader.get(key), undefined, `${key} is not rendered`);
  assert.equal(reader.get(hdrKey.base64('s0')), undefined, 'nor the HDR exports');

  // OpenMetrics, the JSON API, the status page and the HDR exports are asked for: each is in the next publish.
  publisher.setMainStats(mainStats({ text: 1, om: 1, json: 1, status: 1, hdr: 1 }));
  publisher.record(runs(cfg));
  await publisher.publish();
  assert.equal(generationIn(reader.get('om')!), reader.generation());
  assert.equal(
    generationIn(gunzipSync(reader.get('om.gz')!)),
    reader.generation(),
    'a format and its gzip go together',
  );
  assert.equal(
    sampleValue(parseExposition(Buffer.from(reader.get('om')!).toString('utf8')), 'probex_probes_total', {
      target: 's0',
    }),
    2,
  );
  assert.equal(reader.get('pb'), undefined, 'protobuf still is not');
  const body = JSON.parse(Buffer.from(reader.get(jsonKey.container('s0'))!).toString('utf8')) as {
    datapoints: Array<{ name: string; value: number }>;
  };
  assert.equal(body.datapoints.find((d) => d.name === 'probe.latency.count')?.value, 2);
  assert.ok(reader.get('status') && reader.get(hdrKey.base64('s0')) && reader.get(hdrKey.hgrm('s2')));

  // Still hot on the following publishes, without new requests: rendered again every time.
  for (let i = 0; i < 3; i++) {
    publisher.record(runs(cfg));
    await publisher.publish();
    assert.equal(generationIn(reader.get('om')!), reader.generation());
  }
});

test('on demand, a reload leaves nothing that lists the old targets', async () => {
  const cfg = config(2);
  const { publisher, reader } = setup(cfg, undefined, undefined, true);
  publisher.record(runs(cfg));
  publisher.setMainStats(mainStats({ text: 1, json: 1 }));
  await publisher.publish();
  const grown = config(3);
  publisher.configure(grown);
  publisher.record(runs(grown));
  await publisher.publish();
  assert.deepEqual(probed(Buffer.from(reader.get('text')!).toString('utf8')).sort(), ['s0', 's1', 's2']);
  assert.ok(reader.get(jsonKey.container('s2')), 'the new target has its JSON body');
  assert.equal(reader.get('om'), undefined, 'a format nobody asked for is not there to list the old ones');
});

test('a text body over LARGE_BODY_BYTES is gzipped at its own level and still gunzips to the body byte for byte', async () => {
  const cfg = config(800);
  const { publisher, reader } = setup(cfg);
  publisher.record(runs(cfg));
  await publisher.publish();
  const plain = Buffer.from(reader.get('text')!);
  assert.ok(plain.byteLength > LARGE_BODY_BYTES, `${plain.byteLength} bytes`);
  assert.deepEqual(gunzipSync(reader.get('text.gz')!), plain);
  assert.deepEqual(gunzipSync(reader.get('om.gz')!), Buffer.from(reader.get('om')!));
});
