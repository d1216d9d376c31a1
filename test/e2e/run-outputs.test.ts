/**
 * What `probex run` hands to other tools: its series pushed with remote write into a real Prometheus
 * (Debian's, as a remote write receiver with native histograms), its objectives as JUnit XML read by a
 * real XML parser, run.hlog read per tag by HdrHistogram's own HistogramLogProcessor, and the report's
 * threshold marks. And that a receiver that refuses, fails or is not there changes nothing of the run
 * but a warning and what summary.json says was not delivered.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { uncompress } from 'snappyjs';
import { freePort, runProbex, writeConfig } from '../../support/probex-process.ts';
import {
  HAS_PROMETHEUS,
  queryVector,
  requirePrometheus,
  startRemoteWriteReceiver,
  type PrometheusServer,
} from '../../support/prometheus.ts';
import { java, requireJavaHdr } from '../helpers/java-hdr.ts';
import { WriteRequestMessage } from '../helpers/remote-write.ts';
import type { RemoteWriteReport } from '../../src/benchmark/remote-write.ts';
import type { RunSummary } from '../../src/benchmark/summary.ts';

interface Summary extends RunSummary {
  readonly runId: string;
  readonly remoteWrite?: RemoteWriteReport[];
}

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-run-out-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CONFIG = `
threads: 1
targets:
  - { name: syn, kind: synthetic, interval: 20ms, distribution: { type: uniform, minMs: 1, maxMs: 3 } }
  - { name: other, kind: synthetic, interval: 50ms, distribution: { type: uniform, minMs: 2, maxMs: 4 } }
`;

/** runOnConfig is `probex run` on CONFIG for `duration`, writing its files into `out`, with `more` arguments. */
function runOnConfig(
  duration: string,
  out: string,
  more: string[],
  env?: NodeJS.ProcessEnv,
): ReturnType<typeof runProbex> {
  return runProbex(['run', '--config', writeConfig(CONFIG), '--duration', duration, '--out', out, ...more], env);
}

