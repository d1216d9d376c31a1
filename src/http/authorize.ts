/**
 * The check every protected route runs first, and the JSON answer helper it shares with the JSON API: one
 * place that turns a verdict into 401 (with `WWW-Authenticate`), 403, 429 or 503, as text or as JSON.
 *
 * Who passes: a request passes with either kind of credential configured. `Authorization: Basic` is
 * checked against the web config's basic_auth_users (a user reaches every route, as in exporter-toolkit);
 * `Bearer`, `Metrics` and `token=` against probex's tokens and their permissions. With neither configured
 * every request passes (the listener may still demand a client certificate). The web config's rate limit
 * comes first, as in exporter-toolkit.
 *
 * A basic-auth credential seen for the first time needs bcrypt, which runs off this thread
 * (http/basic-auth.ts). That request is the one that does not answer in its handler's synchronous part:
 * it is recorded (method, URL, query, headers: `req` is only valid during the handler), onAborted is
 * registered, and once bcrypt has answered the whole handler runs again on the recording, inside cork,
 * and finds the answer cached. Every later request with that credential answers synchronously.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { WWW_AUTHENTICATE, type AuthResult, type RouteScope, type TokenTable } from './auth.ts';
import { BASIC_CHALLENGE, isBasic, type BasicAuth } from './basic-auth.ts';
import type { TokenBucket } from './rate-limit.ts';
import { send, TEXT_CONTENT_TYPE, type Headers, type Status } from './respond.ts';
import { errorBody, JSON_CONTENT_TYPE } from './json-routes.ts';

/** RequestView is what a route reads from a request: uWS's HttpRequest, or a RecordedRequest replayed. */
export type RequestView = Pick<HttpRequest, 'getHeader' | 'getMethod' | 'getUrl' | 'getQuery'>;

/** AuthState is what the check reads; a reload swaps these fields. */
export interface AuthState {
  readonly tokens: TokenTable;
  /** basic is the web config's basic_auth_users, when it has any. */
  readonly basic: BasicAuth | undefined;
  /** rateLimit is the web config's rate_limit, when it has one. */
  readonly rateLimit: TokenBucket | undefined;
}

/** AuthHolder is what authorized reads: the running auth state, and how to run a request again. */
export interface AuthHolder {
  readonly state: AuthState;
  /** replay runs a recorded request through the routes again (inside cork). */
  readonly replay: (res: HttpResponse, req: RequestView) => void;
}

const JSON_HEADERS: Headers = [['cache-control', 'no-store']];
const RETRY: Headers = [['retry-after', '1']];
const CHALLENGE_TOKENS: Headers = [['www-authenticate', WWW_AUTHENTICATE]];
const CHALLENGE_BASIC: Headers = [['www-authenticate', BASIC_CHALLENGE]];
const CHALLENGE_BOTH: Headers = [['www-authenticate', `${BASIC_CHALLENGE}, ${WWW_AUTHENTICATE}`]];

/**
 * authorized reports whether the request may be served at `scope`; when it may not be served now, it has
 * answered (401, 403, 429, 503) through `refuse` or taken the request over until bcrypt answers (see the
 * file comment).
 */
export function authorized(
  ctx: AuthHolder,
  res: HttpResponse,
  req: RequestView,
  scope: RouteScope,
  refuse: Refuse,
  head: boolean,
): boolean {
  const { tokens, basic, rateLimit } = ctx.state;
  const replayed = req instanceof RecordedRequest;
  if (rateLimit !== undefined && !replayed && !rateLimit.take()) {
    refuse(res, 429, 'too many requests', head, RETRY);
    return false;
  }
  if (tokens.open && basic === undefined) return true; // nothing configured: skip reading the header
  const authorization = req.getHeader('authorization');
  let verdict: AuthResult;
  if (basic !== undefined && isBasic(authorization)) {
    const check = basic.check(authorization);
    if (check === 'busy' || (typeof check !== 'string' && replayed)) {
      refuse(res, 503, 'too many credentials waiting for their check', head, RETRY);
      return false;
    }
    if (typeof check !== 'string') {
      defer(ctx, res, new RecordedRequest(req), check);
      return false;
    }
    verdict = check;
  } else {
    verdict = tokens.open ? 'unauthorized' : tokens.check(authorization, scope);
  }
  if (verdict === 'ok') return true;
  if (verdict === 'forbidden') {
    refuse(res, 403, 'token lacks the permission for this route', head);
    return false;
  }
  const challenge = basic === undefined ? CHALLENGE_TOKENS : tokens.open ? CHALLENGE_BASIC : CHALLENGE_BOTH;
  refuse(res, 401, basic === undefined ? 'missing or unknown token' : 'missing or wrong credentials', head, challenge);
  return false;
}

/** Refuse answers a request that may not be served: the status, a message for a person, extra headers. */
export type Refuse = (res: HttpResponse, status: Status, message: string, head: boolean, headers?: Headers) => void;

/** refuseText answers with the message as text (/metrics, the status page, HDR exports). */
export const refuseText: Refuse = (res, status, message, head, headers = []) =>
  send(res, status, TEXT_CONTENT_TYPE, `${message}\n`, head, headers);

/** refuseJson answers with the message in the JSON API's error body. */
export const refuseJson: Refuse = (res, status, message, head, headers = []) =>
  sendJson(res, status, errorBody(status, message), head, headers);

/** defer waits for a bcrypt check, then runs the recorded request again unless the client has gone. */
function defer(ctx: AuthHolder, res: HttpResponse, recorded: RecordedRequest, check: Promise<boolean>): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  void check.then(() => {
    if (!aborted) res.cork(() => ctx.replay(res, recorded));
  });
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

/**
 * RecordedRequest is a request kept past its handler: what the routes read from it, copied while uWS's
 * request was valid. uWS bounds a request's headers, so this is bounded too.
 */
class RecordedRequest implements RequestView {
  readonly #method: string;
  readonly #url: string;
  readonly #query: string;
  readonly #headers = new Map<string, string>();

  constructor(req: RequestView) {
    this.#method = req.getMethod();
    this.#url = req.getUrl();
    this.#query = req.getQuery() ?? '';
    if (req instanceof RecordedRequest) for (const [k, v] of req.#headers) this.#headers.set(k, v);
    else (req as HttpRequest).forEach((name, value) => this.#headers.set(name, value));
  }

  getMethod(): string {
    return this.#method;
  }

  getUrl(): string {
    return this.#url;
  }

  /** getHeader is uWS's: a lower-case name, and '' for a header that is not there. */
  getHeader(name: string): string {
    return this.#headers.get(name) ?? '';
  }

  /** getQuery is uWS's: the raw query string, or one parameter decoded ('' when absent). */
  getQuery(key?: string): string {
    if (key === undefined) return this.#query;
    return new URLSearchParams(this.#query).get(key) ?? '';
  }
}
