/**
 * Content negotiation for every route, in one pure module: which exposition format a scrape gets
 * (Accept), whether a JSON route may answer (Accept) and whether a body may be gzipped
 * (Accept-Encoding). Nothing here throws or allocates per call beyond the parse, whatever the header
 * holds, and over-long headers are not parsed at all; answers are interned, so a server can cache them
 * per distinct header value (lastValueCache).
 *
 * Grammar: RFC 9110 §12.5.1 `Accept = #( media-range [ weight ] )`, `media-range = type "/" subtype
 * *( OWS ";" OWS parameter )`, `weight = OWS ";" OWS "q=" qvalue`; §12.5.3 for Accept-Encoding.
 *
 * What Prometheus sends (prometheus/prometheus scrape/scrape.go acceptHeader, config.ScrapeProtocolsHeaders):
 * - 3.x default: `application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,
 *   application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,
 *   text/plain;version=0.0.4;q=0.3,*\/*;q=0.2`; with native histograms (scrape_native_histograms) the
 *   protobuf range comes first (`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;
 *   encoding=delimited;q=0.6`, the rest one step lower). The `escaping` parameter goes only on the 1.0.0
 *   text formats.
 * - 2.x: `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,
 *   text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`, protobuf first at q=1 with native histograms enabled.
 * Prometheus picks its parser by the response's media type alone (model/textparse interface.go:
 * application/openmetrics-text, application/vnd.google.protobuf or text/plain, parsed with
 * mime.ParseMediaType, so parameters must be well formed). The answers below are client_golang's
 * (prometheus/common expfmt) content types; the 1.0.0 text formats echo the escaping scheme asked for,
 * as expfmt.NegotiateAccept does. probex's names and label names are all valid legacy names, so every
 * escaping scheme leaves them as they are and any scheme asked for is true of the body.
 */

/** MAX_ACCEPT_LENGTH is the longest Accept header parsed; a longer one gets the default answer. */
export const MAX_ACCEPT_LENGTH = 4096;

/** MAX_ACCEPT_ENCODING_LENGTH is the longest Accept-Encoding header parsed; a longer one means no gzip. */
const MAX_ACCEPT_ENCODING_LENGTH = 1024;

/** MetricsFormat is an exposition format a scrape can be answered in. */
export type MetricsFormat = 'protobuf' | 'openmetrics-1.0.0' | 'openmetrics-0.0.1' | 'text-1.0.0' | 'text-0.0.4';

/** MetricsBody names the rendered body a format is served from: the 1.0.0 and 0.0.x versions share one. */
export type MetricsBody = 'protobuf' | 'openmetrics' | 'text';

/** EscapingScheme is a metric name escaping scheme (prometheus/common model.EscapingScheme's strings). */
export type EscapingScheme = 'allow-utf-8' | 'underscores' | 'dots' | 'values';

/** MetricsNegotiation is the answer for one Accept header: interned and frozen, safe to cache and share. */
export interface MetricsNegotiation {
  readonly format: MetricsFormat;
  readonly body: MetricsBody;
  /** contentType is the response's Content-Type, with `escaping` on the 1.0.0 text formats when asked for. */
  readonly contentType: string;
  readonly escaping: EscapingScheme | undefined;
}

/** MetricsOffer says which bodies the server has; text is always there, OpenMetrics unless it says false. */
export interface MetricsOffer {
  readonly protobuf: boolean;
  readonly openmetrics?: boolean;
}

/** TEXT_ONLY offers the text formats alone (what stands in for a format not rendered: render/plan.ts). */
export const TEXT_ONLY: MetricsOffer = Object.freeze({ protobuf: false, openmetrics: false });

