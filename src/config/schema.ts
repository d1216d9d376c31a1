/**
 * The config's schema (zod) and the types derived from it: the keys every target has, the targets'
 * discriminated union (built from each kind's keys, config/kinds.ts), and every top-level section.
 * Defaults are filled here; the checks across fields and sources are the loader's (config/load.ts).
 * zod's messages name the expectation, never the input.
 */
import { z } from 'zod';
import { PERMISSIONS, tokenProblem, type TokenConfig } from '../access.ts';
import { HDR_DEFAULT_DIGITS } from '../metrics/model.ts';
import { DIRECTUS_PREFIX, isValidMetricName, LABEL_NAME_RE, PROFILES } from '../metrics/names.ts';
import { NATIVE_DEFAULTS, validateNativeOptions } from '../metrics/native-histogram.ts';
import { PROBE_KINDS, type ProbeTarget } from '../probes/registry.ts';
import { shardSchema, type ShardSpec } from '../shard.ts';
import { DEFAULT_BACKGROUND_NICE, DEFAULT_HOST, DEFAULT_PORT, defaultAgentId } from './defaults.ts';
import { duration } from './fields.ts';
import { TARGET_KINDS } from './kinds.ts';

/** LOG_LEVELS are pino's levels, fatal to trace, and silent: `log.level` and PROBEX_LOG_LEVEL take one of them. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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

/** commonFields are the keys every target has, whatever its kind. */
const commonFields = {
  name: targetName,
  interval: duration.default(1000),
  timeout: duration.optional(),
  concurrency: z.number().int().min(1).max(1024).default(1),
  labels,
  buckets,
};

/** CommonFields are what commonFields yield: the parts of a target the loader finishes for every kind. */
export type CommonFields = z.output<z.ZodObject<typeof commonFields>>;

/** targetSchema is one target: the common keys and its kind's own, discriminated by `kind`. */
export const targetSchema = z.discriminatedUnion(
  'kind',
  Object.values(TARGET_KINDS).map((kind) => z.object({ ...commonFields, ...kind.fields }).strict()) as unknown as [
    z.ZodObject<typeof commonFields & { kind: z.ZodLiteral<ProbeTarget['kind']> }>,
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
export const listenSchema = z
  .object({
    host: z.string().min(1).default(DEFAULT_HOST),
    port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  })
  .strict()
  .default({ host: DEFAULT_HOST, port: DEFAULT_PORT });
export const authFields = {
  tokens: z.array(tokenSchema).default([]),
  /** tokenFile holds one token per line, optionally followed by its permissions: `<token> metrics,api`. */
  tokenFile: z.string().min(1).optional(),
  /**
   * open says, explicitly, that every route may be served without a token. It is what lets probex listen
   * beyond loopback with no token, and a reload drop every token; it cannot be combined with tokens.
   */
  open: z.boolean().default(false),
};
export const authSchema = z.object(authFields).strict().default({ tokens: [], open: false });
/** configSchema is everything but the targets, which are parsed one by one (config/load.ts parseTargets). */
export const configSchema = z
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
          .refine(
            (prefix) => prefix === '' || isValidMetricName(prefix),
            'must be empty or start a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*',
          )
          .default(DIRECTUS_PREFIX),
      })
      .strict()
      .default({ namePrefix: DIRECTUS_PREFIX }),
    /** agentId is this host's id in /system/v1/agent/{agent_id}/metrics/v0/. */
    agentId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
      .default(defaultAgentId),
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
    /**
     * hdr configures the per-target HDR histograms behind the JSON API's and the status page's percentiles
     * and the /hdr exports (never /metrics, whose buckets are counted exactly). significantDigits is their
     * precision: 3 keeps recorded values within 0.1% (~10 KB a target for latencies up to ~16 ms), 2 within
     * 1% (~2 KB). A reload that changes it re-records each target's counts at the new precision.
     */
    hdr: z
      .object({
        significantDigits: z
          .union([z.literal(2), z.literal(3)], { error: 'must be 2 or 3' })
          .default(HDR_DEFAULT_DIGITS),
      })
      .strict()
      .default({ significantDigits: HDR_DEFAULT_DIGITS }),
    auth: authSchema,
    /** shard makes this replica probe only its share of the targets (src/shard.ts); PROBEX_SHARD sets it. */
    shard: shardSchema.optional(),
  })
  .strict()
  .transform(({ publishInterval, ...settings }) => ({ ...settings, publishIntervalMs: publishInterval }));
/** targetList is the `targets` key: a list, each entry parsed on its own (targetSchema). */
export const targetList = z.array(z.unknown());

/** Settings are what configSchema yields: every top-level section but the targets, defaults filled in. */
type Settings = z.output<typeof configSchema>;

/**
 * Config is what probex runs on, derived from the schema (field documentation is there), with what
 * loadConfig adds after it: `threads: auto` resolved to a number (autoThreads), the tokens of every
 * source (config, METRICS_TOKENS; the token file's are held apart, see LoadedConfig), and the targets.
 * Target shapes are the probes' own (MysqlTarget in probes/mysql.ts, ...): probes receive plain data and
 * never import zod; each kind's KindConfig (probes/<kind>-config.ts) keeps its keys and its target's
 * shape in step at compile time.
 */
export type Config = DeepReadonly<
  Omit<Settings, 'threads' | 'auth' | 'shard'> & {
    /** threads is the number of probe worker threads (`threads: auto` resolved; see autoThreads). */
    threads: number;
    auth: Omit<Settings['auth'], 'tokens'> & { tokens: TokenConfig[] };
    /** targets are the ones this replica probes: with a shard, only its own. */
    targets: ProbeTarget[];
    /** shard, when set, is this replica's shard and how many configured targets it leaves to the others. */
    shard?: ShardSpec & { skippedTargets: number };
  }
>;

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
