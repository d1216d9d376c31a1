/**
 * The one place that writes status and headers (uWS requires writeStatus first, then headers, then end).
 * Status lines are interned strings; bodies are bytes rendered before the request arrived.
 */
import type { HttpResponse } from 'uWebSockets.js';

/** STATUS maps the codes probex answers with to their status lines. */
export const STATUS = {
  200: '200 OK',
  204: '204 No Content',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  406: '406 Not Acceptable',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
} as const;
export type Status = keyof typeof STATUS;

/** TEXT_CONTENT_TYPE is used for short plain-text answers (health, errors). */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** Headers are extra response headers as [name, value] pairs (lower-case names). */
export type Headers = ReadonlyArray<readonly [string, string]>;

/**
 * send writes one complete response. `head` answers a HEAD request: same headers, the body's length
 * reported, no body. It must run in the handler's synchronous part (corked by uWS) or inside res.cork.
 */
export function send(res: HttpResponse, status: Status, contentType: string, body: Uint8Array | string,
  head = false, headers: Headers = []): void {
  // This uWS build's endWithoutBody does not count as responding: returning from the handler after it
  // aborts the process ("Returning from a request handler without responding..."). A no-op abort
  // handler satisfies that check; the response is complete either way.
  if (head || status === 204) res.onAborted(noop);
  res.writeStatus(STATUS[status]);
  if (status !== 204) res.writeHeader('content-type', contentType);
  for (const [name, value] of headers) res.writeHeader(name, value);
  if (status === 204) {
    res.endWithoutBody(0);
  } else if (head) {
    res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  } else {
    res.end(body);
  }
}

function noop(): void {}

/**
 * acceptsGzip reports whether an Accept-Encoding header allows gzip (RFC 9110 12.5.3): `gzip` or `*`
 * with a q-value above 0. It never throws on malformed input; anything unparseable means no.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined || header === '' || header.length > 1024) return false;
  let star = false;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';');
    const name = coding.trim().toLowerCase();
    if (name !== 'gzip' && name !== 'x-gzip' && name !== '*') continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
      else if (/^\s*q\s*=/i.test(p)) q = 0; // a malformed q-value is not consent
    }
    if (name === '*') star = q > 0;
    else return q > 0;
  }
  return star;
}

/**
 * lastValueCache wraps a pure header predicate with a one-entry cache. A scraper sends the same Accept and
 * Accept-Encoding on every scrape (Prometheus's Accept is ~150 bytes of media ranges), so the parse runs
 * once per distinct value instead of once per request; a comparison of equal strings is all that is left.
 */
export function lastValueCache(predicate: (header: string | undefined) => boolean): (header: string | undefined) => boolean {
  let lastHeader: string | undefined;
  let lastAnswer = predicate(undefined);
  return (header) => {
    if (header !== lastHeader) {
      lastAnswer = predicate(header);
      lastHeader = header;
    }
    return lastAnswer;
  };
}
