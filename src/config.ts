/**
 * Configuration: types, the embedded default, and loadConfig() which reads YAML, applies environment
 * overrides, fills defaults, validates (zod) and returns a deeply frozen Config. Every problem is reported
 * at once with its path (`targets[2].timeout: ...`), as blackbox_exporter and piscina do.
 */
import { readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { PROBE_KINDS, type ProbeTarget } from './probes/probe.ts';

/** PERMISSIONS a token may carry. The `dcos:` names are DC/OS's, accepted so existing policies carry over. */
export const PERMISSIONS = [
  'metrics', // GET /metrics
  'api', // every JSON route
  'superuser', // everything
  'dcos:adminrouter:ops:system-metrics', // JSON routes under /system/v1/metrics/
  'dcos:adminrouter:system:agent', // JSON routes under /system/v1/agent/{id}/
  'dcos:superuser', // everything
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** DEFAULT_LATENCY_BUCKETS_SECONDS are Directus's response-time buckets (1..1000 ms), in seconds. */
export const DEFAULT_LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.2, 0.5, 0.75, 1,
]);

/** DEFAULT_DIRECTUS_NAME_PREFIX is Directus's default METRICS_NAME_PREFIX. */
export const DEFAULT_DIRECTUS_NAME_PREFIX = 'directus_';

export const DEFAULT_PORT = 9469;
export const DEFAULT_HOST = '127.0.0.1';
/**
 * DEFAULT_BACKGROUND_NICE is 0: every thread competes alike. Nice weighs a thread only against the others
 * of its scheduling group (a container's or systemd unit's cgroup, a terminal session's autogroup). In a
 * container of its own, 10 lets the front end get a core ahead of probex's busy threads (the image's
 * config sets it); in a session shared with CPU-bound work it would also make the probes queue behind
 * that work, and measure its queueing (README, "Thread priority").
 */
export const DEFAULT_BACKGROUND_NICE = 0;

export interface TokenConfig {
  /** token is the secret. Never logged, never rendered. */
  readonly token: string;
  readonly permissions: readonly Permission[];
}

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  /** publishIntervalMs: how often the snapshot is re-rendered and published. */
  readonly publishIntervalMs: number;
  /** profile picks the metric naming: probex (Prometheus conventions) or directus (the seed's families). */
  readonly profile: 'probex' | 'directus';
  /** directus holds the directus profile's settings: namePrefix starts every Directus family (METRICS_NAME_PREFIX). */
  readonly directus: { readonly namePrefix: string };
  /** agentId is this host's id in /system/v1/agent/{agent_id}/metrics/v0/. */
  readonly agentId: string;
  /** threads is the number of probe worker threads. */
  readonly threads: number;
  /**
   * backgroundNice is how many nice steps below the front end (main thread) probex's other threads run:
   * probe workers, scheduler, publisher and the reload thread. 0 runs them all alike. Linux only.
   */
  readonly backgroundNice: number;
  /** snapshotBytes is the capacity of each of the two snapshot slots in the SharedArrayBuffer. */
  readonly snapshotBytes: number;
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  readonly auth: {
    readonly tokens: readonly TokenConfig[];
    /** tokenFile holds one token per line, optionally followed by its permissions: `<token> metrics,api`. */
    readonly tokenFile?: string;
  };
  readonly targets: readonly ProbeTarget[];
}

// Durations: a number is milliseconds; a string is Prometheus-style (`250ms`, `1s`, `1.5m`, `1h`).
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationRe = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MESSAGE = 'must be a duration like 250ms, 1s, 2m or a number of milliseconds';
const duration = z.union([
  z.number().nonnegative().finite(),
  z.string().regex(durationRe).transform((s) => {
    const [, n, unit] = durationRe.exec(s)!;
    return Number(n) * DURATION_UNITS_MS[unit!]!;
  }),
], { error: DURATION_MESSAGE }).transform((ms) => Math.round(ms));

// These are from https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set(['target', 'kind', 'reason', 'le', 'quantile', 'job', 'instance']);
const labels = z.record(z.string(), z.string()).superRefine((record, ctx) => {
  for (const name of Object.keys(record)) {
    const message = !labelNameRe.test(name) ? 'label names must match [a-zA-Z_][a-zA-Z0-9_]*'
      : name.startsWith('__') ? 'label names starting with __ are reserved'
        : RESERVED_LABELS.has(name) ? 'this label name is set by probex' : undefined;
    if (message !== undefined) ctx.addIssue({ code: 'custom', path: [name], message });
  }
}).default({});

