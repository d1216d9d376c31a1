/**
 * The physical limit for bench/load.ts: a bare uWebSockets.js server that answers every GET /metrics with
 * bytes it already holds, the very bytes probex served (plain and gzip; protobuf in a --protobuf run),
 * with probex's headers. No auth, no snapshot read, no Accept-Encoding parsing beyond a substring test.
 *   tsx bench/raw-uws.ts <dir>   (dir holds the files written by load.ts `writeCapture`)
 * Announces its port on stdout once listening (load-ipc.ts `announcePort`); SIGTERM ends it (no handler).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import uWS from 'uWebSockets.js';
import { announcePort, readCapture, type CapturedResponse } from './load-ipc.ts';

/** ResponseBytes is one captured response, ready to send: header pairs and the body. */
interface ResponseBytes {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/** toResponse loads a captured body from `dir` and keeps its headers. */
function toResponse(dir: string, captured: CapturedResponse): ResponseBytes {
  return { headers: Object.entries(captured.headers), body: readFileSync(join(dir, captured.file)) };
}

/** send writes one whole response in uWS's required order: status, headers, body. */
function send(res: uWS.HttpResponse, response: ResponseBytes): void {
  res.writeStatus('200 OK');
  for (const [name, value] of response.headers) res.writeHeader(name, value);
  res.end(response.body);
}

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: raw-uws.ts <capture dir>');
if (!Function.prototype.toString.call(uWS.App).includes('[native code]')) {
  throw new Error('uWebSockets.js fell back to its JS shim: the raw baseline must be the native build');
}
const capture = readCapture(dir);
// A protobuf run (load.ts --protobuf) serves the protobuf bytes probex served for its Accept header.
const served = capture.protobuf ?? capture;
const plain = toResponse(dir, served.plain);
const gzip = toResponse(dir, served.gzip);

const app = uWS.App();
app.get('/metrics', (res, req) => {
  send(res, req.getHeader('accept-encoding').includes('gzip') ? gzip : plain);
});
app.listen('127.0.0.1', 0, (token) => {
  if (token === false) throw new Error('raw uWS: cannot listen');
  announcePort(uWS.us_socket_local_port(token));
});
