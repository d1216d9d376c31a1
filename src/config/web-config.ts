/**
 * The Prometheus exporters' web configuration file (`--web.config.file`, exporter-toolkit's web.yml):
 * TLS, client certificates, bcrypt basic auth, security headers and a rate limit, read the way
 * exporter-toolkit reads it (YAML, unknown fields refused, relative paths from the file's directory,
 * the same defaults and names) and validated at once, with every problem listed.
 *
 * It runs on the config thread (js-yaml and zod never load in the front end). What it returns is plain
 * data: the settings, and where each PEM comes from; tls-material.ts reads and checks the PEMs.
 *
 * Where probex is stricter than exporter-toolkit, it is because exporter-toolkit would silently do
 * something else than the file says: TLS fields without a certificate (Go serves plain HTTP), a cert and
 * a cert_file both set (Go takes the file), client_allowed_sans without asking for client certificates
 * (never checked), min_version above max_version (every handshake fails), a user name with `:` (can never
 * match). Each is a problem naming its field.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadAll as parseYamlDocuments, YAMLException } from 'js-yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { FileReadError, readCappedFileSync } from './read-file.ts';
import {
  CIPHER_SUITES,
  CLIENT_AUTH_TYPES,
  CURVES,
  SECURITY_HEADERS,
  TLS_VERSIONS,
  type ClientAuthType,
  type PemSource,
  type RateLimit,
  type TlsSettings,
  type TlsVersionName,
  type WebConfig,
} from './web-settings.ts';

/** MAX_WEB_CONFIG_BYTES caps the web config file. */
const MAX_WEB_CONFIG_BYTES = 1024 * 1024;

/** BCRYPT_HASH_RE matches a bcrypt hash ($2a$, $2b$, $2x$ or $2y$, cost 4-31), as Go's bcrypt.Cost accepts. */
const BCRYPT_HASH_RE = /^\$2[abxy]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

// ---------------------------------------------------------------------------------------------------
// Schema: exporter-toolkit's field names and defaults; zod's messages name the field, never its value.

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

const tlsSchema = z
  .object({
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    client_ca: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    client_auth_type: z.enum([...CLIENT_AUTH_TYPES, 'RequireClientCert']).optional(),
    client_ca_file: z.string().min(1).optional(),
    client_allowed_sans: z.array(z.string().min(1)).min(1).optional(),
    min_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]).optional(),
    max_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]).optional(),
    cipher_suites: z
      .array(z.enum(Object.keys(CIPHER_SUITES) as [string, ...string[]], { error: 'unknown cipher suite' }))
      .optional(),
    prefer_server_cipher_suites: z.boolean().optional(),
    curve_preferences: z
      .array(z.enum(Object.keys(CURVES) as [keyof typeof CURVES, ...(keyof typeof CURVES)[]]))
      .optional(),
  })
  .strict();

const headerValue = z
  .string()
  .refine((v) => ![...v].some((c) => (c < ' ' && c !== '\t') || c === '\x7f'), 'must not contain control characters');

const webSchema = z
  .object({
    tls_server_config: nullable(tlsSchema),
    http_server_config: nullable(
      z
        .object({
          http2: z.boolean().optional(),
          headers: nullable(z.record(z.string(), headerValue)),
        })
        .strict(),
    ),
    basic_auth_users: nullable(
      z.record(
        z.string(),
        z.string().regex(BCRYPT_HASH_RE, 'must be a bcrypt hash ($2y$10$..., made by htpasswd -nBC 10)'),
      ),
    ),
    rate_limit: nullable(
      z
        .object({
          interval: z.union([z.string(), z.number().int().nonnegative()]),
          burst: z.number().int().nonnegative(),
        })
        .strict(),
    ),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------

/** loadWebConfigFile reads and validates the web config file; it throws ConfigError listing every problem. */
export function loadWebConfigFile(path: string): WebConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readCappedFileSync(absolute, MAX_WEB_CONFIG_BYTES).bytes.toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw new ConfigError([`web config: ${err.message}`]);
    throw err;
  }
  return parseWebConfig(text, absolute);
}

