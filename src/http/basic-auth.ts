/**
 * Basic auth against the web config's bcrypt hashes, as exporter-toolkit's handler does it, without
 * ever stalling the front end.
 *
 * bcrypt is slow on purpose (cost 10 is ~70 ms of CPU), so, like exporter-toolkit, a check's outcome is
 * cached per credential: a scraper pays bcrypt once, then every scrape is a SHA-256 of its header and a
 * Map lookup, answered in the handler's synchronous part like a token. The one uncached check runs on
 * libuv's thread pool (@node-rs/bcrypt's async verify), never on the main thread; the request waits for
 * it (http/authorize.ts registers onAborted and replays the handler inside cork once it is known).
 * Checks run one at a time (exporter-toolkit takes a mutex for the same reason: bcrypt is CPU-bound), the
 * same credential arriving again while its check runs waits for that one, and at most MAX_PENDING
 * different credentials wait: beyond that the answer is `busy` (503), so a flood of made-up passwords
 * costs a bounded queue and one thread, not memory or the front end.
 *
 * Timing: an unknown user is checked against a real user's hash of the highest cost configured, so a
 * wrong password and an unknown user cost the same bcrypt (exporter-toolkit uses a fixed cost-10 hash,
 * which tells the two apart when the users' cost is not 10). Cached answers, right or wrong, are equally
 * cheap. Cache keys are SHA-256 digests of the header's credentials, never the password; positive and
 * negative answers are kept apart, so made-up passwords cannot evict a scraper's good entry.
 */
import { createRequire } from 'node:module';
import { digestKey, MAX_AUTHORIZATION_LENGTH } from './auth.ts';

/** MAX_PENDING bounds the distinct credentials waiting for bcrypt at once. */
export const MAX_PENDING = 32;
/** MAX_CACHED_OK and MAX_CACHED_WRONG bound the two caches (exporter-toolkit keeps 100 entries). */
const MAX_CACHED_OK = 64;
const MAX_CACHED_WRONG = 100;
/** MAX_PASSWORD_BYTES: bcrypt reads 72 bytes; Go's bcrypt refuses longer passwords, and so does probex. */
const MAX_PASSWORD_BYTES = 72;

/** BASIC_CHALLENGE is the challenge of a 401 when basic auth is configured. */
export const BASIC_CHALLENGE = 'Basic realm="probex", charset="UTF-8"';

/** Verify is bcrypt's compare, injectable for tests. */
export type Verify = (password: string, hash: string) => Promise<boolean>;

/** BasicVerdict: known now (`ok`, `unauthorized`, `busy`), or a check running on the thread pool. */
export type BasicVerdict = 'ok' | 'unauthorized' | 'busy' | Promise<boolean>;

/** BasicAuthStats are the self-metrics: bcrypt checks run, and requests refused as busy. */
export interface BasicAuthStats {
  checks: number;
  busy: number;
}

/** BasicAuth checks `Authorization: Basic` headers against users and their bcrypt hashes. */
export class BasicAuth {
  readonly #hashes: ReadonlyMap<string, string>;
  /** #dummy is the hash an unknown user is checked against: a real user's, of the highest cost. */
  readonly #dummy: string;
  readonly #verify: Verify;
  readonly #ok = new Map<string, true>();
  readonly #wrong = new Map<string, false>();
  readonly #pending = new Map<string, Promise<boolean>>();
  #queue: Promise<unknown> = Promise.resolve();
  readonly stats: BasicAuthStats;

