import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDirectusEnvConfig, scheduleToIntervalMs } from '../src/config/directus-env.ts';
import { ConfigError } from '../src/errors.ts';
import type { ProbeTarget } from '../src/probes/registry.ts';

/** SEED is the seed's Directus: SQLite, a Redis for the cache and everything else, local uploads. */
const SEED = {
  DB_CLIENT: 'sqlite3',
  DB_FILENAME: '/directus/database/data.db',
  CACHE_ENABLED: 'true',
  CACHE_STORE: 'redis',
  REDIS: 'redis://redis:6379',
  STORAGE_LOCATIONS: 'local',
  STORAGE_LOCAL_ROOT: '/directus/uploads',
  METRICS_TOKENS: 'metrics-token-one,metrics-token-two',
};

function issuesOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadDirectusEnvConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'EXPORTER_CONFIG_INVALID');
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

function byName(targets: readonly ProbeTarget[]): Map<string, ProbeTarget> {
  return new Map(targets.map((t) => [t.name, t]));
}

test("the seed's environment gives the directus profile, its three checks, every minute, and its tokens", () => {
  const { config, notes } = loadDirectusEnvConfig(SEED);
  assert.equal(config.profile, 'directus');
  assert.equal(config.directus.namePrefix, 'directus_');
  assert.deepEqual(notes, []);
  const t = byName(config.targets);
  assert.deepEqual([...t.keys()], ['database', 'redis', 'storage-local']);
  const db = t.get('database')!;
  assert.deepEqual(db.kind === 'sqlite' && [db.path, db.query], ['/directus/database/data.db', 'SELECT 1']);
  const redis = t.get('redis')!;
  assert.deepEqual(redis.kind === 'redis' && [redis.url, redis.command, redis.directusServices], [
    'redis://redis:6379',
    'setdel',
    ['redis', 'cache'],
  ]);
  const storage = t.get('storage-local')!;
  assert.deepEqual(storage.kind === 'storage' && [storage.path, storage.location], ['/directus/uploads', 'local']);
  for (const target of config.targets) assert.deepEqual([target.intervalMs, target.timeoutMs], [60_000, 30_000]);
  assert.deepEqual(
    config.auth.tokens.map((k) => k.token),
    ['metrics-token-one', 'metrics-token-two'],
  );
});

test('METRICS_SERVICES picks the checks; an unknown service is an error naming it', () => {
  const { config } = loadDirectusEnvConfig({ ...SEED, METRICS_SERVICES: 'database,storage' });
  assert.deepEqual(
    config.targets.map((t) => t.name),
    ['database', 'storage-local'],
  );
  const onlyCache = loadDirectusEnvConfig({ ...SEED, METRICS_SERVICES: 'cache' }).config.targets[0]!;
  assert.deepEqual(onlyCache.kind === 'redis' && onlyCache.directusServices, ['cache']);
  assert.deepEqual(issuesOf({ ...SEED, METRICS_SERVICES: 'database,queue' }), [
    'METRICS_SERVICES: unknown service "queue"; Directus\'s are database, cache, redis, storage',
  ]);
});

test('METRICS_NAME_PREFIX and METRICS_SCHEDULE are honoured', () => {
  const { config } = loadDirectusEnvConfig({
    ...SEED,
    METRICS_NAME_PREFIX: 'cms_',
    METRICS_SCHEDULE: '*/15 * * * * *',
  });
  assert.equal(config.directus.namePrefix, 'cms_');
  assert.ok(config.targets.every((t) => t.intervalMs === 15_000));
});

