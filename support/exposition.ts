/**
 * Shared test helpers for exposition text: a fixed literal set of TargetSnapshots and SelfStats (the
 * input of the golden files), the golden cases themselves, and a small parser of rendered text
 * (Prometheus 0.0.4 or OpenMetrics) into samples that tests can assert values on.
 */
import { fileURLToPath } from 'node:url';
import { DEFAULT_LATENCY_BUCKETS_SECONDS } from '../src/config/defaults.ts';
import { buildFamilies } from '../src/metrics/families.ts';
import type { SelfStats, TargetSnapshot } from '../src/metrics/model.ts';
import { FAILURE_REASONS, type ProbeFailureReason } from '../src/probes/probe.ts';
import type { ProbeTarget } from '../src/probes/registry.ts';
import { renderOpenMetrics, renderText } from '../src/render/text.ts';

/** FIXTURES_DIR is the absolute path of test/fixtures/. */
export const FIXTURES_DIR = fileURLToPath(new URL('../test/fixtures/', import.meta.url));

/** zeroErrors returns an error record with every reason at 0, overridden by `counts`. */
function zeroErrors(counts: Partial<Record<ProbeFailureReason, number>> = {}): Record<ProbeFailureReason, number> {
  const errors = {} as Record<ProbeFailureReason, number>;
  for (const reason of FAILURE_REASONS) errors[reason] = counts[reason] ?? 0;
  return errors;
}

const targetDefaults = {
  intervalMs: 1000,
  timeoutMs: 1000,
  concurrency: 1,
  labels: {},
  buckets: DEFAULT_LATENCY_BUCKETS_SECONDS,
} as const;

/** TargetFixture is a target's kind-specific part; everything else takes the config defaults. */
export type TargetFixture = { readonly name: string } & Partial<ProbeTarget> & Pick<ProbeTarget, 'kind'>;

/** makeTarget fills a ProbeTarget with config defaults (1s interval and timeout, default buckets, no labels). */
export function makeTarget(fixture: TargetFixture): ProbeTarget {
  const kindDefaults: Record<ProbeTarget['kind'], object> = {
    mysql: { url: 'mysql://root@127.0.0.1:3306/test', query: 'SELECT 1' },
    redis: { url: 'redis://127.0.0.1:6379' },
    storage: { path: '/tmp/probex-storage', location: 'local' },
    http: { url: 'http://127.0.0.1:8080/healthz', expectStatus: [200], headers: {}, maxBodyBytes: 1024 * 1024 },
    tcp: { host: '127.0.0.1', port: 9 },
    synthetic: { distribution: { type: 'constant', valueMs: 2 }, errorRate: 0 },
    postgres: { url: 'postgres://postgres@127.0.0.1:5432/test', query: 'SELECT 1' },
    sqlite: { path: '/tmp/probex.db', query: 'SELECT 1' },
    dns: { query: 'db.internal', recordType: 'A', transport: 'udp' },
    grpc: { address: '127.0.0.1:50051', service: '' },
    amqp: { url: 'amqp://guest:guest@127.0.0.1:5672/' },
    mqtt: { url: 'mqtt://127.0.0.1:1883', qos: 0 },
    nats: { url: 'nats://127.0.0.1:4222' },
  };
  return { ...targetDefaults, ...kindDefaults[fixture.kind], ...fixture } as ProbeTarget;
}

/** SnapshotState is the cumulative state of a snapshot; omitted fields mean "never probed". */
export interface SnapshotState {
  readonly probes?: number;
  readonly count?: number;
  readonly sumSeconds?: number;
  readonly bucketCounts?: readonly number[];
  readonly errors?: Partial<Record<ProbeFailureReason, number>>;
  readonly up?: 0 | 1;
  readonly lastProbeMs?: number;
  readonly app?: Readonly<Record<string, number>>;
  /** createdSeconds is when the target's counters started (absent: unknown, no `_created`). */
  readonly createdSeconds?: number;
  /** certificate is the validity of the certificate a TLS target last saw. */
  readonly certificate?: TargetSnapshot['certificate'];
}

/** makeSnapshot builds a TargetSnapshot; with no state it is a never-probed target (all zeros, up 0). */
export function makeSnapshot(target: ProbeTarget, state: SnapshotState = {}): TargetSnapshot {
  return {
    target,
    name: target.name,
    kind: target.kind,
    probes: state.probes ?? 0,
    count: state.count ?? 0,
    sumSeconds: state.sumSeconds ?? 0,
    bucketCounts: state.bucketCounts ?? target.buckets.map(() => 0),
    errors: zeroErrors(state.errors),
    up: state.up ?? 0,
    lastProbeMs: state.lastProbeMs ?? 0,
    app: state.app ?? {},
    ...(state.createdSeconds === undefined ? {} : { createdSeconds: state.createdSeconds }),
    ...(state.certificate === undefined ? {} : { certificate: state.certificate }),
  };
}

