/**
 * `--directus-env`: builds probex's config from a Directus container's own environment, so probex can run
 * beside Directus with the same variables and serve what Directus's GET /metrics serves (the directus
 * profile), checked the way Directus checks (api/src/metrics/lib/create-metrics.ts):
 *
 * - database (DB_CLIENT): `SELECT 1`. pg, postgres and cockroachdb are postgres targets (the family is named
 *   after DB_CLIENT, as Directus names it); mysql a mysql target; sqlite3 a sqlite target on DB_FILENAME.
 *   mssql and oracledb are not supported: a start-up error says so.
 * - redis (REDIS, or REDIS_HOST/REDIS_PORT/REDIS_USERNAME/REDIS_PASSWORD/REDIS_DB) and cache
 *   (CACHE_ENABLED=true with CACHE_STORE=redis): `SET` and `DEL` of a throwaway key. The cache uses the
 *   shared Redis, as Directus's does, unless CACHE_REDIS or CACHE_REDIS_* name one of its own (older
 *   Directus versions). CACHE_STORE=memory lives inside Directus: there is nothing to probe from outside.
 * - storage (STORAGE_LOCATIONS with STORAGE_<LOCATION>_DRIVER/_ROOT): a local location writes, reads back and
 *   deletes a file in its root. Other drivers (s3, gcs, azure, cloudinary, supabase) are not probed; they are
 *   listed in the notes at start-up.
 * - METRICS_SERVICES picks which of the four are checked (default all), METRICS_TOKENS the tokens,
 *   METRICS_NAME_PREFIX the family names, METRICS_HEALTH_CHECK_PREFIX the Redis keys and storage files
 *   the checks write (as Directus names its own) and METRICS_SCHEDULE the interval (see scheduleToIntervalMs).
 *
 * User names and passwords are taken byte for byte, as Directus takes them (a password may start or end
 * with spaces); every other value is trimmed. PostgreSQL's DB_HOST may be a unix socket directory.
 *
 * Every problem is reported at once, each naming its variable. Passwords go into target URLs only; no
 * message here ever contains a value of DB_PASSWORD, REDIS_PASSWORD or a connection string.
 */
import { ConfigError } from '../errors.ts';
import { loadConfig, type LoadedConfig } from './load.ts';
import { hostForUrl, targetUrlProblem } from './target-url.ts';

/** DirectusEnvConfig is the config built from a Directus environment, and what the environment asked for that probex does not probe. */
export interface DirectusEnvConfig extends LoadedConfig {
  /** notes are one line each, for the start-up log and --check-config: services left out, and why. */
  readonly notes: readonly string[];
}

/** DIRECTUS_DEFAULTS are Directus's defaults (packages/env/src/constants/defaults.ts) for the variables read here. */
const DIRECTUS_DEFAULTS = Object.freeze({
  METRICS_SERVICES: 'database,cache,redis,storage',
  METRICS_SCHEDULE: '*/1 * * * *',
  METRICS_HEALTH_CHECK_PREFIX: 'directus-metric-',
  CACHE_ENABLED: 'false',
  CACHE_STORE: 'memory',
  STORAGE_LOCATIONS: 'local',
  STORAGE_LOCAL_DRIVER: 'local',
  STORAGE_LOCAL_ROOT: './uploads',
});

const SERVICES = ['database', 'cache', 'redis', 'storage'] as const;
type Service = (typeof SERVICES)[number];
const POSTGRES_CLIENTS = ['pg', 'postgres', 'cockroachdb'] as const;
const UNSUPPORTED_CLIENTS = ['mssql', 'oracledb'];
const DEFAULT_DB_PORTS: Record<string, number> = { pg: 5432, postgres: 5432, cockroachdb: 26257, mysql: 3306 };
const REMOTE_STORAGE_DRIVERS = ['s3', 'gcs', 'azure', 'cloudinary', 'supabase'];
/** REDIS_VARIABLES are the Redis settings probex can honour; any other REDIS_* would change how to connect. */
const REDIS_VARIABLES = ['HOST', 'PORT', 'USERNAME', 'PASSWORD', 'DB'];
/** CREDENTIAL_RE names the variables taken byte for byte (user names and passwords); every other value is trimmed. */
const CREDENTIAL_RE = /_(USER|USERNAME|PASSWORD)$/;
// A location name becomes part of a family name (directus_storage_<location>_connection_errors).
const LOCATION_RE = /^[a-z0-9_]+$/;

type RawTarget = Record<string, unknown>;

