/**
 * The physical limit for bench/process/load.ts: a bare uWebSockets.js server that answers every GET /metrics with
 * bytes it already holds, the very bytes probex served (plain and gzip; protobuf in a --protobuf run),
 * with probex's headers. No auth, no snapshot read, no Accept-Encoding parsing beyond a substring test.
 * It loads uWebSockets.js with probex's own loader, so both serve from the same build.
 *   tsx bench/lib/raw-uws.ts <dir> [<cert.pem> <key.pem>]   (dir holds the files written by load.ts `writeCapture`;
 *   with a certificate and key it is uWS's SSLApp, the limit for bench/process/tls.ts)
 * Announces its port on stdout once listening (load-ipc.ts `announcePort`); SIGTERM ends it (no handler).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as uWS from 'uWebSockets.js';
import { loadNativeUws } from '../../src/http/uws.ts';
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
const { uws } = loadNativeUws();
const capture = readCapture(dir);
// A protobuf run (load.ts --protobuf) serves the protobuf bytes probex served for its Accept header.
const served = capture.protobuf ?? capture;
const plain = toResponse(dir, served.plain);
const gzip = toResponse(dir, served.gzip);

// With a certificate and key: uWS's own TLS, as probex's `uws-tls` listener serves it.
const [certFile, keyFile] = process.argv.slice(3);
const app =
  certFile === undefined || keyFile === undefined
    ? uws.App()
    : uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile });
app.get('/metrics', (res, req) => {
  send(res, req.getHeader('accept-encoding').includes('gzip') ? gzip : plain);
});
app.listen('127.0.0.1', 0, (token) => {
  if (token === false) throw new Error('raw uWS: cannot listen');
  announcePort(uws.us_socket_local_port(token));
});
