/**
 * Where in the publish cycle slow scrapes fall, against a probex you started yourself:
 *   tsx bench/process/scrape-phases.ts [--port 9469] [--seconds 15] [--slow-ms 1]
 * One keep-alive connection on a raw socket (no HTTP client library, little garbage of its own) sends
 * GET /metrics with gzip back to back. It prints p50/p90/p99 and, for the scrapes slower than --slow-ms,
 * a histogram by their time since the last publish (100 ms bins, phase from probex_snapshot_timestamp_seconds).
 * Slow scrapes piling up in the first bins are the publisher's burst; an even spread is background load.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9469' },
    seconds: { type: 'string', default: '15' },
    'slow-ms': { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const slowMs = Number(values['slow-ms']);

const exposition = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const publishedMs = Number(/^probex_snapshot_timestamp_seconds (\S+)/m.exec(exposition)?.[1]) * 1000;
if (!Number.isFinite(publishedMs)) throw new Error('no probex_snapshot_timestamp_seconds in /metrics');

const request = Buffer.from('GET /metrics HTTP/1.1\r\nHost: probex\r\nAccept-Encoding: gzip\r\n\r\n');
const socket = net.connect(port, '127.0.0.1');
await new Promise((resolve) => socket.once('connect', resolve));

const latencies: number[] = [];
const slowPhases: number[] = [];
const until = Date.now() + Number(values.seconds) * 1000;
let sentAt = 0;
let received = 0;
let expected = -1;
let head = '';

const send = (): void => {
  received = 0;
  expected = -1;
  head = '';
  sentAt = performance.now();
  socket.write(request);
};

socket.on('data', (chunk: Buffer) => {
  received += chunk.length;
  if (expected < 0) {
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    expected = end + 4 + Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
  }
  if (received < expected) return;
  const ms = performance.now() - sentAt;
  latencies.push(ms);
  if (ms > slowMs) slowPhases.push((((Date.now() - publishedMs) % 1000) + 1000) % 1000);
  if (Date.now() < until) send();
  else report();
});

function report(): void {
  socket.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number): string => latencies[Math.floor(p * (latencies.length - 1))]!.toFixed(3);
  console.log(
    `scrapes ${latencies.length}: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms; slower than ${slowMs} ms: ${slowPhases.length}`,
  );
  const bins = new Array<number>(10).fill(0);
  for (const phase of slowPhases) bins[Math.min(9, Math.floor(phase / 100))]!++;
  console.log(
    `slow scrapes by ms since the last publish: ${bins.map((n, i) => `${i * 100}-${i * 100 + 99}: ${n}`).join(', ')}`,
  );
}

send();