const BASE_CONTENT_TYPE: Readonly<Record<MetricsFormat, string>> = {
  protobuf: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
  'openmetrics-1.0.0': 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  'openmetrics-0.0.1': 'application/openmetrics-text; version=0.0.1; charset=utf-8',
  'text-1.0.0': 'text/plain; version=1.0.0; charset=utf-8',
  'text-0.0.4': 'text/plain; version=0.0.4; charset=utf-8',
};
const BODY: Readonly<Record<MetricsFormat, MetricsBody>> = {
  protobuf: 'protobuf',
  'openmetrics-1.0.0': 'openmetrics',
  'openmetrics-0.0.1': 'openmetrics',
  'text-1.0.0': 'text',
  'text-0.0.4': 'text',
};
/** PREFERENCE breaks ties between equal q-values: the richest format first. */
const PREFERENCE: readonly MetricsFormat[] = [
  'protobuf',
  'openmetrics-1.0.0',
  'openmetrics-0.0.1',
  'text-1.0.0',
  'text-0.0.4',
];
const ESCAPING_SCHEMES: readonly EscapingScheme[] = ['allow-utf-8', 'underscores', 'dots', 'values'];
/** ESCAPING_FORMATS are the formats that define the escaping parameter (Prometheus sends it only with them). */
const ESCAPING_FORMATS: ReadonlySet<MetricsFormat> = new Set(['openmetrics-1.0.0', 'text-1.0.0']);

/** ANSWERS[format][escaping or ''] is the interned negotiation result. */
const ANSWERS = Object.fromEntries(
  PREFERENCE.map((format) => {
    const variants: Record<string, MetricsNegotiation> = {
      '': Object.freeze({ format, body: BODY[format], contentType: BASE_CONTENT_TYPE[format], escaping: undefined }),
    };
    if (ESCAPING_FORMATS.has(format)) {
      for (const escaping of ESCAPING_SCHEMES) {
        variants[escaping] = Object.freeze({
          format,
          body: BODY[format],
          contentType: `${BASE_CONTENT_TYPE[format]}; escaping=${escaping}`,
          escaping,
        });
      }
    }
    return [format, variants];
  }),
) as Record<MetricsFormat, Record<string, MetricsNegotiation>>;

/** DEFAULT_NEGOTIATION is the answer to an absent, malformed, over-long or unsatisfiable Accept: text 0.0.4. */
export const DEFAULT_NEGOTIATION: MetricsNegotiation = ANSWERS['text-0.0.4']['']!;

/** negotiationFor returns the interned answer for a format (and escaping scheme, on the 1.0.0 text formats). */
export function negotiationFor(format: MetricsFormat, escaping?: EscapingScheme): MetricsNegotiation {
  const variants = ANSWERS[format];
  return (escaping !== undefined ? variants[escaping] : undefined) ?? variants['']!;
}

const ALL_OFFERED: MetricsOffer = Object.freeze({ protobuf: true });

/**
 * negotiateMetrics picks the exposition format for a scrape. Each format's q-value comes from the most
 * specific media range that matches it (the highest q among equally specific ones); the format with the
 * highest q > 0 wins, ties going to protobuf, then OpenMetrics 1.0.0, 0.0.1, text 1.0.0, text 0.0.4.
 * Only text 0.0.4 is matched by wildcards (`text/plain`, `text/*`, `*\/*`) and by an unversioned
 * `text/plain`; OpenMetrics 1.0.0 also by an unversioned `application/openmetrics-text`; every other
 * format only when named with its version (protobuf: with proto=io.prometheus.client.MetricFamily and
 * encoding=delimited). So `*\/*` alone gets text, and a client asks for the others by name. Protobuf is
 * a candidate only when `offer.protobuf` is true. An absent, over-long or malformed header (one bad
 * element spoils it: it cannot be read as the client meant it) gets DEFAULT_NEGOTIATION.
 */
export function negotiateMetrics(accept: string | undefined, offer: MetricsOffer = ALL_OFFERED): MetricsNegotiation {
  if (typeof accept !== 'string' || accept.length === 0 || accept.length > MAX_ACCEPT_LENGTH)
    return DEFAULT_NEGOTIATION;
  const parsed = parseAccept(accept);
  if (!parsed.valid) return DEFAULT_NEGOTIATION;
  // Per format, in PREFERENCE order: the specificity and q of its best match, and that range's escaping.
  const specificity = [-1, -1, -1, -1, -1];
  const q = [0, 0, 0, 0, 0];
  const escaping: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  for (const range of parsed.ranges) {
    for (let f = 0; f < PREFERENCE.length; f++) {
      const spec = matchSpecificity(PREFERENCE[f]!, range);
      if (spec < 0 || spec < specificity[f]!) continue;
      if (spec > specificity[f]! || range.q > q[f]!) {
        specificity[f] = spec;
        q[f] = range.q;
        escaping[f] = range.escaping;
      }
    }
  }
  let best = -1;
  for (let f = 0; f < PREFERENCE.length; f++) {
    if (f === 0 && !offer.protobuf) continue;
    if ((f === 1 || f === 2) && offer.openmetrics === false) continue;
    if (q[f]! > 0 && (best < 0 || q[f]! > q[best]!)) best = f;
  }
  if (best < 0) return DEFAULT_NEGOTIATION;
  const format = PREFERENCE[best]!;
  const scheme = escaping[best];
  return negotiationFor(format, isEscapingScheme(scheme) ? scheme : undefined);
}

