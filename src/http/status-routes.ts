/**
 * The status page (`GET /`) and the HDR exports (`GET /hdr/{target}`), as module-level handlers over a
 * small context. Like every route they answer in the handler's synchronous part with bytes the publisher
 * rendered into the snapshot (`status`, `status.gz`, `hdr:{target}`, `hgrm:{target}`): no rendering, no await.
 */
import type { DemandCounts } from '../render/plan.ts';
import type { HttpResponse } from 'uWebSockets.js';
import { hdrKey } from '../snapshot/keys.ts';
import { STATUS_PAGE_CONTENT_TYPE, STATUS_PAGE_CSP } from '../render/status-page.ts';
import type { SnapshotReader } from '../snapshot/reader.ts';
import { authorized, refuseText, type AuthHolder, type AuthState, type RequestView } from './authorize.ts';
import { send, TEXT_CONTENT_TYPE, type Headers } from './respond.ts';

/**
 * StatusContext is what these routes read: the snapshot, the tokens and target names a reload may swap, and
 * the server's cached Accept-Encoding check.
 */
export interface StatusContext extends AuthHolder {
  readonly snapshot: SnapshotReader;
  readonly state: AuthState & { readonly targetNames: ReadonlySet<string> };
  readonly gzip: (acceptEncoding: string | undefined) => boolean;
  /**
   * counters, when given, count the status pages and HDR exports asked for, so the publisher renders them
   * while they are asked for, and name the targets whose export was missing, to be exported first.
   */
  readonly counters?: { readonly demand: DemandCounts; readonly hdrWanted: Set<string> };
}

/** MAX_WANTED bounds the targets named per stats report as wanted (a client asking for all of them gets the rotation). */
const MAX_WANTED = 64;

/** HDR_CONTENT_TYPE is the content type of the base64 export (one line of ASCII). */
const HDR_CONTENT_TYPE = 'text/plain; charset=us-ascii';
/** HGRM_CONTENT_TYPE is the content type of the `.hgrm` export. */
const HGRM_CONTENT_TYPE = 'text/plain; charset=us-ascii';

/** HDR_PREFIX is the path prefix of the HDR exports. */
export const HDR_PREFIX = '/hdr/';

const PAGE_HEADERS: Headers = [
  ['content-security-policy', STATUS_PAGE_CSP],
  ['x-content-type-options', 'nosniff'],
  ['cache-control', 'no-store'],
  ['vary', 'Accept-Encoding'],
];
const PAGE_GZIP: Headers = [...PAGE_HEADERS, ['content-encoding', 'gzip']];
const EXPORT_HEADERS: Headers = [
  ['x-content-type-options', 'nosniff'],
  ['cache-control', 'no-store'],
];

/** serveStatus answers `GET /` (and HEAD): the status page, gzip when accepted. */
export function serveStatus(ctx: StatusContext, res: HttpResponse, req: RequestView, head: boolean): void {
  if (!authorized(ctx, res, req, 'status', refuseText, head)) return;
  const gzip = ctx.gzip(req.getHeader('accept-encoding'));
  // Counted before it is found: a page not rendered (render/plan.ts) is rendered once it is asked for.
  if (ctx.counters !== undefined) ctx.counters.demand.status++;
  const body = ctx.snapshot.get(gzip ? 'status.gz' : 'status');
  if (body === undefined) {
    send(res, 503, TEXT_CONTENT_TYPE, 'no status page published yet\n', head, [['retry-after', '1']]);
    return;
  }
  send(res, 200, STATUS_PAGE_CONTENT_TYPE, body, head, gzip ? PAGE_GZIP : PAGE_HEADERS);
}

/**
 * serveHdr answers `GET /hdr/{target}`: the target's cumulative HDR histogram of successful probe latencies
 * in µs, as V2 compressed base64, or with `?format=hgrm` as the `.hgrm` percentile distribution (ms).
 * `url` is req.getUrl() (no query). Unknown target 404; a known target not exported yet 503.
 */
export function serveHdr(ctx: StatusContext, res: HttpResponse, req: RequestView, url: string, head: boolean): void {
  const format = req.getQuery('format') ?? '';
  const target = targetOf(url);
  if (!authorized(ctx, res, req, 'api-metrics', refuseText, head)) return;
  if (format !== '' && format !== 'hgrm' && format !== 'base64') {
    send(res, 400, TEXT_CONTENT_TYPE, 'format must be hgrm or base64\n', head);
    return;
  }
  if (target === undefined || !ctx.state.targetNames.has(target)) {
    send(res, 404, TEXT_CONTENT_TYPE, 'no such target\n', head);
    return;
  }
  const hgrm = format === 'hgrm';
  if (ctx.counters !== undefined) ctx.counters.demand.hdr++;
  const body = ctx.snapshot.get(hgrm ? hdrKey.hgrm(target) : hdrKey.base64(target));
  if (body === undefined) {
    if (ctx.counters !== undefined && ctx.counters.hdrWanted.size < MAX_WANTED) ctx.counters.hdrWanted.add(target);
    send(res, 503, TEXT_CONTENT_TYPE, "this target's histogram is not exported yet\n", head, [['retry-after', '1']]);
    return;
  }
  send(res, 200, hgrm ? HGRM_CONTENT_TYPE : HDR_CONTENT_TYPE, body, head, EXPORT_HEADERS);
}

/** targetOf decodes the one path segment after /hdr/; undefined for none, more than one, or bad encoding. */
function targetOf(url: string): string | undefined {
  const raw = url.slice(HDR_PREFIX.length);
  if (raw === '' || raw.includes('/') || raw.length > 1024) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}
