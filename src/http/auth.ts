/**
 * Token authentication for every route. Pure: no uWebSockets.js, no I/O. The server calls
 * `TokenTable.check(req.getHeader('authorization'), scope)` once per request and maps the result to
 * 200 / 401 (with WWW_AUTHENTICATE) / 403.
 *
 * Why hash-then-compare: a plain `===` on the token returns as soon as one character differs, so the
 * response time tells an attacker how long a correct prefix is. We SHA-256 the presented token (its
 * length is the attacker's own input, so hashing time leaks nothing secret) and compare the 32-byte
 * digest with `timingSafeEqual` against EVERY stored digest without an early exit, so neither which
 * token matched nor the stored tokens' lengths show in the timing. The plain tokens are hashed in the
 * constructor and never kept.
 *
 * Why a JavaScript SHA-256: `check` runs on every scrape. Node 20's one-shot `crypto.hash` pays ~1.5 µs
 * of OpenSSL 3 per-call setup for a 20-byte input, and allocates a string slice and a Buffer; the
 * compression function below runs in ~0.5 µs on preallocated scratch and allocates nothing. It uses only
 * 32-bit add/xor/and/rotate (no data-dependent branches or table lookups), handles ASCII tokens, and falls
 * back to `crypto.hash` for anything else. test/http/auth.test.ts checks it against OpenSSL.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { Permission, TokenConfig } from '../access.ts';

/** RouteScope is what a route needs: `/metrics`, the JSON API under /system/v1/metrics/v0/, or under /system/v1/agent/{id}/metrics/v0/, or the status page. */
export type RouteScope = 'metrics' | 'api-metrics' | 'api-agent' | 'status';

/** AuthResult is the outcome of a check: serve, 401 (no or unknown token) or 403 (known token, no permission). */
export type AuthResult = 'ok' | 'unauthorized' | 'forbidden';

/** MAX_AUTHORIZATION_LENGTH is the longest Authorization header we look at; longer ones are refused unhashed. */
export const MAX_AUTHORIZATION_LENGTH = 4096;

/**
 * WWW_AUTHENTICATE is the header value sent with every 401. RFC 7235 §4.1 allows several challenges in
 * one header, comma-separated, each `auth-scheme 1*SP auth-param`; `token=` (DC/OS) has no scheme to offer.
 */
export const WWW_AUTHENTICATE = 'Bearer realm="probex", Metrics realm="probex"';

const kScopeMetrics = 1;
const kScopeApiMetrics = 2;
const kScopeApiAgent = 4;
const kScopeAll = kScopeMetrics | kScopeApiMetrics | kScopeApiAgent;

const SCOPE_BITS: Readonly<Record<RouteScope, number>> = {
  metrics: kScopeMetrics,
  'api-metrics': kScopeApiMetrics,
  'api-agent': kScopeApiAgent,
  // The status page (`/`) is open to any token that reaches /metrics or the JSON API.
  status: kScopeAll,
};

/** PERMISSION_SCOPES maps each permission to the route scopes it opens (a bit set of kScope*). */
const PERMISSION_SCOPES: Readonly<Record<Permission, number>> = {
  metrics: kScopeMetrics,
  api: kScopeApiMetrics | kScopeApiAgent,
  superuser: kScopeAll,
  'dcos:superuser': kScopeAll,
  'dcos:adminrouter:ops:system-metrics': kScopeApiMetrics,
  'dcos:adminrouter:system:agent': kScopeApiAgent,
};

/**
 * TokenTable holds the SHA-256 digests of the configured tokens with the scopes each opens, and checks an
 * Authorization header against them in constant time. With no tokens configured it is open.
 */
export class TokenTable {
  /** #digests[i] views 32 bytes of one Int32Array holding every digest, in sha256Into's word layout. */
  readonly #digests: readonly Uint8Array[];
  readonly #masks: Uint8Array;

