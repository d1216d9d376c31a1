/**
 * http: GET the target URL with undici's fetch. A plain http:// target uses undici's global dispatcher
 * (one keep-alive connection pool per origin, shared by every such target of the worker, so its prober
 * owns no client of its own). An https:// target has a dispatcher of its own (an undici Agent, closed with
 * its prober), made with its `tls` block and a connect function that hands each new TLS socket to a
 * CertificateWatch before its handshake completes: fetch never shows its socket, and this is how the
 * certificate's dates are read, also when verification fails (the Agent keeps undici's own connector and
 * its verification). Only connections to the target's own origin report: a redirect to another https
 * origin is not the target's certificate. The run's signal aborts fetch's, so the deadline cancels the
 * connect, the headers and the body read alike.
 *
 * Credentials in the URL (`https://user:pass@host/`) are sent as `Authorization: Basic`, as curl does:
 * fetch refuses a URL with userinfo. An `Authorization` header in `headers` wins over them.
 *
 * Redirects are not followed unless the target says so: a 3xx is the target's answer, checked against
 * expectStatus like any other, so a target never reports another service's health (or latency) as its
 * own. With `followRedirects`, each hop is checked before it is taken (followHop): at most `maxHops`,
 * never from https to http, on the target's origin only unless `crossOrigin`; and a hop to another
 * origin drops every configured header (the URL's credentials included), for that hop and every later
 * one, so a redirect never carries an API key to a host it was not configured for.
 *
 * The body is read at most `maxBodyBytes` (counted after content decoding, so a compressed bomb is cut
 * too). With `bodyMatch`, what has arrived is searched as it arrives and the read stops at the first match;
 * a body that ends, or reaches the cap, without a match is `bad_reply`. Without `bodyMatch` the body is
 * discarded as it arrives, read to its end only so that its connection can be reused; one longer than the
 * cap is not read further. A body not read to its end is cancelled, which closes its connection.
 */
import { TLSSocket } from 'node:tls';
import { Agent, buildConnector, fetch, Response, type Dispatcher } from 'undici';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { CertificateWatch, clientTlsOptions } from './tls.ts';

export interface HttpTarget extends TargetBase {
  readonly kind: 'http';
  readonly url: string;
  /** expectStatus lists accepted status codes; empty means any 2xx. */
  readonly expectStatus: readonly number[];
  /** bodyMatch is a regular expression source the body must match, when set. */
  readonly bodyMatch?: string;
  /** maxBodyBytes caps how much of the body is read (after content decoding); see http.ts. */
  readonly maxBodyBytes: number;
  readonly headers: Readonly<Record<string, string>>;
  /** followRedirects, when set, follows 3xx answers within its limits; unset, a 3xx is the answer (http.ts). */
  readonly followRedirects?: FollowRedirects;
  /** tls is the TLS settings of an https:// URL (DEFAULT_TLS when the target has no `tls` block). */
  readonly tls?: TargetTls;
}

/** FollowRedirects bounds the redirects an http target follows. */
export interface FollowRedirects {
  /** maxHops is the most redirects followed in one probe. */
  readonly maxHops: number;
  /** crossOrigin lets a redirect leave the target's origin (its configured headers are not sent there). */
  readonly crossOrigin: boolean;
}

/**
 * MATCH_STEP_CHARS and MATCH_STEPS bound how often bodyMatch is tried on a body arriving in small pieces: a
 * new try waits until the text has grown by what the last try saw, or by one step, whichever is less; a step
 * is MATCH_STEP_CHARS or 1/MATCH_STEPS of the cap, whichever is more. So a body is tried about log2(64 Ki)
 * + MATCH_STEPS times however it is cut, and the tries scan at most ~MATCH_STEPS times the cap in all;
 * trying after every chunk would cost quadratic time on a body trickling in a byte at a time.
 */
const MATCH_STEP_CHARS = 64 * 1024;
const MATCH_STEPS = 16;

