/**
 * Configuration: types, the embedded default, and loadConfig() which reads YAML, applies environment
 * overrides, fills defaults, validates (zod) and returns a deeply frozen Config. Every problem is reported
 * at once with its path (`targets[2].timeout: ...`), as blackbox_exporter and piscina do: schema issues,
 * the checks across fields, every token source and the rule for an open listener, in one list.
 *
 * No message quotes the config's content: a YAML error gives file:line:column and js-yaml's reason, a
 * schema issue the key path and what is expected there, a token problem its source and position.
 */
import { closeSync, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { loadAll as parseYamlDocuments, YAMLException } from 'js-yaml';
import { z } from 'zod';
import { openListenerProblem } from './access.ts';
import { ConfigError } from './errors.ts';
import { LABEL_NAME_RE, PROFILES } from './metrics/names.ts';
import { NATIVE_DEFAULTS, validateNativeOptions } from './metrics/native-histogram.ts';
import { tokenProblem } from './http/auth.ts';
import { DEFAULT_MAX_BODY_BYTES, PROBE_KINDS, type ProbeTarget } from './probes/probe.ts';

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

/** LOG_LEVELS are pino's levels, fatal to trace, and silent: `log.level` and PROBEX_LOG_LEVEL take one of them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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

// Durations: a number is milliseconds; a string is Prometheus-style (`250ms`, `1s`, `1.5m`, `1h`).
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationRe = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MESSAGE = 'must be a duration like 250ms, 1s, 2m or a number of milliseconds';

/** parseDuration reads a Prometheus-style duration (`250ms`, `1s`, `1.5m`, `1h`) in ms; undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = durationRe.exec(text);
  return m === null ? undefined : Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
}

const duration = z
  .union(
    [
      z.number().nonnegative().finite(),
      z
        .string()
        .regex(durationRe)
        .transform((s) => parseDuration(s)!),
    ],
    { error: DURATION_MESSAGE },
  )
  .transform((ms) => Math.round(ms));

const RESERVED_LABELS = new Set(['target', 'kind', 'reason', 'le', 'quantile', 'job', 'instance']);
const labels = z
  .record(z.string(), z.string())
  .superRefine((record, ctx) => {
    for (const name of Object.keys(record)) {
      const message = !LABEL_NAME_RE.test(name)
        ? 'label names must match [a-zA-Z_][a-zA-Z0-9_]*'
        : name.startsWith('__')
          ? 'label names starting with __ are reserved'
          : RESERVED_LABELS.has(name)
            ? 'this label name is set by probex'
            : undefined;
      if (message !== undefined) ctx.addIssue({ code: 'custom', path: [name], message });
    }
  })
  .default({});

const buckets = z
  .array(z.number().positive().finite())
  .min(1)
  .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), 'buckets must be strictly ascending')
  .optional();

const targetName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
    'must be 1-128 characters of letters, digits, _ . - (it is a label value and a URL path segment)',
  );

const common = {
  name: targetName,
  interval: duration.default(1000),
  timeout: duration.optional(),
  concurrency: z.number().int().min(1).max(1024).default(1),
  labels,
  buckets,
};

/** MAX_BODY_BYTES_LIMIT bounds an http target's maxBodyBytes: what one probe may hold in memory. */
const MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024;

const hostPort = z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port');

const targetSchema = z.discriminatedUnion(
  'kind',
  [
    z
      .object({
        ...common,
        kind: z.literal('mysql'),
        url: z.url({ protocol: /^mysql$/ }),
        query: z.string().min(1).default('SELECT 1'),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('redis'),
        url: z.url({ protocol: /^rediss?$/ }),
        command: z.enum(['ping', 'setdel']).optional(),
        directusServices: z
          .array(z.enum(['redis', 'cache']))
          .min(1)
          .optional(),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('storage'),
        path: z.string().min(1),
        location: z
          .string()
          .regex(/^[a-z0-9_]+$/)
          .default('local'),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('http'),
        url: z.url({ protocol: /^https?$/ }),
        expectStatus: z.array(z.number().int().min(100).max(599)).default([]),
        bodyMatch: z.string().refine(isRegExp, 'must be a valid regular expression').optional(),
        maxBodyBytes: z.number().int().min(1).max(MAX_BODY_BYTES_LIMIT).default(DEFAULT_MAX_BODY_BYTES),
        headers: z.record(z.string(), z.string()).default({}),
      })
      .strict(),
    z.object({ ...common, kind: z.literal('tcp'), address: hostPort }).strict(),
    z
      .object({
        ...common,
        kind: z.literal('synthetic'),
        distribution: z
          .discriminatedUnion('type', [
            z.object({ type: z.literal('constant'), valueMs: z.number().nonnegative() }).strict(),
            z
              .object({ type: z.literal('uniform'), minMs: z.number().nonnegative(), maxMs: z.number().nonnegative() })
              .strict()
              .refine((d) => d.maxMs >= d.minMs, { message: 'maxMs must be >= minMs', path: ['maxMs'] }),
            z
              .object({
                type: z.literal('lognormal'),
                medianMs: z.number().positive(),
                sigma: z.number().nonnegative(),
              })
              .strict(),
            z.object({ type: z.literal('exponential'), meanMs: z.number().positive() }).strict(),
          ])
          .default({ type: 'lognormal', medianMs: 2, sigma: 0.5 }),
        errorRate: z.number().min(0).max(1).default(0),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('postgres'),
        url: z.url({ protocol: /^postgres(ql)?$/ }),
        query: z.string().min(1).default('SELECT 1'),
        tls: z.union([z.boolean(), z.object({ rejectUnauthorized: z.boolean().default(true) }).strict()]).optional(),
        directusClient: z.enum(['pg', 'postgres', 'cockroachdb']).optional(),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('sqlite'),
        path: z.string().min(1),
        query: z.string().min(1).default('SELECT 1'),
      })
      .strict(),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? `kind must be one of ${PROBE_KINDS.join(', ')}` : undefined) },
);

