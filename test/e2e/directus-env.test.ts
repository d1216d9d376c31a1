/**
 * `probex --directus-env` as a sidecar beside Directus: the real process, started with nothing but a
 * Directus container's variables, against the machine's real SQLite file, Redis, PostgreSQL (over TCP and
 * its unix socket), MariaDB and a local storage directory, scraped with Directus's own
 * `Authorization: Metrics <token>`; passwords taken byte for byte, as Directus takes them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { parseExposition, parseMetadata, sampleValue } from '../../support/exposition.ts';
import { freePort, runProbex, startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { startPostgresPasswordServer } from '../helpers/fake-servers.ts';

const TOKEN = `directus-metrics-token-${process.pid}`;
/** The seed's five families: what Directus's GET /metrics shows for this setup. */
const FIVE = [
  ['directus_db_sqlite3_response_time_ms', 'histogram'],
  ['directus_db_sqlite3_connection_errors', 'counter'],
  ['directus_cache_redis_connection_errors', 'counter'],
  ['directus_redis_connection_errors', 'counter'],
  ['directus_storage_local_connection_errors', 'counter'],
] as const;

/** directusEnv keeps only what probex needs from the test's own environment, then adds the Directus variables. */
function directusEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const keep = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DB_|REDIS|CACHE_|STORAGE_|METRICS_|PROBEX_)/.test(k)),
  );
  return { ...keep, PROBEX_PORT: '0', ...vars };
}

async function scrape(probex: ProbexProcess, token?: string): Promise<Response> {
  return fetch(`${probex.url}/metrics`, token === undefined ? {} : { headers: { authorization: `Metrics ${token}` } });
}

/** allOutput is every log line and stderr byte a process wrote, for secret checks. */
function allOutput(probex: ProbexProcess): string {
  return probex.logs.map((l) => JSON.stringify(l)).join('\n');
}

/** redisUser creates a Redis ACL user with a password for this test (deleted after it). */
async function redisUser(t: TestContext): Promise<{ user: string; password: string }> {
  const user = `probex-directus-${process.pid}`;
  const password = `redis-secret-${process.pid}-${Date.now()}`;
  const admin = createClient({ url: REDIS_URL });
  admin.on('error', (err: unknown) => t.diagnostic(`admin client: ${String(err)}`));
  await admin.connect();
  t.after(async () => {
    try {
      await admin.sendCommand(['ACL', 'DELUSER', user]);
    } finally {
      admin.destroy();
    }
  });
  // What Directus's own user needs for its checks: SET and DEL of its keys (and the connection's setup).
  await admin.sendCommand([
    'ACL',
    'SETUSER',
    user,
    'on',
    `>${password}`,
    '+set',
    '+del',
    '+ping',
    '+client|setname',
    '+auth',
    '~*',
  ]);
  return { user, password };
}