test("METRICS_HEALTH_CHECK_PREFIX names the checks' Redis keys and storage files, as Directus names its own", () => {
  const prefixes = (env: NodeJS.ProcessEnv): string[] =>
    loadDirectusEnvConfig({ ...SEED, ...env }).config.targets.flatMap((t) =>
      t.kind === 'redis' ? [`redis ${t.keyPrefix}`] : t.kind === 'storage' ? [`storage ${t.filePrefix}`] : [],
    );
  assert.deepEqual(prefixes({}), ['redis directus-metric-', 'storage directus-metric-']);
  assert.deepEqual(prefixes({ METRICS_HEALTH_CHECK_PREFIX: 'cms-health-' }), [
    'redis cms-health-',
    'storage cms-health-',
  ]);
  assert.deepEqual(issuesOf({ ...SEED, METRICS_HEALTH_CHECK_PREFIX: '../up-' }), [
    'METRICS_HEALTH_CHECK_PREFIX: must be 1-128 characters without /, \\ or control characters',
  ]);
});

test('METRICS_SCHEDULE maps a cron step to an interval and refuses what has no single interval', () => {
  const cases: Array<[string, number | RegExp]> = [
    ['*/1 * * * *', 60_000], // Directus's default
    ['* * * * *', 60_000],
    ['*/5 * * * *', 300_000],
    ['0 * * * *', 3_600_000],
    ['30 */2 * * *', 7_200_000],
    ['0 0 * * *', 86_400_000],
    ['* * * * * *', 1000],
    ['*/10 * * * * *', 10_000],
    ['0 */1 * * * *', 60_000],
    ['1,31 * * * *', /cannot map "1,31"/],
    ['0-5 * * * *', /cannot map "0-5"/],
    ['*/5 1 * * *', /varying gaps/],
    ['0 0 * * 1', /restricts days/],
    ['*/0 * * * *', /out of range/],
    ['*/60 * * * *', /out of range/],
    ['61 * * * *', /out of range/],
    ['hourly', /not a cron expression/],
  ];
  for (const [expression, expected] of cases) {
    const got = scheduleToIntervalMs(expression);
    if (typeof expected === 'number') assert.equal(got, expected, expression);
    else assert.match(String(got), expected, expression);
  }
  assert.match(issuesOf({ ...SEED, METRICS_SCHEDULE: '0 9 * * 1-5' })[0]!, /^METRICS_SCHEDULE: /);
});

test('DB_CLIENT pg builds a postgres URL from the DB_* parts, percent-encoding the password', () => {
  const { config } = loadDirectusEnvConfig({
    DB_CLIENT: 'pg',
    DB_HOST: 'db.internal',
    DB_PORT: '6543',
    DB_DATABASE: 'directus',
    DB_USER: 'directus',
    DB_PASSWORD: 'p@ss:w/rd#1',
    METRICS_SERVICES: 'database',
  });
  const db = config.targets[0]!;
  assert.equal(db.kind, 'postgres');
  assert.ok(db.kind === 'postgres');
  assert.equal(db.url, 'postgres://directus:p%40ss%3Aw%2Frd%231@db.internal:6543/directus');
  assert.equal(new URL(db.url).password, encodeURIComponent('p@ss:w/rd#1'));
  assert.equal(db.directusClient, 'pg');
  assert.equal(db.tls, undefined);
});

test('postgres and cockroachdb are postgres targets named after their DB_CLIENT, with their default ports', () => {
  const base = { DB_HOST: 'h', DB_DATABASE: 'd', DB_USER: 'u', METRICS_SERVICES: 'database' };
  const pg = loadDirectusEnvConfig({ ...base, DB_CLIENT: 'postgres' }).config.targets[0]!;
  assert.deepEqual(pg.kind === 'postgres' && [pg.url, pg.directusClient], ['postgres://u@h:5432/d', 'postgres']);
  const crdb = loadDirectusEnvConfig({ ...base, DB_CLIENT: 'cockroachdb' }).config.targets[0]!;
  assert.deepEqual(crdb.kind === 'postgres' && [crdb.url, crdb.directusClient], [
    'postgres://u@h:26257/d',
    'cockroachdb',
  ]);
  const tls = loadDirectusEnvConfig({ ...base, DB_CLIENT: 'pg', DB_SSL__REJECT_UNAUTHORIZED: 'false' }).config
    .targets[0]!;
  assert.deepEqual(tls.kind === 'postgres' && tls.tls, { insecureSkipVerify: true });
  const conn = loadDirectusEnvConfig({
    DB_CLIENT: 'pg',
    DB_CONNECTION_STRING: 'postgresql://u:pw@h/d',
    METRICS_SERVICES: 'database',
  });
  assert.deepEqual(
    conn.config.targets[0]!.kind === 'postgres' && (conn.config.targets[0] as { url: string }).url,
    'postgresql://u:pw@h/d',
  );
});

