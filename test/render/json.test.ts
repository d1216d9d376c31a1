import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetSnapshot } from '../../src/metrics/model.ts';
import type { NodeStats } from '../../src/metrics/host.ts';
import { FAILURE_REASONS, type ProbeFailureReason } from '../../src/probes/probe.ts';
import type { SyntheticTarget } from '../../src/probes/synthetic.ts';
import { appUnit, renderJsonBodies } from '../../src/render/json.ts';
import { jsonKey } from '../../src/snapshot/keys.ts';

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const LAST_PROBE = NOW - 250;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const OPTS = { agentId: 'agent-1', nowMs: NOW };

interface Datapoint {
  name: string;
  value: number;
  unit: string;
  timestamp: string;
  tags: Record<string, string>;
}
interface Message {
  datapoints: Datapoint[];
  dimensions: Record<string, unknown>;
}

function errors(over: Partial<Record<ProbeFailureReason, number>> = {}): Record<ProbeFailureReason, number> {
  return Object.fromEntries(FAILURE_REASONS.map((r) => [r, over[r] ?? 0])) as Record<ProbeFailureReason, number>;
}

function target(name: string, over: Partial<TargetSnapshot> = {}): TargetSnapshot {
  const t: SyntheticTarget = {
    name,
    kind: 'synthetic',
    intervalMs: 1000,
    timeoutMs: 1000,
    concurrency: 1,
    labels: { team: 'core' },
    buckets: [0.01, 0.1, 1],
    distribution: { type: 'constant', valueMs: 2 },
    errorRate: 0,
  };
  return {
    target: t,
    name,
    kind: 'synthetic',
    probes: 12,
    count: 10,
    sumSeconds: 0.025,
    bucketCounts: [10, 10, 10],
    errors: errors({ timeout: 2 }),
    up: 1,
    lastProbeMs: LAST_PROBE,
    latency: { p50: 0.002, p90: 0.003, p99: 0.004, p999: 0.0045, max: 0.005, min: 0.001, mean: 0.0025 },
    app: { rows: 1, body_bytes: 512 },
    ...over,
  };
}

function node(over: Partial<NodeStats> = {}): NodeStats {
  return {
    collectedAtMs: NOW,
    hostname: 'host-a',
    cpuCores: 4,
    load1: 0.5,
    load5: 0.25,
    load15: 0.125,
    memoryTotalBytes: 8e9,
    memoryFreeBytes: 2e9,
    hostUptimeSeconds: 1000,
    processUptimeSeconds: 10,
    processCpuUserSeconds: 1.5,
    processCpuSystemSeconds: 0.5,
    residentMemoryBytes: 1e8,
    heapUsedBytes: 2e7,
    heapTotalBytes: 4e7,
    filesystems: [{ path: '/data', totalBytes: 1000, freeBytes: 400, usedBytes: 500, stale: true }],
    ...over,
  };
}

function parse<T = Message>(bodies: Map<string, Uint8Array>, key: string): T {
  const body = bodies.get(key);
  assert.ok(body !== undefined, `no body for ${key}`);
  return JSON.parse(new TextDecoder().decode(body)) as T;
}

function find(m: Message, name: string, tags: Record<string, string> = {}): Datapoint | undefined {
  return m.datapoints.find((d) => d.name === name && JSON.stringify(d.tags) === JSON.stringify(tags));
}

function assertDatapointShape(m: Message): void {
  assert.ok(Array.isArray(m.datapoints));
  for (const d of m.datapoints) {
    assert.deepEqual(Object.keys(d), ['name', 'value', 'unit', 'timestamp', 'tags']);
    assert.equal(typeof d.name, 'string');
    assert.equal(typeof d.value, 'number');
    assert.ok(Number.isFinite(d.value));
    assert.equal(typeof d.unit, 'string');
    assert.match(d.timestamp, ISO);
    assert.equal(typeof d.tags, 'object');
  }
}

test('jsonKey gives distinct keys for every body kind, so app metric ids cannot collide with app bodies', () => {
  const keys = [
    jsonKey.node(),
    jsonKey.containers(),
    jsonKey.ping(),
    jsonKey.container('a'),
    jsonKey.app('a'),
    jsonKey.appMetric('a', 'up'),
    jsonKey.container('a.b'),
    jsonKey.appMetric('a', 'b'),
  ];
  assert.equal(new Set(keys).size, keys.length);
  assert.notEqual(jsonKey.app('a/b'), jsonKey.appMetric('a', 'b'));
});

test('ping is {"ok":true,"timestamp"} with the publish time as ISO-8601', () => {
  const bodies = renderJsonBodies([], node(), OPTS);
  assert.deepEqual(parse(bodies, jsonKey.ping()), { ok: true, timestamp: new Date(NOW).toISOString() });
});

