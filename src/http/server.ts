/**
 * The uWebSockets.js front end. Every route answers in the handler's synchronous part: it checks auth,
 * reads the current snapshot generation and sends bytes rendered before the request arrived. There is
 * no await anywhere on this path, so uWS's automatic cork applies and no onAborted handler is needed;
 * only a body the socket cannot take at once, and HEAD, register one (respond.ts says why). The one
 * exception is a basic-auth credential not seen before, whose bcrypt check runs off this thread: that
 * request is recorded and replayed (authorize.ts). Listening, plain or TLS, is listener.ts's.
 */
import { zeroDemand, type BodyGroup, type DemandCounts } from '../render/plan.ts';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../log.ts';
import type { Profile } from '../metrics/names.ts';
import type { TlsMaterial } from './tls-material.ts';
import { jsonKey } from '../snapshot/keys.ts';
import type { FixedKey } from '../snapshot/layout.ts';
import type { SnapshotReader } from '../snapshot/reader.ts';
import type { TokenTable } from './auth.ts';
import { authorized, refuseJson, refuseText, sendJson, type RequestView } from './authorize.ts';
import type { BasicAuth } from './basic-auth.ts';
import { listen, type ListenerKind, type ListenTls } from './listener.ts';
import type { TokenBucket } from './rate-limit.ts';
import {
  acceptsGzip,
  acceptsJson,
  lastValueCache,
  negotiateMetrics,
  TEXT_ONLY,
  type MetricsBody,
  type MetricsNegotiation,
} from './negotiate.ts';
import { headerBytes, send, TEXT_CONTENT_TYPE, type Headers } from './respond.ts';
import { errorBody, JSON_CONTENT_TYPE, matchJsonRoute } from './json-routes.ts';
import { HDR_PREFIX, serveHdr, serveStatus } from './status-routes.ts';
import { describeUws, loadNativeUws } from './uws.ts';
import { serveDirectusMetrics } from './directus.ts';

/** ServerState is what a config reload may change; main.ts swaps these fields in place. */
export interface ServerState {
  tokens: TokenTable;
  /** profile: under `directus`, /metrics answers as Directus does (http/directus.ts). */
  profile: Profile;
  /** basic is the web config's basic_auth_users, when it has any. */
  basic: BasicAuth | undefined;
  /** rateLimit is the web config's rate_limit, when it has one. */
  rateLimit: TokenBucket | undefined;
  agentId: string;
  targetNames: ReadonlySet<string>;
}

/** DEMAND_GROUP is the render-plan group each /metrics body belongs to. */
const DEMAND_GROUP: Readonly<Record<MetricsBody, BodyGroup>> = { text: 'text', openmetrics: 'om', protobuf: 'pb' };

/** ServerCounters are read by main.ts for the self-metrics. */
export interface ServerCounters {
  scrapes: number;
  apiRequests: number;
  /** demand counts requests per body group, so the publisher renders what is asked for (src/render/plan.ts). */
  readonly demand: DemandCounts;
  /** hdrWanted holds targets whose HDR export was asked for and missing since the last stats report. */
  readonly hdrWanted: Set<string>;
}

/** RunningServer is a listening front end. */
export interface RunningServer {
  readonly port: number;
  /** tls says who terminates TLS: nobody (`http`), uWS itself, or Node's tls in front of uWS (listener.ts). */
  readonly tls: ListenerKind;
  /** uws names the uWebSockets.js build serving, for the start log (describeUws). */
  readonly uws: string;
  readonly counters: ServerCounters;
  /** rotate serves a new certificate, key and client CA to new connections (throws if it cannot). */
  rotate(material: TlsMaterial): void;
  /** close stops listening; connections already accepted finish what they asked for. */
  close(): void;
}

/**
 * ServerContext is everything a handler reads: the snapshot, the reloadable state, the counters, and the
 * header answers, each cached for its last distinct value (a scraper sends the same headers every time,
 * so a scrape costs a string comparison per header, not a parse, and allocates nothing).
 */
interface ServerContext {
  readonly snapshot: SnapshotReader;
  readonly state: ServerState;
  readonly counters: ServerCounters;
  readonly log: Logger;
  readonly negotiate: (accept: string | undefined) => MetricsAnswer;
  /** negotiateText is negotiate among the text formats only: for a format that is not rendered. */
  readonly negotiateText: (accept: string | undefined) => MetricsAnswer;
  readonly gzip: (acceptEncoding: string | undefined) => boolean;
  readonly json: (accept: string | undefined) => boolean;
  /** replay runs a recorded request through the routes again (http/authorize.ts, after bcrypt). */
  readonly replay: (res: HttpResponse, req: RequestView) => void;
}