/** httpProbe makes probers that GET a URL and check its status and, optionally, its body. */
export const httpProbe: Probe<HttpTarget> = {
  kind: 'http',
  create(target: HttpTarget): Prober {
    const { url, authorization } = splitCredentials(target.url);
    const headers: Record<string, string> = { ...target.headers };
    if (authorization !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
      headers.authorization = authorization;
    }
    const bodyMatch = target.bodyMatch === undefined ? undefined : new RegExp(target.bodyMatch);
    const check: ResponseCheck = {
      url,
      headers,
      followRedirects: target.followRedirects,
      statusOk: statusPredicate(target.expectStatus),
      expected: target.expectStatus.length === 0 ? '2xx' : target.expectStatus.join(', '),
      // Compiled once per target; config has already checked that the source is a valid RegExp.
      bodyMatch,
      matchesPrefix: bodyMatch !== undefined && prefixMatchHolds(bodyMatch.source),
      maxBodyBytes: target.maxBodyBytes,
      matchStepChars: Math.max(MATCH_STEP_CHARS, Math.ceil(target.maxBodyBytes / MATCH_STEPS)),
    };
    const tls = target.tls === undefined ? undefined : new TlsDispatcher(target.tls, url, target.timeoutMs);
    return {
      run: (signal) => {
        // fetch keeps the abort listener it adds to its signal until that signal is collected, and the lane
        // reuses `signal` across runs (Prober.run's contract: leave no listener). So fetch gets a signal of
        // its own, aborted by settle's cancel hook, whose listener settle removes when the run settles.
        const own = new AbortController();
        const outcome = settle(
          signal,
          target.timeoutMs,
          () => getOnce(check, own.signal, tls?.dispatcher()),
          () => own.abort(signal.reason),
        );
        return tls === undefined ? outcome : outcome.then((o) => tls.watch.stamp(o));
      },
      close: () => tls?.close() ?? Promise.resolve(),
    };
  },
};

/**
 * TlsDispatcher is an https target's own undici Agent: its `tls` block's settings, and a connect function
 * that shows each new TLS socket to the target's origin to a CertificateWatch. The Agent is made on the
 * first run, so a `tls` file that cannot be read is that run's failure, not a thrown error.
 */
class TlsDispatcher {
  readonly watch = new CertificateWatch();
  readonly #settings: TargetTls;
  readonly #host: string;
  readonly #port: string;
  readonly #timeoutMs: number;
  #agent: Agent | undefined;

  constructor(settings: TargetTls, url: string, timeoutMs: number) {
    const parsed = new URL(url);
    this.#settings = settings;
    this.#host = parsed.hostname;
    this.#port = parsed.port === '' ? '443' : parsed.port;
    this.#timeoutMs = timeoutMs;
  }