const buckets = z.array(z.number().positive().finite()).min(1)
  .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), 'buckets must be strictly ascending')
  .optional();

const targetName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
  'must be 1-128 characters of letters, digits, _ . - (it is a label value and a URL path segment)');

const common = {
  name: targetName,
  interval: duration.default(1000),
  timeout: duration.optional(),
  concurrency: z.number().int().min(1).max(1024).default(1),
  labels,
  buckets,
};

const hostPort = z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port');

const targetSchema = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('mysql'),
    url: z.url({ protocol: /^mysql$/ }), query: z.string().min(1).default('SELECT 1') }).strict(),
  z.object({ ...common, kind: z.literal('redis'), url: z.url({ protocol: /^rediss?$/ }),
    command: z.enum(['ping', 'setdel']).optional(),
    directusServices: z.array(z.enum(['redis', 'cache'])).min(1).optional() }).strict(),
  z.object({ ...common, kind: z.literal('storage'), path: z.string().min(1),
    location: z.string().regex(/^[a-z0-9_]+$/).default('local') }).strict(),
  z.object({ ...common, kind: z.literal('http'), url: z.url({ protocol: /^https?$/ }),
    expectStatus: z.array(z.number().int().min(100).max(599)).default([]),
    bodyMatch: z.string().refine(isRegExp, 'must be a valid regular expression').optional(),
    headers: z.record(z.string(), z.string()).default({}) }).strict(),
  z.object({ ...common, kind: z.literal('tcp'), address: hostPort }).strict(),
  z.object({ ...common, kind: z.literal('synthetic'),
    distribution: z.discriminatedUnion('type', [
      z.object({ type: z.literal('constant'), valueMs: z.number().nonnegative() }).strict(),
      z.object({ type: z.literal('uniform'), minMs: z.number().nonnegative(), maxMs: z.number().nonnegative() }).strict()
        .refine((d) => d.maxMs >= d.minMs, { message: 'maxMs must be >= minMs', path: ['maxMs'] }),
      z.object({ type: z.literal('lognormal'), medianMs: z.number().positive(), sigma: z.number().nonnegative() }).strict(),
      z.object({ type: z.literal('exponential'), meanMs: z.number().positive() }).strict(),
    ]).default({ type: 'lognormal', medianMs: 2, sigma: 0.5 }),
    errorRate: z.number().min(0).max(1).default(0) }).strict(),
  z.object({ ...common, kind: z.literal('postgres'),
    url: z.url({ protocol: /^postgres(ql)?$/ }), query: z.string().min(1).default('SELECT 1'),
    tls: z.union([z.boolean(), z.object({ rejectUnauthorized: z.boolean().default(true) }).strict()]).optional(),
    directusClient: z.enum(['pg', 'postgres', 'cockroachdb']).optional() }).strict(),
  z.object({ ...common, kind: z.literal('sqlite'), path: z.string().min(1),
    query: z.string().min(1).default('SELECT 1') }).strict(),
], { error: (issue) => issue.code === 'invalid_union'
  ? `kind must be one of ${PROBE_KINDS.join(', ')}` : undefined });

const permission = z.enum(PERMISSIONS);
const configSchema = z.object({
  listen: z.object({
    host: z.string().min(1).default(DEFAULT_HOST),
    port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  }).strict().default({ host: DEFAULT_HOST, port: DEFAULT_PORT }),
  publishInterval: duration.pipe(z.number().min(10, 'must be at least 10ms')).default(1000),
  profile: z.enum(['probex', 'directus']).default('probex'),
  directus: z.object({
    // Directus builds family names from it verbatim; it must keep them valid metric names (or be empty).
    namePrefix: z.string().regex(/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/, 'must be empty or start a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*')
      .default(DEFAULT_DIRECTUS_NAME_PREFIX),
  }).strict().default({ namePrefix: DEFAULT_DIRECTUS_NAME_PREFIX }),
  agentId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/).default(() => safeHostname()),
  threads: z.number().int().min(1).max(64).default(2),
  backgroundNice: z.number().int().min(0).max(19).default(DEFAULT_BACKGROUND_NICE),
  snapshotBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(32 * 1024 * 1024),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).strict().default({ level: 'info' }),
  auth: z.object({
    tokens: z.array(z.object({
      token: z.string().min(8, 'tokens must be at least 8 characters'),
      permissions: z.array(permission).min(1).default(['metrics']),
    }).strict()).default([]),
    tokenFile: z.string().min(1).optional(),
  }).strict().default({ tokens: [] }),
  targets: z.array(targetSchema).default([]),
}).strict();