/** parseWebConfig validates the text of a web config file at `path` (relative file names resolve from its directory). */
export function parseWebConfig(text: string, path: string): WebConfig {
  const issues: string[] = [];
  const warnings: string[] = [];
  let documents: unknown[];
  try {
    documents = parseYamlDocuments(text);
  } catch (err) {
    throw new ConfigError([yamlIssue(err, path)]);
  }
  if (documents.length > 1) throw new ConfigError([`${path}: ${documents.length} YAML documents, probex reads one`]);
  const raw = documents[0] ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError([`${path}: must be a YAML mapping`]);
  const parsed = webSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${path}: ${i.path.length === 0 ? '' : `${i.path.join('.')}: `}${i.message}`),
    );
  }
  const w = parsed.data;
  const at = (field: string, message: string): void => void issues.push(`${path}: ${field}: ${message}`);

  const tls = tlsSettings(w.tls_server_config ?? undefined, dirname(path), at, warnings);

  const headers: Array<readonly [string, string]> = [];
  for (const [name, value] of Object.entries(w.http_server_config?.headers ?? {})) {
    if (!(name in SECURITY_HEADERS)) {
      at(
        `http_server_config.headers.${name}`,
        `can not be configured (one of ${Object.keys(SECURITY_HEADERS).join(', ')})`,
      );
      continue;
    }
    const allowed = SECURITY_HEADERS[name];
    if (allowed !== undefined && !allowed.includes(value))
      at(`http_server_config.headers.${name}`, `must be one of ${allowed.join(', ')}`);
    else if (value !== '') headers.push([name.toLowerCase(), value]); // blank: unset, as exporter-toolkit says
  }

  for (const user of Object.keys(w.basic_auth_users ?? {}))
    if (user.includes(':'))
      at(`basic_auth_users.${user}`, 'a user name must not contain ":" (basic auth splits at it)');

  if (w.http_server_config?.http2 === true)
    warnings.push(
      `${path}: http_server_config.http2: probex speaks HTTP/1.1 only (uWebSockets.js); clients fall back to it`,
    );

  let rateLimit: RateLimit | undefined;
  if (w.rate_limit != null) {
    const intervalMs = goDurationMs(w.rate_limit.interval);
    if (intervalMs === undefined) at('rate_limit.interval', 'must be a Go duration like 1s, 250ms or 1m30s');
    else if (intervalMs > 0) {
      rateLimit = { intervalMs, burst: w.rate_limit.burst };
      if (w.rate_limit.burst === 0)
        warnings.push(`${path}: rate_limit.burst is 0: every request to an authenticated route gets 429`);
    }
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    path,
    tls,
    http2: w.http_server_config?.http2 ?? true,
    headers,
    users: { ...(w.basic_auth_users ?? {}) },
    rateLimit,
    warnings,
  };
}

type Report = (field: string, message: string) => void;

/** tlsSettings validates tls_server_config, or returns undefined when it configures no TLS. */
function tlsSettings(
  t: z.output<typeof tlsSchema> | undefined,
  dir: string,
  at: Report,
  warnings: string[],
): TlsSettings | undefined {
  if (t === undefined) return undefined;
  const enabled =
    t.cert !== undefined ||
    t.cert_file !== undefined ||
    t.key !== undefined ||
    t.key_file !== undefined ||
    t.client_ca !== undefined ||
    t.client_ca_file !== undefined ||
    t.client_auth_type !== undefined;
  if (!enabled) {
    const set = Object.keys(t);
    if (set.length > 0)
      at('tls_server_config', `sets ${set.join(', ')} but no certificate: set cert_file and key_file`);
    return undefined;
  }
  const cert = pemSource(t.cert, t.cert_file, 'cert', dir, at);
  const key = pemSource(t.key, t.key_file, 'key', dir, at);
  const clientCa = pemSource(t.client_ca, t.client_ca_file, 'client_ca', dir, at, true);
  const clientAuth: ClientAuthType =
    t.client_auth_type === 'RequireClientCert' ? 'RequireAnyClientCert' : (t.client_auth_type ?? 'NoClientCert');
  if (clientCa !== undefined && clientAuth === 'NoClientCert')
    at('client_ca_file', 'a client CA is set but client_auth_type is NoClientCert: set client_auth_type');
  if (clientAuth === 'RequireAndVerifyClientCert' && clientCa === undefined)
    at('client_auth_type', 'RequireAndVerifyClientCert needs client_ca_file (or client_ca): the CA to verify with');
  if (t.client_allowed_sans !== undefined && clientAuth === 'NoClientCert')
    at('client_allowed_sans', 'client certificates are not asked for (client_auth_type NoClientCert)');
  const minVersion = t.min_version ?? 'TLS12';
  const maxVersion = t.max_version ?? 'TLS13';
  if (minVersion > maxVersion) at('min_version', `${minVersion} is above max_version ${maxVersion}`);
  let ciphers: string[] | undefined;
  if (t.cipher_suites !== undefined && t.cipher_suites.length > 0) {
    ciphers = t.cipher_suites.flatMap((name) => CIPHER_SUITES[name] ?? []);
    if (ciphers.length === 0 && minVersion !== 'TLS13')
      at('cipher_suites', 'lists only TLS 1.3 suites, which cannot be chosen (as in Go): list TLS 1.2 suites too');
  }
  if (t.prefer_server_cipher_suites !== undefined)
    warnings.push(
      'tls_server_config.prefer_server_cipher_suites has no effect, as in Go since 1.17 (exporter-toolkit passes it to Go, which ignores it)',
    );
  if (cert === undefined || key === undefined) return undefined;
  return {
    cert,
    key,
    clientCa,
    clientAuth,
    allowedSans: t.client_allowed_sans,
    minVersion,
    maxVersion,
    ciphers,
    curves: t.curve_preferences?.map((c) => CURVES[c]),
  };
}

/** pemSource takes the inline PEM or the file (relative to the web config's directory), not both. */
function pemSource(
  inline: string | undefined,
  file: string | undefined,
  field: 'cert' | 'key' | 'client_ca',
  dir: string,
  at: Report,
  optional = false,
): PemSource | undefined {
  if (inline !== undefined && file !== undefined) {
    at(field, `set ${field} or ${field}_file, not both`);
    return undefined;
  }
  if (file !== undefined) return { file: isAbsolute(file) ? file : resolve(dir, file) };
  if (inline !== undefined) return { inline };
  if (!optional) at(field, `missing one of ${field} or ${field}_file`);
  return undefined;
}

/**
 * goDurationMs reads a Go duration (`1s`, `250ms`, `1m30s`, `1.5h`, `0`) as exporter-toolkit's YAML does,
 * or a number of nanoseconds; undefined when it is not one.
 */
export function goDurationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return value / 1e6;
  if (value === '0') return 0;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let end = 0;
  for (let m; (m = re.exec(value)) !== null; end = re.lastIndex) ms += Number(m[1]) * unitMs[m[2]!]!;
  return end === value.length && end > 0 ? ms : undefined;
}

/** yamlIssue says where js-yaml stopped and why, without the excerpt (the file may hold a key or a hash). */
function yamlIssue(err: unknown, path: string): string {
  if (!(err instanceof YAMLException)) return `${path}: not valid YAML`;
  const where = err.mark === undefined ? path : `${path}:${err.mark.line + 1}:${err.mark.column + 1}`;
  return `${where}: not valid YAML: ${err.reason.replace(/"[^"]*"/g, '"…"')}`;
}
