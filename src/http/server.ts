/**
 * The uWebSockets.js front end. Every route answers in the handler's synchronous part: it checks auth,
 * reads the current snapshot generation and sends bytes rendered before the request arrived. There is
 * no await anywhere on this path, so uWS's automatic cork applies and no onAborted handler is needed;
 * only a body the socket cannot take at once, and HEAD, register one (respond.ts says why).
 */
import { createServer } from 'node:net';
import type * as UWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { NativeServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { jsonKey } from '../snapshot/keys.ts';
import type { FixedKey } from '../snapshot/layout.ts';
import type { SnapshotReader } from '../snapshot/reader.ts';
import type { TokenTable } from './auth.ts';
import {
  acceptsGzip,
  acceptsJson,
  lastValueCache,
  negotiateMetrics,
  type MetricsBody,
  type MetricsNegotiation,
} from './negotiate.ts';
import { headerBytes, send, TEXT_CONTENT_TYPE, type Headers } from './respond.ts';
import { errorBody, JSON_CONTENT_TYPE, matchJsonRoute } from './routes.ts';
import { HDR_PREFIX, serveHdr, serveStatus } from './status-routes.ts';
import { loadNativeUws } from './uws.ts';
import { authorized, sendJson } from './authorize.ts';

/** ServerState is what a config reload may change; main.ts swaps these fields in place. */
export interface ServerState {
  tokens: TokenTable;
  agentId: string;
  targetNames: ReadonlySet<string>;
}

/** ServerCounters are read by main.ts for the self-metrics. */
export interface ServerCounters {
  scrapes: number;
  apiRequests: number;
}

/** RunningServer is a listening front end. */
export interface RunningServer {
  readonly port: number;
  readonly counters: ServerCounters;
  /** close stops listening; requests already received have been answered (handlers are synchronous). */
  close(): void;
}

/**
 * ServerContext is everything a handler reads: the snapshot, the reloadable state, the counters, and the
 * header answers, each cached for its last distinct value (a scraper sends the same headers every time,
 * so a scrape costs a string comparison per header, not a parse, and allocates nothing).
 */
export interface ServerContext {
  readonly snapshot: SnapshotReader;
  readonly state: ServerState;
  readonly counters: ServerCounters;
  readonly log: Logger;
  readonly negotiate: (accept: string | undefined) => MetricsAnswer;
  readonly gzip: (acceptEncoding: string | undefined) => boolean;
  readonly json: (accept: string | undefined) => boolean;
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

/** createContext builds a server's context with its own header caches. */
function createContext(snapshot: SnapshotReader, state: ServerState, log: Logger): ServerContext {
  return {
    snapshot,
    state,
    log,
    counters: { scrapes: 0, apiRequests: 0 },
    negotiate: lastValueCache((accept) => metricsAnswer(negotiateMetrics(accept))),
    gzip: lastValueCache(acceptsGzip),
    json: lastValueCache(acceptsJson),
  };
}

const METRICS_VARY: Headers = [
  [headerBytes('vary'), headerBytes('Accept, Accept-Encoding')],
  [headerBytes('cache-control'), headerBytes('no-store')],
];
const METRICS_GZIP: Headers = [...METRICS_VARY, [headerBytes('content-encoding'), headerBytes('gzip')]];
const ALLOW: Headers = [['allow', 'GET, HEAD']];

/** BODY_KEYS[body] is the snapshot key of each rendered /metrics body: [plain, gzip]. */
const BODY_KEYS: Readonly<Record<MetricsBody, readonly [FixedKey, FixedKey]>> = {
  protobuf: ['pb', 'pb.gz'],
  openmetrics: ['om', 'om.gz'],
  text: ['text', 'text.gz'],
};

/** startServer listens on host:port (port 0 picks a free one) and resolves once listening. */
export function startServer(
  host: string,
  port: number,
  snapshot: SnapshotReader,
  state: ServerState,
  log: Logger,
): Promise<RunningServer> {
  const uws = loadNativeUws();
  const ctx = createContext(snapshot, state, log);
  const app = uws.App();
  // /metrics has its own routes, matched by uWS's router in C++: a scrape reads no method or URL string.
  app.get('/metrics', metricsRoute(ctx, false));
  app.head('/metrics', metricsRoute(ctx, true));
  app.any('/*', otherRoute(ctx));

  return new Promise((resolve, reject) => {
    listenExclusive(uws, app, host, port, (token) => {
      if (token === false) {
        void listenFailure(host, port).then((why) => reject(new Error(`cannot listen on ${host}:${port}: ${why}`)));
        return;
      }
      resolve({
        port: uws.us_socket_local_port(token as never),
        counters: ctx.counters,
        close: () => uws.us_listen_socket_close(token),
      });
    });
  });
}

/** metricsRoute is the handler of GET (or HEAD) /metrics. */
function metricsRoute(ctx: ServerContext, head: boolean): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    try {
      metrics(ctx, res, req, head);
    } catch (err) {
      failed(ctx, res, '/metrics', head, err);
    }
  };
}

