/**
 * What bench/process/load.ts exchanges with its child processes. The baseline servers get probex's /metrics
 * responses (plain and gzip), captured once as body files plus a manifest in a temp dir, so they serve
 * the same families (prom-client) or the very same bytes (raw uWS); they answer with their port. The load
 * generators get a GeneratorTask as their argument and answer with one GeneratorReport line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** MANIFEST is the file in the capture dir that names the body files and their headers. */
const MANIFEST = 'capture.json';

/** CapturedResponse is one response probex sent: its body file (in the capture dir) and its headers. */
export interface CapturedResponse {
  readonly file: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Capture is probex's text /metrics answer without and with Accept-Encoding: gzip, and, when the run
 * scrapes protobuf (load.ts --protobuf), its protobuf answers, which raw uWS then serves instead.
 */
export interface Capture {
  readonly plain: CapturedResponse;
  readonly gzip: CapturedResponse;
  readonly protobuf?: { readonly plain: CapturedResponse; readonly gzip: CapturedResponse };
}

/** writeCapture writes the bodies and the manifest into `dir`. */
export function writeCapture(
  dir: string,
  plain: CapturedBody,
  gzip: CapturedBody,
  protobuf?: { plain: CapturedBody; gzip: CapturedBody },
): Capture {
  const capture: Capture = {
    plain: { file: 'metrics.txt', headers: plain.headers },
    gzip: { file: 'metrics.txt.gz', headers: gzip.headers },
    ...(protobuf === undefined
      ? {}
      : {
          protobuf: {
            plain: { file: 'metrics.pb', headers: protobuf.plain.headers },
            gzip: { file: 'metrics.pb.gz', headers: protobuf.gzip.headers },
          },
        }),
  };
  writeFileSync(join(dir, capture.plain.file), plain.body);
  writeFileSync(join(dir, capture.gzip.file), gzip.body);
  if (protobuf !== undefined && capture.protobuf !== undefined) {
    writeFileSync(join(dir, capture.protobuf.plain.file), protobuf.plain.body);
    writeFileSync(join(dir, capture.protobuf.gzip.file), protobuf.gzip.body);
  }
  writeFileSync(join(dir, MANIFEST), JSON.stringify(capture));
  return capture;
}

/** readCapture reads the manifest written by writeCapture. */
export function readCapture(dir: string): Capture {
  return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Capture;
}

/** CapturedBody is a fetched body with the headers a server has to repeat to send the same response. */
export interface CapturedBody {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** announcePort tells the parent (load.ts `spawnServer`) where a baseline server listens. */
export function announcePort(port: number): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

/** GeneratorTask is one bench/lib/load-generator.ts run: autocannon against `url` for `seconds`. */
export interface GeneratorTask {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** GeneratorReport is what one load generator measured; latencies are an HDR histogram in µs. */
export interface GeneratorReport {
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly latencyUsBase64: string;
}