  constructor(tokens: readonly TokenConfig[]) {
    const words = new Int32Array(tokens.length * 8);
    const digests: Uint8Array[] = [];
    this.#masks = new Uint8Array(tokens.length);
    tokens.forEach((t, i) => {
      const slot = words.subarray(i * 8, i * 8 + 8);
      sha256Into(t.token, 0, t.token.length, slot);
      digests.push(new Uint8Array(words.buffer, i * 32, 32));
      let mask = 0;
      for (const p of t.permissions) mask |= PERMISSION_SCOPES[p] ?? 0;
      this.#masks[i] = mask;
    });
    this.#digests = digests;
  }

  /** open is true when no tokens are configured: every request is allowed. */
  get open(): boolean {
    return this.#digests.length === 0;
  }

  /** size is the number of configured tokens (for the startup log; never the tokens themselves). */
  get size(): number {
    return this.#digests.length;
  }

  /**
   * check parses `Metrics <t>`, `Bearer <t>` or `token=<t>` (scheme case-insensitive, surrounding
   * whitespace tolerated) and returns whether the token opens `scope`. It never throws.
   */
  check(authorization: string | undefined, scope: RouteScope): AuthResult {
    const n = this.#digests.length;
    if (n === 0) return 'ok';
    if (authorization === undefined) return 'unauthorized';
    const len = authorization.length;
    if (len === 0 || len > MAX_AUTHORIZATION_LENGTH) return 'unauthorized';
    let start = 0;
    let end = len;
    while (start < end && isWhitespace(authorization.charCodeAt(start))) start++;
    while (end > start && isWhitespace(authorization.charCodeAt(end - 1))) end--;
    const tokenStart = credentialsStart(authorization, start, end);
    if (tokenStart < 0 || tokenStart >= end) return 'unauthorized';

    sha256Into(authorization, tokenStart, end, kDigestWords);
    const digest = kDigestBytes;
    // No early exit and no data-dependent branch: every digest is compared, matches are folded into
    // `found` and `mask` with bit arithmetic (-1 & mask = mask, -0 & mask = 0). Duplicate tokens (config
    // plus METRICS_TOKENS) simply OR their permissions together.
    let found = 0;
    let mask = 0;
    for (let i = 0; i < n; i++) {
      const eq = timingSafeEqual(digest, this.#digests[i]!) ? 1 : 0;
      found |= eq;
      mask |= this.#masks[i]! & -eq;
    }
    if (found === 0) return 'unauthorized';
    return (mask & SCOPE_BITS[scope]) !== 0 ? 'ok' : 'forbidden';
  }
}

/** sha256Hex returns the hex SHA-256 of s[start, end) as TokenTable computes it (exported for tests). */
export function sha256Hex(s: string, start = 0, end = s.length): string {
  const out = new Int32Array(8);
  sha256Into(s, start, end, out);
  let hex = '';
  for (const w of out) hex += (w >>> 0).toString(16).padStart(8, '0');
  return hex;
}

/**
 * digestKey returns SHA-256 of s[start, end) as a 16-character string (each character 16 bits of the
 * digest): a Map key for a secret that is not the secret itself (http/basic-auth.ts keys its cache so).
 */
export function digestKey(s: string, start = 0, end = s.length): string {
  sha256Into(s, start, end, kDigestWords);
  const w = kDigestWords;
  return String.fromCharCode(
    w[0]! & 0xffff,
    w[0]! >>> 16,
    w[1]! & 0xffff,
    w[1]! >>> 16,
    w[2]! & 0xffff,
    w[2]! >>> 16,
    w[3]! & 0xffff,
    w[3]! >>> 16,
    w[4]! & 0xffff,
    w[4]! >>> 16,
    w[5]! & 0xffff,
    w[5]! >>> 16,
    w[6]! & 0xffff,
    w[6]! >>> 16,
    w[7]! & 0xffff,
    w[7]! >>> 16,
  );
}

// Scratch space for the hot path: one digest and one padded message, reused by every check. Safe because
// check is synchronous and each worker thread has its own module instance.
const kDigestWords = new Int32Array(8);
const kDigestBytes = new Uint8Array(kDigestWords.buffer);
const kMessage = new Uint8Array(MAX_AUTHORIZATION_LENGTH + 72);
const kSchedule = new Int32Array(64);
// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/**
 * sha256Into writes SHA-256(UTF-8 of s[start, end)) into out as eight big-endian words. ASCII input up to
 * MAX_AUTHORIZATION_LENGTH is hashed here (FIPS 180-4 §6.2); anything else goes through OpenSSL, and the
 * words are laid out the same way, so both paths give equal digests for equal tokens.
 */
function sha256Into(s: string, start: number, end: number, out: Int32Array): void {
  const len = end - start;
  let ascii = len <= MAX_AUTHORIZATION_LENGTH;
  for (let i = 0; ascii && i < len; i++) {
    const c = s.charCodeAt(start + i);
    kMessage[i] = c;
    ascii = c < 0x80;
  }
  if (!ascii) {
    const d = hash('sha256', s.slice(start, end), 'buffer');
    for (let i = 0; i < 8; i++) out[i] = d.readInt32BE(i * 4);
    return;
  }
  // Padding (§5.1.1): 0x80, zeros, then the bit length as a 64-bit big-endian integer.
  const total = (((len + 8) >>> 6) + 1) << 6;
  kMessage[len] = 0x80;
  kMessage.fill(0, len + 1, total - 8);
  const bitsHi = Math.floor(len / 0x20000000);
  const bitsLo = (len << 3) >>> 0;
  for (let i = 0; i < 4; i++) {
    kMessage[total - 8 + i] = bitsHi >>> (24 - 8 * i);
    kMessage[total - 4 + i] = bitsLo >>> (24 - 8 * i);
  }
  const w = kSchedule;
  let h0 = 0x6a09e667,
    h1 = 0xbb67ae85 | 0,
    h2 = 0x3c6ef372,
    h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f,
    h5 = 0x9b05688c | 0,
    h6 = 0x1f83d9ab,
    h7 = 0x5be0cd19;
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) {
      const p = off + (i << 2);
      w[i] = (kMessage[p]! << 24) | (kMessage[p + 1]! << 16) | (kMessage[p + 2]! << 8) | kMessage[p + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = h0,
      b = h1,
      c = h2,
      d = h3,
      e = h4,
      f = h5,
      g = h6,
      h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  out[0] = h0;
  out[1] = h1;
  out[2] = h2;
  out[3] = h3;
  out[4] = h4;
  out[5] = h5;
  out[6] = h6;
  out[7] = h7;
}

/** isWhitespace: SP or HTAB (RFC 9110 OWS), plus CR/LF, which a proxy should never pass but might. */
function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * credentialsStart returns the index where the token begins after a known scheme, or -1. `Metrics` and
 * `Bearer` need at least one SP/HTAB after them; `token=` is DC/OS's form and is followed directly.
 * Comparisons are on char codes so the hot path allocates nothing.
 */
function credentialsStart(s: string, start: number, end: number): number {
  let at = matchWordCi(s, start, end, 'metrics');
  if (at < 0) at = matchWordCi(s, start, end, 'bearer');
  if (at >= 0) {
    if (at >= end || !isWhitespace(s.charCodeAt(at))) return -1;
    while (at < end && isWhitespace(s.charCodeAt(at))) at++;
    return at;
  }
  at = matchWordCi(s, start, end, 'token');
  if (at >= 0 && at < end && s.charCodeAt(at) === 0x3d /* = */) return at + 1;
  return -1;
}

/** matchWordCi returns the index after `lower` if s[start..] starts with it ignoring ASCII case, else -1. */
function matchWordCi(s: string, start: number, end: number, lower: string): number {
  const wl = lower.length;
  if (end - start < wl) return -1;
  for (let i = 0; i < wl; i++) {
    // | 0x20 folds A-Z onto a-z; `lower` holds letters only, so no other character can collide.
    if ((s.charCodeAt(start + i) | 0x20) !== lower.charCodeAt(i)) return -1;
  }
  return start + wl;
}