/** FIXTURE_HTTP_NOTE is a label value that needs every escape: quote, backslash, newline, plus non-ASCII. */
export const FIXTURE_HTTP_NOTE = 'say "hi" \\ back\nslash – ünï ✓';

/**
 * fixtureTargets is the golden input: a healthy mysql, two redis (one up, one refused), local storage,
 * an http target with custom buckets and a label needing every escape (re-shaped by a reload, so its
 * created time is later), a never-probed tcp target (no bucket counts at all) and a synthetic target with
 * a non-terminating float sum.
 */
export function fixtureTargets(): TargetSnapshot[] {
  const t0 = 1_700_000_000_000;
  const start = fixtureSelfStats().startTimeSeconds; // targets counting since probex started
  const reloaded = 1_700_000_000.75; // a target re-shaped by a reload, before its last probe
  return [
    makeSnapshot(makeTarget({ name: 'mysql', kind: 'mysql' }), {
      probes: 120,
      count: 118,
      sumSeconds: 1.234567,
      bucketCounts: [3, 90, 110, 115, 116, 117, 117, 118, 118, 118, 118],
      errors: { timeout: 2 },
      up: 1,
      lastProbeMs: t0 + 123,
      createdSeconds: start,
    }),
    makeSnapshot(makeTarget({ name: 'redis-cache', kind: 'redis', labels: { role: 'cache' } }), {
      probes: 200,
      count: 199,
      sumSeconds: 0.0875,
      bucketCounts: [150, 199, 199, 199, 199, 199, 199, 199, 199, 199, 199],
      errors: { refused: 1 },
      up: 1,
      lastProbeMs: t0 + 250,
      createdSeconds: start,
    }),
    makeSnapshot(
      makeTarget({ name: 'redis-queue', kind: 'redis', url: 'redis://127.0.0.1:6380/1', labels: { role: 'queue' } }),
      {
        probes: 50,
        errors: { refused: 45, timeout: 5 },
        up: 0,
        lastProbeMs: t0 + 500,
        createdSeconds: start,
      },
    ),
    makeSnapshot(makeTarget({ name: 'storage-local', kind: 'storage' }), {
      probes: 60,
      count: 60,
      sumSeconds: 0.3,
      bucketCounts: [0, 12, 40, 55, 58, 60, 60, 60, 60, 60, 60],
      up: 1,
      lastProbeMs: t0 + 750,
      createdSeconds: start,
    }),
    makeSnapshot(
      makeTarget({ name: 'api', kind: 'http', buckets: [0.005, 0.05, 0.5, 5], labels: { note: FIXTURE_HTTP_NOTE } }),
      {
        probes: 10,
        count: 8,
        sumSeconds: 0.25,
        bucketCounts: [1, 6, 8, 8],
        errors: { status: 2 },
        up: 0,
        lastProbeMs: t0 + 1000,
        createdSeconds: reloaded,
      },
    ),
    makeSnapshot(makeTarget({ name: 'tcp-never', kind: 'tcp' }), { bucketCounts: [], createdSeconds: start }),
    makeSnapshot(makeTarget({ name: 'synth-1', kind: 'synthetic', labels: { team: 'core' } }), {
      probes: 1000,
      count: 990,
      sumSeconds: 0.1 + 0.2,
      bucketCounts: [400, 980, 985, 987, 988, 989, 989, 990, 990, 990, 990],
      errors: { other: 10 },
      up: 1,
      lastProbeMs: t0 + 1500,
      createdSeconds: start,
    }),
  ];
}

/** fixtureSelfStats is the golden input's SelfStats: literal values, some of them non-integer. */
export function fixtureSelfStats(): SelfStats {
  return {
    version: '0.1.0',
    startTimeSeconds: 1_700_000_000,
    scrapesTotal: 42,
    apiRequestsTotal: 7,
    generation: 1234,
    publishDurationSeconds: 0.0025,
    publishFailuresTotal: 0,
    snapshotAgeSeconds: 1.001,
    snapshotTimestampSeconds: 1_700_000_100.5,
    snapshotBytes: 16_384,
    poolThreads: 2,
    poolUtilization: 0.25,
    poolQueueSize: 0,
    probesSkippedTotal: 3,
    eventLoopDelay: { p50: 0.0101, p99: 0.0125, max: 0.03 },
    cpuUserSecondsTotal: 1.5,
    cpuSystemSecondsTotal: 0.25,
    residentMemoryBytes: 52_428_800,
    heapUsedBytes: 20_971_520,
    configReloadsTotal: 1,
    configReloadFailuresTotal: 0,
    configLastReloadSuccessful: 1,
  };
}

