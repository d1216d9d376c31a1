/**
 * `probex --directus-env` as a sidecar beside Directus: the real process, started with nothing but a
 * Directus container's variables, against the machine's real SQLite file, Redis, PostgreSQL and a local
 * storage directory, scraped with Directus's own `Authorization: Metrics <token>`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { createClient } from 'redis';
import { parseExposition, parseMetadata, sampleValue } from '../../support/exposition.ts';
import { freePort, runProbex, startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { POSTGRES_URL, REDIS_URL, requireService } from '../../support/services.ts';

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
      METRICS_SCHEDULE: '*/1 * * * * *', // every second, so the test sees several rounds
    }),
    ['--directus-env'],
  );
  t.after(() => probex.stop());

  assert.equal((await scrape(probex)).status, 401, 'no token, no metrics');
  assert.equal((await scrape(probex, 'not-the-token')).status, 401);
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
    if (type === 'counter') assert.equal(sampleValue(samples, family, {}), 0, `${family}: every check passed`);
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
    readdirSync(uploads).filter((f) => !f.startsWith('.probex-')),
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