const permission = z.enum(PERMISSIONS);
const token = z.string().superRefine((value, ctx) => {
  const problem = tokenProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const tokenSchema = z
  .object({
    /** token is the secret. Never logged, never rendered. */
    token,
    permissions: z.array(permission).min(1).default(['metrics']),
  })
  .strict();
const listenSchema = z
  .object({
    host: z.string().min(1).default(DEFAULT_HOST),
    port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  })
  .strict()
  .default({ host: DEFAULT_HOST, port: DEFAULT_PORT });
const authFields = {
  tokens: z.array(tokenSchema).default([]),
  /** tokenFile holds one token per line, optionally followed by its permissions: `<token> metrics,api`. */
  tokenFile: z.string().min(1).optional(),
  /**
   * open says, explicitly, that every route may be served without a token. It is what lets probex listen
   * beyond loopback with no token, and a reload drop every token; it cannot be combined with tokens.
   */
  open: z.boolean().default(false),
};
const authSchema = z.object(authFields).strict().default({ tokens: [], open: false });
/** configSchema is everything but the targets, which are parsed one by one (parseTargets). */
const configSchema = z
  .object({
    listen: listenSchema,
    /** publishInterval: how often the snapshot is re-rendered and published (publishIntervalMs in Config). */
    publishInterval: duration.pipe(z.number().min(10, 'must be at least 10ms')).default(1000),
    /** profile picks the metric naming: probex (Prometheus conventions) or directus (the seed's families). */
    profile: z.enum(PROFILES).default('probex'),
    /** directus holds the directus profile's settings. */
    directus: z
      .object({
        /**
         * namePrefix starts every Directus family (METRICS_NAME_PREFIX). Directus builds family names from
         * it verbatim; it must keep them valid metric names (or be empty).
         */
        namePrefix: z
          .string()
          .regex(
            /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/,
            'must be empty or start a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*',
          )
          .default(DEFAULT_DIRECTUS_NAME_PREFIX),
      })
      .strict()
      .default({ namePrefix: DEFAULT_DIRECTUS_NAME_PREFIX }),
    /** agentId is this host's id in /system/v1/agent/{agent_id}/metrics/v0/. */
    agentId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
      .default(() => safeHostname()),
    /** threads is the number of probe worker threads, or auto (autoThreads). */
    threads: z
      .union([z.literal('auto'), z.number().int().min(1).max(64)], { error: 'must be auto or an integer from 1 to 64' })
      .default('auto'),
    /**
     * backgroundNice is how many nice steps below the front end (main thread) probex's other threads run:
     * the probe workers, the background thread and the config thread. 0 runs them all alike. Linux only.
     */
    backgroundNice: z.number().int().min(0).max(19).default(DEFAULT_BACKGROUND_NICE),
    /** snapshotBytes is the initial capacity of each of the two snapshot slots; a larger buffer replaces it when outgrown. */
    snapshotBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(32 * 1024 * 1024),
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    /**
     * nativeHistograms configures every duration histogram's native (exponential) buckets: schema (resolution,
     * -4..8), zeroThreshold (seconds) and maxBuckets (above it the resolution halves). A reload that changes
     * them starts every native-carrying histogram again from zero with a new created timestamp.
     */
    nativeHistograms: z
      .object({
        schema: z.number().default(NATIVE_DEFAULTS.schema),
        zeroThreshold: z.number().default(NATIVE_DEFAULTS.zeroThreshold),
        maxBuckets: z.number().default(NATIVE_DEFAULTS.maxBuckets),
      })
      .strict()
      .default({ ...NATIVE_DEFAULTS })
      .superRefine((options, ctx) => {
        // The histogram's own validator, so the config and the aggregator accept exactly the same options.
        try {
          validateNativeOptions(options, 'nativeHistograms');
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          // Its message is `nativeHistograms.<field> <expectation>`: the field becomes the issue's path.
          const [, field = '', expectation = err.message] = /^nativeHistograms\.(\w+) (.*)$/.exec(err.message) ?? [];
          ctx.addIssue({ code: 'custom', message: expectation, path: field === '' ? [] : [field] });
        }
      }),
    auth: authSchema,
  })
  .strict()
  .transform(({ publishInterval, ...settings }) => ({ ...settings, publishIntervalMs: publishInterval }));
const targetList = z.array(z.unknown());

/** Settings are what configSchema yields: every top-level section but the targets, defaults filled in. */
type Settings = z.output<typeof configSchema>;

/** TokenConfig is one token and what it may read. */
export type TokenConfig = DeepReadonly<z.output<typeof tokenSchema>>;

/**
 * Config is what probex runs on, derived from the schema (field documentation is there), with what
 * loadConfig adds after it: `threads: auto` resolved to a number (autoThreads), the tokens of every
 * source (config, METRICS_TOKENS; the token file's are held apart, see LoadedConfig), and the targets.
 * Target shapes are the probe contract in probes/probe.ts: probes receive plain data and never import
 * zod; finishTarget's return type keeps the schema and those shapes in step at compile time.
 */
export type Config = DeepReadonly<
  Omit<Settings, 'threads' | 'auth'> & {
    /** threads is the number of probe worker threads (`threads: auto` resolved; see autoThreads). */
    threads: number;
    auth: Omit<Settings['auth'], 'tokens'> & { tokens: TokenConfig[] };
    targets: ProbeTarget[];
  }
>;

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** ConfigSources are the inputs of loadConfig: the YAML text (undefined = embedded default) and the env. */
export interface ConfigSources {
  /** yaml text of the config file; undefined runs the embedded default. */
  readonly yaml?: string;
  /** file is the path the yaml came from, for error messages. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** LoadedConfig is a valid config with what was read alongside it. */
export interface LoadedConfig {
  readonly config: Config;
  /** fileTokens are the token file's (config.auth.tokens holds the config's own and METRICS_TOKENS'). */
  readonly fileTokens: readonly TokenConfig[];
  /** warnings are problems that do not stop probex; each is logged at start and on every reload. */
  readonly warnings: readonly string[];
}

/**
 * loadConfig parses, overrides from env, fills defaults, validates and freezes; it reads the token file
 * the config names. It throws ConfigError listing every problem with its path.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  return load(sources).config;
}

/** loadConfigSources is loadConfig with what was read alongside the config (token file, warnings). */
export function loadConfigSources(sources: ConfigSources): LoadedConfig {
  return load(sources);
}

/**
 * loadConfigFile reads a YAML file (or the embedded default when path is undefined) and its token file,
 * and loads them. It also warns about the file's mode when it holds tokens.
 */
export function loadConfigFile(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (path === undefined) return load({ env });
  const read = readWithStats(path);
  if (typeof read === 'string') throw new ConfigError([`${path}: cannot read: ${read}`]);
  return load({ yaml: read.text, file: path, env }, read.stats);
}

/**
 * readTokenFile parses a token file: one token per line, optionally followed by whitespace and a
 * comma-separated permission list (default `metrics`). Blank lines and `#` comments are skipped.
 */
export function readTokenFile(path: string): TokenConfig[] {
  const issues: string[] = [];
  const tokens = tokenFile(path, issues, []);
  if (issues.length > 0) throw new ConfigError(issues);
  return tokens!;
}

/**
 * load is loadConfig with what it read alongside: every problem goes into one list, thrown once at the
 * end. A check that reads several fields runs whenever those fields are valid, whatever else is wrong.
 * `stats` are the config file's, when it came from one.
 */
function load({ yaml, file, env = {} }: ConfigSources, stats?: Stats): LoadedConfig {
  const name = file ?? 'config';
  const issues: string[] = [];
  const warnings: string[] = [];
  const raw = parseDocument(yaml, name, issues, warnings);
  if (raw === undefined) throw new ConfigError(issues);
  const { targets: rawTargets, ...rest } = applyEnv(raw, env);
  const parsed = configSchema.safeParse(rest);
  if (!parsed.success) issues.push(...formatIssues(parsed.error.issues));
  // Each section again on its own when the whole failed, for the checks that read it.
  const listen = parsed.success ? parsed.data.listen : section(listenSchema, rest.listen);
  const auth = parsed.success ? parsed.data.auth : section(authSchema, rest.auth);
  const targets = parseTargets(rawTargets, yaml === undefined ? (listen?.port ?? DEFAULT_PORT) : undefined, issues);

  const fromEnv = envTokens(env.METRICS_TOKENS, issues);
  const tokenFilePath =
    env.PROBEX_TOKEN_FILE ??
    (auth !== undefined
      ? auth.tokenFile
      : section(authFields.tokenFile, (rest.auth as { tokenFile?: unknown } | undefined)?.tokenFile));
  const fromFile = tokenFilePath === undefined ? [] : tokenFile(tokenFilePath, issues, warnings);
  const configTokens = auth?.tokens.length ?? 0;
  if (auth?.open === true && (configTokens + fromEnv.count > 0 || tokenFilePath !== undefined)) {
    issues.push(
      'auth.open: true opens every route, so it cannot be combined with tokens (auth.tokens, auth.tokenFile,' +
        ' PROBEX_TOKEN_FILE, METRICS_TOKENS): keep one or the other',
    );
  }
  // A METRICS_TOKENS entry that breaks the token rule counts as a token meant: its own problem is the one to fix.
  if (listen !== undefined && auth !== undefined && fromFile !== undefined) {
    const problem = openListenerProblem(
      listen.host,
      configTokens + fromEnv.count + fromFile.length > 0,
      auth.open,
      'config',
    );
    if (problem !== undefined) issues.push(problem);
  }
  if (stats !== undefined && holdsTokens(raw)) {
    const loose = looseModeWarning(name, stats);
    if (loose !== undefined) warnings.push(loose);
  }
  if (issues.length > 0 || parsed.data === undefined || fromFile === undefined) throw new ConfigError(issues);

  const { threads, auth: settingsAuth, ...settings } = parsed.data;
  const tokens = [...settingsAuth.tokens, ...fromEnv.tokens];
  const config: Config = deepFreeze({
    ...settings,
    threads: threads === 'auto' ? autoThreads(targets.length) : threads,
    auth:
      tokenFilePath === undefined
        ? { tokens, open: settingsAuth.open }
        : { tokens, tokenFile: tokenFilePath, open: settingsAuth.open },
    targets,
  });
  return { config, fileTokens: deepFreeze(fromFile), warnings };
}

/**
 * parseDocument parses the YAML text into its top-level mapping (an empty one for the embedded default),
 * or records why it cannot and returns undefined. An empty or comment-only file is an empty mapping,
 * with a warning: it runs no targets (the embedded default is for running without a file).
 */
function parseDocument(
  yaml: string | undefined,
  name: string,
  issues: string[],
  warnings: string[],
): Record<string, unknown> | undefined {
  if (yaml === undefined) return {};
  let documents: unknown[];
  try {
    documents = parseYamlDocuments(yaml);
  } catch (err) {
    issues.push(yamlIssue(err, name));
    return undefined;
  }
  if (documents.length > 1) {
    issues.push(`${name}: not valid YAML: ${documents.length} documents, probex reads one`);
    return undefined;
  }
  const document = documents[0];
  if (document === undefined || document === null) {
    warnings.push(
      `${name} is empty (no settings, only comments or blank lines): probex runs with the defaults and no targets`,
    );
    return {};
  }
  if (typeof document !== 'object' || Array.isArray(document)) {
    issues.push(`${name}: must be a YAML mapping`);
    return undefined;
  }
  return document as Record<string, unknown>;
}

/**
 * yamlIssue says where js-yaml stopped (file:line:column) and why, without its message: that carries an
 * excerpt of the file, which may hold a token. The few reasons that quote a name from the file (an
 * alias, a tag, a tag handle) have it replaced by `…`.
 */
function yamlIssue(err: unknown, name: string): string {
  if (!(err instanceof YAMLException)) return `${name}: not valid YAML`;
  const where = err.mark === undefined ? name : `${name}:${err.mark.line + 1}:${err.mark.column + 1}`;
  const reason = err.reason
    .replace(/"[^"]*"/g, '"…"')
    .replace(/!<[^>]*>/g, '!<…>')
    .replace(/(such characters): .*$/, '$1')
    .replace(/(for tag) \S+/, '$1 …');
  return `${where}: not valid YAML: ${reason}`;
}

/**
 * parseTargets validates each target on its own, so one bad target hides no other target's problems and
 * the checks across fields (timeout against interval, the tcp port, duplicate names) run for every target
 * they can. `defaultPort` is set when there is no config file: no targets then runs the embedded default.
 */
function parseTargets(raw: unknown, defaultPort: number | undefined, issues: string[]): ProbeTarget[] {
  if (raw === undefined)
    return defaultPort === undefined ? [] : defaultTargets(defaultPort).map((t, i) => finishTarget(t, i, issues));
  const list = targetList.safeParse(raw);
  if (!list.success) {
    issues.push(...formatIssues(list.error.issues, ['targets']));
    return [];
  }
  const targets: ProbeTarget[] = [];
  // Names as written, valid or not, so a duplicate is found whatever else is wrong; the message points
  // at the first one rather than quote a value that has not been validated.
  const firstAt = new Map<string, number>();
  list.data.forEach((t, i) => {
    const name = typeof t === 'object' && t !== null ? (t as { name?: unknown }).name : undefined;
    if (typeof name === 'string') {
      const first = firstAt.get(name);
      if (first !== undefined)
        issues.push(`targets[${i}].name: duplicate target name, the same as targets[${first}].name`);
      else firstAt.set(name, i);
    }
    const parsed = targetSchema.safeParse(t);
    if (parsed.success) targets.push(finishTarget(parsed.data, i, issues));
    else issues.push(...formatIssues(parsed.error.issues, ['targets', i]));
  });
  return targets;
}

/** section parses one top-level section on its own: its value, or undefined when it is invalid. */
function section<S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** formatIssues turns zod issues into `path: message` lines. zod's messages name the expectation, never the input. */
function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.map((i) => `${formatPath([...prefix, ...i.path])}: ${i.message}`);
}

/** holdsTokens: the config file itself lists tokens (METRICS_TOKENS and a token file are elsewhere). */
function holdsTokens(raw: Record<string, unknown>): boolean {
  const auth = raw.auth;
  if (typeof auth !== 'object' || auth === null) return false;
  const tokens = (auth as { tokens?: unknown }).tokens;
  return Array.isArray(tokens) && tokens.length > 0;
}

/**
 * looseModeWarning warns, as ssh does for a private key, about a file holding tokens that others may
 * read. Group read counts when probex's user owns the file (chmod 600 fixes it); a file another user owns
 * and lets probex's group read is how that owner grants access (a Kubernetes Secret volume with fsGroup),
 * so there only read by others counts.
 */
function looseModeWarning(path: string, stats: Stats): string | undefined {
  const own = stats.uid === process.getuid?.();
  const group = own && (stats.mode & 0o040) !== 0;
  const others = (stats.mode & 0o004) !== 0;
  if (!group && !others) return undefined;
  const who = group && others ? 'group and others' : group ? 'group' : 'others';
  const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
  return `${path} holds tokens and is readable by ${who} (mode ${mode}); run ${own ? 'chmod 600' : 'chmod o-r'} ${path}`;
}

/** readWithStats reads a file and stats the same open file; on failure it returns the error's code. */
function readWithStats(path: string): { text: string; stats: Stats } | string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    return { stats: fstatSync(fd), text: readFileSync(fd, 'utf8') };
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * tokenFile reads and checks a token file (format: readTokenFile). Its problems go into issues; it
 * returns undefined when the file cannot be read. Problems name the file and line, never the line's text.
 */
function tokenFile(path: string, issues: string[], warnings: string[]): TokenConfig[] | undefined {
  const read = readWithStats(path);
  if (typeof read === 'string') {
    issues.push(`auth.tokenFile: cannot read ${path}: ${read}`);
    return undefined;
  }
  const tokens: TokenConfig[] = [];
  read.text.split('\n').forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const at = `${path}:${i + 1}`;
    const fields = trimmed.split(/\s+/);
    if (fields.length > 2) {
      issues.push(`${at}: expected a token and its permissions, found ${fields.length} fields`);
      return;
    }
    const [token, perms] = fields as [string, string | undefined];
    const permissions = (perms ?? 'metrics').split(',');
    const problem = tokenProblem(token);
    if (problem !== undefined) issues.push(`${at}: ${problem}`);
    permissions.forEach((p, k) => {
      if (!(PERMISSIONS as readonly string[]).includes(p))
        issues.push(`${at}: permission ${k + 1} is not one of ${PERMISSIONS.join(', ')}`);
    });
    tokens.push({ token, permissions: permissions as Permission[] });
  });
  if (tokens.length === 0) warnings.push(`${path} holds no tokens`);
  else {
    const loose = looseModeWarning(path, read.stats);
    if (loose !== undefined) warnings.push(loose);
  }
  return tokens;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const listen = { ...(typeof raw.listen === 'object' && raw.listen !== null ? raw.listen : {}) } as Record<
    string,
    unknown
  >;
  if (env.PROBEX_HOST !== undefined) listen.host = env.PROBEX_HOST;
  if (env.PROBEX_PORT !== undefined)
    listen.port = /^\d+$/.test(env.PROBEX_PORT) ? Number(env.PROBEX_PORT) : env.PROBEX_PORT;
  if (Object.keys(listen).length > 0) out.listen = listen;
  if (env.PROBEX_LOG_LEVEL !== undefined) out.log = { ...(raw.log as object | undefined), level: env.PROBEX_LOG_LEVEL };
  if (env.PROBEX_AGENT_ID !== undefined) out.agentId = env.PROBEX_AGENT_ID;
  if (env.PROBEX_PROFILE !== undefined) out.profile = env.PROBEX_PROFILE;
  // Directus's own variable: the directus profile names its families with it, as Directus does.
  if (env.METRICS_NAME_PREFIX !== undefined)
    out.directus = { ...(raw.directus as object | undefined), namePrefix: env.METRICS_NAME_PREFIX };
  return out;
}