/** matchSpecificity is how specifically `range` names `format`: higher is more specific, -1 no match. */
function matchSpecificity(format: MetricsFormat, range: MediaRange): number {
  const { type, subtype, version } = range;
  switch (format) {
    case 'protobuf':
      return type === 'application' &&
        subtype === 'vnd.google.protobuf' &&
        range.proto === 'io.prometheus.client.MetricFamily' &&
        range.encoding === 'delimited'
        ? 1
        : -1;
    case 'openmetrics-1.0.0':
      if (type !== 'application' || subtype !== 'openmetrics-text') return -1;
      return version === undefined ? 0 : version === '1.0.0' ? 1 : -1;
    case 'openmetrics-0.0.1':
      return type === 'application' && subtype === 'openmetrics-text' && version === '0.0.1' ? 1 : -1;
    case 'text-1.0.0':
      return type === 'text' && subtype === 'plain' && version === '1.0.0' ? 1 : -1;
    case 'text-0.0.4':
      if (type === '*') return subtype === '*' ? 0 : -1;
      if (type !== 'text') return -1;
      if (subtype === '*') return 1;
      if (subtype !== 'plain') return -1;
      if (version === undefined) return 2;
      return version === '0.0.4' ? 3 : -1;
  }
}

function isEscapingScheme(value: string | undefined): value is EscapingScheme {
  return value !== undefined && (ESCAPING_SCHEMES as readonly string[]).includes(value);
}

/** JSON_MEDIA_TYPE is the only media type the JSON API answers with. */
const JSON_MEDIA_TYPE = 'application/json';

/**
 * acceptsJson reports whether an Accept header allows application/json: absent, empty or only commas,
 * or its most specific matching range (`application/json`, then `application/*`, then `*\/*`) has q > 0.
 * Lenient where negotiateMetrics is strict: an element it cannot read is skipped and a malformed q counts
 * as 1, since a 406 is worse for a client than a body it asked for clumsily. Over-long headers are refused.
 */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept === '' || accept === JSON_MEDIA_TYPE || accept === '*/*') return true;
  if (typeof accept !== 'string' || accept.length > MAX_ACCEPT_LENGTH) return false;
  const parsed = parseAccept(accept);
  if (parsed.ranges.length === 0) return true; // only commas and whitespace: as good as absent
  let bestSpecificity = 0;
  let bestQ = 0;
  for (const range of parsed.ranges) {
    const media = range.mediaType;
    const specificity = media === JSON_MEDIA_TYPE ? 3 : media === 'application/*' ? 2 : media === '*/*' ? 1 : 0;
    if (specificity === 0 || specificity < bestSpecificity) continue;
    const q = Number.isNaN(range.q) ? 1 : range.q;
    if (specificity > bestSpecificity || q > bestQ) {
      bestSpecificity = specificity;
      bestQ = q;
    }
  }
  return bestQ > 0;
}