/**
 * MetricsAnswer is what /metrics sends for one Accept header: which body, and its Content-Type as bytes,
 * encoded once per distinct header rather than by uWS on every response.
 */
interface MetricsAnswer {
  readonly body: MetricsBody;
  readonly contentType: Uint8Array;
}

function metricsAnswer(negotiated: MetricsNegotiation): MetricsAnswer {
  return { body: negotiated.body, contentType: headerBytes(negotiated.contentType) };
}

/**
 * createFrontEnd builds a server's context with its own header caches, and the function that registers
 * its routes on a uWS app (listener.ts makes the apps: one, or one per certificate rotation).
 */
function createFrontEnd(
  snapshot: SnapshotReader,
  state: ServerState,
  log: Logger,
): { ctx: ServerContext; register: (app: TemplatedApp) => void } {
  const ctx: ServerContext = {
    snapshot,
    state,
    log,
    counters: { scrapes: 0, apiRequests: 0, demand: zeroDemand(), hdrWanted: new Set() },
    negotiate: lastValueCache((accept) => metricsAnswer(negotiateMetrics(accept))),
    negotiateText: lastValueCache((accept) => metricsAnswer(negotiateMetrics(accept, TEXT_ONLY))),
    gzip: lastValueCache(acceptsGzip),
    json: lastValueCache(acceptsJson),
    // The routing uWS does, for a request recorded while its credentials were checked.
    replay: (res, req) => {
      const method = req.getMethod();
      if (req.getUrl() === '/metrics' && (method === 'get' || method === 'head'))
        (method === 'get' ? metricsGet : metricsHead)(res, req);
      else other(res, req);
    },
  };
  const metricsGet = metricsRoute(ctx, false);
  const metricsHead = metricsRoute(ctx, true);
  const other = otherRoute(ctx);
  const register = (app: TemplatedApp): void => {
    // /metrics has its own routes, matched by uWS's router in C++: a scrape reads no method or URL string.
    app.get('/metrics', metricsGet);
    app.head('/metrics', metricsHead);
    app.any('/*', other);
  };
  return { ctx, register };
}

const METRICS_VARY: Headers = [
  [headerBytes('vary'), headerBytes('Accept, Accept-Encoding')],
  [headerBytes('cache-control'), headerBytes('no-store')],
];
const METRICS_GZIP: Headers = [...METRICS_VARY, [headerBytes('content-encoding'), headerBytes('gzip')]];
const ALLOW: Headers = [['allow', 'GET, HEAD']];
const RETRY_AFTER_1: Headers = [['retry-after', '1']];

/** BODY_KEYS[body] is the snapshot key of each rendered /metrics body: [plain, gzip]. */
const BODY_KEYS: Readonly<Record<MetricsBody, readonly [FixedKey, FixedKey]>> = {
  protobuf: ['pb', 'pb.gz'],
  openmetrics: ['om', 'om.gz'],
  text: ['text', 'text.gz'],
};

/**
 * startServer listens on host:port (port 0 picks a free one), with TLS when `tls` is given, and resolves
 * once listening.
 */
export async function startServer(
  host: string,
  port: number,
  snapshot: SnapshotReader,
  state: ServerState,
  log: Logger,
  tls?: ListenTls,
): Promise<RunningServer> {
  const native = loadNativeUws();
  const { ctx, register } = createFrontEnd(snapshot, state, log);
  const listener = await listen(native.uws, register, host, port, tls, log);
  return {
    port: listener.port,
    tls: listener.kind,
    uws: describeUws(native),
    counters: ctx.counters,
    rotate: (material) => listener.rotate(material),
    close: () => listener.close(),
  };
}

/** metricsRoute is the handler of GET (or HEAD) /metrics. */
function metricsRoute(ctx: ServerContext, head: boolean): (res: HttpResponse, req: RequestView) => void {
  return (res, req) => {
    try {
      if (ctx.state.profile === 'directus') serveDirectusMetrics(ctx, res, req, head);
      else metrics(ctx, res, req, head);
    } catch (err) {
      failed(ctx, res, '/metrics', head, err);
    }
  };
}