/**
 * loadDirectusEnvConfig builds and validates the config. It throws ConfigError listing every problem,
 * each starting with the variable it is about.
 */
export function loadDirectusEnvConfig(env: NodeJS.ProcessEnv, listenerGuard?: string): DirectusEnvConfig {
  const issues: string[] = [];
  const notes: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    // Directus casts credentials as strings, untrimmed: ` pw ` is a password with spaces at its ends.
    if (CREDENTIAL_RE.test(name)) return value;
    return value.trim() === '' ? undefined : value.trim();
  };

  const services = listOf(get('METRICS_SERVICES') ?? DIRECTUS_DEFAULTS.METRICS_SERVICES);
  for (const s of services) {
    if (!(SERVICES as readonly string[]).includes(s))
      issues.push(`METRICS_SERVICES: unknown service "${s}"; Directus's are ${SERVICES.join(', ')}`);
  }
  const wants = (s: Service): boolean => services.includes(s);

  const schedule = get('METRICS_SCHEDULE') ?? DIRECTUS_DEFAULTS.METRICS_SCHEDULE;
  const interval = scheduleToIntervalMs(schedule);
  if (typeof interval === 'string') issues.push(`METRICS_SCHEDULE: ${interval}`);
  // Directus waits for a check until it answers: here it has until the next one, at most 30 s.
  const intervalMs = typeof interval === 'number' ? interval : 60_000;
  const common = { interval: intervalMs, timeout: Math.min(intervalMs, 30_000) };
  const checkPrefix = get('METRICS_HEALTH_CHECK_PREFIX') ?? DIRECTUS_DEFAULTS.METRICS_HEALTH_CHECK_PREFIX;
  if (!/^[^\p{Cc}/\\]{1,128}$/u.test(checkPrefix))
    issues.push('METRICS_HEALTH_CHECK_PREFIX: must be 1-128 characters without /, \\ or control characters');

  const targets: RawTarget[] = [];
  if (wants('database')) {
    const target = databaseTarget(get, issues);
    if (target !== undefined) targets.push({ ...common, ...target });
  }

  const redisUrl = wants('redis') || wants('cache') ? sharedRedisUrl(env, get, issues) : undefined;
  const cache = wants('cache') ? cacheRedis(env, get, issues, notes) : 'none';
  const redisServices: string[] = [];
  if (wants('redis') && redisUrl !== undefined) redisServices.push('redis');
  if (cache === 'shared') {
    if (redisUrl === undefined)
      notes.push('cache: CACHE_STORE=redis, but no REDIS or REDIS_* is set; Directus skips this check too');
    else redisServices.push('cache');
  }
  if (redisUrl !== undefined && redisServices.length > 0) {
    targets.push({
      ...common,
      name: 'redis',
      kind: 'redis',
      url: redisUrl,
      command: 'setdel',
      keyPrefix: checkPrefix,
      directusServices: redisServices,
    });
  }
  if (typeof cache === 'object') {
    targets.push({
      ...common,
      name: 'cache-redis',
      kind: 'redis',
      url: cache.url,
      command: 'setdel',
      keyPrefix: checkPrefix,
      directusServices: ['cache'],
    });
  }

  if (wants('storage'))
    targets.push(...storageTargets(get, issues, notes).map((t) => ({ ...common, ...t, filePrefix: checkPrefix })));

  if (issues.length > 0) throw new ConfigError(issues);
  if (targets.length === 0)
    notes.push('nothing to probe: METRICS_SERVICES and the environment leave no service probex can check');
  // The probex variables (PROBEX_HOST, PROBEX_PORT, METRICS_TOKENS, METRICS_NAME_PREFIX, ...) apply as
  // they do to a config file.
  const document = { profile: 'directus', targets };
  return { ...loadConfig({ document, file: 'the Directus environment', env, listenerGuard }), notes };
}

/**
 * scheduleToIntervalMs maps METRICS_SCHEDULE (a cron expression, as Directus's `cron` package reads it:
 * five fields, or six with seconds first) to the fixed interval probex probes at, or returns why it cannot.
 * The day-of-month, month and day-of-week fields must be `*`; of the others, the finest one that is not a
 * single value sets the interval and every coarser one must be `*`:
 *   a step `*\/N` in seconds, minutes or hours: every N of them (`*` alone: N = 1), so Directus's default
 *   `*\/1 * * * *` is every minute;
 *   a single value: the next coarser unit (`0 * * * *` is hourly, `0 0 * * *` daily).
 * A step that does not divide its unit (`*\/7` minutes) fires on a shorter gap at the top of the hour in
 * cron; probex keeps the even N. Lists and ranges (`1,31`, `0-5`) have no single interval and are refused.
 */
