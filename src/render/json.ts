/**
 * DC/OS Metrics API v0 bodies (dcos-metrics `producers/http`), rendered once per publish by the publisher
 * thread and stored in the snapshot under `jsonKey.*`; the front end only looks them up. Pure: no I/O.
 *
 * Shapes, as dcos-metrics encodes its MetricsMessage:
 *   node, containers/{id}, containers/{id}/app, containers/{id}/app/{metric_id}
 *     → {"datapoints":[{"name","value","unit","timestamp","tags"}],"dimensions":{...}}
 *   containers → ["target-a","target-b"]            ping → {"ok":true,"timestamp":"..."}
 * Timestamps are ISO-8601 UTC with milliseconds (`2026-01-02T03:04:05.678Z`), which is also RFC 3339 as
 * dcos-metrics writes it. Target datapoints carry the time of the target's last probe (when its state last
 * changed); node datapoints and ping carry the publish time.
 *
 * Non-finite numbers: JSON has no NaN or Infinity, and dcos-metrics (Go encoding/json) cannot encode them
 * either, so its clients never saw them. A datapoint whose value is NaN or ±Infinity is omitted rather
 * than written as `null`: consumers that read `value` as a number (telegraf's dcos input, dashboards) treat
 * a missing datapoint as "no sample", while `null` would break their decoding. An app metric whose only
 * datapoint is omitted gets no `app/{metric_id}` body (the server answers 404 for it).
 *
 * Builders write strings by hand instead of JSON.stringify on object graphs: with thousands of targets this
 * runs every publish. Every string value still goes through JSON.stringify, so escaping is never ours.
 * See `nameHead` and `Tails` for how a datapoint is put together, and `Arena` for how bodies are encoded.
 */
import { FAILURE_REASONS, type ProbeFailureReason } from '../probes/probe.ts';
import type { ShardStats, TargetSnapshot } from '../metrics/model.ts';
import type { NodeStats } from '../metrics/host.ts';
import { jsonKey } from '../snapshot/keys.ts';

/** JsonRenderOptions are the publish-wide inputs: this host's agent id and the publish time. */
export interface JsonRenderOptions {
  readonly agentId: string;
  readonly nowMs: number;
  /** shard, when sharded, adds the shard.* datapoints to the node body. */
  readonly shard?: ShardStats;
}

/** DatapointUnit is the `unit` of a datapoint, as DC/OS names them ('' when dimensionless and not a count). */
export type DatapointUnit = 'seconds' | 'bytes' | 'percent' | 'count' | '';

/**
 * renderJsonBodies renders every JSON API body for one publish. A target that has never been probed
 * (`probes === 0`) has no container or app bodies; it is still listed in `containers`. The bodies are
 * views into a few large chunks (see Arena): copy them (the snapshot writer does), never transfer them.
 */
export function renderJsonBodies(
  targets: readonly TargetSnapshot[],
  node: NodeStats,
  opts: JsonRenderOptions,
): Map<string, Uint8Array> {
  const arena = new Arena();
  const bodies = new Map<string, Uint8Array>();
  const now = isoTimestamp(opts.nowMs, new Date().toISOString());
  const agentIdJson = JSON.stringify(opts.agentId);
  const hostnameJson = JSON.stringify(node.hostname);

  bodies.set(jsonKey.ping(), arena.put(`{"ok":true,"timestamp":"${now}"}`));
  bodies.set(
    jsonKey.node(),
    arena.put(message(nodeDatapoints(node, now, opts.shard), `{"agent_id":${agentIdJson},"hostname":${hostnameJson}}`)),
  );
  bodies.set(jsonKey.containers(), arena.put(JSON.stringify(targets.map((t) => t.name))));

  for (const t of targets) {
    if (t.probes === 0) continue;
    const tails = new Tails(t.lastProbeMs > 0 ? isoTimestamp(t.lastProbeMs, now) : now);
    const dims =
      `{"container_id":${JSON.stringify(t.name)},"agent_id":${agentIdJson},"hostname":${hostnameJson}` +
      `,"labels":${JSON.stringify({ ...t.target.labels, kind: t.kind })}}`;
    bodies.set(jsonKey.container(t.name), arena.put(message(targetDatapoints(t, tails), dims)));

    const app: string[] = [];
    const emitApp = (metricId: string, value: number, unit: DatapointUnit): void => {
      const dp = datapoint(nameHead(metricId), value, tails.of(unit));
      if (dp === '') return;
      app.push(dp);
      bodies.set(jsonKey.appMetric(t.name, metricId), arena.put(message([dp], dims)));
    };
    for (const [metricId, value] of Object.entries(t.app)) {
      // `up` is the target's own state; an app value of the same name must not shadow it.
      if (metricId !== 'up') emitApp(metricId, value, appUnit(metricId));
    }
    emitApp('up', t.up, 'count');
    bodies.set(jsonKey.app(t.name), arena.put(message(app, dims)));
  }
  return bodies;
}