test("the seed's Directus environment: GET /metrics with `Authorization: Metrics <token>` shows its five families", async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  const dir = mkdtempSync(join(tmpdir(), 'probex-directus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbFile = join(dir, 'data.db');
  const db = new Database(dbFile);
  db.exec('CREATE TABLE directus_settings (id INTEGER PRIMARY KEY)');
  db.close();
  const uploads = join(dir, 'uploads');
  mkdirSync(uploads); // Directus's uploads directory exists before probex checks it
  const { user, password } = await redisUser(t);
  const redis = new URL(REDIS_URL);

  const probex = await startProbex(
    undefined,
    directusEnv({
      DB_CLIENT: 'sqlite3',
      DB_FILENAME: dbFile,
      CACHE_ENABLED: 'true',
      CACHE_STORE: 'redis',
      REDIS_HOST: redis.hostname,
      REDIS_PORT: redis.port || '6379',
      REDIS_USERNAME: user,
      REDIS_PASSWORD: password,
      STORAGE_LOCATIONS: 'local',
      STORAGE_LOCAL_ROOT: uploads,
      METRICS_TOKENS: TOKEN,
      // Every 2 s (each check's timeout): several rounds within the test, and room for a loaded runner.
      METRICS_SCHEDULE: '*/2 * * * * *',
    }),
    ['--directus-env'],
  );
  t.after(() => probex.stop());

  // As Directus answers: 403 and its FORBIDDEN error, with or without a wrong token.
  for (const res of [await scrape(probex), await scrape(probex, 'not-the-token')]) {
    assert.equal(res.status, 403, 'no token, no metrics');
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(
      ((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code,
      'FORBIDDEN',
    );
  }
  const text = await waitFor(
    'every check to have run twice',
    async () => {
      const body = await (await scrape(probex, TOKEN)).text();
      const samples = parseExposition(body);
      return sampleValue(samples, 'directus_db_sqlite3_response_time_ms_count', {}) >= 2 ? body : undefined;
    },
    20_000,
  );
  const metadata = parseMetadata(text);
  for (const [family, type] of FIVE) assert.equal(metadata.get(family)?.type, type, `${family} is a ${type}`);
  const samples = parseExposition(text);
  for (const [family, type] of FIVE) {
    if (type === 'counter')
      assert.equal(
        sampleValue(samples, family, {}),
        0,
        `${family}: every check passed: ${JSON.stringify(probex.logs.filter((l) => l.level !== 30))}`,
      );
  }
  for (const target of ['database', 'redis', 'storage-local']) {
    assert.equal(
      sampleValue(samples, 'probex_probe_up', {
        target,
        kind: target === 'database' ? 'sqlite' : target === 'redis' ? 'redis' : 'storage',
      }),
      1,
      target,
    );
  }
  // The storage check cleans up after itself, and the SQLite file is only read.
  assert.deepEqual(
    readdirSync(uploads).filter((f) => !f.startsWith('directus-metric-')),
    [],
  );
  assert.ok(!allOutput(probex).includes(password), 'the Redis password never reaches a log line');

  // A reload (SIGHUP) rebuilds the same targets from the same environment.
  probex.child.kill('SIGHUP');
  await waitFor(
    'the reload',
    async () => (probex.logs.some((l) => l.msg === 'config reloaded') ? true : undefined),
    10_000,
  );
  const after = parseMetadata(await (await scrape(probex, TOKEN)).text());
  for (const [family] of FIVE) assert.ok(after.has(family), `${family} after the reload`);
});

test('DB_CLIENT=pg against the real PostgreSQL shows directus_db_pg_* and never logs DB_PASSWORD', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const pg = new URL(POSTGRES_URL);
  const password = `pg-secret-${process.pid}-${Date.now()}`; // trust auth takes any password
  const probex = await startProbex(
    undefined,
    directusEnv({
      DB_CLIENT: 'pg',
      DB_HOST: pg.hostname,
      DB_PORT: pg.port || '5432',
      DB_DATABASE: pg.pathname.slice(1),
      DB_USER: decodeURIComponent(pg.username),
      DB_PASSWORD: password,
      METRICS_SERVICES: 'database',
      METRICS_TOKENS: TOKEN,
      METRICS_SCHEDULE: '*/1 * * * * *',
      METRICS_NAME_PREFIX: 'cms_',
    }),
    ['--directus-env'],
  );
  t.after(() => probex.stop());
  const samples = await waitFor(
    'a successful database check',
    async () => {
      const s = parseExposition(await (await scrape(probex, TOKEN)).text());
      return sampleValue(s, 'cms_db_pg_response_time_ms_count', {}) >= 1 ? s : undefined;
    },
    20_000,
  );
  assert.equal(sampleValue(samples, 'cms_db_pg_connection_errors', {}), 0);
  assert.ok(!allOutput(probex).includes(password), 'the database password never reaches a log line');
});

test('an unsupported Directus setting stops probex at start-up with the variable named, and no secret', async () => {
  const secret = `never-print-${process.pid}`;
  const res = await runProbex(
    ['--directus-env'],
    directusEnv({
      DB_CLIENT: 'mssql',
      DB_PASSWORD: secret,
      STORAGE_LOCATIONS: 'local,files',
      STORAGE_FILES_DRIVER: 'ftp',
      REDIS: `redis://:${secret}@127.0.0.1:6379`,
      CACHE_ENABLED: 'true',
      CACHE_STORE: 'memcache',
    }),
  );
  assert.equal(res.code, 2);
  assert.match(res.stderr, /DB_CLIENT: mssql is not supported/);
  assert.match(res.stderr, /CACHE_STORE: "memcache" is not supported/);
  assert.match(res.stderr, /STORAGE_FILES_DRIVER: unknown driver "ftp"/);
  assert.ok(!`${res.stdout}${res.stderr}`.includes(secret));
});

test('--check-config with --directus-env lists what is not probed; --config and --directus-env together is an error', async () => {
  const port = await freePort();
  const env = directusEnv({
    DB_CLIENT: 'sqlite3',
    DB_FILENAME: '/nonexistent/data.db',
    STORAGE_LOCATIONS: 'local,s3',
    STORAGE_S3_DRIVER: 's3',
    PROBEX_PORT: String(port),
  });
  const checked = await runProbex(['--directus-env', '--check-config'], env);
  assert.equal(checked.code, 0, checked.stderr);
  assert.equal(
    checked.stdout,
    'the Directus environment: valid, 2 targets\n' +
      'note: storage: location "s3" (STORAGE_S3_DRIVER=s3) is not probed: probex probes the local driver only\n',
  );
  const both = await runProbex(['--directus-env', '--config', 'examples/probex.yaml'], env);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--directus-env builds the whole config from the environment/);
});

/** SPACED is a password with spaces at both ends (and inside): Directus passes it on as it is. */
const SPACED = `  pw ${process.pid} with spaces  `;

test('DB_CLIENT=mysql: a DB_PASSWORD with spaces at its ends logs in to the real MariaDB as it is', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const user = `hinputs_${process.pid}`;
  // Hosts the test connects from, never '%': an account for any host makes MariaDB answer every host
  // with "access denied" instead of ER_HOST_NOT_PRIVILEGED until its privileges are reloaded.
  const HOSTS = ['127.0.0.1', 'localhost'];
  const admin = await mysql.createConnection(MYSQL_URL);
  t.after(async () => {
    try {
      for (const host of HOSTS) await admin.query('DROP USER IF EXISTS ?@?', [user, host]);
    } finally {
      await admin.end();
    }
  });
  for (const host of HOSTS) {
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, host, SPACED]);
    await admin.query('GRANT SELECT ON test.* TO ?@?', [user, host]);
  }
  const db = new URL(MYSQL_URL);
  const probex = await startProbex(
    undefined,
    directusEnv({
      DB_CLIENT: 'mysql',
      DB_HOST: db.hostname,
      DB_PORT: db.port || '3306',
      DB_DATABASE: 'test',
      DB_USER: user,
      DB_PASSWORD: SPACED,
      METRICS_SERVICES: 'database',
      METRICS_TOKENS: TOKEN,
      METRICS_SCHEDULE: '*/1 * * * * *',
    }),
    ['--directus-env'],
  );
  t.after(() => probex.stop());
  const samples = await waitFor(
    'a database check',
    async () => {
      const s = parseExposition(await (await scrape(probex, TOKEN)).text());
      const checks =
        sampleValue(s, 'directus_db_mysql_response_time_ms_count', {}) +
        sampleValue(s, 'directus_db_mysql_connection_errors', {});
      return checks >= 2 ? s : undefined;
    },
    20_000,
  );
  assert.equal(sampleValue(samples, 'directus_db_mysql_connection_errors', {}), 0, 'no Access denied');
  assert.ok(!allOutput(probex).includes(SPACED.trim()), 'the password never reaches a log line');
});

