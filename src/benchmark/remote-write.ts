/**
 * Prometheus remote write 1.0 for `probex run --remote-write`: the run's metric families as a
 * prometheus.WriteRequest (prometheus/prompb types.proto and remote.proto), snappy-compressed (block
 * format, as the protocol requires), POSTed to every receiver every few seconds and once at the end.
 *
 * The encoding (encodeWriteRequest) is pure. Each family becomes the series Prometheus would store had it
 * scraped them: a counter's `_total` (as text 0.0.4 names it), a gauge, a histogram's `_bucket{le}` (with
 * `+Inf`), `_sum` and `_count`, and, when the receiver takes native histograms, the same observations as a
 * native histogram in TimeSeries.histograms under the family's own name. Every series gets the caller's
 * extra labels (the run id) and one timestamp per push. Labels are sorted by name, as receivers require.
 *
 * Sending (RemoteWriteSender) never decides the run: a receiver that is down or refuses makes a warning
 * on stderr and a line in summary.json, nothing else. Each receiver has its own bounded queue of pushes;
 * values are cumulative, so when the queue is full the oldest waiting push is dropped (the next carries
 * what it had). A failed push is retried with exponential backoff when it may succeed later (a network
 * error, 429, 5xx) and dropped when it cannot (another 4xx): except that a 400 naming histograms turns
 * native histograms off for that receiver and resends the push with classic buckets only. The final push
 * has a deadline; what is still queued or in flight then is abandoned and reported.
 */
import protobuf from 'protobufjs/minimal.js';
import { compress } from 'snappyjs';
import { request } from 'undici';
import type { HistogramSample, Labels, MetricFamily } from '../metrics/model.ts';
import { redactUrl } from '../redact.ts';
import { VERSION } from '../version.ts';

/** REMOTE_WRITE_INTERVAL_MS is how often a run pushes its series while it lasts. */
export const REMOTE_WRITE_INTERVAL_MS = 5000;
/** REMOTE_WRITE_QUEUE is how many pushes may wait per receiver; a new one past it drops the oldest waiting. */
const REMOTE_WRITE_QUEUE = 8;
/** REMOTE_WRITE_TIMEOUT_MS bounds one request, from connect to the end of the answer. */
const REMOTE_WRITE_TIMEOUT_MS = 10_000;
/** REMOTE_WRITE_FINAL_MS is how long the run waits at its end for its pushes to be delivered. */
export const REMOTE_WRITE_FINAL_MS = 10_000;
/** BACKOFF_MIN_MS and BACKOFF_MAX_MS bound the wait before a retry (doubling from the first). */
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
/** ANSWER_CAP is how much of a receiver's answer is read, for the warning; the rest is discarded. */
const ANSWER_CAP = 1024;

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const tag = (field: number, wire: number): number => (field << 3) | wire;

/** EncodeOptions choose what one WriteRequest carries. */
interface EncodeOptions {
  /** labels are added to every series (e.g. `{ run: id }`); they win over a family's label of the same name. */
  readonly labels: Labels;
  readonly timestampMs: number;
  /** native adds each histogram's native buckets as a native histogram series. */
  readonly native: boolean;
}

/** encodeWriteRequest encodes families as one prometheus.WriteRequest (not compressed). */
function encodeWriteRequest(families: readonly MetricFamily[], options: EncodeOptions): Uint8Array {
  const w = protobuf.Writer.create();
  const series = (name: string, labels: Labels, value: number): void => {
    w.uint32(tag(1, LENGTH_DELIMITED)).fork(); // WriteRequest.timeseries
    writeLabels(w, name, labels, options.labels);
    w.uint32(tag(2, LENGTH_DELIMITED)).fork(); // TimeSeries.samples
    w.uint32(tag(1, FIXED64)).double(value);
    w.uint32(tag(2, VARINT)).int64(options.timestampMs);
    w.ldelim();
    w.ldelim();
  };
  for (const family of families) {
    if (family.type === 'counter') {
      const name = family.textName ?? `${family.name}_total`;
      for (const s of family.samples) series(name, s.labels, s.value);
    } else if (family.type === 'gauge') {
      for (const s of family.samples) series(family.name, s.labels, s.value);
    } else {
      for (const s of family.samples) {
        s.bounds.forEach((bound, i) =>
          series(`${family.name}_bucket`, { ...s.labels, le: formatBound(bound) }, s.cumulative[i] ?? 0),
        );
        series(`${family.name}_bucket`, { ...s.labels, le: '+Inf' }, s.count);
        series(`${family.name}_sum`, s.labels, s.sum);
        series(`${family.name}_count`, s.labels, s.count);
        if (options.native && s.native !== undefined) writeNative(w, family.name, s, options);
      }
    }
  }
  return w.finish();
}