/** GoldenCase is one golden file and how its bytes are produced from the fixtures. */
export interface GoldenCase {
  readonly file: string;
  readonly format: 'text' | 'openmetrics';
  readonly profile: 'probex' | 'directus';
  render(): string;
}

/** GOLDEN_CASES are the golden files under test/fixtures/, each rendered from fixtureTargets()/fixtureSelfStats(). */
export const GOLDEN_CASES: readonly GoldenCase[] = [
  {
    file: 'probex-text.prom',
    format: 'text',
    profile: 'probex',
    render: () => renderText(buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex')),
  },
  {
    file: 'probex-openmetrics.prom',
    format: 'openmetrics',
    profile: 'probex',
    render: () => renderOpenMetrics(buildFamilies(fixtureTargets(), fixtureSelfStats(), 'probex')),
  },
  {
    file: 'directus-text.prom',
    format: 'text',
    profile: 'directus',
    render: () => renderText(buildFamilies(fixtureTargets(), fixtureSelfStats(), 'directus'), 'prom-client'),
  },
];

/** ExpositionSample is one parsed sample line. */
export interface ExpositionSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** ExpositionMetadata is what the HELP, TYPE and UNIT lines said about one family. */
export interface ExpositionMetadata {
  help?: string;
  type?: string;
  unit?: string;
}

/**
 * parseExposition parses text 0.0.4 or OpenMetrics text into samples, in order. Comment and metadata
 * lines are skipped (see parseMetadata). It throws on a line it cannot parse, so a test fed broken output
 * fails loudly. Values: `+Inf`, `-Inf`, `NaN` and any float literal.
 */
export function parseExposition(text: string): ExpositionSample[] {
  const samples: ExpositionSample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '' || line.startsWith('#')) continue;
    samples.push(parseSampleLine(line, n + 1));
  }
  return samples;
}

/** parseMetadata returns the HELP (unescaped), TYPE and UNIT of each family, keyed by the name on those lines. */
export function parseMetadata(text: string): Map<string, ExpositionMetadata> {
  const out = new Map<string, ExpositionMetadata>();
  for (const line of text.split('\n')) {
    const m = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
    if (m === null) continue;
    const [, kind, name, rest = ''] = m as unknown as [string, string, string, string | undefined];
    const entry = out.get(name) ?? {};
    if (kind === 'HELP') entry.help = unescape(rest);
    else if (kind === 'TYPE') entry.type = rest;
    else entry.unit = rest;
    out.set(name, entry);
  }
  return out;
}

/**
 * findSamples returns the samples named `name` whose labels include every pair of `labels`
 * (a subset match: `findSamples(s, 'x_bucket', { target: 'redis', le: '0.01' })`).
 */
export function findSamples(
  samples: readonly ExpositionSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): ExpositionSample[] {
  const wanted = Object.entries(labels);
  return samples.filter((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v));
}

/**
 * firstSampleValue is the value of the first sample matching name and labels, or NaN while there is none
 * (a wait for a series that appears with its target's first probe).
 */
export function firstSampleValue(
  samples: readonly ExpositionSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return findSamples(samples, name, labels)[0]?.value ?? NaN;
}

/** scrapeSamples GETs `<url>/metrics` (text, no token) and parses it. */
export async function scrapeSamples(url: string): Promise<ExpositionSample[]> {
  return parseExposition(await (await fetch(`${url}/metrics`)).text());
}

/** sampleValue returns the value of the one sample matching name and labels; it throws on none or several. */
export function sampleValue(
  samples: readonly ExpositionSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const found = findSamples(samples, name, labels);
  if (found.length !== 1) {
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  }
  return found[0]!.value;
}

function parseSampleLine(line: string, lineNo: number): ExpositionSample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name))
    throw new Error(`line ${lineNo}: bad metric name in ${JSON.stringify(line)}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('="', i);
      if (eq < 0) throw new Error(`line ${lineNo}: bad labels in ${JSON.stringify(line)}`);
      const key = line.slice(i, eq);
      let j = eq + 2;
      let value = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\') {
          const next = line[j + 1];
          value += next === 'n' ? '\n' : (next ?? '');
          j += 2;
        } else {
          value += line[j];
          j++;
        }
      }
      if (j >= line.length) throw new Error(`line ${lineNo}: unterminated label value in ${JSON.stringify(line)}`);
      if (key in labels) throw new Error(`line ${lineNo}: duplicate label ${key}`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`line ${lineNo}: bad labels in ${JSON.stringify(line)}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`line ${lineNo}: missing value in ${JSON.stringify(line)}`);
  const [valueText = ''] = line.slice(i + 1).split(' ');
  return { name, labels, value: parseNumber(valueText, lineNo) };
}

function parseNumber(text: string, lineNo: number): number {
  switch (text) {
    case '+Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
  }
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${lineNo}: bad value ${text}`);
  return Number(text);
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}
