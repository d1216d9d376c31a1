/**
 * The web config's settings as the front end uses them, and the rules read off them, apart from the
 * loader (web-config.ts), so that the main thread never loads js-yaml or zod: the types, exporter-toolkit's
 * names and their OpenSSL equivalents, which listener a TLS config needs, and what guards the listener.
 */

/** CLIENT_AUTH_TYPES are Go's tls.ClientAuthType names (RequireClientCert is exporter-toolkit's old alias). */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** TLS_VERSIONS maps exporter-toolkit's version names to Node's (OpenSSL's) names. */
export const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
export type TlsVersionName = keyof typeof TLS_VERSIONS;

/**
 * CIPHER_SUITES maps the names Go's tls.CipherSuites() gives (what exporter-toolkit accepts) to OpenSSL's.
 * TLS 1.3 suites map to undefined: Go (and BoringSSL, and OpenSSL through this option) does not let them
 * be chosen, so they are accepted and have no effect, as in Go.
 */
export const CIPHER_SUITES: Readonly<Record<string, string | undefined>> = {
  TLS_AES_128_GCM_SHA256: undefined,
  TLS_AES_256_GCM_SHA384: undefined,
  TLS_CHACHA20_POLY1305_SHA256: undefined,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};

/** CURVES maps exporter-toolkit's curve names to OpenSSL's. */
export const CURVES = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' } as const;

/**
 * SECURITY_HEADERS are the response headers exporter-toolkit lets the file set, with the values allowed
 * where the header has a fixed set (its handler.go keeps the list private "to ensure consistency in the
 * Prometheus ecosystem").
 */
export const SECURITY_HEADERS: Readonly<Record<string, readonly string[] | undefined>> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** PemSource is where a PEM comes from: a file (re-read when it changes) or the web config itself. */
export type PemSource = { readonly file: string } | { readonly inline: string };

/** TlsSettings are tls_server_config's settings once validated, with names translated for OpenSSL. */
export interface TlsSettings {
  readonly cert: PemSource;
  readonly key: PemSource;
  readonly clientCa: PemSource | undefined;
  readonly clientAuth: ClientAuthType;
  /** allowedSans, when set, are the SAN values (DNS, IP, e-mail, URI) one of which a client certificate must carry. */
  readonly allowedSans: readonly string[] | undefined;
  readonly minVersion: TlsVersionName;
  readonly maxVersion: TlsVersionName;
  /** ciphers are the TLS 1.0-1.2 suites in OpenSSL's names, in the file's order; undefined: the library's defaults. */
  readonly ciphers: readonly string[] | undefined;
  /** curves in OpenSSL's names, in preference order; undefined: the library's defaults. */
  readonly curves: readonly string[] | undefined;
}

/** RateLimit is rate_limit: a token bucket of `burst` tokens, one more every intervalMs. */
export interface RateLimit {
  readonly intervalMs: number;
  readonly burst: number;
}

/** WebConfig is the web config file, validated. */
export interface WebConfig {
  /** path is the file it came from (absolute). */
  readonly path: string;
  /** tls is undefined when the file configures no TLS: probex then serves plain HTTP, as exporter-toolkit does. */
  readonly tls: TlsSettings | undefined;
  /** http2 is accepted for compatibility; uWebSockets.js speaks HTTP/1.1 only (docs/tls.md). */
  readonly http2: boolean;
  /** headers are sent on every response. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** users maps each basic-auth user to its bcrypt hash. */
  readonly users: Readonly<Record<string, string>>;
  readonly rateLimit: RateLimit | undefined;
  /** warnings are valid but surprising settings, logged at start and on reload. */
  readonly warnings: readonly string[];
}

/** needsNodeTls names what of the TLS settings uWebSockets.js cannot do itself (docs/tls.md); empty: uWS serves TLS. */
export function needsNodeTls(tls: TlsSettings): string[] {
  const why: string[] = [];
  if (tls.clientAuth === 'RequestClientCert' || tls.clientAuth === 'RequireAnyClientCert')
    why.push(`client_auth_type ${tls.clientAuth}`);
  if (tls.clientAuth === 'RequireAndVerifyClientCert') why.push('client_auth_type RequireAndVerifyClientCert');
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && tls.clientCa === undefined)
    why.push('client_auth_type VerifyClientCertIfGiven without a client CA (the system roots)');
  if (tls.allowedSans !== undefined) why.push('client_allowed_sans');
  if (tls.minVersion !== 'TLS12') why.push(`min_version ${tls.minVersion}`);
  if (tls.maxVersion !== 'TLS13') why.push(`max_version ${tls.maxVersion}`);
  if (tls.curves !== undefined) why.push('curve_preferences');
  return why;
}

/** guardsListener says what of the web config authenticates every client, or undefined (access.ts). */
export function webGuard(web: WebConfig | undefined): string | undefined {
  if (web === undefined) return undefined;
  if (Object.keys(web.users).length > 0) return 'basic_auth_users';
  if (web.tls?.clientAuth === 'RequireAndVerifyClientCert') return 'client certificates (RequireAndVerifyClientCert)';
  return undefined;
}
