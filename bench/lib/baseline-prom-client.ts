/**
 * The baseline for bench/process/load.ts: /metrics the way Node users serve it today. A prom-client Registry
 * holds the families probex exposed (same names, types, labels and histogram bounds, one series per probex
 * series) and node:http answers each request with `await register.metrics()`, gzipped per request
 * (async zlib) when Accept-Encoding asks for it.
 *   tsx bench/lib/baseline-prom-client.ts <dir>   (dir holds the files written by load.ts `writeCapture`)
 * Announces its port on stdout once listening (load-ipc.ts `announcePort`); SIGTERM ends it (no handler).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseExposition, parseMetadata, type ExpositionSample } from '../../support/exposition.ts';
import { announcePort, readCapture } from './load-ipc.ts';

const gzipAsync = promisify(gzip);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** labelsOf returns a sample's labels without `le`, the histogram bucket label prom-client adds itself. */
function labelsOf(sample: ExpositionSample): Record<string, string> {
  const { le: _le, ...labels } = sample.labels;
  return labels;
}

/** labelNamesOf is the union of the label names in `samples` (without `le`). */
function labelNamesOf(samples: readonly ExpositionSample[]): string[] {
  return [...new Set(samples.flatMap((s) => Object.keys(labelsOf(s))))];
}

/** groupBySeries groups histogram bucket samples by their labels without `le`. */
function groupBySeries(buckets: readonly ExpositionSample[]): ExpositionSample[][] {
  const series = new Map<string, ExpositionSample[]>();
  for (const b of buckets) {
    const key = JSON.stringify(labelsOf(b));
    series.set(key, [...(series.get(key) ?? []), b]);
  }
  return [...series.values()];
}

/**
 * addHistogram registers a histogram with probex's bounds and, per series, observes each bound as many
 * times as probex counted in that bucket (past the last bound: twice the last bound), so every bucket
 * and `_count` match; `_sum` is the sum of those values, not of probex's latencies.
 */
function addHistogram(register: Registry, name: string, help: string, samples: readonly ExpositionSample[]): void {
  const buckets = samples.filter((s) => s.name === `${name}_bucket`);
  const bounds = [...new Set(buckets.map((s) => Number(s.labels.le)))].filter(Number.isFinite).sort((a, b) => a - b);
  const overflow = 2 * (bounds.at(-1) ?? 1);
  const histogram = new Histogram({
    name,
    help,
    labelNames: labelNamesOf(buckets),
    buckets: bounds,
    registers: [register],
  });
  for (const series of groupBySeries(buckets)) {
    const labels = labelsOf(series[0]!);
    histogram.zero(labels);
    let below = 0;
    for (const bucket of series.sort((a, b) => Number(a.labels.le) - Number(b.labels.le))) {
      const le = Number(bucket.labels.le);
      for (let i = below; i < bucket.value; i++) histogram.observe(labels, Number.isFinite(le) ? le : overflow);
      below = bucket.value;
    }
  }
}

/** addFamily registers one family of the exposition in `register` with its samples' values. */
function addFamily(
  register: Registry,
  name: string,
  type: string,
  help: string,
  samples: readonly ExpositionSample[],
): void {
  if (type === 'histogram') {
    addHistogram(
      register,
      name,
      help,
      samples.filter((s) => HISTOGRAM_SUFFIXES.some((x) => s.name === name + x)),
    );
    return;
  }
  const own = samples.filter((s) => s.name === name);
  const config = { name, help, labelNames: labelNamesOf(own), registers: [register] };
  if (type === 'counter') {
    const counter = new Counter(config);
    for (const s of own) counter.inc(s.labels, s.value);
  } else if (type === 'gauge') {
    const gauge = new Gauge(config);
    for (const s of own) gauge.set(s.labels, s.value);
  } else {
    throw new Error(`family ${name}: type ${type} has no prom-client baseline`);
  }
}

/** registryFor builds a prom-client Registry holding every family of a Prometheus text exposition. */
function registryFor(text: string): Registry {
  const register = new Registry();
  const samples = parseExposition(text);
  for (const [name, { type, help }] of parseMetadata(text)) {
    if (type === undefined || help === undefined) throw new Error(`family ${name} lacks # TYPE or # HELP`);
    addFamily(register, name, type, help, samples);
  }
  return register;
}

/** respond answers one request: /metrics rendered now, gzipped now when asked, anything else 404. */
async function respond(register: Registry, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.url !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  const body = await register.metrics();
  if ((req.headers['accept-encoding'] ?? '').includes('gzip')) {
    res.writeHead(200, { 'content-type': register.contentType, 'content-encoding': 'gzip' }).end(await gzipAsync(body));
  } else {
    res.writeHead(200, { 'content-type': register.contentType }).end(body);
  }
}

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: baseline-prom-client.ts <capture dir>');
const register = registryFor(readFileSync(join(dir, readCapture(dir).plain.file), 'utf8'));
const server = http.createServer((req, res) => {
  respond(register, req, res).catch((err: unknown) => {
    console.error(err);
    res.writeHead(500).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  announcePort((server.address() as { port: number }).port);
});