test('DB_CLIENT mysql builds a mysql URL', () => {
  const { config } = loadDirectusEnvConfig({
    DB_CLIENT: 'mysql',
    DB_HOST: '127.0.0.1',
    DB_DATABASE: 'directus',
    DB_USER: 'root',
    METRICS_SERVICES: 'database',
  });
  const db = config.targets[0]!;
  assert.deepEqual(db.kind === 'mysql' && [db.url, db.query], ['mysql://root@127.0.0.1:3306/directus', 'SELECT 1']);
});

test('unsupported, unknown or incomplete database settings are errors naming the variable', () => {
  assert.deepEqual(issuesOf({ ...SEED, DB_CLIENT: 'mssql' }), [
    'DB_CLIENT: mssql is not supported (probex probes pg, postgres, cockroachdb, mysql and sqlite3); leave database out of METRICS_SERVICES to run without it',
  ]);
  assert.match(issuesOf({ ...SEED, DB_CLIENT: 'oracledb' })[0]!, /^DB_CLIENT: oracledb is not supported/);
  assert.match(issuesOf({ ...SEED, DB_CLIENT: 'mongo' })[0]!, /^DB_CLIENT: unknown client "mongo"/);
  assert.match(issuesOf({ ...SEED, DB_CLIENT: undefined })[0]!, /^DB_CLIENT: required/);
  assert.deepEqual(issuesOf({ ...SEED, DB_FILENAME: undefined }), ['DB_FILENAME: required with DB_CLIENT=sqlite3']);
  assert.deepEqual(issuesOf({ DB_CLIENT: 'pg', DB_PORT: 'x', METRICS_SERVICES: 'database' }), [
    'DB_HOST: required with DB_CLIENT=pg (or DB_CONNECTION_STRING)',
    'DB_DATABASE: required with DB_CLIENT=pg (or DB_CONNECTION_STRING)',
    'DB_USER: required with DB_CLIENT=pg (or DB_CONNECTION_STRING)',
    'DB_PORT: must be a port number',
  ]);
  assert.deepEqual(
    issuesOf({
      DB_CLIENT: 'pg',
      DB_HOST: 'h',
      DB_DATABASE: 'd',
      DB_USER: 'u',
      DB_SSL__CA: '/ca.pem',
      METRICS_SERVICES: 'database',
    }),
    ["DB_SSL__CA: not supported by --directus-env (probex verifies the server against the system's CAs)"],
  );
});

test('no message repeats a password or a connection string', () => {
  const secret = 'hunter2-very-secret';
  const issues = [
    ...issuesOf({ DB_CLIENT: 'pg', DB_CONNECTION_STRING: `mysql://u:${secret}@h/d`, METRICS_SERVICES: 'database' }),
    ...issuesOf({
      DB_CLIENT: 'pg',
      DB_HOST: 'bad host!',
      DB_DATABASE: 'd',
      DB_USER: 'u',
      DB_PASSWORD: secret,
      METRICS_SERVICES: 'database',
    }),
    ...issuesOf({ ...SEED, REDIS: `http://:${secret}@redis:6379` }),
    ...issuesOf({ ...SEED, REDIS: undefined, REDIS_PASSWORD: secret, REDIS_PORT: 'nope' }),
    ...issuesOf({
      DB_CLIENT: 'pg',
      DB_CONNECTION_STRING: `postgres://u:${secret}@h/d`,
      DB_SSL: 'maybe',
      METRICS_SERVICES: 'database',
    }),
  ];
  assert.equal(issues.length, 5, JSON.stringify(issues));
  for (const issue of issues) assert.ok(!issue.includes(secret), issue);
  assert.match(issues[0]!, /^DB_CONNECTION_STRING: must be a postgres:\/\/ or postgresql:\/\/ URL$/);
});

