/**
 * probex --directus-env beside a real Directus 12.4.1 (npm, Node 24), on the same environment: a
 * PostgreSQL, MariaDB or SQLite database of its own, the shared Redis as cache and a local storage
 * directory. Both are asked the same requests (support/directus.ts) and must answer alike: the families,
 * their order, empty lines, HELP and TYPE text, statuses, headers and error bodies.
 *
 * Not part of `npm test` (a Directus install and three bootstraps take minutes): `npm run test:directus`
 * installs Directus into a cache directory when absent and runs this file. UPDATE_GOLDEN=1 writes what
 * Directus answered to test/fixtures/directus/, which the default suite compares probex against.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test, type TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import {
  ask,
  assertSameAnswers,
  assertSameFamilies,
  DIRECTUS_VERSION,
  directusVariables,
  FIDELITY_CLIENTS,
  GOLDEN_ANSWERS_FILE,
  GOLDEN_DIR,
  goldenMetricsFile,
  installDirectus,
  shape,
  startDirectus,
  toolProblem,
  type Answer,
  type DirectusSetup,
  type FidelityClient,
  type RequestName,
  type RunningDirectus,
} from '../../support/directus.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL, requireService } from '../../support/services.ts';

const DATABASE = 'directus_fidelity';
/** REDIS_DB is the Redis database both use; the test deletes what it holds afterwards. */
const REDIS_DB = 11;
const TOKEN = `directus-fidelity-token-${process.pid}`;
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const FIVE_FAMILIES = (client: string): string[] => [
  `directus_db_${client}_response_time_ms`,
  `directus_db_${client}_connection_errors`,
  'directus_cache_redis_connection_errors',
  'directus_redis_connection_errors',
  'directus_storage_local_connection_errors',
];

before(() => {
  const problem = toolProblem();
  if (problem !== undefined) throw new Error(problem);
  const seconds = installDirectus((line) => console.log(`# ${line}`));
  if (seconds > 0) console.log(`# Directus ${DIRECTUS_VERSION} installed in ${seconds.toFixed(0)} s`);
});

const answersByClient = new Map<FidelityClient, Record<RequestName, Answer>>();