type RawConfig = z.output<typeof configSchema>;

/** ConfigSources are the inputs of loadConfig: the YAML text (undefined = embedded default) and the env. */
export interface ConfigSources {
  /** yaml text of the config file; undefined runs the embedded default. */
  readonly yaml?: string;
  /** file is the path the yaml came from, for error messages. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * loadConfig parses, overrides from env, fills defaults, validates and freezes. It throws ConfigError
 * listing every problem with its path; token values never appear in a message.
 */
export function loadConfig({ yaml, file, env = {} }: ConfigSources = {}): Config {
  let raw: unknown;
  if (yaml === undefined) {
    raw = {};
  } else {
    try {
      raw = parseYaml(yaml) ?? {};
    } catch (err) {
      throw new ConfigError([`${file ?? 'config'}: not valid YAML: ${(err as Error).message}`], { cause: err });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([`${file ?? 'config'}: must be a YAML mapping`]);
  }
  const withEnv = applyEnv(raw as Record<string, unknown>, env);
  const parsed = configSchema.safeParse(withEnv);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const cfg = parsed.data;
  if (yaml === undefined && cfg.targets.length === 0) cfg.targets = defaultTargets(cfg.listen.port);
  const issues: string[] = [];
  const targets = cfg.targets.map((t, i) => finishTarget(t, i, issues));
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    if (seen.has(t.name)) issues.push(`targets[${i}].name: duplicate target name "${t.name}"`);
    seen.add(t.name);
  });
  const tokens = [...cfg.auth.tokens, ...envTokens(env.METRICS_TOKENS)];
  const tokenFile = env.PROBEX_TOKEN_FILE ?? cfg.auth.tokenFile;
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze({
    listen: cfg.listen,
    publishIntervalMs: cfg.publishInterval,
    profile: cfg.profile,
    directus: cfg.directus,
    agentId: cfg.agentId,
    threads: cfg.threads,
    backgroundNice: cfg.backgroundNice,
    snapshotBytes: cfg.snapshotBytes,
    log: cfg.log,
    auth: tokenFile === undefined ? { tokens } : { tokens, tokenFile },
    targets,
  });
}

/** loadConfigFile reads a YAML file (or the embedded default when path is undefined) and loads it. */
export function loadConfigFile(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (path === undefined) return loadConfig({ env });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], { cause: err });
  }
  return loadConfig({ yaml: text, file: path, env });
}

/** fileTokens reads the tokens of the config's token file (none when it names no file). */
export function fileTokens(config: Config): TokenConfig[] {
  return config.auth.tokenFile === undefined ? [] : readTokenFile(config.auth.tokenFile);
}

/**
 * readTokenFile parses a token file: one token per line, optionally followed by whitespace and a
 * comma-separated permission list (default `metrics`). Blank lines and `#` comments are skipped.
 */
export function readTokenFile(path: string): TokenConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`auth.tokenFile: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], { cause: err });
  }
  const issues: string[] = [];
  const tokens: TokenConfig[] = [];
  text.split('\n').forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const [token, perms] = trimmed.split(/\s+/, 2) as [string, string | undefined];
    const permissions = (perms ?? 'metrics').split(',');
    const bad = permissions.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
    if (token.length < 8) issues.push(`${path}:${i + 1}: tokens must be at least 8 characters`);
    if (bad.length > 0) issues.push(`${path}:${i + 1}: unknown permission ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
    tokens.push({ token, permissions: permissions as Permission[] });
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return tokens;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const listen = { ...(typeof raw.listen === 'object' && raw.listen !== null ? raw.listen : {}) } as Record<string, unknown>;
  if (env.PROBEX_HOST !== undefined) listen.host = env.PROBEX_HOST;
  if (env.PROBEX_PORT !== undefined) listen.port = /^\d+$/.test(env.PROBEX_PORT) ? Number(env.PROBEX_PORT) : env.PROBEX_PORT;
  if (Object.keys(listen).length > 0) out.listen = listen;
  if (env.PROBEX_LOG_LEVEL !== undefined) out.log = { ...(raw.log as object | undefined), level: env.PROBEX_LOG_LEVEL };
  if (env.PROBEX_AGENT_ID !== undefined) out.agentId = env.PROBEX_AGENT_ID;
  if (env.PROBEX_PROFILE !== undefined) out.profile = env.PROBEX_PROFILE;
  // Directus's own variable: the directus profile names its families with it, as Directus does.
  if (env.METRICS_NAME_PREFIX !== undefined) out.directus = { ...(raw.directus as object | undefined), namePrefix: env.METRICS_NAME_PREFIX };
  return out;
}