/*
 * A datapoint is rendered as HEAD + value + TAIL, where HEAD is `{"name":"<name>","value":` (constant per
 * name, built once) and TAIL is `,"unit":"<unit>","timestamp":"<ts>","tags":<tags>}` (built once per
 * target and unit/tags pair). Per datapoint only the number is formatted; everything else is a concatenation.
 */

/** nameHead returns the constant `{"name":...,"value":` prefix of a datapoint. */
function nameHead(name: string): string {
  return `{"name":${JSON.stringify(name)},"value":`;
}

/** Tails builds and caches the datapoint tails of one timestamp. */
class Tails {
  readonly #ts: string;
  readonly #cache = new Map<string, string>();
  constructor(ts: string) {
    this.#ts = ts;
  }

  /** of returns the tail for `unit` and pre-rendered tags (default `{}`). */
  of(unit: DatapointUnit, tagsJson = '{}'): string {
    const k = `${unit}\u0000${tagsJson}`;
    let tail = this.#cache.get(k);
    if (tail === undefined) {
      tail = `,"unit":"${unit}","timestamp":"${this.#ts}","tags":${tagsJson}}`;
      this.#cache.set(k, tail);
    }
    return tail;
  }
}

const H = {
  systemUptime: nameHead('system.uptime'),
  cpuCores: nameHead('cpu.cores'),
  load1: nameHead('load.1min'),
  load5: nameHead('load.5min'),
  load15: nameHead('load.15min'),
  memoryTotal: nameHead('memory.total'),
  memoryFree: nameHead('memory.free'),
  processUptime: nameHead('process.uptime'),
  cpuUser: nameHead('process.cpu.user'),
  cpuSystem: nameHead('process.cpu.system'),
  rss: nameHead('process.memory.resident'),
  heapUsed: nameHead('process.memory.heap_used'),
  heapTotal: nameHead('process.memory.heap_total'),
  fsTotal: nameHead('filesystem.capacity.total'),
  fsUsed: nameHead('filesystem.capacity.used'),
  fsFree: nameHead('filesystem.capacity.free'),
  fsStale: nameHead('filesystem.capacity.stale'),
  probes: nameHead('probe.count'),
  count: nameHead('probe.latency.count'),
  sum: nameHead('probe.latency.sum'),
  p50: nameHead('probe.latency.p50'),
  p90: nameHead('probe.latency.p90'),
  p99: nameHead('probe.latency.p99'),
  p999: nameHead('probe.latency.p999'),
  max: nameHead('probe.latency.max'),
  min: nameHead('probe.latency.min'),
  mean: nameHead('probe.latency.mean'),
  errors: nameHead('probe.errors'),
  up: nameHead('probe.up'),
  certNotBefore: nameHead('tls.cert.not_before'),
  certNotAfter: nameHead('tls.cert.not_after'),
  shardIndex: nameHead('shard.index'),
  shardCount: nameHead('shard.count'),
  shardSkipped: nameHead('shard.targets.skipped'),
} as const;

/** nodeDatapoints lists the host and process datapoints, DC/OS names where DC/OS has one. */
function nodeDatapoints(n: NodeStats, ts: string, shard: ShardStats | undefined): string[] {
  const tails = new Tails(ts);
  const s = tails.of('seconds');
  const b = tails.of('bytes');
  const c = tails.of('count');
  const dps = [
    datapoint(H.systemUptime, n.hostUptimeSeconds, s),
    datapoint(H.cpuCores, n.cpuCores, c),
    // DC/OS reports load averages with unit "count" (telegraf's dcos input reads them as `1min_count`).
    datapoint(H.load1, n.load1, c),
    datapoint(H.load5, n.load5, c),
    datapoint(H.load15, n.load15, c),
    datapoint(H.memoryTotal, n.memoryTotalBytes, b),
    datapoint(H.memoryFree, n.memoryFreeBytes, b),
    datapoint(H.processUptime, n.processUptimeSeconds, s),
    datapoint(H.cpuUser, n.processCpuUserSeconds, s),
    datapoint(H.cpuSystem, n.processCpuSystemSeconds, s),
    datapoint(H.rss, n.residentMemoryBytes, b),
    datapoint(H.heapUsed, n.heapUsedBytes, b),
    datapoint(H.heapTotal, n.heapTotalBytes, b),
  ];
  for (const fs of n.filesystems) {
    const tags = `{"path":${JSON.stringify(fs.path)}}`;
    const tail = tails.of('bytes', tags);
    dps.push(
      datapoint(H.fsTotal, fs.totalBytes, tail),
      datapoint(H.fsUsed, fs.usedBytes, tail),
      datapoint(H.fsFree, fs.freeBytes, tail),
      // 1 while the path's statfs has not answered within its deadline: the bytes are its last answer.
      datapoint(H.fsStale, fs.stale ? 1 : 0, tails.of('', tags)),
    );
  }
  if (shard !== undefined) {
    dps.push(
      datapoint(H.shardIndex, shard.index, tails.of('')),
      datapoint(H.shardCount, shard.count, c),
      datapoint(H.shardSkipped, shard.skippedTargets, c),
    );
  }
  return dps;
}

