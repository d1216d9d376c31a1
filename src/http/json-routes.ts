/**
 * Pure request parsing for the JSON metrics API (DC/OS shape), so http/server.ts stays a thin uWS adapter:
 * path → snapshot key and auth scope, and pre-encoded JSON error bodies (http/negotiate.ts reads Accept). Nothing here
 * throws, whatever the client sends; the fuzz test in test/http/json-routes.test.ts holds us to that.
 */
import { jsonKey } from '../snapshot/keys.ts';
import type { RouteScope } from './auth.ts';

/** JSON_CONTENT_TYPE is the Content-Type of every JSON API response, bodies and errors alike. */
export const JSON_CONTENT_TYPE = 'application/json';

/** MAX_PATH_LENGTH is the longest path matchJsonRoute looks at; longer ones are not_found unparsed. */
export const MAX_PATH_LENGTH = 2048;

/** JsonRouteBody is a matched route: the snapshot key of its body, the scope to authorize, the target if any. */
interface JsonRouteBody {
  readonly kind: 'body';
  readonly key: string;
  readonly scope: RouteScope;
  /** targetId is set on containers/{id}/...: when the key has no body, a known target answers 204. */
  readonly targetId?: string;
}

/** JsonRouteNotFound is a path that names no JSON route; `reason` is a fixed phrase, safe to send back. */
export interface JsonRouteNotFound {
  readonly kind: 'not_found';
  readonly reason: string;
}

/** JsonRoute is what matchJsonRoute returns. */
export type JsonRoute = JsonRouteBody | JsonRouteNotFound;

const METRICS_PREFIX = '/system/v1/metrics/v0/';
const AGENT_PREFIX = '/system/v1/agent/';
const AGENT_SUFFIX = '/metrics/v0/';

/** NOT_FOUND holds every reason matchJsonRoute gives; the values never contain request text. */
export const NOT_FOUND = {
  tooLong: notFound('path too long'),
  unknownRoute: notFound('unknown route'),
  unknownAgent: notFound('unknown agent id'),
  emptySegment: notFound('empty path segment'),
  dotSegment: notFound('dot segment in path'),
  badEncoding: notFound('invalid percent-encoding'),
  badCharacter: notFound('invalid character in path segment'),
} as const;

/** STATIC_ROUTES are the id-less routes, built once per scope so matching them allocates nothing. */
const STATIC_ROUTES: Readonly<Record<'api-metrics' | 'api-agent', Readonly<Record<string, JsonRouteBody>>>> = {
  'api-metrics': staticRoutes('api-metrics'),
  'api-agent': staticRoutes('api-agent'),
};

/**
 * matchJsonRoute maps a request path to the snapshot key of its body. It covers `node`, `containers`,
 * `containers/{id}`, `containers/{id}/app`, `containers/{id}/app/{metric_id}` and `ping`, under
 * /system/v1/metrics/v0/ (scope api-metrics) and /system/v1/agent/{agentId}/metrics/v0/ (scope api-agent,
 * only for this host's agent id). One trailing slash and a query string are ignored; empty, `.` or `..`
 * segments, bad percent-encoding, segments decoding to `/` or control characters, and paths over
 * MAX_PATH_LENGTH are not_found. It never throws.
 */