describe('a 5 s run pushing into Prometheus, with --junit', () => {
  let prometheus: PrometheusServer | undefined;
  let out = '';
  let junitPath = '';
  let result: { code: number | null; stdout: string; stderr: string };
  let summary: Summary;

  before(async () => {
    if (!HAS_PROMETHEUS) return;
    prometheus = await startRemoteWriteReceiver();
    out = join(tempDir(), 'out');
    junitPath = join(tempDir(), 'junit.xml');
    result = await runOnConfig('5s', out, [
      '--junit',
      junitPath,
      '--slo',
      'syn:p50<10s,other:max<1us',
      '--slo',
      '*:errors<=0%',
      '--remote-write',
      `${prometheus.url}/api/v1/write`,
      '--remote-write-header',
      'X-Scope-OrgID: probex-test',
    ]);
    summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  });
  after(() => prometheus?.stop());

  test('the run prints its id and exits 1 for the missed objective', (t) => {
    if (!requirePrometheus(t)) return;
    assert.equal(result.code, 1, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(
      result.stderr,
      new RegExp(`^run ${summary.runId}: remote write to http://127\\.0\\.0\\.1:\\d+/api/v1/write\\n`),
    );
    assert.doesNotMatch(result.stderr, /warning/);
  });

  test("Prometheus holds the run's final count, classic and native, under its run label", async (t) => {
    if (!requirePrometheus(t)) return;
    const count = summary.targets.syn!.count;
    assert.ok(count > 50, `syn succeeded ${count} times in 5 s`);
    const [report] = summary.remoteWrite!;
    assert.equal(report!.undelivered, 0, JSON.stringify(report));
    assert.equal(report!.finalDelivered, true);
    assert.equal(report!.nativeHistograms, true);
    const series = await queryVector(
      prometheus!.url,
      `probex_probe_duration_seconds_count{target="syn",run="${summary.runId}"}`,
    );
    assert.equal(series.length, 1, JSON.stringify(series));
    assert.equal(Number(series[0]!.value[1]), count);
    assert.equal(series[0]!.metric.kind, 'synthetic');
    const native = await queryVector(
      prometheus!.url,
      `histogram_count(probex_probe_duration_seconds{target="syn",run="${summary.runId}"})`,
    );
    assert.equal(Number(native[0]!.value[1]), count);
    const inf = await queryVector(
      prometheus!.url,
      `probex_probe_duration_seconds_bucket{target="syn",le="+Inf",run="${summary.runId}"}`,
    );
    assert.equal(Number(inf[0]!.value[1]), count);
    const probes = await queryVector(prometheus!.url, `probex_probes_total{target="other",run="${summary.runId}"}`);
    assert.equal(Number(probes[0]!.value[1]), summary.targets.other!.probes);
  });

  test('the JUnit file has one testcase per objective and target, the missed one a failure', (t) => {
    if (!requirePrometheus(t)) return;
    const xml = readFileSync(junitPath, 'utf8');
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml) as {
      testsuites: { testsuite: { tests: string; failures: string; testcase: Array<Record<string, unknown>> } };
    };
    const suite = doc.testsuites.testsuite;
    // syn:p50, other:max, and errors for each of the two targets.
    assert.equal(suite.testcase.length, 4);
    assert.equal(suite.tests, '4');
    assert.equal(suite.failures, '1');
    const failed = suite.testcase.filter((c) => c.failure !== undefined);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.classname, 'probex.slo.other');
    const failure = failed[0]!.failure as { message: string };
    const maxMs = summary.targets.other!.latencyMs!.max;
    assert.match(failure.message, /^other max [\d.]+(us|ms) < 1us: MISSED$/);
    const shown = /max ([\d.]+)ms/.exec(failure.message);
    if (shown !== null) assert.ok(Math.abs(Number(shown[1]) - maxMs) / maxMs < 0.01, `${failure.message} vs ${maxMs}`);
    for (const c of suite.testcase.filter((c) => c.failure === undefined))
      assert.match(String(c['system-out']), /: ok$/);
  });

  test('HistogramLogProcessor reads each target from run.hlog by tag, corrected and as measured', async (t) => {
    if (!requirePrometheus(t) || !requireJavaHdr(t)) return;
    const log = join(out, 'run.hlog');
    const total = async (tag: string): Promise<number> => {
      const text = await java(['org.HdrHistogram.HistogramLogProcessor', '-i', log, '-tag', tag]);
      const m = /Total count\s*=\s*(\d+)\]/.exec(text);
      assert.ok(m !== null, `no total in: ${text.slice(-500)}`);
      return Number(m[1]);
    };
    assert.equal(await total('syn'), summary.targets.syn!.recorded);
    assert.equal(await total('syn.uncorrected'), summary.targets.syn!.count);
    assert.equal(await total('other'), summary.targets.other!.recorded);
    assert.equal(await total('other.uncorrected'), summary.targets.other!.count);
  });

  test('the report draws each latency threshold on the percentile plot', (t) => {
    if (!requirePrometheus(t)) return;
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-/,
    );
    assert.doesNotMatch(html, /<script|style="/);
    const svg = /<h2>Latency by percentile<\/h2>\n<div class="panel">(<svg[\s\S]*?<\/svg>)/.exec(html)![1]!;
    const parsed = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      isArray: (name) => name === 'g',
    }).parse(svg) as { svg: { g: Array<Record<string, unknown>> } };
    const marks = parsed.svg.g.filter((g) => g.class === 'slo-threshold');
    assert.deepEqual(
      marks.map((g) => [g['data-slo'], g['data-threshold-us'], (g.line as { class: string }).class]),
      [
        ['syn:p50<10s', '10000000', 'threshold'],
        ['other:max<1us', '1', 'threshold missed'],
      ],
    );
    const p50 = marks[0]!;
    assert.equal(p50['data-percentile'], '50');
    const dot = p50.circle as { cx: string; cy: string };
    const line = p50.line as { x2: string; y1: string };
    assert.equal(dot.cx, line.x2, 'the dot sits at the objective percentile, where the line ends');
    assert.equal(dot.cy, line.y1);
  });
});

/** Receiver is a loopback HTTP server that answers remote write requests as `answer` says. */
interface Receiver {
  readonly url: string;
  readonly bodies: Buffer[];
  readonly headers: IncomingMessage['headers'][];
  close(): void;
}