export function scheduleToIntervalMs(expression: string): number | string {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `"${expression}" is not a cron expression of 5 fields (or 6, seconds first)`;
  }
  const [second, minute, hour, dayOfMonth, month, dayOfWeek] = fields.length === 6 ? fields : ['0', ...fields];
  if ([dayOfMonth, month, dayOfWeek].some((f) => f !== '*')) {
    return `"${expression}" restricts days or months; probex probes at a fixed interval (use */N on seconds, minutes or hours)`;
  }
  const units: Array<[field: string, ms: number, range: number]> = [
    [second!, 1000, 60],
    [minute!, 60_000, 60],
    [hour!, 3_600_000, 24],
  ];
  for (let i = 0; i < units.length; i++) {
    const [field, ms, range] = units[i]!;
    const single = /^\d+$/.test(field);
    if (single) {
      if (Number(field) >= range) return `"${expression}": ${field} is out of range`;
      continue;
    }
    const step = field === '*' ? 1 : /^\*\/(\d+)$/.exec(field)?.[1];
    if (step === undefined)
      return `"${expression}": cannot map "${field}" to an interval (use *, */N or a single value)`;
    const n = Number(step);
    if (n < 1 || n >= range) return `"${expression}": step ${step} is out of range`;
    if (units.slice(i + 1).some(([coarser]) => coarser !== '*')) {
      return `"${expression}" fires at varying gaps; probex probes at a fixed interval (use */N on one field, * above it)`;
    }
    return n * ms;
  }
  return 24 * 3_600_000; // every field a single value: once a day
}

function databaseTarget(get: (name: string) => string | undefined, issues: string[]): RawTarget | undefined {
  const client = get('DB_CLIENT');
  if (client === undefined) {
    issues.push(
      'DB_CLIENT: required for the database check (one of pg, postgres, cockroachdb, mysql, sqlite3), or leave database out of METRICS_SERVICES',
    );
    return undefined;
  }
  if (UNSUPPORTED_CLIENTS.includes(client)) {
    issues.push(
      `DB_CLIENT: ${client} is not supported (probex probes pg, postgres, cockroachdb, mysql and sqlite3); leave database out of METRICS_SERVICES to run without it`,
    );
    return undefined;
  }
  if (client === 'sqlite3') {
    const path = get('DB_FILENAME');
    if (path === undefined) issues.push('DB_FILENAME: required with DB_CLIENT=sqlite3');
    return path === undefined ? undefined : { name: 'database', kind: 'sqlite', path, query: 'SELECT 1' };
  }
  const isPostgres = (POSTGRES_CLIENTS as readonly string[]).includes(client);
  if (!isPostgres && client !== 'mysql') {
    issues.push(
      `DB_CLIENT: unknown client "${client}"; Directus's are pg, postgres, cockroachdb, mysql, sqlite3, mssql, oracledb`,
    );
    return undefined;
  }
  const kind = isPostgres ? 'postgres' : 'mysql';
  let url: string | undefined;
  const connectionString = get('DB_CONNECTION_STRING');
  if (connectionString !== undefined) {
    const problem = targetUrlProblem(
      connectionString,
      isPostgres ? { schemes: ['postgres', 'postgresql'], socketHost: true } : { schemes: ['mysql'] },
    );
    // The value is a secret: the message says what is wrong, never what it is.
    if (problem !== undefined) issues.push(`DB_CONNECTION_STRING: ${problem}`);
    else url = connectionString;
  } else {
    const missing = ['DB_HOST', 'DB_DATABASE', 'DB_USER'].filter((name) => get(name) === undefined);
    for (const name of missing) issues.push(`${name}: required with DB_CLIENT=${client} (or DB_CONNECTION_STRING)`);
    const port = get('DB_PORT') ?? String(DEFAULT_DB_PORTS[client]);
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
      issues.push('DB_PORT: must be a port number');
    else if (missing.length === 0) {
      const host = get('DB_HOST')!;
      // PostgreSQL's DB_HOST may be the directory of its unix socket, as libpq (and knex, for Directus) reads it.
      url =
        isPostgres && host.startsWith('/')
          ? socketUrl(host, port, get('DB_USER'), get('DB_PASSWORD'), get('DB_DATABASE')!)
          : buildUrl(
              isPostgres ? 'postgres' : 'mysql',
              host,
              port,
              get('DB_USER'),
              get('DB_PASSWORD'),
              get('DB_DATABASE')!,
            );
      if (url === undefined)
        issues.push(
          isPostgres ? 'DB_HOST: not a valid host name or unix socket directory' : 'DB_HOST: not a valid host name',
        );
    }
  }
  const target: RawTarget = { name: 'database', kind, url, query: 'SELECT 1' };
  if (isPostgres) {
    target.directusClient = client;
    const tls = postgresTls(get, issues);
    if (tls !== undefined) target.tls = tls;
  }
  return url === undefined ? undefined : target;
}