  dispatcher(): Dispatcher {
    if (this.#agent !== undefined) return this.#agent;
    const serverName = this.#settings.serverName;
    const connector = buildConnector({ ...clientTlsOptions(this.#settings), timeout: this.#timeoutMs });
    // undici's connector returns the socket it made (its types say void), synchronously: before any
    // handshake could complete, so the watch sees it in time.
    const connect = (options: buildConnector.Options, callback: buildConnector.Callback): unknown => {
      const own = options.hostname === this.#host && String(options.port || '443') === this.#port;
      const socket: unknown = connector(
        own && serverName !== undefined ? { ...options, servername: serverName } : options,
        callback,
      );
      if (own && socket instanceof TLSSocket) this.watch.watch(socket);
      return socket;
    };
    this.#agent = new Agent({ connect });
    return this.#agent;
  }

  close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    return agent === undefined ? Promise.resolve() : agent.destroy().catch(() => undefined);
  }
}

interface ResponseCheck {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly followRedirects: FollowRedirects | undefined;
  readonly statusOk: (status: number) => boolean;
  readonly expected: string;
  readonly bodyMatch: RegExp | undefined;
  /** matchesPrefix: a match in the part of the body read so far is a match of the whole body (see below). */
  readonly matchesPrefix: boolean;
  readonly maxBodyBytes: number;
  readonly matchStepChars: number;
}

async function getOnce(
  check: ResponseCheck,
  signal: AbortSignal,
  dispatcher: Dispatcher | undefined,
): Promise<ProbeOutcome> {
  const res = await fetchFollowing(check, signal, dispatcher);
  if (!(res instanceof Response)) return res;
  if (!check.statusOk(res.status)) {
    // An unread body would hold its keep-alive connection until garbage collection: cancel it.
    await res.body?.cancel();
    const hint =
      REDIRECT_STATUSES.has(res.status) && check.followRedirects === undefined
        ? ' (redirects are not followed unless followRedirects is set)'
        : '';
    return { ok: false, reason: 'status', message: `HTTP ${res.status}, expected ${check.expected}${hint}` };
  }
  if (res.body === null) {
    // No body at all (204, 304): an empty one as far as bodyMatch is concerned.
    if (check.bodyMatch !== undefined && !check.bodyMatch.test('')) {
      return { ok: false, reason: 'bad_reply', message: `body (0 bytes) does not match /${check.bodyMatch.source}/` };
    }
    return { ok: true, app: { status_code: res.status, body_bytes: 0 } };
  }
  const reader = res.body.getReader();
  const body =
    check.bodyMatch === undefined
      ? undefined
      : new BodyText(check.bodyMatch, check.matchesPrefix ? check.matchStepChars : undefined);
  let bodyBytes = 0;
  let matched = false;
  let ended = false;
  while (bodyBytes < check.maxBodyBytes) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    const room = check.maxBodyBytes - bodyBytes;
    const chunk = value.byteLength <= room ? value : value.subarray(0, room);
    bodyBytes += chunk.byteLength;
    if (body !== undefined && body.append(chunk)) {
      matched = true;
      break;
    }
  }
  // Stop the transfer: the connection of a body not read to its end cannot be reused, and cancelling
  // closes it now instead of leaving it to the garbage collector.
  if (!ended) await reader.cancel();
  if (body !== undefined && !matched) {
    const source = check.bodyMatch!.source;
    if (ended) {
      if (!body.matchesAll())
        return { ok: false, reason: 'bad_reply', message: `body (${bodyBytes} bytes) does not match /${source}/` };
    } else if (!check.matchesPrefix) {
      // `$`, `\b` or a lookahead would test the cut, not the end of the body: no answer either way.
      return {
        ok: false,
        reason: 'bad_reply',
        message: `body longer than maxBodyBytes (${check.maxBodyBytes}); /${source}/ looks at what follows a match, so it needs the whole body`,
      };
    } else if (!body.matchesAll()) {
      return {
        ok: false,
        reason: 'bad_reply',
        message: `no match for /${source}/ in the first ${check.maxBodyBytes} bytes of the body (maxBodyBytes)`,
      };
    }
  }
  return { ok: true, app: { status_code: res.status, body_bytes: bodyBytes } };
}

/** REDIRECT_STATUSES are the statuses fetch would follow (WHATWG fetch's redirect status). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * fetchFollowing GETs the target's URL and, with followRedirects, the hops its redirects allow (followHop).
 * It resolves with the response to check, or with the failure a refused hop is.
 */
async function fetchFollowing(
  check: ResponseCheck,
  signal: AbortSignal,
  dispatcher: Dispatcher | undefined,
): Promise<Response | ProbeOutcome> {
  const follow = check.followRedirects;
  // redirect 'manual': undici hands over the 3xx itself, Location included.
  const init = dispatcher === undefined ? {} : { dispatcher };
  const first = await fetch(check.url, { method: 'GET', headers: check.headers, signal, redirect: 'manual', ...init });
  if (follow === undefined) return first;
  const origin = new URL(check.url).origin;
  let res = first;
  let url = new URL(check.url);
  let headers = check.headers;
  for (let hops = 0; REDIRECT_STATUSES.has(res.status); hops++) {
    const location = res.headers.get('location');
    if (location === null) return res; // a 3xx that names no place to go is the answer, as fetch takes it
    await res.body?.cancel();
    const next = followHop(url, origin, location, res.status, hops, follow);
    if (!(next instanceof URL)) return next;
    // Once off the target's origin, no configured header goes anywhere again, back home included.
    if (next.origin !== origin) headers = NO_HEADERS;
    url = next;
    res = await fetch(url, { method: 'GET', headers, signal, redirect: 'manual', ...init });
  }
  return res;
}

/** NO_HEADERS is what a request carries after a hop to another origin: none of the configured headers. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * followHop checks one redirect, from `from` to `location` (relative to it), against the target's
 * origin and its followRedirects: the URL to fetch next (without userinfo or fragment), or the failure
 * that ends the run here.
 */
function followHop(
  from: URL,
  origin: string,
  location: string,
  status: number,
  hops: number,
  follow: FollowRedirects,
): URL | ProbeOutcome {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return { ok: false, reason: 'bad_reply', message: `HTTP ${status} with a Location that is not a URL` };
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:')
    return { ok: false, reason: 'bad_reply', message: `HTTP ${status} to a ${next.protocol} URL, not followed` };
  if (hops >= follow.maxHops) {
    return {
      ok: false,
      reason: 'status',
      message: `HTTP ${status} after ${hops} redirects, not followed: followRedirects.maxHops is ${follow.maxHops}`,
    };
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    return {
      ok: false,
      reason: 'status',
      message: `HTTP ${status} from https to ${next.origin}, not followed: a redirect never goes from https to http`,
    };
  }
  if (next.origin !== origin && !follow.crossOrigin) {
    return {
      ok: false,
      reason: 'status',
      message: `HTTP ${status} to another origin (${next.origin}), not followed: followRedirects.crossOrigin is false`,
    };
  }
  next.username = '';
  next.password = '';
  next.hash = '';
  return next;
}

/**
 * BodyText accumulates a body as text and, when a match in part of it is a match of all of it, tries the
 * pattern as it grows (see MATCH_STEP_CHARS).
 */
class BodyText {
  readonly #pattern: RegExp;
  /** #stepChars is the growth that makes a try due; undefined: try only once everything is read. */
  readonly #stepChars: number | undefined;
  readonly #decoder = new TextDecoder();
  #text = '';
  #triedAt = -1;

  constructor(pattern: RegExp, stepChars: number | undefined) {
    this.#pattern = pattern;
    this.#stepChars = stepChars;
  }

  /** append adds a chunk and, when a try is due, says whether the text read so far matches. */
  append(chunk: Uint8Array): boolean {
    this.#text += this.#decoder.decode(chunk, { stream: true });
    if (this.#stepChars === undefined) return false;
    if (this.#triedAt >= 0 && this.#text.length - this.#triedAt < Math.min(this.#triedAt, this.#stepChars))
      return false;
    this.#triedAt = this.#text.length;
    return this.#pattern.test(this.#text);
  }

  /** matchesAll tries the pattern on everything read (the whole body, or its first maxBodyBytes). */
  matchesAll(): boolean {
    this.#text += this.#decoder.decode();
    if (this.#triedAt === this.#text.length) return false; // the last try saw all of it already
    return this.#pattern.test(this.#text);
  }
}

/**
 * prefixMatchHolds says whether a match found in the first part of a body is also a match of the whole
 * body. It is, unless the pattern looks past the end of what it matched: `$` (end of input), `\b` / `\B`
 * (the next character), or a lookahead. Those patterns are tried once, on everything read. The check is on
 * the source text and errs on the safe side (an escaped `\$` also counts): the cost of erring is only that
 * the read does not stop early.
 */
export function prefixMatchHolds(source: string): boolean {
  return !/\$|\\[bB]|\(\?[=!]/.test(source);
}

/**
 * splitCredentials removes the userinfo from a URL and returns it as a Basic authorization value
 * (percent-decoded, as RFC 3986 userinfo is encoded). A URL without userinfo is returned as written.
 */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return { url: raw }; // config has validated the URL; if not, fetch rejects it in the run, as data
  }
  if (parsed.username === '' && parsed.password === '') return { url: raw };
  const credentials = `${percentDecoded(parsed.username)}:${percentDecoded(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a lone `%` not followed by two hex digits stands for itself
  }
}

function statusPredicate(expect: readonly number[]): (status: number) => boolean {
  if (expect.length === 0) return (status) => status >= 200 && status <= 299;
  const accepted = new Set(expect);
  return (status) => accepted.has(status);
}