/** otherRoute handles every other path: health, readiness, the JSON API, and 404/405. */
function otherRoute(ctx: ServerContext): (res: HttpResponse, req: RequestView) => void {
  return (res, req) => {
    // Read everything from req now: it is invalid once this handler returns.
    const method = req.getMethod();
    const url = req.getUrl();
    const head = method === 'head';
    if (method !== 'get' && !head) {
      send(res, 405, TEXT_CONTENT_TYPE, 'method not allowed\n', false, ALLOW);
      return;
    }
    try {
      if (url === '/healthz') {
        send(res, 200, TEXT_CONTENT_TYPE, 'ok\n', head);
      } else if (url === '/readyz') {
        const unready = ctx.snapshot.unready(); // nothing published yet, or the data is older than allowed
        send(
          res,
          unready === undefined ? 200 : 503,
          TEXT_CONTENT_TYPE,
          unready === undefined ? 'ready\n' : `${unready}\n`,
          head,
        );
      } else if (url.startsWith('/system/')) {
        api(ctx, res, req, url, head);
      } else if (url === '/') {
        serveStatus(ctx, res, req, head);
      } else if (url.startsWith(HDR_PREFIX)) {
        serveHdr(ctx, res, req, url, head);
      } else {
        send(res, 404, TEXT_CONTENT_TYPE, 'not found\n', head);
      }
    } catch (err) {
      failed(ctx, res, url, head, err);
    }
  };
}

/** failed answers a request whose handler threw (a bug) with a logged 500, never leaving it unanswered. */
function failed(ctx: ServerContext, res: HttpResponse, url: string, head: boolean, err: unknown): void {
  ctx.log.error({ err, url }, 'request handler failed');
  send(res, 500, TEXT_CONTENT_TYPE, 'internal error\n', head);
}

/**
 * metrics sends the body Accept and Accept-Encoding negotiate (http/negotiate.ts: protobuf, OpenMetrics or
 * text, gzipped when allowed) with the negotiated Content-Type, which carries `escaping` where it applies.
 */
function metrics(ctx: ServerContext, res: HttpResponse, req: RequestView, head: boolean): void {
  if (!authorized(ctx, res, req, 'metrics', refuseText, head)) return;
  const accept = req.getHeader('accept');
  let answer = ctx.negotiate(accept);
  const gzip = ctx.gzip(req.getHeader('accept-encoding'));
  let body = ctx.snapshot.get(BODY_KEYS[answer.body][gzip ? 1 : 0]);
  if (body === undefined && answer.body !== 'text') {
    // Rendered on demand (render/plan.ts), a format not asked for lately is not in the snapshot: counted
    // here, it is rendered from the next publish on; meanwhile the scrape gets text, as an Accept header
    // probex cannot satisfy does.
    ctx.counters.demand[DEMAND_GROUP[answer.body]]++;
    answer = ctx.negotiateText(accept);
    body = ctx.snapshot.get(BODY_KEYS.text[gzip ? 1 : 0]);
  }
  if (body === undefined) {
    send(res, 503, TEXT_CONTENT_TYPE, 'no snapshot published yet\n', head);
    return;
  }
  ctx.counters.scrapes++;
  ctx.counters.demand[DEMAND_GROUP[answer.body]]++;
  send(res, 200, answer.contentType, body, head, gzip ? METRICS_GZIP : METRICS_VARY);
}

function api(ctx: ServerContext, res: HttpResponse, req: RequestView, url: string, head: boolean): void {
  const { snapshot, state } = ctx;
  const route = matchJsonRoute(url, state.agentId);
  if (route.kind === 'not_found') {
    sendJson(res, 404, errorBody(404, route.reason), head);
    return;
  }
  if (!authorized(ctx, res, req, route.scope, refuseJson, head)) return;
  if (!ctx.json(req.getHeader('accept'))) {
    sendJson(res, 406, errorBody(406, 'this route answers application/json only'), head);
    return;
  }
  ctx.counters.apiRequests++;
  ctx.counters.demand.json++;
  const body = snapshot.get(route.key);
  if (body !== undefined) {
    sendJson(res, 200, body, head);
  } else if (snapshot.generation() !== 0 && snapshot.get(jsonKey.ping()) === undefined) {
    // Rendered on demand (render/plan.ts): the JSON API was not asked for lately; counted above, it is
    // rendered from the next publish on.
    sendJson(res, 503, errorBody(503, 'the JSON API is rendered from the next publish on'), head, RETRY_AFTER_1);
  } else if (
    route.targetId !== undefined &&
    state.targetNames.has(route.targetId) &&
    snapshot.get(jsonKey.container(route.targetId)) === undefined
  ) {
    send(res, 204, JSON_CONTENT_TYPE, '', head); // known target, not probed yet (as dcos-metrics does)
  } else if (snapshot.generation() === 0) {
    sendJson(res, 503, errorBody(503, 'no snapshot published yet'), head);
  } else {
    sendJson(res, 404, errorBody(404, route.targetId === undefined ? 'not found' : `no such target or metric`), head);
  }
}
