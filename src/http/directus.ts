/**
 * `/metrics` under the directus profile: answered as Directus 12's metrics controller answers
 * (api/src/controllers/metrics.ts, behind Express), so a scraper, proxy or alert built against Directus
 * sees the same statuses, headers and bodies.
 *
 * - Prometheus text, whatever the Accept header asks for: Directus ignores Accept, and answering
 *   Prometheus's preferred OpenMetrics would make it store every counter with `_total` and add `_created`
 *   series. So no OpenMetrics and no protobuf (nor native histograms) here.
 * - 200: `Content-Type: text/plain; charset=utf-8` (Express's spelling of Directus's `text/plain`),
 *   `Cache-Control: no-cache` and `Vary: Origin, Cache-Control`, to which probex adds Accept-Encoding:
 *   unlike Directus it gzips when asked, and a cache must know that.
 * - A missing, unknown or insufficient token: 403 with Directus's FORBIDDEN error body as
 *   `application/json; charset=utf-8` and no challenge, where the probex profile answers 401 text. The
 *   checks are the probex profile's (tokens, the web config's basic auth and rate limit); only the
 *   refusals are Directus's.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { DemandCounts } from '../render/plan.ts';
import type { SnapshotReader } from '../snapshot/reader.ts';
import { authorized, type AuthHolder, type Refuse, type RequestView } from './authorize.ts';
import { headerBytes, send, type Headers } from './respond.ts';

/** DIRECTUS_METRICS_CONTENT_TYPE is the Content-Type of Directus's /metrics body. */
const DIRECTUS_METRICS_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** DIRECTUS_ERROR_CONTENT_TYPE is the Content-Type of Directus's error bodies. */
const DIRECTUS_ERROR_CONTENT_TYPE = 'application/json; charset=utf-8';

/** DIRECTUS_FORBIDDEN_BODY is Directus's answer to a request its METRICS_TOKENS do not allow. */
const DIRECTUS_FORBIDDEN_BODY =
  '{"errors":[{"message":"You don\'t have permission to access this.","extensions":{"code":"FORBIDDEN"}}]}';

const FORBIDDEN = headerBytes(DIRECTUS_FORBIDDEN_BODY);
/** SERVICE_UNAVAILABLE answers before the first publish, in the shape of Directus's ServiceUnavailableError. */
const SERVICE_UNAVAILABLE = headerBytes(
  '{"errors":[{"message":"Service \\"probex\\" is unavailable. No snapshot published yet.","extensions":{"code":"SERVICE_UNAVAILABLE","service":"probex","reason":"No snapshot published yet"}}]}',
);
const CONTENT_TYPE = headerBytes(DIRECTUS_METRICS_CONTENT_TYPE);
const ERROR_CONTENT_TYPE = headerBytes(DIRECTUS_ERROR_CONTENT_TYPE);
const PLAIN: Headers = [
  [headerBytes('cache-control'), headerBytes('no-cache')],
  [headerBytes('vary'), headerBytes('Origin, Cache-Control, Accept-Encoding')],
];
const GZIP: Headers = [...PLAIN, [headerBytes('content-encoding'), headerBytes('gzip')]];

/**
 * refuseAsDirectus answers a refused request as Directus would: 401 and 403 become its 403 FORBIDDEN
 * (Directus has no challenge to offer), other statuses (429, 503) keep theirs with an error of its shape.
 */
const refuseAsDirectus: Refuse = (res, status, message, head, headers = []) => {
  if (status === 401 || status === 403) {
    send(res, 403, ERROR_CONTENT_TYPE, FORBIDDEN, head);
    return;
  }
  const body = JSON.stringify({ errors: [{ message, extensions: { code: directusErrorCode(status) } }] });
  send(res, status, ERROR_CONTENT_TYPE, body, head, headers);
};

function directusErrorCode(status: number): string {
  return status === 429 ? 'REQUESTS_EXCEEDED' : status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR';
}

/** DirectusScrape is what serveDirectusMetrics reads of the front end (server.ts's ServerContext has it all). */
export interface DirectusScrape extends AuthHolder {
  readonly snapshot: SnapshotReader;
  readonly counters: { scrapes: number; readonly demand: DemandCounts };
  readonly gzip: (acceptEncoding: string | undefined) => boolean;
}

/** serveDirectusMetrics answers GET or HEAD /metrics under the directus profile. */
export function serveDirectusMetrics(ctx: DirectusScrape, res: HttpResponse, req: RequestView, head: boolean): void {
  if (!authorized(ctx, res, req, 'metrics', refuseAsDirectus, head)) return;
  const gzip = ctx.gzip(req.getHeader('accept-encoding'));
  const body = ctx.snapshot.get(gzip ? 'text.gz' : 'text');
  if (body === undefined) {
    send(res, 503, ERROR_CONTENT_TYPE, SERVICE_UNAVAILABLE, head);
    return;
  }
  ctx.counters.scrapes++;
  ctx.counters.demand.text++;
  send(res, 200, CONTENT_TYPE, body, head, gzip ? GZIP : PLAIN);
}