/** postgresTls reads DB_SSL (true/false) and DB_SSL__REJECT_UNAUTHORIZED, as Directus passes them to knex. */
function postgresTls(
  get: (name: string) => string | undefined,
  issues: string[],
): { insecureSkipVerify: boolean } | undefined {
  for (const name of ['DB_SSL__CA', 'DB_SSL__CERT', 'DB_SSL__KEY']) {
    if (get(name) !== undefined)
      issues.push(`${name}: not supported by --directus-env (probex verifies the server against the system's CAs)`);
  }
  const ssl = booleanOf(get('DB_SSL'), 'DB_SSL', issues);
  const reject = booleanOf(get('DB_SSL__REJECT_UNAUTHORIZED'), 'DB_SSL__REJECT_UNAUTHORIZED', issues);
  if (ssl === false || (ssl === undefined && reject === undefined)) return undefined;
  return { insecureSkipVerify: reject === false };
}

/** sharedRedisUrl is Directus's Redis (REDIS, or REDIS_*), or undefined when none is configured. */
function sharedRedisUrl(
  env: NodeJS.ProcessEnv,
  get: (name: string) => string | undefined,
  issues: string[],
): string | undefined {
  if (booleanOf(get('REDIS_ENABLED'), 'REDIS_ENABLED', issues) === false) return undefined;
  return redisUrlFrom('REDIS', env, get, issues, ['ENABLED']);
}

/**
 * cacheRedis says where the cache lives: 'none' (disabled, memory, or not asked for), 'shared' (the
 * shared Redis), or a Redis of its own (CACHE_REDIS, CACHE_REDIS_*).
 */
function cacheRedis(
  env: NodeJS.ProcessEnv,
  get: (name: string) => string | undefined,
  issues: string[],
  notes: string[],
): 'none' | 'shared' | { url: string } {
  const enabled = booleanOf(get('CACHE_ENABLED') ?? DIRECTUS_DEFAULTS.CACHE_ENABLED, 'CACHE_ENABLED', issues);
  if (enabled !== true) return 'none';
  const store = get('CACHE_STORE') ?? DIRECTUS_DEFAULTS.CACHE_STORE;
  if (store === 'memory') {
    notes.push('cache: CACHE_STORE=memory lives inside Directus; there is nothing to probe from outside');
    return 'none';
  }
  if (store !== 'redis') {
    issues.push(`CACHE_STORE: "${store}" is not supported; Directus's stores are memory and redis`);
    return 'none';
  }
  const own = redisUrlFrom('CACHE_REDIS', env, get, issues, []);
  return own === undefined ? 'shared' : { url: own };
}

/**
 * redisUrlFrom builds a redis:// URL from `<prefix>` (a URL) or `<prefix>_HOST`, `_PORT`, `_USERNAME`,
 * `_PASSWORD` and `_DB` (ioredis's defaults: localhost:6379); undefined when none of them is set.
 */
function redisUrlFrom(
  prefix: string,
  env: NodeJS.ProcessEnv,
  get: (name: string) => string | undefined,
  issues: string[],
  ignored: readonly string[],
): string | undefined {
  const whole = get(prefix);
  const parts = Object.keys(env)
    .filter((k) => k.startsWith(`${prefix}_`) && get(k) !== undefined)
    .map((k) => k.slice(prefix.length + 1))
    .filter((k) => !ignored.includes(k));
  for (const part of parts) {
    if (!REDIS_VARIABLES.includes(part)) {
      issues.push(
        `${prefix}_${part}: not supported by --directus-env (probex reads ${prefix} or ${REDIS_VARIABLES.map((v) => `${prefix}_${v}`).join(', ')})`,
      );
    }
  }
  if (whole !== undefined) {
    const problem = targetUrlProblem(whole, { schemes: ['redis', 'rediss'] });
    if (problem !== undefined) {
      issues.push(`${prefix}: ${problem}`);
      return undefined;
    }
    return whole;
  }
  if (parts.length === 0) return undefined;
  const port = get(`${prefix}_PORT`) ?? '6379';
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    issues.push(`${prefix}_PORT: must be a port number`);
    return undefined;
  }
  const db = get(`${prefix}_DB`);
  if (db !== undefined && !/^\d+$/.test(db)) {
    issues.push(`${prefix}_DB: must be a database number`);
    return undefined;
  }
  const url = buildUrl(
    'redis',
    get(`${prefix}_HOST`) ?? 'localhost',
    port,
    get(`${prefix}_USERNAME`),
    get(`${prefix}_PASSWORD`),
    db,
  );
  if (url === undefined) issues.push(`${prefix}_HOST: not a valid host name`);
  return url;
}