  constructor(users: Readonly<Record<string, string>>, verify: Verify = bcryptVerify(), stats?: BasicAuthStats) {
    this.#hashes = new Map(Object.entries(users));
    const hashes = [...this.#hashes.values()];
    this.#dummy = hashes.reduce((a, b) => (cost(b) > cost(a) ? b : a), hashes[0] ?? '');
    this.#verify = verify;
    this.stats = stats ?? { checks: 0, busy: 0 };
  }

  /** size is the number of users. */
  get size(): number {
    return this.#hashes.size;
  }

  /**
   * check answers an `Authorization` header whose scheme is Basic (isBasic said so). It never throws and
   * never quotes the header.
   */
  check(authorization: string): BasicVerdict {
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) return 'unauthorized';
    const start = credentialsStart(authorization);
    let end = authorization.length;
    while (end > start && isSpace(authorization.charCodeAt(end - 1))) end--;
    const key = digestKey(authorization, start, end);
    if (this.#ok.has(key)) return 'ok';
    if (this.#wrong.has(key)) return 'unauthorized';
    const running = this.#pending.get(key);
    if (running !== undefined) return running;
    if (this.#pending.size >= MAX_PENDING) {
      this.stats.busy++;
      return 'busy';
    }
    const credentials = decodeBasic(authorization.slice(start, end));
    if (credentials === undefined) {
      remember(this.#wrong, key, false, MAX_CACHED_WRONG);
      return 'unauthorized';
    }
    const { user, password } = credentials;
    const hash = this.#hashes.get(user);
    const check = this.#run(password, hash ?? this.#dummy).then((matched) => {
      this.#pending.delete(key);
      const ok = matched && hash !== undefined;
      if (ok) remember(this.#ok, key, true, MAX_CACHED_OK);
      else remember(this.#wrong, key, false, MAX_CACHED_WRONG);
      return ok;
    });
    this.#pending.set(key, check);
    return check;
  }

  /** #run queues one bcrypt compare behind the others; a failure (a bad hash) is a mismatch. */
  #run(password: string, hash: string): Promise<boolean> {
    const run = this.#queue.then(() => {
      this.stats.checks++;
      if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return this.#verify('', hash).then(() => false);
      return this.#verify(password, hash);
    });
    const settled = run.catch(() => false);
    this.#queue = settled;
    return settled;
  }
}

/**
 * bcryptVerify loads @node-rs/bcrypt's verify, whose compare runs on libuv's thread pool. It is loaded
 * only when basic auth is configured: a native addon the other front ends need not map.
 */
function bcryptVerify(): Verify {
  const bcrypt = createRequire(import.meta.url)('@node-rs/bcrypt') as typeof import('@node-rs/bcrypt');
  return (password, hash) => bcrypt.verify(password, hash);
}

/** isBasic tells whether an Authorization header uses the Basic scheme (any case). */
export function isBasic(authorization: string): boolean {
  let i = 0;
  while (i < authorization.length && isSpace(authorization.charCodeAt(i))) i++;
  return (
    authorization.length - i > 6 &&
    authorization.slice(i, i + 5).toLowerCase() === 'basic' &&
    isSpace(authorization.charCodeAt(i + 5))
  );
}

/** credentialsStart is the index after `Basic` and its spaces (isBasic holds). */
function credentialsStart(authorization: string): number {
  let i = 0;
  while (isSpace(authorization.charCodeAt(i))) i++;
  i += 5;
  while (i < authorization.length && isSpace(authorization.charCodeAt(i))) i++;
  return i;
}

/**
 * decodeBasic decodes `base64(user:password)` strictly (padded standard alphabet, as Go's
 * r.BasicAuth), split at the first colon; undefined when it is not that.
 */
export function decodeBasic(encoded: string): { user: string; password: string } | undefined {
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** remember adds key to a bounded cache, dropping its oldest tenth when full. */
function remember<V>(cache: Map<string, V>, key: string, value: V, max: number): void {
  if (cache.size >= max) {
    let drop = Math.max(1, Math.floor(max / 10));
    for (const k of cache.keys()) {
      cache.delete(k);
      if (--drop === 0) break;
    }
  }
  cache.set(key, value);
}

/** cost reads a bcrypt hash's cost ($2y$10$...). */
function cost(hash: string): number {
  return Number(hash.slice(4, 6));
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
