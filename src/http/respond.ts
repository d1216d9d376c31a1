/**
 * The one place that writes status and headers (uWS requires writeStatus first, then headers, then end).
 * Status lines are interned strings; bodies are bytes rendered before the request arrived.
 */
import type { HttpResponse } from 'uWebSockets.js';

/** STATUS maps the codes probex answers with to their status lines. */
const STATUS = {
  200: '200 OK',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  406: '406 Not Acceptable',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
} as const;
export type Status = keyof typeof STATUS;

/** TEXT_CONTENT_TYPE is used for short plain-text answers (health, errors). */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

/**
 * HeaderText is a status line, header name or value: a string, or its bytes. uWS converts a string
 * argument to UTF-8 on every call; bytes are passed as they are, so the scrape path's constant header
 * lines are encoded once (headerBytes) rather than on every response.
 */
export type HeaderText = string | Uint8Array;

/** headerBytes encodes a header line's text once, for reuse on every response. */
export function headerBytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

/** Headers are extra response headers as [name, value] pairs (lower-case names). */
export type Headers = ReadonlyArray<readonly [HeaderText, HeaderText]>;

const STATUS_LINE = Object.fromEntries(
  Object.entries(STATUS).map(([code, line]) => [code, headerBytes(line)]),
) as unknown as Readonly<Record<Status, Uint8Array>>;
const CONTENT_TYPE = headerBytes('content-type');

/**
 * commonHeaders go on every response: the web config's security headers (http_server_config.headers),
 * as exporter-toolkit sets them on every response, 401 and 429 included. One front end per process, so
 * one list; setCommonHeaders replaces it on start and reload.
 */
let commonHeaders: Headers = [];

/** setCommonHeaders sets the headers every response carries from now on. */
export function setCommonHeaders(headers: ReadonlyArray<readonly [string, string]>): void {
  commonHeaders = headers.map(([name, value]) => [headerBytes(name), headerBytes(value)] as const);
}

/**
 * send writes one complete response. `head` answers a HEAD request: same headers, the body's length
 * reported, no body. It must run in the handler's synchronous part (corked by uWS) or inside res.cork.
 */
export function send(
  res: HttpResponse,
  status: Status,
  contentType: HeaderText,
  body: Uint8Array | string,
  head = false,
  headers: Headers = [],
): void {
  res.writeStatus(STATUS_LINE[status]);
  if (status !== 204) res.writeHeader(CONTENT_TYPE, contentType);
  for (const [name, value] of headers) res.writeHeader(name, value);
  for (const [name, value] of commonHeaders) res.writeHeader(name, value);
  if (status === 204) {
    res.endWithoutBody(); // no Content-Length on a 204 (RFC 9110 §8.6)
  } else if (head) {
    endHead(res, typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  } else {
    endBody(res, body);
  }
}

/*
 * Backpressure. uWS's end() copies whatever the kernel does not take into a buffer of the connection's own,
 * and goes on parsing: a client that pipelines requests and never reads would make probex hold a copy of
 * every body it asked for, without limit. tryEnd never copies a body: it writes what the kernel takes and
 * reports whether that was all. So:
 *  - Normally it was (or the response fits uWS's 16 KB cork buffer, flushed when the handler returns):
 *    the response is done, as with end(), and probex allocates nothing (uWS.js returns [ok, done] in a
 *    small array of its own).
 *  - Otherwise the response stays in flight and the rest is sent from the same bytes (the snapshot's own
 *    copy, shared by every connection) each time the socket drains, as uWS's VideoStreamer example does.
 *  - A request that arrives on a connection whose response is still in flight makes uWS close that
 *    connection ("not ready for another request"): a client gets at most one response ahead of what it
 *    has read. What probex holds per connection is bounded by the cork buffer plus one response's headers.
 * A reader that stops reading for ~10 s is dropped by uWS's own timeout, which tryEnd arms when it falls
 * short; onAborted then releases the body.
 */

/** endBody sends body, streaming the part the kernel does not take at once as the socket drains. */
function endBody(res: HttpResponse, body: Uint8Array | string): void {
  const total = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  // tryEnd answers [ok, done]; index it rather than destructure (no iterator on the hot path).
  if (res.tryEnd(body, total)[0]) return;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.onAborted(noop);
  res.onWritable((offset) => res.tryEnd(bytes.subarray(offset), total)[0]);
}

/**
 * endHead ends a HEAD response: the headers with the GET body's length, and no body. uWebSockets.js builds
 * differ in what they make of a response that reports a length without sending it. The current one (20.57)
 * counts it as done, as HTTP does, and the connection takes the next request. The legacy one (20.30) keeps
 * it in flight, waiting for body bytes HEAD must not send: the connection takes no further request and
 * nothing ever times it out. tryEnd says which happened ([ok, done]); when the response is still in flight,
 * probex closes the connection once the handler has returned and uWS has flushed the headers (closing also
 * bounds a HEAD flood there, whose answers have no body for tryEnd to measure backpressure with). HEAD is
 * not the scrape path; the two closures here are its only allocations.
 */
function endHead(res: HttpResponse, length: number): void {
  if (length === 0) {
    res.endWithoutBody(0, true); // nothing to wait for: done, and uWS closes the connection after the flush
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  if (res.tryEnd(EMPTY, length)[1]) return; // done: the build answered HEAD as HTTP does
  setImmediate(() => {
    if (!aborted) res.close();
  });
}

const EMPTY = new Uint8Array(0);

function noop(): void {}