/** writeNative writes one TimeSeries holding the sample's native histogram (prompb Histogram). */
function writeNative(w: protobuf.Writer, name: string, s: HistogramSample, options: EncodeOptions): void {
  const native = s.native!;
  w.uint32(tag(1, LENGTH_DELIMITED)).fork();
  writeLabels(w, name, s.labels, options.labels);
  w.uint32(tag(4, LENGTH_DELIMITED)).fork(); // TimeSeries.histograms
  w.uint32(tag(1, VARINT)).uint64(s.count); // count_int
  w.uint32(tag(3, FIXED64)).double(s.sum);
  w.uint32(tag(4, VARINT)).sint32(native.schema);
  w.uint32(tag(5, FIXED64)).double(native.zeroThreshold);
  w.uint32(tag(6, VARINT)).uint64(native.zeroCount); // zero_count_int
  for (const span of native.positiveSpans) {
    w.uint32(tag(11, LENGTH_DELIMITED)).fork();
    w.uint32(tag(1, VARINT)).sint32(span.offset);
    w.uint32(tag(2, VARINT)).uint32(span.length);
    w.ldelim();
  }
  if (native.positiveDeltas.length > 0) {
    w.uint32(tag(12, LENGTH_DELIMITED)).fork(); // packed sint64
    for (const delta of native.positiveDeltas) w.sint64(delta);
    w.ldelim();
  }
  w.uint32(tag(15, VARINT)).int64(options.timestampMs);
  w.ldelim();
  w.ldelim();
}