/**
 * envTokens reads Directus's METRICS_TOKENS: comma-separated tokens, each allowed /metrics. A problem
 * names the entry's position (`METRICS_TOKENS[1]`, from 0 as config paths do); `count` counts every
 * token given, valid or not.
 */
function envTokens(value: string | undefined, issues: string[]): { tokens: TokenConfig[]; count: number } {
  const tokens: TokenConfig[] = [];
  let count = 0;
  (value ?? '').split(',').forEach((entry, i) => {
    const token = entry.trim();
    if (token === '') return;
    count++;
    const problem = tokenProblem(token);
    if (problem !== undefined) issues.push(`METRICS_TOKENS[${i}]: ${problem}`);
    else tokens.push({ token, permissions: ['metrics'] });
  });
  return { tokens, count };
}

type RawTarget = z.output<typeof targetSchema>;

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
    case 'mysql':
      return { ...base, kind: t.kind, url: t.url, query: t.query };
    case 'redis':
      return {
        ...base,
        kind: t.kind,
        url: t.url,
        ...(t.command === undefined ? {} : { command: t.command }),
        ...(t.directusServices === undefined ? {} : { directusServices: [...new Set(t.directusServices)] }),
      };
    case 'storage':
      return { ...base, kind: t.kind, path: t.path, location: t.location };
    case 'http':
      return {
        ...base,
        kind: t.kind,
        url: t.url,
        expectStatus: t.expectStatus,
        headers: t.headers,
        maxBodyBytes: t.maxBodyBytes,
        ...(t.bodyMatch === undefined ? {} : { bodyMatch: t.bodyMatch }),
      };
    case 'tcp': {
      const at = t.address.lastIndexOf(':');
      const port = Number(t.address.slice(at + 1));
      if (port < 1 || port > 65535) issues.push(`targets[${i}].address: port must be 1-65535`);
      return { ...base, kind: t.kind, host: t.address.slice(0, at), port };
    }
    case 'synthetic':
      return { ...base, kind: t.kind, distribution: t.distribution, errorRate: t.errorRate };
    case 'postgres': {
      const tls =
        t.tls === undefined || t.tls === false ? undefined : t.tls === true ? { rejectUnauthorized: true } : t.tls;
      return {
        ...base,
        kind: t.kind,
        url: t.url,
        query: t.query,
        ...(tls === undefined ? {} : { tls }),
        ...(t.directusClient === undefined ? {} : { directusClient: t.directusClient }),
      };
    }
    case 'sqlite':
      return { ...base, kind: t.kind, path: t.path, query: t.query };
  }
}