test('node body has host and process datapoints with units, ISO timestamps and agent dimensions', () => {
  const m = parse(renderJsonBodies([], node(), OPTS), jsonKey.node());
  assertDatapointShape(m);
  assert.deepEqual(m.dimensions, { agent_id: 'agent-1', hostname: 'host-a' });
  assert.deepEqual(find(m, 'cpu.cores'), {
    name: 'cpu.cores',
    value: 4,
    unit: 'count',
    timestamp: '2026-01-02T03:04:05.678Z',
    tags: {},
  });
  assert.equal(find(m, 'load.1min')?.value, 0.5);
  assert.equal(find(m, 'load.15min')?.value, 0.125);
  assert.equal(find(m, 'memory.total')?.unit, 'bytes');
  assert.equal(find(m, 'memory.free')?.value, 2e9);
  assert.equal(find(m, 'system.uptime')?.unit, 'seconds');
  assert.equal(find(m, 'process.uptime')?.value, 10);
  assert.equal(find(m, 'process.cpu.user')?.value, 1.5);
  assert.equal(find(m, 'process.cpu.system')?.unit, 'seconds');
  assert.equal(find(m, 'process.memory.resident')?.value, 1e8);
  assert.equal(find(m, 'process.memory.heap_used')?.value, 2e7);
  assert.equal(find(m, 'filesystem.capacity.total', { path: '/data' })?.value, 1000);
  assert.equal(find(m, 'filesystem.capacity.used', { path: '/data' })?.value, 500);
  assert.equal(find(m, 'filesystem.capacity.free', { path: '/data' })?.value, 400);
  assert.equal(find(m, 'filesystem.capacity.stale', { path: '/data' })?.value, 1);
});

test('containers lists every target name, probed or not', () => {
  const bodies = renderJsonBodies([target('a'), target('b', { probes: 0 })], node(), OPTS);
  assert.deepEqual(parse<string[]>(bodies, jsonKey.containers()), ['a', 'b']);
});

test('container body has counts, sum, quantiles, errors by reason and up, with target dimensions', () => {
  const m = parse(renderJsonBodies([target('db')], node(), OPTS), jsonKey.container('db'));
  assertDatapointShape(m);
  assert.deepEqual(m.dimensions, {
    container_id: 'db',
    agent_id: 'agent-1',
    hostname: 'host-a',
    labels: { team: 'core', kind: 'synthetic' },
  });
  assert.equal(find(m, 'probe.count')?.value, 12);
  assert.equal(find(m, 'probe.latency.count')?.value, 10);
  assert.deepEqual(find(m, 'probe.latency.sum'), {
    name: 'probe.latency.sum',
    value: 0.025,
    unit: 'seconds',
    timestamp: new Date(LAST_PROBE).toISOString(),
    tags: {},
  });
  for (const [q, v] of [
    ['p50', 0.002],
    ['p90', 0.003],
    ['p99', 0.004],
    ['p999', 0.0045],
    ['max', 0.005],
  ] as const) {
    assert.equal(find(m, `probe.latency.${q}`)?.value, v, q);
    assert.equal(find(m, `probe.latency.${q}`)?.unit, 'seconds');
  }
  assert.equal(find(m, 'probe.errors', { reason: 'timeout' })?.value, 2);
  assert.equal(find(m, 'probe.errors', { reason: 'refused' })?.value, 0);
  assert.equal(m.datapoints.filter((d) => d.name === 'probe.errors').length, FAILURE_REASONS.length);
  assert.equal(find(m, 'probe.up')?.value, 1);
});

test('a target probed but never successful has no quantile datapoints', () => {
  const { latency: _omit, ...rest } = target('down', {
    up: 0,
    count: 0,
    sumSeconds: 0,
    errors: errors({ refused: 3 }),
  });
  const m = parse(renderJsonBodies([rest], node(), OPTS), jsonKey.container('down'));
  assert.equal(
    m.datapoints.some((d) => d.name.startsWith('probe.latency.p')),
    false,
  );
  assert.equal(find(m, 'probe.up')?.value, 0);
  assert.equal(find(m, 'probe.errors', { reason: 'refused' })?.value, 3);
});

test('app body has the app values with inferred units plus up, and one body per app metric', () => {
  const bodies = renderJsonBodies([target('db')], node(), OPTS);
  const app = parse(bodies, jsonKey.app('db'));
  assertDatapointShape(app);
  assert.deepEqual(
    app.datapoints.map((d) => [d.name, d.value, d.unit]),
    [
      ['rows', 1, 'count'],
      ['body_bytes', 512, 'bytes'],
      ['up', 1, 'count'],
    ],
  );
  assert.equal(app.dimensions.container_id, 'db');
  for (const id of ['rows', 'body_bytes', 'up']) {
    const one = parse(bodies, jsonKey.appMetric('db', id));
    assertDatapointShape(one);
    assert.equal(one.datapoints.length, 1);
    assert.equal(one.datapoints[0]!.name, id);
    assert.equal(one.dimensions.container_id, 'db');
  }
  assert.equal(bodies.has(jsonKey.appMetric('db', 'nope')), false);
});

test('an app value named up does not shadow the target up datapoint', () => {
  const bodies = renderJsonBodies([target('x', { up: 0, app: { up: 1 } })], node(), OPTS);
  const app = parse(bodies, jsonKey.app('x'));
  assert.deepEqual(
    app.datapoints.map((d) => [d.name, d.value]),
    [['up', 0]],
  );
  assert.equal(parse(bodies, jsonKey.appMetric('x', 'up')).datapoints[0]!.value, 0);
});