async function startReceiver(answer: (n: number) => [number, string]): Promise<Receiver> {
  const bodies: Buffer[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      headers.push(req.headers);
      const [status, text] = answer(bodies.length);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`,
    bodies,
    headers,
    close: () => server.close(),
  };
}

describe('receivers that fail', () => {
  test('500, 400 and a refused port: warnings, summary.json says what was not delivered, the exit status is the SLOs', async () => {
    const failing = await startReceiver(() => [500, 'internal error']);
    const refusing = await startReceiver(() => [400, 'out of bounds']);
    const closed = `http://127.0.0.1:${await freePort()}/api/v1/write`;
    try {
      const out = join(tempDir(), 'out');
      const result = await runOnConfig(
        '1s',
        out,
        [
          '--slo',
          'syn:p50<10s',
          '--remote-write',
          failing.url,
          '--remote-write',
          refusing.url,
          '--remote-write',
          closed,
        ],
        { PROBEX_REMOTE_WRITE_BEARER_TOKEN: 'tok-3d6f0c1e' },
      );
      assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
      const [five, four, none] = summary.remoteWrite!;
      assert.equal(five!.delivered, 0);
      assert.ok(five!.undelivered >= 1 && five!.pushes === five!.undelivered, JSON.stringify(five));
      assert.equal(five!.finalDelivered, false);
      assert.match(five!.lastError!, /not delivered within/);
      assert.equal(four!.delivered, 0);
      assert.equal(four!.undelivered, four!.pushes);
      assert.match(four!.lastError!, /HTTP 400: out of bounds; push dropped/);
      assert.equal(none!.finalDelivered, false);
      assert.ok(none!.undelivered >= 1);
      assert.match(
        result.stderr,
        /warning: remote write to http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write: HTTP 500: internal error; retrying/,
      );
      assert.match(result.stderr, /warning: remote write to .*: ECONNREFUSED; retrying/);
      // A down receiver warns once per outage, not once per retry.
      assert.equal(result.stderr.match(/HTTP 500: internal error; retrying/g)!.length, 1);
      assert.ok(failing.bodies.length >= 2, 'the 500 was retried');
      assert.equal(failing.headers[0]!.authorization, 'Bearer tok-3d6f0c1e');
      assert.equal(failing.headers[0]!['content-encoding'], 'snappy');
      assert.doesNotMatch(result.stderr + result.stdout + JSON.stringify(summary), /tok-3d6f0c1e/);
    } finally {
      failing.close();
      refusing.close();
    }
  });

  test('a receiver that refuses native histograms gets classic buckets from then on', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? [400, 'native histograms are disabled'] : [204, '']));
    try {
      const out = join(tempDir(), 'out');
      const result = await runOnConfig('1s', out, ['--remote-write', receiver.url]);
      assert.equal(result.code, 0, result.stderr);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
      const [report] = summary.remoteWrite!;
      assert.equal(report!.nativeHistograms, false);
      assert.equal(report!.undelivered, 0);
      assert.equal(report!.finalDelivered, true);
      assert.match(result.stderr, /refused native histograms .*; sending classic buckets only/);
      const decode = (body: Buffer) =>
        WriteRequestMessage.toObject(WriteRequestMessage.decode(uncompress(body)), { longs: Number }) as {
          timeseries: Array<{ labels: Array<{ name: string; value: string }>; histograms?: unknown[] }>;
        };
      const first = decode(receiver.bodies[0]!);
      const last = decode(receiver.bodies.at(-1)!);
      assert.ok(first.timeseries.some((s) => (s.histograms?.length ?? 0) > 0));
      assert.ok(last.timeseries.every((s) => (s.histograms?.length ?? 0) === 0));
      const count = last.timeseries.find(
        (s) =>
          s.labels.some((l) => l.name === '__name__' && l.value === 'probex_probe_duration_seconds_count') &&
          s.labels.some((l) => l.name === 'target' && l.value === 'syn'),
      );
      assert.ok(count !== undefined);
      assert.equal(count.labels.find((l) => l.name === 'run')!.value, summary.runId);
    } finally {
      receiver.close();
    }
  });

  test('credentials in argv are refused, and so is an Authorization header', async () => {
    const out = join(tempDir(), 'out');
    const inUrl = await runOnConfig('1s', out, ['--remote-write', 'http://u:s3cret-pw@127.0.0.1:1/api/v1/write']);
    assert.equal(inUrl.code, 2);
    assert.match(inUrl.stderr, /credentials in the URL/);
    assert.doesNotMatch(inUrl.stderr, /s3cret-pw/);
    const header = await runOnConfig('1s', out, [
      '--remote-write',
      'http://127.0.0.1:1/',
      '--remote-write-header',
      'Authorization: Bearer x',
    ]);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /PROBEX_REMOTE_WRITE_BEARER_TOKEN/);
  });
});

test('--junit never writes through an existing file or symlink, and says so in one line with exit 2', async () => {
  const dir = tempDir();
  const existing = join(dir, 'junit.xml');
  writeFileSync(existing, 'keep me');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'keep me too');
  const link = join(dir, 'link.xml');
  symlinkSync(victim, link);
  for (const path of [existing, link]) {
    const r = await runOnConfig('1s', join(dir, `out-${Math.random()}`), ['--junit', path]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^probex run: cannot create ${path.replace(/[.]/g, '\\.')}: EEXIST \\(file already exists\\)\\n$`),
    );
  }
  assert.equal(readFileSync(existing, 'utf8'), 'keep me');
  assert.equal(readFileSync(victim, 'utf8'), 'keep me too');
});