/** ERROR_TAGS holds the pre-rendered `{"reason":...}` tags, one per failure reason. */
const ERROR_TAGS: readonly (readonly [ProbeFailureReason, string])[] = FAILURE_REASONS.map(
  (r) => [r, `{"reason":${JSON.stringify(r)}}`] as const,
);

/** targetDatapoints lists one target's probe datapoints: counts, latency sum and quantiles, errors, up. */
function targetDatapoints(t: TargetSnapshot, tails: Tails): string[] {
  const c = tails.of('count');
  const s = tails.of('seconds');
  const dps = [datapoint(H.probes, t.probes, c), datapoint(H.count, t.count, c), datapoint(H.sum, t.sumSeconds, s)];
  const l = t.latency;
  if (l !== undefined) {
    dps.push(
      datapoint(H.p50, l.p50, s),
      datapoint(H.p90, l.p90, s),
      datapoint(H.p99, l.p99, s),
      datapoint(H.p999, l.p999, s),
      datapoint(H.max, l.max, s),
      datapoint(H.min, l.min, s),
      datapoint(H.mean, l.mean, s),
    );
  }
  for (const [reason, tags] of ERROR_TAGS)
    dps.push(datapoint(H.errors, t.errors[reason] ?? 0, tails.of('count', tags)));
  dps.push(datapoint(H.up, t.up, c));
  const certificate = t.certificate;
  if (certificate !== undefined) {
    // Unix seconds, as the Prometheus families have them: a point in time, in the unit of seconds.
    dps.push(
      datapoint(H.certNotBefore, certificate.notBeforeSeconds, s),
      datapoint(H.certNotAfter, certificate.notAfterSeconds, s),
    );
  }
  return dps;
}

/** APP_UNITS infers an app metric's unit from its snake_case id (probe.ts: units in the key suffix). */
const APP_UNITS: readonly (readonly [RegExp, DatapointUnit])[] = [
  [/(?:^|_)seconds$/, 'seconds'],
  [/(?:^|_)bytes(?:_|$)/, 'bytes'],
  [/(?:^|_)percent$/, 'percent'],
  [/(?:^|_)(?:total|count|rows)$/, 'count'],
];

/** appUnit returns the unit for an app metric id, '' when the id names none. */
export function appUnit(metricId: string): DatapointUnit {
  for (const [re, unit] of APP_UNITS) if (re.test(metricId)) return unit;
  return '';
}

/** datapoint renders one datapoint, or '' when the value is not a finite number (JSON cannot hold it). */
function datapoint(head: string, value: number, tail: string): string {
  return Number.isFinite(value) ? head + value + tail : '';
}

/** message renders a DC/OS MetricsMessage from rendered datapoints ('' entries are dropped). */
function message(datapoints: readonly string[], dimensionsJson: string): string {
  let out = '{"datapoints":[';
  let first = true;
  for (const dp of datapoints) {
    if (dp === '') continue;
    if (!first) out += ',';
    out += dp;
    first = false;
  }
  return `${out}],"dimensions":${dimensionsJson}}`;
}

/**
 * Arena encodes bodies into large shared chunks instead of one ArrayBuffer per body: with thousands of
 * targets a publish makes tens of thousands of bodies, and `Buffer.write` into a big chunk is several times
 * faster than `TextEncoder.encode` per string. A body never spans chunks; a full chunk is simply left
 * behind (the views into it keep it alive until the snapshot writer has copied them).
 */
class Arena {
  static readonly CHUNK_BYTES = 1 << 20;
  #chunk = Buffer.allocUnsafeSlow(0);
  #offset = 0;

  /** put encodes s as UTF-8 and returns a view of exactly its bytes. */
  put(s: string): Uint8Array {
    const worst = s.length * 3; // a UTF-16 code unit never takes more than 3 UTF-8 bytes
    if (this.#chunk.length - this.#offset < worst) {
      this.#chunk = Buffer.allocUnsafeSlow(Math.max(Arena.CHUNK_BYTES, worst));
      this.#offset = 0;
    }
    const start = this.#offset;
    this.#offset += this.#chunk.write(s, start, 'utf8');
    return this.#chunk.subarray(start, this.#offset);
  }
}

/** isoTimestamp formats ms as ISO-8601 UTC; a time Date cannot represent (NaN, ±1e16) gives `fallback`. */
function isoTimestamp(ms: number, fallback: string): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? fallback : d.toISOString();
}