/**
 * TARGETS_PER_AUTO_THREAD: `threads: auto` starts one probe worker per this many targets (rounded up), at
 * most one per core. Each worker is a V8 isolate (~9 MiB idle, plus the client libraries of the kinds it
 * runs), and one worker probes a few hundred targets at 10 Hz with room to spare, so a sidecar's handful
 * of targets gets one, and 1,000 targets on two cores get two (what the benchmarks measure).
 */
export const TARGETS_PER_AUTO_THREAD = 500;

/** autoThreads is the probe worker count of `threads: auto` for `targets` targets. */
export function autoThreads(targets: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 64, Math.ceil(targets / TARGETS_PER_AUTO_THREAD)));
}

/**
 * defaultTargets is the embedded default: local storage, the local Redis, MariaDB/MySQL and PostgreSQL, and
 * probex's own /healthz, so a newcomer sees real numbers at once (an absent dependency shows as up 0 and
 * rising errors).
 */
function defaultTargets(port: number): RawTarget[] {
  const common = { interval: 1000, concurrency: 1, labels: {} };
  return [
    // The temp directory itself: it exists on every machine, and the storage probe never creates its path.
    { ...common, name: 'storage-local', kind: 'storage', path: tmpdir(), location: 'local' },
    { ...common, name: 'redis', kind: 'redis', url: 'redis://127.0.0.1:6379' },
    { ...common, name: 'mysql', kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/test', query: 'SELECT 1' },
    {
      ...common,
      name: 'postgres',
      kind: 'postgres',
      url: 'postgres://postgres@127.0.0.1:5432/test',
      query: 'SELECT 1',
    },
    {
      ...common,
      name: 'probex-self',
      kind: 'http',
      url: `http://127.0.0.1:${port}/healthz`,
      expectStatus: [200],
      headers: {},
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    },
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

/** hostForUrl is a host as a URL writes it: an IPv6 address in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
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