test('a never-probed target has no container, app or app metric bodies', () => {
  const bodies = renderJsonBodies([target('new', { probes: 0, count: 0, up: 0, lastProbeMs: 0 })], node(), OPTS);
  assert.equal(bodies.has(jsonKey.container('new')), false);
  assert.equal(bodies.has(jsonKey.app('new')), false);
  assert.equal(bodies.has(jsonKey.appMetric('new', 'up')), false);
  assert.equal(bodies.has(jsonKey.appMetric('new', 'rows')), false);
  assert.deepEqual([...bodies.keys()].sort(), [jsonKey.containers(), jsonKey.node(), jsonKey.ping()].sort());
});

test('NaN and Infinity values are omitted, so every body stays valid JSON', () => {
  const t = target('nan', {
    sumSeconds: Number.NaN,
    latency: { p50: Number.NaN, p90: Infinity, p99: -Infinity, p999: 0.004, max: 0.005, min: 0, mean: Number.NaN },
    app: { rows: Number.NaN, body_bytes: Infinity, status_code: 200 },
  });
  const bodies = renderJsonBodies([t], node({ load1: Number.NaN, memoryFreeBytes: Infinity }), OPTS);
  for (const [key, body] of bodies) {
    const text = new TextDecoder().decode(body);
    assert.doesNotThrow(() => JSON.parse(text), key);
    assert.doesNotMatch(text, /NaN|Infinity|null/, key);
  }
  const c = parse(bodies, jsonKey.container('nan'));
  assertDatapointShape(c);
  assert.equal(find(c, 'probe.latency.sum'), undefined);
  assert.equal(find(c, 'probe.latency.p50'), undefined);
  assert.equal(find(c, 'probe.latency.p90'), undefined);
  assert.equal(find(c, 'probe.latency.p999')?.value, 0.004);
  const app = parse(bodies, jsonKey.app('nan'));
  assert.deepEqual(
    app.datapoints.map((d) => d.name),
    ['status_code', 'up'],
  );
  assert.equal(bodies.has(jsonKey.appMetric('nan', 'rows')), false);
  assert.equal(bodies.has(jsonKey.appMetric('nan', 'body_bytes')), false);
  const n = parse(bodies, jsonKey.node());
  assert.equal(find(n, 'load.1min'), undefined);
  assert.equal(find(n, 'memory.free'), undefined);
  assert.equal(find(n, 'load.5min')?.value, 0.25);
});

test('strings that need escaping in names, labels and paths stay valid JSON', () => {
  const weird = 'a"b\\c\n\u2028\u0000';
  const t = target('esc', { target: { ...target('esc').target, labels: { note: weird } }, app: { [weird]: 1 } });
  const bodies = renderJsonBodies(
    [t],
    node({ hostname: weird, filesystems: [{ path: weird, totalBytes: 1, freeBytes: 1, usedBytes: 0, stale: false }] }),
    { agentId: weird, nowMs: NOW },
  );
  const c = parse(bodies, jsonKey.container('esc'));
  assert.deepEqual(c.dimensions.labels, { note: weird, kind: 'synthetic' });
  assert.equal(c.dimensions.agent_id, weird);
  assert.equal(parse(bodies, jsonKey.app('esc')).datapoints[0]!.name, weird);
  assert.equal(find(parse(bodies, jsonKey.node()), 'filesystem.capacity.total', { path: weird })?.value, 1);
});

test('an unrepresentable time falls back to the publish time instead of throwing', () => {
  const bodies = renderJsonBodies([target('t', { lastProbeMs: 1e20 })], node(), OPTS);
  assert.equal(parse(bodies, jsonKey.container('t')).datapoints[0]!.timestamp, new Date(NOW).toISOString());
  const bad = renderJsonBodies([], node(), { agentId: 'a', nowMs: Number.NaN });
  assert.match(parse<{ timestamp: string }>(bad, jsonKey.ping()).timestamp, ISO);
});

test('appUnit reads the unit from the metric id suffix', () => {
  assert.equal(appUnit('duration_seconds'), 'seconds');
  assert.equal(appUnit('body_bytes'), 'bytes');
  assert.equal(appUnit('bytes_written'), 'bytes');
  assert.equal(appUnit('rows'), 'count');
  assert.equal(appUnit('requests_total'), 'count');
  assert.equal(appUnit('cpu_percent'), 'percent');
  assert.equal(appUnit('hit_ratio'), '');
  assert.equal(appUnit('status_code'), '');
});

test('rendering a thousand targets stays fast and yields two bodies per probed target plus one per app metric', () => {
  const targets = Array.from({ length: 1000 }, (_, i) => target(`t${i}`));
  const t0 = performance.now();
  const bodies = renderJsonBodies(targets, node(), OPTS);
  const ms = performance.now() - t0;
  assert.equal(bodies.size, 3 + 1000 * (2 + 3));
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
});