for (const client of FIDELITY_CLIENTS) {
  test(`Directus ${DIRECTUS_VERSION} and probex --directus-env answer alike with DB_CLIENT=${client}`, async (t) => {
    const started = performance.now();
    if (!(await requireService(t, 'redis', REDIS_URL))) return;
    const dir = mkdtempSync(join(tmpdir(), 'directus-fidelity-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const uploads = join(dir, 'uploads');
    mkdirSync(uploads);
    const login = await createDatabase(t, client, dir);
    if (login === undefined) return;
    const redisUrl = new URL(REDIS_URL);
    redisUrl.pathname = `/${REDIS_DB}`;
    const running: { directus?: RunningDirectus } = {};
    // Directus writes to Redis until it stops (its request counters on shutdown): stop it, then clear.
    t.after(async () => {
      await running.directus?.stop();
      await clearRedis(redisUrl.href);
    });
    const setup: DirectusSetup = { client, ...login, redisUrl: redisUrl.href, storageRoot: uploads, token: TOKEN };

    running.directus = await startDirectus(setup);
    const directusUrl = running.directus.url;
    // Directus registers its counters at its first health check (METRICS_SCHEDULE: every 5 s).
    await waitFor(
      "Directus's first health check",
      async () => {
        const body = await (
          await fetch(`${directusUrl}/metrics`, { headers: { authorization: `Metrics ${TOKEN}` } })
        ).text();
        return FIVE_FAMILIES(client).every((f) => body.includes(`# TYPE ${f} `)) ? true : undefined;
      },
      30_000,
    );
    const theirs = await ask(directusUrl, TOKEN);
    t.diagnostic(`Directus answered after ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const probex = await startProbex(undefined, { ...cleanEnv(), ...directusVariables(setup), PROBEX_PORT: '0' }, [
      '--directus-env',
    ]);
    t.after(() => probex.stop());
    await waitFor(
      "probex's first checks",
      async () => {
        const body = await (
          await fetch(`${probex.url}/metrics`, { headers: { authorization: `Metrics ${TOKEN}` } })
        ).text();
        return /_response_time_ms_count [1-9]/.test(body) ? true : undefined;
      },
      20_000,
    );
    const ours = await ask(probex.url, TOKEN);

    assert.deepEqual(
      [...theirs.prometheus.body.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]),
      FIVE_FAMILIES(client),
      "Directus's families, in its order",
    );
    assertSameFamilies(ours.prometheus.body, theirs.prometheus.body, assert.deepEqual);
    assertSameAnswers(ours, theirs, assert.deepEqual);
    answersByClient.set(client, theirs);

    if (UPDATE) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(goldenMetricsFile(client), theirs.prometheus.body);
    }
    // The committed golden is what this Directus writes.
    assert.equal(shape(readFileSync(goldenMetricsFile(client), 'utf8')), shape(theirs.prometheus.body));
    t.diagnostic(`DB_CLIENT=${client} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
}

test("Directus's answers do not depend on its database, and the golden answers are what it sent", () => {
  const [first, ...others] = FIDELITY_CLIENTS.map((c) => answersByClient.get(c));
  assert.ok(first !== undefined && others.every((a) => a !== undefined), 'every client ran');
  const statusAndHeaders = (answers: Record<RequestName, Answer>) =>
    Object.fromEntries(
      Object.entries(answers).map(([name, a]) => [
        name,
        { status: a.status, headers: a.headers, ...(a.status === 200 ? {} : { body: a.body }) },
      ]),
    );
  for (const other of others) assert.deepEqual(statusAndHeaders(other!), statusAndHeaders(first));
  const golden = { directus: DIRECTUS_VERSION, answers: statusAndHeaders(first) };
  if (UPDATE) writeFileSync(GOLDEN_ANSWERS_FILE, `${JSON.stringify(golden, null, 2)}\n`);
  assert.deepEqual(JSON.parse(readFileSync(GOLDEN_ANSWERS_FILE, 'utf8')), golden);
});

/** Login is the database Directus uses and how it logs in. */
type Login = Pick<DirectusSetup, 'database' | 'user' | 'password'>;

/**
 * createDatabase creates Directus's own database (dropped after the test), or names the SQLite file.
 * Directus needs a password for MariaDB, so there it gets a user of its own (dropped too).
 */
async function createDatabase(t: TestContext, client: FidelityClient, dir: string): Promise<Login | undefined> {
  if (client === 'sqlite3') return { database: join(dir, 'directus.db') };
  if (client === 'pg') {
    if (!(await requireService(t, 'postgres', POSTGRES_URL))) return undefined;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
    t.after(async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    });
    return { database: DATABASE };
  }
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return undefined;
  const password = `fidelity-${process.pid}-${Date.now()}`;
  const drop = [`DROP DATABASE IF EXISTS ${DATABASE}`, `DROP USER IF EXISTS '${DATABASE}'@'127.0.0.1'`];
  const admin = await mysql.createConnection(MYSQL_URL);
  try {
    for (const sql of [
      ...drop,
      `CREATE DATABASE ${DATABASE}`,
      `CREATE USER '${DATABASE}'@'127.0.0.1' IDENTIFIED BY '${password}'`,
      `GRANT ALL ON ${DATABASE}.* TO '${DATABASE}'@'127.0.0.1'`,
    ])
      await admin.query(sql);
  } finally {
    await admin.end();
  }
  t.after(async () => {
    const c = await mysql.createConnection(MYSQL_URL);
    try {
      for (const sql of drop) await c.query(sql);
    } finally {
      await c.end();
    }
  });
  return { database: DATABASE, user: DATABASE, password };
}

/** clearRedis deletes every key in the test's own Redis database. */
async function clearRedis(url: string): Promise<void> {
  const redis = createClient({ url });
  await redis.connect();
  try {
    for await (const keys of redis.scanIterator({ COUNT: 500 })) if (keys.length > 0) await redis.del(keys);
  } finally {
    redis.destroy();
  }
}

/** cleanEnv is the test's environment without Directus's or probex's variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DB_|REDIS|CACHE_|STORAGE_|METRICS_|PROBEX_)/.test(k)),
  );
}
