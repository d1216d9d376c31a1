/**
 * http: GET the target URL with the global fetch (undici: one keep-alive connection pool per origin,
 * shared by every http target of the worker, so a prober owns no client of its own). The run's signal
 * aborts fetch's, so the deadline cancels the connect, the headers and the body read alike.
 *
 * Credentials in the URL (`https://user:pass@host/`) are sent as `Authorization: Basic`, as curl does:
 * fetch refuses a URL with userinfo. An `Authorization` header in `headers` wins over them.
 *
 * The body is read at most `maxBodyBytes` (counted after content decoding, so a compressed bomb is cut
 * too). With `bodyMatch`, what has arrived is searched as it arrives and the read stops at the first match;
 * a body that ends, or reaches the cap, without a match is `bad_reply`. Without `bodyMatch` the body is
 * discarded as it arrives, read to its end only so that its connection can be reused; one longer than the
 * cap is not read further. A body not read to its end is cancelled, which closes its connection.
 */
import { secretScrubber } from '../redact.ts';
import { scrubbed, settle } from './classify.ts';
import type { HttpTarget, Probe, ProbeOutcome, Prober } from './probe.ts';

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
export const httpProbe: Probe<'http'> = {
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
      statusOk: statusPredicate(target.expectStatus),
      expected: target.expectStatus.length === 0 ? '2xx' : target.expectStatus.join(', '),
      // Compiled once per target; config has already checked that the source is a valid RegExp.
      bodyMatch,
      matchesPrefix: bodyMatch !== undefined && prefixMatchHolds(bodyMatch.source),
      maxBodyBytes: target.maxBodyBytes,
      matchStepChars: Math.max(MATCH_STEP_CHARS, Math.ceil(target.maxBodyBytes / MATCH_STEPS)),
    };
    const scrub = secretScrubber(target.url);
    return {
      run: (signal) => {
        // fetch keeps the abort listener it adds to its signal until that signal is collected, and the lane
        // reuses `signal` across runs (Prober.run's contract: leave no listener). So fetch gets a signal of
        // its own, aborted by settle's cancel hook, whose listener settle removes when the run settles.
        const own = new AbortController();
        const outcome = settle(
          signal,
          target.timeoutMs,
          () => getOnce(check, own.signal),
          () => own.abort(signal.reason),
        );
        // undici quotes the URL in some errors (`Failed to parse URL from ...`): never its secrets.
        return scrubbed(outcome, scrub);
      },
      close: () => Promise.resolve(),
    };
  },
};

interface ResponseCheck {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly statusOk: (status: number) => boolean;
  readonly expected: string;
  readonly bodyMatch: RegExp | undefined;
  /** matchesPrefix: a match in the part of the body read so far is a match of the whole body (see below). */
  readonly matchesPrefix: boolean;
  readonly maxBodyBytes: number;
  readonly matchStepChars: number;
}

async function getOnce(check: ResponseCheck, signal: AbortSignal): Promise<ProbeOutcome> {
  const res = await fetch(check.url, { method: 'GET', headers: check.headers, signal });
  if (!check.statusOk(res.status)) {
    // An unread body would hold its keep-alive connection until garbage collection: cancel it.
    await res.body?.cancel();
    return { ok: false, reason: 'status', message: `HTTP ${res.status}, expected ${check.expected}` };
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