test('REDIS_* parts build the Redis URL; unknown REDIS_* settings are errors', () => {
  const { config } = loadDirectusEnvConfig({
    ...SEED,
    REDIS: undefined,
    REDIS_HOST: '10.0.0.5',
    REDIS_PORT: '6380',
    REDIS_USERNAME: 'directus',
    REDIS_PASSWORD: 's3cr3t/+',
    REDIS_DB: '2',
  });
  const redis = byName(config.targets).get('redis')!;
  assert.deepEqual(redis.kind === 'redis' && redis.url, 'redis://directus:s3cr3t%2F%2B@10.0.0.5:6380/2');
  assert.deepEqual(
    issuesOf({ ...SEED, REDIS_SENTINEL_NAME: 'mymaster' }).map((i) => i.split(':')[0]),
    ['REDIS_SENTINEL_NAME'],
  );
  // REDIS_ENABLED=false: Directus uses no Redis, so neither does the check.
  const off = loadDirectusEnvConfig({ ...SEED, REDIS_ENABLED: 'false' });
  assert.deepEqual(
    off.config.targets.map((t) => t.name),
    ['database', 'storage-local'],
  );
});

test('a cache with a Redis of its own (CACHE_REDIS) is a second target that feeds only the cache families', () => {
  const { config } = loadDirectusEnvConfig({ ...SEED, CACHE_REDIS: 'redis://cache:6379/1' });
  const t = byName(config.targets);
  const shared = t.get('redis')!;
  const cache = t.get('cache-redis')!;
  assert.deepEqual(shared.kind === 'redis' && shared.directusServices, ['redis']);
  assert.deepEqual(cache.kind === 'redis' && [cache.url, cache.command, cache.directusServices], [
    'redis://cache:6379/1',
    'setdel',
    ['cache'],
  ]);
});

test('a memory cache, a disabled cache and remote storage are left out with a note; unknown stores are errors', () => {
  const memory = loadDirectusEnvConfig({ ...SEED, CACHE_STORE: 'memory', REDIS: undefined });
  assert.deepEqual(
    memory.config.targets.map((t) => t.name),
    ['database', 'storage-local'],
  );
  assert.match(memory.notes[0]!, /CACHE_STORE=memory lives inside Directus/);
  const disabled = loadDirectusEnvConfig({ ...SEED, CACHE_ENABLED: 'false' }).config.targets.find(
    (t) => t.name === 'redis',
  )!;
  assert.deepEqual(disabled.kind === 'redis' && disabled.directusServices, ['redis']);
  const remote = loadDirectusEnvConfig({ ...SEED, STORAGE_LOCATIONS: 'local,s3', STORAGE_S3_DRIVER: 's3' });
  assert.deepEqual(
    remote.config.targets.map((t) => t.name),
    ['database', 'redis', 'storage-local'],
  );
  assert.deepEqual(remote.notes, [
    'storage: location "s3" (STORAGE_S3_DRIVER=s3) is not probed: probex probes the local driver only',
  ]);
  assert.deepEqual(issuesOf({ ...SEED, CACHE_STORE: 'memcache' }), [
    'CACHE_STORE: "memcache" is not supported; Directus\'s stores are memory and redis',
  ]);
  assert.deepEqual(issuesOf({ ...SEED, CACHE_ENABLED: 'yes' }), ['CACHE_ENABLED: must be true or false']);
  assert.deepEqual(issuesOf({ ...SEED, STORAGE_LOCATIONS: 'local,files', STORAGE_FILES_DRIVER: 'ftp' }), [
    'STORAGE_FILES_DRIVER: unknown driver "ftp"; Directus\'s are local, s3, gcs, azure, cloudinary, supabase',
  ]);
  assert.deepEqual(issuesOf({ ...SEED, STORAGE_LOCATIONS: 'local,files' }), [
    'STORAGE_FILES_DRIVER: required for storage location "files"',
  ]);
  assert.deepEqual(issuesOf({ ...SEED, STORAGE_LOCATIONS: 'local,files', STORAGE_FILES_DRIVER: 'local' }), [
    'STORAGE_FILES_ROOT: required for the local driver of location "files"',
  ]);
  assert.match(
    issuesOf({ ...SEED, STORAGE_LOCATIONS: 'Uploads-1' })[0]!,
    /^STORAGE_LOCATIONS: "Uploads-1" must be lowercase/,
  );
});