/** otherRoute handles every other path: health, readiness, the JSON API, and 404/405. */
function otherRoute(ctx: ServerContext): (res: HttpResponse, req: HttpRequest) => void {
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
function metrics(ctx: ServerContext, res: HttpResponse, req: HttpRequest, head: boolean): void {
  if (!authorized(ctx, res, req, 'metrics', TEXT_CONTENT_TYPE, head)) return;
  const answer = ctx.negotiate(req.getHeader('accept'));
  const gzip = ctx.gzip(req.getHeader('accept-encoding'));
  const body = ctx.snapshot.get(BODY_KEYS[answer.body][gzip ? 1 : 0]);
  if (body === undefined) {
    send(res, 503, TEXT_CONTENT_TYPE, 'no snapshot published yet\n', head);
    return;
  }
  ctx.counters.scrapes++;
  send(res, 200, answer.contentType, body, head, gzip ? METRICS_GZIP : METRICS_VARY);
}

function api(ctx: ServerContext, res: HttpResponse, req: HttpRequest, url: string, head: boolean): void {
  const { snapshot, state } = ctx;
  const route = matchJsonRoute(url, state.agentId);
  if (route.kind === 'not_found') {
    sendJson(res, 404, errorBody(404, route.reason), head);
    return;
  }
  if (!authorized(ctx, res, req, route.scope, JSON_CONTENT_TYPE, head)) return;
  if (!ctx.json(req.getHeader('accept'))) {
    sendJson(res, 406, errorBody(406, 'this route answers application/json only'), head);
    return;
  }
  ctx.counters.apiRequests++;
  const body = snapshot.get(route.key);
  if (body !== undefined) {
    sendJson(res, 200, body, head);
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

/**
 * listenExclusive listens without SO_REUSEPORT. uWS's plain listen sets it, so a second process (another
 * probex, or anything else that sets it) binds the same host:port and the kernel spreads new connections
 * over both: scrapes would reach either at random. LIBUS_LISTEN_EXCLUSIVE_PORT leaves it unset, and such
 * a bind fails. The native listen takes (host, port, options, callback); index.d.ts only declares the
 * options overload without a host.
 */
function listenExclusive(
  uws: typeof UWS,
  app: TemplatedApp,
  host: string,
  port: number,
  callback: (token: us_listen_socket | false) => void,
): void {
  const exclusive = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown }).LIBUS_LISTEN_EXCLUSIVE_PORT;
  if (typeof exclusive !== 'number') {
    throw new NativeServerError(
      'this uWebSockets.js build has no LIBUS_LISTEN_EXCLUSIVE_PORT; probex will not share its port',
    );
  }
  (app.listen as unknown as (h: string, p: number, options: number, cb: typeof callback) => void)(
    host,
    port,
    exclusive,
    callback,
  );
}

/** LISTEN_ERRORS words the errno of a failed bind for the operator. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use (another process listens on this port)',
  EADDRNOTAVAIL: 'address not available (no interface of this host has it)',
  EACCES: 'permission denied (ports below 1024 need privilege)',
};

/**
 * listenFailure says why host:port cannot be listened on. uWS hands its callback only `false`, so the
 * bind is tried once more with node:net (no SO_REUSEPORT either), whose error carries the errno.
 */
function listenFailure(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(LISTEN_ERRORS[err.code ?? ''] ?? err.message));
    probe.listen({ host, port, exclusive: true }, () =>
      probe.close(() => resolve('the bind failed, and a retry found the address free')),
    );
  });
}