export function matchJsonRoute(path: string, agentId: string): JsonRoute {
  if (typeof path !== 'string') return NOT_FOUND.unknownRoute;
  if (path.length > MAX_PATH_LENGTH) return NOT_FOUND.tooLong;
  let end = path.indexOf('?');
  if (end < 0) end = path.length;
  if (end > 1 && path.charCodeAt(end - 1) === 0x2f /* / */) end--;

  let scope: 'api-metrics' | 'api-agent';
  let rest: number;
  if (path.startsWith(METRICS_PREFIX)) {
    scope = 'api-metrics';
    rest = METRICS_PREFIX.length;
  } else if (path.startsWith(AGENT_PREFIX)) {
    scope = 'api-agent';
    const idEnd = path.indexOf('/', AGENT_PREFIX.length);
    if (idEnd < 0 || idEnd >= end || !path.startsWith(AGENT_SUFFIX, idEnd)) return NOT_FOUND.unknownRoute;
    const id = segment(path, AGENT_PREFIX.length, idEnd);
    if (typeof id !== 'string') return id;
    if (id !== agentId) return NOT_FOUND.unknownAgent;
    rest = idEnd + AGENT_SUFFIX.length;
  } else {
    return NOT_FOUND.unknownRoute;
  }
  if (rest >= end) return NOT_FOUND.unknownRoute;

  // At most four segments: containers/{id}/app/{metric_id}. A fifth means an unknown route.
  const segs: string[] = [];
  let at = rest;
  while (at <= end) {
    if (segs.length === 4) return NOT_FOUND.unknownRoute;
    let next = path.indexOf('/', at);
    if (next < 0 || next > end) next = end;
    const s = segment(path, at, next);
    if (typeof s !== 'string') return s;
    segs.push(s);
    at = next + 1;
  }

  const [first, id, third, metricId] = segs;
  if (segs.length === 1) return STATIC_ROUTES[scope][first!] ?? NOT_FOUND.unknownRoute;
  if (first !== 'containers' || id === undefined) return NOT_FOUND.unknownRoute;
  if (segs.length === 2) return { kind: 'body', key: jsonKey.container(id), scope, targetId: id };
  if (third !== 'app') return NOT_FOUND.unknownRoute;
  if (metricId === undefined) return { kind: 'body', key: jsonKey.app(id), scope, targetId: id };
  return { kind: 'body', key: jsonKey.appMetric(id, metricId), scope, targetId: id };
}

/**
 * segment returns path[start, end) percent-decoded, or the not_found it earns: empty, `.`/`..` (before or
 * after decoding), undecodable, or decoding to `/` or a control character.
 */
function segment(path: string, start: number, end: number): string | JsonRouteNotFound {
  if (end <= start) return NOT_FOUND.emptySegment;
  let s = path.slice(start, end);
  if (s.includes('%')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch (err) {
      if (err instanceof URIError) return NOT_FOUND.badEncoding;
      throw err;
    }
    s = decoded;
    if (s.length === 0) return NOT_FOUND.emptySegment;
  }
  if (s === '.' || s === '..') return NOT_FOUND.dotSegment;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f /* / */ || c === 0x5c /* \ */) return NOT_FOUND.badCharacter;
  }
  return s;
}

/** STATUS_TEXT is the reason phrase for each status errorBody is used with. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const ERROR_BODY_CACHE_LIMIT = 256;
const errorBodies = new Map<string, Uint8Array>();
const encoder = new TextEncoder();

/**
 * errorBody returns `{"status":404,"error":"Not Found","message":"..."}` encoded. Bodies for fixed
 * messages are encoded once and shared (up to ERROR_BODY_CACHE_LIMIT of them): never mutate the result.
 * The message must not contain a token or request text the server does not want to echo.
 */
export function errorBody(status: number, message: string = STATUS_TEXT[status] ?? 'Error'): Uint8Array {
  const cacheKey = `${status} ${message}`;
  const cached = errorBodies.get(cacheKey);
  if (cached !== undefined) return cached;
  const body = encoder.encode(JSON.stringify({ status, error: STATUS_TEXT[status] ?? 'Error', message }));
  if (errorBodies.size < ERROR_BODY_CACHE_LIMIT) errorBodies.set(cacheKey, body);
  return body;
}

// Pre-encode the bodies every server sends, so the first 401 or 404 costs no more than the next.
for (const status of Object.keys(STATUS_TEXT)) errorBody(Number(status));
for (const nf of Object.values(NOT_FOUND)) errorBody(404, nf.reason);

function notFound(reason: string): JsonRouteNotFound {
  return Object.freeze({ kind: 'not_found', reason });
}

function staticRoutes(scope: 'api-metrics' | 'api-agent'): Readonly<Record<string, JsonRouteBody>> {
  const route = (key: string): JsonRouteBody => Object.freeze({ kind: 'body', key, scope });
  // A null prototype so a path segment like `constructor` or `__proto__` finds nothing.
  return Object.freeze(
    Object.assign(Object.create(null) as Record<string, JsonRouteBody>, {
      node: route(jsonKey.node()),
      containers: route(jsonKey.containers()),
      ping: route(jsonKey.ping()),
    }),
  );
}