/** writeLabels writes `__name__` and every label, sorted by name (extra labels override the sample's). */
function writeLabels(w: protobuf.Writer, name: string, labels: Labels, extra: Labels): void {
  const all: Record<string, string> = { ...labels, ...extra, __name__: name };
  for (const key of Object.keys(all).sort(byCodeUnit)) {
    w.uint32(tag(1, LENGTH_DELIMITED)).fork();
    w.uint32(tag(1, LENGTH_DELIMITED)).string(key);
    w.uint32(tag(2, LENGTH_DELIMITED)).string(all[key]!);
    w.ldelim();
  }
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** formatBound writes a bucket bound as the text exposition does (Go's float formatting for `le`). */
function formatBound(bound: number): string {
  return Number.isInteger(bound) ? bound.toFixed(1) : String(bound);
}

/** RemoteWriteEndpoint is one receiver: its URL and the headers every request to it carries. */
export interface RemoteWriteEndpoint {
  readonly url: string;
  /** headers are the user's (--remote-write-header) plus Authorization from the environment. */
  readonly headers: Readonly<Record<string, string>>;
}

/** RemoteWriteReport is what summary.json says of one receiver. */
export interface RemoteWriteReport {
  /** url is the receiver's URL with any secret redacted. */
  readonly url: string;
  /** pushes is how many pushes the run made to it; delivered + undelivered. */
  readonly pushes: number;
  readonly delivered: number;
  /** undelivered pushes: refused, dropped from a full queue, or still pending at the final deadline. */
  readonly undelivered: number;
  /** finalDelivered says whether the last push, with the run's final values, reached it. */
  readonly finalDelivered: boolean;
  /** nativeHistograms is false when the receiver refused them and got classic buckets only. */
  readonly nativeHistograms: boolean;
  /** lastError is the last failure, when there was one. */
  readonly lastError?: string;
}

interface Push {
  readonly families: readonly MetricFamily[];
  readonly timestampMs: number;
  readonly final: boolean;
}

type Outcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly retry: boolean; readonly error: string; readonly histograms?: boolean };

/** SenderOptions are a sender's fixed inputs; `warn` takes one line (no newline). */
export interface SenderOptions {
  readonly labels: Labels;
  readonly warn: (line: string) => void;
  /** timeoutMs bounds each request (default REMOTE_WRITE_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** RemoteWriteSender pushes to one receiver, in the background, in order. */
export class RemoteWriteSender {
  readonly #endpoint: RemoteWriteEndpoint;
  readonly #shownUrl: string;
  readonly #options: SenderOptions;
  readonly #queue: Push[] = [];
  readonly #abort = new AbortController();
  #native = true;
  #pushes = 0;
  #delivered = 0;
  #undelivered = 0;
  #finalDelivered = false;
  #lastError: string | undefined;
  /** #failing is set from a failure's warning to the next delivery, so a down receiver warns once, not per retry. */
  #failing = false;
  #pumping: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(endpoint: RemoteWriteEndpoint, options: SenderOptions) {
    this.#endpoint = endpoint;
    this.#shownUrl = redactUrl(endpoint.url);
    this.#options = options;
  }

  /** push queues the families (a snapshot the caller no longer changes) for delivery. */
  push(families: readonly MetricFamily[], timestampMs: number, final = false): void {
    if (this.#closed) return;
    this.#pushes++;
    if (this.#queue.length >= REMOTE_WRITE_QUEUE) {
      // The head may be in flight: drop the oldest one waiting behind it.
      this.#queue.splice(1, 1);
      this.#undelivered++;
      this.#fail('queue full: a push waiting behind a slow receiver was dropped (the next carries its values)', false);
    }
    this.#queue.push({ families, timestampMs, final });
    this.#kick();
  }

  /** #kick starts the pump unless it runs; a push that lands as it ends starts it again. */
  #kick(): void {
    if (this.#pumping !== undefined) return;
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = undefined;
      if (this.#queue.length > 0 && !this.#abort.signal.aborted) this.#kick();
    });
  }

  /**
   * close pushes the final values and resolves once everything queued is delivered or given up, or at
   * `deadlineMs` (then the request in flight is aborted and what is left counts as undelivered).
   */
  async close(families: readonly MetricFamily[], timestampMs: number, deadlineMs: number): Promise<RemoteWriteReport> {
    this.push(families, timestampMs, true);
    this.#closed = true;
    // At the deadline the request in flight is aborted and a backoff wait cut short: the pump then ends.
    const timer = setTimeout(() => {
      this.#abort.abort();
      this.#wake?.();
    }, deadlineMs);
    while (this.#pumping !== undefined) await this.#pumping;
    clearTimeout(timer);
    if (this.#queue.length > 0) {
      this.#undelivered += this.#queue.length;
      this.#fail(`${this.#queue.length} push(es) not delivered within the final ${deadlineMs / 1000}s`, false);
      this.#queue.length = 0;
    }
    return this.report();
  }

  /** report says what was and was not delivered so far. */
  report(): RemoteWriteReport {
    return {
      url: this.#shownUrl,
      pushes: this.#pushes,
      delivered: this.#delivered,
      undelivered: this.#undelivered,
      finalDelivered: this.#finalDelivered,
      nativeHistograms: this.#native,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  async #pump(): Promise<void> {
    let attempt = 0;
    while (this.#queue.length > 0 && !this.#abort.signal.aborted) {
      const push = this.#queue[0]!;
      const outcome = await this.#send(push);
      if (this.#abort.signal.aborted) return;
      if (outcome.ok) {
        this.#queue.shift();
        this.#delivered++;
        if (push.final) this.#finalDelivered = true;
        if (this.#failing) this.#options.warn(`remote write to ${this.#shownUrl}: delivering again`);
        this.#failing = false;
        attempt = 0;
        continue;
      }
      if (outcome.histograms === true && this.#native) {
        this.#native = false;
        this.#options.warn(
          `remote write to ${this.#shownUrl}: the receiver refused native histograms (${outcome.error}); sending classic buckets only`,
        );
        continue;
      }
      if (!outcome.retry) {
        this.#queue.shift();
        this.#undelivered++;
        this.#fail(`${outcome.error}; push dropped`, true);
        attempt = 0;
        continue;
      }
      this.#fail(`${outcome.error}; retrying`, true);
      await this.#sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt++));
    }
  }

  /** #fail records an error, and warns unless this receiver is already known to be failing. */
  #fail(error: string, streak: boolean): void {
    this.#lastError = error;
    if (!streak || !this.#failing) this.#options.warn(`remote write to ${this.#shownUrl}: ${error}`);
    if (streak) this.#failing = true;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #send(push: Push): Promise<Outcome> {
    const body = compress(
      encodeWriteRequest(push.families, {
        labels: this.#options.labels,
        timestampMs: push.timestampMs,
        native: this.#native,
      }),
    );
    const signal = AbortSignal.any([
      this.#abort.signal,
      AbortSignal.timeout(this.#options.timeoutMs ?? REMOTE_WRITE_TIMEOUT_MS),
    ]);
    try {
      const res = await request(this.#endpoint.url, {
        method: 'POST',
        headers: {
          ...this.#endpoint.headers,
          'content-type': 'application/x-protobuf',
          'content-encoding': 'snappy',
          'x-prometheus-remote-write-version': '0.1.0',
          'user-agent': `probex/${VERSION}`,
        },
        body,
        signal,
      });
      const answer = await readCapped(res.body, ANSWER_CAP);
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true };
      const error = `HTTP ${res.statusCode}${answer === '' ? '' : `: ${oneLine(answer)}`}`;
      return {
        ok: false,
        retry: res.statusCode === 429 || res.statusCode >= 500,
        error,
        histograms: res.statusCode === 400 && /histogram/i.test(answer),
      };
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      const code = e.code ?? e.cause?.code;
      return { ok: false, retry: true, error: code === undefined ? oneLine(e.message) : code };
    }
  }
}

/** readCapped reads at most `cap` bytes of a body as text and discards the rest. */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(): unknown }, cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < cap) chunks.push(chunk);
    size += chunk.length;
    if (size >= cap) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}