function storageTargets(get: (name: string) => string | undefined, issues: string[], notes: string[]): RawTarget[] {
  const targets: RawTarget[] = [];
  for (const location of listOf(get('STORAGE_LOCATIONS') ?? DIRECTUS_DEFAULTS.STORAGE_LOCATIONS)) {
    if (!LOCATION_RE.test(location)) {
      issues.push(
        `STORAGE_LOCATIONS: "${location}" must be lowercase letters, digits and _ (it is part of a metric name)`,
      );
      continue;
    }
    const variable = `STORAGE_${location.toUpperCase()}`;
    const driver =
      get(`${variable}_DRIVER`) ?? (location === 'local' ? DIRECTUS_DEFAULTS.STORAGE_LOCAL_DRIVER : undefined);
    if (driver === undefined) {
      issues.push(`${variable}_DRIVER: required for storage location "${location}"`);
    } else if (REMOTE_STORAGE_DRIVERS.includes(driver)) {
      notes.push(
        `storage: location "${location}" (${variable}_DRIVER=${driver}) is not probed: probex probes the local driver only`,
      );
    } else if (driver !== 'local') {
      issues.push(
        `${variable}_DRIVER: unknown driver "${driver}"; Directus's are local, ${REMOTE_STORAGE_DRIVERS.join(', ')}`,
      );
    } else {
      const root = get(`${variable}_ROOT`) ?? (location === 'local' ? DIRECTUS_DEFAULTS.STORAGE_LOCAL_ROOT : undefined);
      if (root === undefined) issues.push(`${variable}_ROOT: required for the local driver of location "${location}"`);
      else targets.push({ name: `storage-${location.replace(/_/g, '-')}`, kind: 'storage', path: root, location });
    }
  }
  return targets;
}

/** buildUrl assembles scheme://[user[:password]@]host:port[/path], each part percent-encoded; undefined for a bad host. */
function buildUrl(
  scheme: string,
  host: string,
  port: string,
  user: string | undefined,
  password: string | undefined,
  path: string | undefined,
): string | undefined {
  const hostPart = hostForUrl(host);
  if (!/^[A-Za-z0-9._\-[\]:]+$/.test(hostPart)) return undefined;
  const auth = userinfo(user, password);
  const url = `${scheme}://${auth}${hostPart}:${port}${path === undefined ? '' : `/${encodeURIComponent(path)}`}`;
  return URL.canParse(url) ? url : undefined;
}

/**
 * socketUrl is a postgres:// URL that connects through the unix socket in directory `dir`:
 * `postgres://user:pw@/db?host=%2Frun%2Fpostgresql&port=5432` (libpq's form, read by pg).
 */
function socketUrl(
  dir: string,
  port: string,
  user: string | undefined,
  password: string | undefined,
  database: string,
): string | undefined {
  const auth = userinfo(user, password);
  const url = `postgres://${auth}/${encodeURIComponent(database)}?host=${encodeURIComponent(dir)}&port=${port}`;
  return targetUrlProblem(url, { schemes: ['postgres'], socketHost: true }) === undefined ? url : undefined;
}

/** userinfo is `user[:password]@`, each part percent-encoded, or '' when neither is set. */
function userinfo(user: string | undefined, password: string | undefined): string {
  if (user === undefined && password === undefined) return '';
  return `${encodeURIComponent(user ?? '')}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
}

/**
 * booleanOf reads Directus's booleans (`true`/`1`, `false`/`0`, as @directus/utils toBoolean reads them).
 * Directus takes anything else for false; here it is an issue naming the variable.
 */
function booleanOf(value: string | undefined, name: string, issues: string[]): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  issues.push(`${name}: must be true or false`);
  return undefined;
}

/** listOf reads a Directus comma-separated list. */
function listOf(value: string): string[] {
  return value.split(',').flatMap((v) => (v.trim() === '' ? [] : [v.trim()]));
}