/** envTokens reads Directus's METRICS_TOKENS: comma-separated tokens, each allowed /metrics. */
function envTokens(value: string | undefined): TokenConfig[] {
  if (value === undefined) return [];
  return value.split(',').map((t) => t.trim()).filter((t) => t !== '')
    .map((token) => ({ token, permissions: ['metrics'] as const }));
}

type RawTarget = RawConfig['targets'][number];

function finishTarget(t: RawTarget, i: number, issues: string[]): ProbeTarget {
  const timeoutMs = t.timeout ?? (t.interval > 0 ? Math.min(t.interval, 1000) : 1000);
  if (timeoutMs <= 0) issues.push(`targets[${i}].timeout: must be greater than 0`);
  if (t.interval > 0 && timeoutMs > t.interval) {
    issues.push(`targets[${i}].timeout: must not exceed interval (${timeoutMs}ms > ${t.interval}ms)`);
  }
  const base = {
    name: t.name,
    intervalMs: t.interval,
    timeoutMs,
    concurrency: t.concurrency,
    labels: t.labels,
    buckets: t.buckets ?? DEFAULT_LATENCY_BUCKETS_SECONDS,
  };
  switch (t.kind) {
    case 'mysql': return { ...base, kind: t.kind, url: t.url, query: t.query };
    case 'redis': return { ...base, kind: t.kind, url: t.url, ...(t.command === undefined ? {} : { command: t.command }),
      ...(t.directusServices === undefined ? {} : { directusServices: [...new Set(t.directusServices)] }) };
    case 'storage': return { ...base, kind: t.kind, path: t.path, location: t.location };
    case 'http': return { ...base, kind: t.kind, url: t.url, expectStatus: t.expectStatus, headers: t.headers,
      ...(t.bodyMatch === undefined ? {} : { bodyMatch: t.bodyMatch }) };
    case 'tcp': {
      const at = t.address.lastIndexOf(':');
      const port = Number(t.address.slice(at + 1));
      if (port < 1 || port > 65535) issues.push(`targets[${i}].address: port must be 1-65535`);
      return { ...base, kind: t.kind, host: t.address.slice(0, at), port };
    }
    case 'synthetic': return { ...base, kind: t.kind, distribution: t.distribution, errorRate: t.errorRate };
    case 'postgres': {
      const tls = t.tls === undefined || t.tls === false ? undefined : t.tls === true ? { rejectUnauthorized: true } : t.tls;
      return { ...base, kind: t.kind, url: t.url, query: t.query, ...(tls === undefined ? {} : { tls }),
        ...(t.directusClient === undefined ? {} : { directusClient: t.directusClient }) };
    }
    case 'sqlite': return { ...base, kind: t.kind, path: t.path, query: t.query };
  }
}

/**
 * defaultTargets is the embedded default: local storage, the local Redis, MariaDB/MySQL and PostgreSQL, and
 * probex's own /healthz, so a newcomer sees real numbers at once (an absent dependency shows as up 0 and
 * rising errors).
 */
function defaultTargets(port: number): RawTarget[] {
  const common = { interval: 1000, concurrency: 1, labels: {} };
  return [
    { ...common, name: 'storage-local', kind: 'storage', path: join(tmpdir(), 'probex-storage'), location: 'local' },
    { ...common, name: 'redis', kind: 'redis', url: 'redis://127.0.0.1:6379' },
    { ...common, name: 'mysql', kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/test', query: 'SELECT 1' },
    { ...common, name: 'postgres', kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', query: 'SELECT 1' },
    { ...common, name: 'probex-self', kind: 'http', url: `http://127.0.0.1:${port}/healthz`, expectStatus: [200], headers: {} },
  ];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? 'config' : out;
}

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false; // the message comes from the refine() above; the RegExp error text is not needed
  }
}

function safeHostname(): string {
  const h = hostname().replace(/[^A-Za-z0-9_.-]/g, '-');
  return /^[A-Za-z0-9]/.test(h) ? h : `host-${h}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
