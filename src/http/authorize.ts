/**
 * The token check every protected route runs first, and the JSON answer helper it shares with the JSON
 * API: one place that turns a verdict into 401 (with `WWW-Authenticate`) or 403, as text or as JSON.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { WWW_AUTHENTICATE, type RouteScope, type TokenTable } from './auth.ts';
import { send, TEXT_CONTENT_TYPE, type Headers, type Status } from './respond.ts';
import { errorBody, JSON_CONTENT_TYPE } from './routes.ts';

const JSON_HEADERS: Headers = [['cache-control', 'no-store']];
const CHALLENGE: Headers = [['www-authenticate', WWW_AUTHENTICATE]];

/** TokenHolder is what authorized reads: the running tokens, which a reload may swap. */
export interface TokenHolder {
  readonly state: { readonly tokens: TokenTable };
}

/**
 * authorized reports whether the request's token allows `scope`; when it does not, it has answered 401 or
 * 403 (as JSON when contentType is JSON_CONTENT_TYPE, else as text). No tokens configured: every request.
 */
export function authorized(
  ctx: TokenHolder,
  res: HttpResponse,
  req: HttpRequest,
  scope: RouteScope,
  contentType: string,
  head: boolean,
): boolean {
  const { tokens } = ctx.state;
  if (tokens.open) return true; // no tokens configured: skip reading the header
  const verdict = tokens.check(req.getHeader('authorization'), scope);
  if (verdict === 'ok') return true;
  const status: Status = verdict === 'unauthorized' ? 401 : 403;
  const message = verdict === 'unauthorized' ? 'missing or unknown token' : 'token lacks the permission for this route';
  if (contentType === JSON_CONTENT_TYPE)
    sendJson(res, status, errorBody(status, message), head, status === 401 ? CHALLENGE : []);
  else send(res, status, TEXT_CONTENT_TYPE, `${message}\n`, head, status === 401 ? CHALLENGE : []);
  return false;
}

/** sendJson answers with a JSON body and `cache-control: no-store`, plus `extra` headers. */
export function sendJson(
  res: HttpResponse,
  status: Status,
  body: Uint8Array,
  head: boolean,
  extra: Headers = [],
): void {
  send(res, status, JSON_CONTENT_TYPE, body, head, extra.length === 0 ? JSON_HEADERS : [...JSON_HEADERS, ...extra]);
}