test('DB_CLIENT=pg: DB_PASSWORD reaches the server byte for byte, spaces at its ends included', async (t) => {
  const server = await startPostgresPasswordServer();
  t.after(() => server.close());
  const probex = await startProbex(
    undefined,
    directusEnv({
      DB_CLIENT: 'pg',
      DB_HOST: '127.0.0.1',
      DB_PORT: String(server.port),
      DB_DATABASE: 'app',
      DB_USER: 'directus',
      DB_PASSWORD: SPACED,
      METRICS_SERVICES: 'database',
      METRICS_SCHEDULE: '*/1 * * * * *',
    }),
    ['--directus-env'],
  );
  t.after(() => probex.stop());
  await waitFor('a password to arrive', async () => (server.passwords.length > 0 ? true : undefined), 20_000);
  assert.equal(server.passwords[0], SPACED);
});

test('DB_CLIENT=pg with DB_HOST a unix socket directory connects through the socket', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const socketDir = '/run/postgresql';
  if (!existsSync(join(socketDir, '.s.PGSQL.5432'))) {
    const why = `no PostgreSQL socket in ${socketDir}`;
    if (process.env.CI === 'true') assert.fail(why);
    t.skip(why);
    return;
  }
  // A role of the test's own, so its sessions are told apart from everyone else's in pg_stat_activity.
  const role = `hinputs_sock_${process.pid}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  t.after(async () => {
    try {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.end();
    }
  });
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${SPACED}'`);
  const probex = await startProbex(
    undefined,
    directusEnv({
      DB_CLIENT: 'pg',
      DB_HOST: socketDir,
      DB_DATABASE: 'test',
      DB_USER: role,
      DB_PASSWORD: SPACED,
      METRICS_SERVICES: 'database',
      METRICS_TOKENS: TOKEN,
      METRICS_SCHEDULE: '*/1 * * * * *',
    }),
    ['--directus-env'],
  );
  const samples = await waitFor(
    'a successful database check',
    async () => {
      const s = parseExposition(await (await scrape(probex, TOKEN)).text());
      return sampleValue(s, 'directus_db_pg_response_time_ms_count', {}) >= 2 ? s : undefined;
    },
    20_000,
  );
  assert.equal(sampleValue(samples, 'directus_db_pg_connection_errors', {}), 0);
  // A unix-socket session has no client address; a TCP one would show 127.0.0.1.
  const { rows } = await admin.query<{ client_addr: string | null; application_name: string }>(
    'SELECT client_addr, application_name FROM pg_stat_activity WHERE usename = $1',
    [role],
  );
  assert.deepEqual(rows, [{ client_addr: null, application_name: 'probex:database' }]);
  await probex.stop();
  assert.ok(!allOutput(probex).includes(SPACED.trim()), 'the password never reaches a log line');
});