/**
 * acceptsGzip reports whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3): the first `gzip`
 * or `x-gzip` element decides by its q-value; without one, the last `*` does. A malformed q-value is not
 * consent (q = 0); an absent, empty or over-long header means no.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (typeof header !== 'string' || header === '' || header.length > MAX_ACCEPT_ENCODING_LENGTH) return false;
  let star = false;
  for (const element of header.split(',')) {
    const semi = element.indexOf(';');
    const coding = (semi < 0 ? element : element.slice(0, semi)).trim().toLowerCase();
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue;
    let q = 1;
    if (semi >= 0) {
      for (const param of element.slice(semi + 1).split(';')) {
        const eq = param.indexOf('=');
        if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
        q = parseQ(param.slice(eq + 1).trim());
        if (Number.isNaN(q)) q = 0;
      }
    }
    if (coding === '*') star = q > 0;
    else return q > 0;
  }
  return star;
}

/**
 * lastValueCache wraps a pure function of one header with a one-entry cache. A scraper sends the same
 * Accept and Accept-Encoding on every scrape, so the parse runs once per distinct value and each request
 * costs a comparison of equal strings.
 */
export function lastValueCache<T>(fn: (header: string | undefined) => T): (header: string | undefined) => T {
  let lastHeader: string | undefined;
  let lastAnswer = fn(undefined);
  return (header) => {
    if (header !== lastHeader) {
      lastAnswer = fn(header);
      lastHeader = header;
    }
    return lastAnswer;
  };
}

// RFC 9110 §5.6.2 token, §12.4.2 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ].
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const QVALUE_RE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** parseQ returns a qvalue's number, NaN when it is not a qvalue (quotes are not allowed there). */
function parseQ(value: string): number {
  return QVALUE_RE.test(value) ? Number(value) : NaN;
}

/** MediaRange is one element of an Accept header, with the parameters negotiation reads. */
interface MediaRange {
  /** mediaType is the part before the first `;`, trimmed and lower-cased, as written. */
  readonly mediaType: string;
  /** type and subtype are lower-cased; both '' when mediaType is not `token/token`. */
  readonly type: string;
  readonly subtype: string;
  /** q is the first q parameter's value: 1 when absent, NaN when malformed. */
  readonly q: number;
  /** valid: type/subtype and every parameter well formed, q a qvalue, no `*` type with a named subtype. */
  readonly valid: boolean;
  readonly version: string | undefined;
  readonly proto: string | undefined;
  readonly encoding: string | undefined;
  readonly escaping: string | undefined;
}

interface ParsedAccept {
  /** ranges are the non-empty elements (the list syntax allows empty ones), in order. */
  readonly ranges: readonly MediaRange[];
  /** valid is true when every range is. */
  readonly valid: boolean;
}

/** parseAccept splits an Accept header into media ranges; callers bound its length first. */
function parseAccept(accept: string): ParsedAccept {
  const ranges: MediaRange[] = [];
  let valid = true;
  for (const element of accept.split(',')) {
    if (element.trim() === '') continue;
    const range = parseMediaRange(element);
    valid &&= range.valid;
    ranges.push(range);
  }
  return { ranges, valid };
}

function parseMediaRange(element: string): MediaRange {
  const params = element.split(';');
  const mediaType = params[0]!.trim().toLowerCase();
  const slash = mediaType.indexOf('/');
  let type = '';
  let subtype = '';
  let valid = false;
  if (slash > 0) {
    type = mediaType.slice(0, slash);
    subtype = mediaType.slice(slash + 1);
    valid = TOKEN_RE.test(type) && TOKEN_RE.test(subtype) && (type !== '*' || subtype === '*');
    if (!valid) type = subtype = '';
  }
  let q = 1;
  let sawQ = false;
  let version: string | undefined;
  let proto: string | undefined;
  let encoding: string | undefined;
  let escaping: string | undefined;
  for (let i = 1; i < params.length; i++) {
    const param = params[i]!.trim();
    if (param === '') continue;
    const eq = param.indexOf('=');
    const key = eq <= 0 ? '' : param.slice(0, eq).trim().toLowerCase();
    if (!TOKEN_RE.test(key)) {
      valid = false;
      continue;
    }
    const raw = param.slice(eq + 1).trim();
    if (key === 'q') {
      const value = parseQ(raw);
      if (Number.isNaN(value)) valid = false;
      if (!sawQ) q = value;
      sawQ = true;
      continue;
    }
    const value = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    if (key === 'version') version = value;
    else if (key === 'proto') proto = value;
    else if (key === 'encoding') encoding = value;
    else if (key === 'escaping') escaping = value;
  }
  return { mediaType, type, subtype, q, valid, version, proto, encoding, escaping };
}