test('every problem is reported at once', () => {
  const issues = issuesOf({
    DB_CLIENT: 'mssql',
    CACHE_ENABLED: 'maybe',
    METRICS_SCHEDULE: 'often',
    STORAGE_LOCATIONS: 'local,x',
  });
  assert.deepEqual(
    issues.map((i) => i.split(':')[0]),
    ['METRICS_SCHEDULE', 'DB_CLIENT', 'CACHE_ENABLED', 'STORAGE_X_DRIVER'],
  );
});

test('user names and passwords are taken byte for byte, as Directus takes them; other values are trimmed', () => {
  const { config } = loadDirectusEnvConfig({
    DB_CLIENT: 'pg',
    DB_HOST: ' db ',
    DB_DATABASE: 'app ',
    DB_USER: ' directus',
    DB_PASSWORD: '  pw with spaces  ',
    REDIS_HOST: 'redis',
    REDIS_USERNAME: 'default',
    REDIS_PASSWORD: ' r-pw ',
    METRICS_SERVICES: 'database,redis',
  });
  const [db, redis] = config.targets;
  assert.equal(db?.kind === 'postgres' && db.url, 'postgres://%20directus:%20%20pw%20with%20spaces%20%20@db:5432/app');
  assert.equal(redis?.kind === 'redis' && redis.url, 'redis://default:%20r-pw%20@redis:6379');
});

test("PostgreSQL's DB_HOST may be a unix socket directory; DB_CONNECTION_STRING may use libpq's socket form", () => {
  const socket = loadDirectusEnvConfig({
    DB_CLIENT: 'postgres',
    DB_HOST: '/run/postgresql',
    DB_PORT: '5433',
    DB_DATABASE: 'directus',
    DB_USER: 'directus',
    DB_PASSWORD: 'pw',
    METRICS_SERVICES: 'database',
  }).config.targets[0];
  assert.equal(
    socket?.kind === 'postgres' && socket.url,
    'postgres://directus:pw@/directus?host=%2Frun%2Fpostgresql&port=5433',
  );
  const connectionString = 'postgresql://directus:pw@/directus?host=/var/run/postgresql';
  const fromString = loadDirectusEnvConfig({
    DB_CLIENT: 'pg',
    DB_CONNECTION_STRING: connectionString,
    METRICS_SERVICES: 'database',
  }).config.targets[0];
  assert.equal(fromString?.kind === 'postgres' && fromString.url, connectionString);
  // A socket directory is PostgreSQL's: MySQL's DB_HOST must be a host.
  assert.deepEqual(
    issuesOf({
      DB_CLIENT: 'mysql',
      DB_HOST: '/run/mysqld',
      DB_DATABASE: 'd',
      DB_USER: 'u',
      METRICS_SERVICES: 'database',
    }),
    ['DB_HOST: not a valid host name'],
  );
});

test('a connection string with a port out of range names the port, not the scheme', () => {
  assert.deepEqual(
    issuesOf({ DB_CLIENT: 'pg', DB_CONNECTION_STRING: 'postgres://u:pw@db:70000/app', METRICS_SERVICES: 'database' }),
    ['DB_CONNECTION_STRING: port must be 1-65535'],
  );
  assert.deepEqual(
    issuesOf({ DB_CLIENT: 'mysql', DB_CONNECTION_STRING: 'mysql://u:pw@db:0/app', METRICS_SERVICES: 'database' }),
    ['DB_CONNECTION_STRING: port must be 1-65535'],
  );
  assert.deepEqual(issuesOf({ ...SEED, REDIS: 'redis://redis:99999' }), ['REDIS: port must be 1-65535']);
});
