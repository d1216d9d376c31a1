import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.ts';
import { POSTGRES_APPLICATION_NAME_PREFIX, postgresProbe } from '../../src/probes/postgres.ts';
import type { PostgresTarget } from '../../src/probes/postgres.ts';
import type { Prober } from '../../src/probes/probe.ts';
import { waitFor } from '../../support/probex-process.ts';
import { DEADLINE_MARGIN_MS, POSTGRES_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';
import { reasonOf, run, valueOf } from '../helpers/probe-outcome.ts';

let targets = 0;

function target(url: string, query = 'SELECT 1', extra: Partial<PostgresTarget> = {}): PostgresTarget {
  return {
    ...TARGET_DEFAULTS,
    name: `postgres-test-${process.pid}-${++targets}`,
    kind: 'postgres',
    url,
    query,
    ...extra,
  };
}

function create(t: TestContext, tgt: PostgresTarget): Prober {
  const prober = postgresProbe.create(tgt);
  t.after(() => prober.close());
  return prober;
}

/** admin opens a separate client to inspect and end the probe's sessions; closed after the test. */
async function admin(t: TestContext): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  t.after(() => client.end());
  return client;
}

async function backendExists(adminClient: pg.Client, pid: number): Promise<boolean> {
  const { rows } = await adminClient.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]);
  return rows[0].n > 0;
}

/** urlWith returns POSTGRES_URL with some of its parts replaced. */
function urlWith(parts: { user?: string; password?: string; database?: string; port?: number }): string {
  const url = new URL(POSTGRES_URL);
  if (parts.user !== undefined) url.username = parts.user;
  if (parts.password !== undefined) url.password = parts.password;
  if (parts.database !== undefined) url.pathname = `/${parts.database}`;
  if (parts.port !== undefined) url.port = String(parts.port);
  return url.toString();
}

test('the default SELECT 1 succeeds with rows and value datapoints', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const prober = create(t, target(POSTGRES_URL));
  assert.deepEqual(await run(prober), { ok: true, app: { rows: 1, value: 1 } });
});

test('a configured query reports its rows, and a single numeric cell as value', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  assert.deepEqual(await run(create(t, target(POSTGRES_URL, 'SELECT count(*) FROM generate_series(1, 42)'))), {
    ok: true,
    app: { rows: 1, value: 42 },
  });
  assert.deepEqual(await run(create(t, target(POSTGRES_URL, 'SELECT g FROM generate_series(1, 3) g'))), {
    ok: true,
    app: { rows: 3 },
  });
});

test('one session is kept open and reused across runs, named after the target', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const tgt = target(POSTGRES_URL, 'SELECT pg_backend_pid()');
  const prober = create(t, tgt);
  const first = valueOf(await run(prober));
  for (let i = 0; i < 5; i++) assert.equal(valueOf(await run(prober)), first);
  const { rows } = await adminClient.query('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [first]);
  assert.equal(rows[0]?.application_name, `${POSTGRES_APPLICATION_NAME_PREFIX}${tgt.name}`);
});

test('concurrent runs use up to `concurrency` sessions and keep them', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  // The sleep keeps every session busy, so four runs need four sessions.
  const prober = create(t, target(POSTGRES_URL, 'SELECT pg_backend_pid() FROM pg_sleep(0.05)', { concurrency: 4 }));
  const round = async (): Promise<number[]> =>
    (await Promise.all(Array.from({ length: 4 }, () => run(prober, 5000)))).map(valueOf).sort();
  const first = await round();
  assert.equal(new Set(first).size, 4);
  assert.deepEqual(await round(), first);
});

test('close() ends the session on the server', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const prober = postgresProbe.create(target(POSTGRES_URL, 'SELECT pg_backend_pid()'));
  const pid = valueOf(await run(prober));
  assert.ok(await backendExists(adminClient, pid));
  await prober.close();
  await prober.close(); // twice is fine
  await waitFor(
    'the probe session to end',
    async () => ((await backendExists(adminClient, pid)) ? undefined : true),
    5000,
  );
});

test('a closed port fails with refused', async (t) => {
  const prober = create(t, target(urlWith({ port: await closedPort() })));
  assert.equal(reasonOf(await run(prober)), 'refused');
});

test('a host name that does not resolve fails with dns', async (t) => {
  const url = new URL(POSTGRES_URL);
  url.hostname = 'probex-no-such-host.invalid';
  const prober = create(t, target(url.toString()));
  assert.equal(reasonOf(await run(prober, 5000)), 'dns');
});

test('a database that does not exist fails with auth (3D000), every run', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const prober = create(t, target(urlWith({ database: `probex_no_such_db_${process.pid}` })));
  for (let i = 0; i < 2; i++) {
    const outcome = await run(prober);
    assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
    assert.match(outcome.ok ? '' : outcome.message, /3D000/);
  }
});

/**
 * The machine's server trusts every 127.0.0.1 connection, so a password is only checked for a role that
 * pg_hba.conf says must give one. passwordRole creates a role with a password and a unique name, puts a
 * scram-sha-256 line for that role alone at the top of pg_hba.conf and reloads; after the test it
 * removes the line, reloads and drops the role. Other roles keep their trust.
 */
async function passwordRole(t: TestContext): Promise<{ role: string; password: string } | undefined> {
  // Its own admin client: the cleanup below must run before that client closes.
  const adminClient = new pg.Client({ connectionString: POSTGRES_URL });
  await adminClient.connect();
  const role = `probex_pw_${process.pid}_${Date.now()}`;
  const password = `pw-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const { rows } = await adminClient.query('SHOW hba_file');
  const hbaFile = rows[0].hba_file as string;
  let original: string;
  try {
    original = readFileSync(hbaFile, 'utf8');
    accessSync(hbaFile, constants.W_OK);
  } catch (err) {
    const why = `cannot edit ${hbaFile} to require a password for a test role (${(err as NodeJS.ErrnoException).code})`;
    await adminClient.end();
    if (process.env.CI === 'true') assert.fail(why);
    t.skip(`${why}; run the tests as a user who may edit it`);
    return undefined;
  }
  const line = `host all ${role} 127.0.0.1/32 scram-sha-256 # probex test ${process.pid}\n`;
  // Written in place, so the file keeps its owner and mode; the server reads it only on the reloads below.
  const rewrite = (text: string): void => writeFileSync(hbaFile, text);
  const cleanup = async (): Promise<void> => {
    try {
      rewrite(
        readFileSync(hbaFile, 'utf8')
          .split('\n')
          .filter((l) => !l.includes(`# probex test ${process.pid}`))
          .join('\n'),
      );
      await adminClient.query('SELECT pg_reload_conf()');
      await adminClient.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await adminClient.end();
    }
  };
  t.after(cleanup);
  await adminClient.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  rewrite(line + original);
  await adminClient.query('SELECT pg_reload_conf()');
  // The postmaster reloads on its own time: wait until a wrong password is refused.
  await waitFor(
    'pg_hba.conf to require a password for the test role',
    async () => {
      const probe = new pg.Client({
        connectionString: urlWith({ user: role, password: 'not-the-password', database: 'postgres' }),
      });
      try {
        await probe.connect();
        await probe.end();
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code === '28P01' ? true : undefined;
      }
    },
    10_000,
  );
  return { role, password };
}

test('a wrong password fails with auth (28P01), and the right one succeeds', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const creds = await passwordRole(t);
  if (creds === undefined) return;
  const wrong = create(t, target(urlWith({ user: creds.role, password: 'wrong-password', database: 'postgres' })));
  for (let i = 0; i < 2; i++) {
    const outcome = await run(wrong);
    assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
    assert.match(outcome.ok ? '' : outcome.message, /28P01/);
    assert.doesNotMatch(outcome.ok ? '' : outcome.message, /wrong-password/);
  }
  const right = create(t, target(urlWith({ user: creds.role, password: creds.password, database: 'postgres' })));
  assert.deepEqual(await run(right), { ok: true, app: { rows: 1, value: 1 } });
});

test('a query error fails with other and keeps the session', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const prober = create(t, target(POSTGRES_URL, 'SELECT pg_backend_pid() FROM probex_no_such_table'));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'other');
  assert.match(outcome.ok ? '' : outcome.message, /42P01/);
  assert.equal(reasonOf(await run(prober)), 'other');
});

test('TLS to a server without TLS fails with tls', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const { rows } = await adminClient.query('SHOW ssl');
  if (rows[0].ssl !== 'off') return void t.skip('this server has TLS on; the test needs one without it');
  const prober = create(t, target(POSTGRES_URL, 'SELECT 1', { tls: { insecureSkipVerify: true } }));
  assert.equal(reasonOf(await run(prober)), 'tls');
});

test('a server that accepts but never answers fails with timeout within the deadline, and its sockets are closed', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = create(t, target(urlWith({ port: silent.port }), 'SELECT 1', { timeoutMs: 250 }));
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    const outcome = await prober.run(AbortSignal.timeout(250));
    const elapsed = performance.now() - t0;
    assert.equal(reasonOf(outcome), 'timeout');
    assert.ok(elapsed < 250 + DEADLINE_MARGIN_MS, `run ${i} settled after ${elapsed} ms`);
  }
  assert.equal(silent.connections(), 3, 'each run opens one connection');
  await waitFor('the probe to close its sockets', async () => (silent.open() === 0 ? true : undefined), 2000);
});

test('a reply that is not the PostgreSQL protocol fails with bad_reply', async (t) => {
  // A well-framed message of a type no PostgreSQL server sends ('x', length 4), in answer to the startup.
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.write(Buffer.from([0x78, 0, 0, 0, 4])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const prober = create(t, target(urlWith({ port: (server.address() as net.AddressInfo).port })));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'bad_reply', JSON.stringify(outcome));
});

test('a query slower than the deadline is cancelled on the server at the deadline, and its session is reused', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  // The probe's query sleeps for as long as this table says, so the test can slow it down and back.
  // One hook drops the table and then closes the admin client (after hooks run in order).
  const adminClient = new pg.Client({ connectionString: POSTGRES_URL });
  await adminClient.connect();
  const table = `probex_probe_delay_${process.pid}`;
  t.after(async () => {
    try {
      await adminClient.query(`DROP TABLE IF EXISTS ${table}`);
    } finally {
      await adminClient.end();
    }
  });
  await adminClient.query(`CREATE TABLE ${table} (delay_s float8 NOT NULL)`);
  await adminClient.query(`INSERT INTO ${table} VALUES (0)`);
  const prober = create(
    t,
    target(POSTGRES_URL, `SELECT pg_backend_pid() FROM pg_sleep((SELECT delay_s FROM ${table}))`, { timeoutMs: 250 }),
  );
  const before = valueOf(await run(prober));

  await adminClient.query(`UPDATE ${table} SET delay_s = 30`);
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    const outcome = await prober.run(AbortSignal.timeout(250));
    const elapsed = performance.now() - t0;
    assert.equal(reasonOf(outcome), 'timeout');
    assert.ok(elapsed < 250 + DEADLINE_MARGIN_MS, `run ${i} settled after ${elapsed} ms`);
    // The run settles once the server has cancelled the query: its backend is idle, not sleeping.
    const { rows } = await adminClient.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [before]);
    assert.deepEqual(rows, [{ state: 'idle' }], `run ${i}: the same backend, its query cancelled`);
  }

  await adminClient.query(`UPDATE ${table} SET delay_s = 0`);
  assert.equal(valueOf(await run(prober)), before, 'the session whose query was cancelled is reused');
});

test('a session sets statement_timeout a little above the timeout, as the server-side backstop', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const query = "SELECT (extract(epoch FROM current_setting('statement_timeout')::interval) * 1000)::int";
  assert.equal(valueOf(await run(create(t, target(POSTGRES_URL, query, { timeoutMs: 2000 })))), 2200);
  assert.equal(
    valueOf(await run(create(t, target(POSTGRES_URL, query, { timeoutMs: 300 })))),
    400,
    'at least 100 ms above',
  );
  // A startup parameter: the setting is the session's, the server's own is untouched.
  const { rows } = await (await admin(t)).query('SHOW statement_timeout');
  assert.equal(rows[0].statement_timeout, '0');
});

test('runs beyond the sessions open wait for one instead of opening another', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const tgt = target(POSTGRES_URL, 'SELECT pg_backend_pid() FROM pg_sleep(0.05)', { concurrency: 2 });
  const prober = create(t, tgt);
  const outcomes = await Promise.all(Array.from({ length: 6 }, () => run(prober)));
  const pids = new Set(outcomes.map(valueOf));
  assert.equal(pids.size, 2, `6 concurrent runs on ${pids.size} sessions`);
  const { rows } = await adminClient.query(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [`${POSTGRES_APPLICATION_NAME_PREFIX}${tgt.name}`],
  );
  assert.equal(rows[0].n, 2);
});

test('close() cancels a query that is running and ends its session on the server', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const tgt = target(POSTGRES_URL, 'SELECT pg_sleep(30)', { timeoutMs: 60_000 });
  const prober = postgresProbe.create(tgt);
  const running = prober.run(AbortSignal.timeout(60_000));
  const app = `${POSTGRES_APPLICATION_NAME_PREFIX}${tgt.name}`;
  const count = async (): Promise<number> =>
    (await adminClient.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [app]))
      .rows[0].n;
  await waitFor('the query to run', async () => ((await count()) === 1 ? true : undefined));
  const t0 = performance.now();
  await prober.close();
  assert.ok(performance.now() - t0 < 1000, 'close() is bounded');
  await waitFor('its session to end on the server', async () => ((await count()) === 0 ? true : undefined), 2000);
  assert.equal((await running).ok, false);
});

test('a prober recovers after its session is terminated on the server', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  const adminClient = await admin(t);
  const prober = create(t, target(POSTGRES_URL, 'SELECT pg_backend_pid()'));
  const before = valueOf(await run(prober));
  await adminClient.query('SELECT pg_terminate_backend($1)', [before]);
  // The run right after may still pick the dying session (reset); the one after must succeed.
  let outcome = await run(prober);
  t.diagnostic(`first run after pg_terminate_backend: ${JSON.stringify(outcome)}`);
  assert.ok(['ok', 'reset'].includes(reasonOf(outcome)), JSON.stringify(outcome));
  if (!outcome.ok) outcome = await run(prober);
  assert.notEqual(valueOf(outcome), before);
});

test("libpq's unix socket form (postgresql://user@/db?host=/run/postgresql) connects through the socket", async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  if (!existsSync('/run/postgresql/.s.PGSQL.5432')) {
    if (process.env.CI === 'true') assert.fail('no PostgreSQL socket in /run/postgresql');
    t.skip('no PostgreSQL socket in /run/postgresql');
    return;
  }
  const user = new URL(POSTGRES_URL).username;
  const tgt = target(`postgresql://${user}@/test?host=/run/postgresql`, 'SELECT inet_client_addr()');
  // The config accepts the form as written, and the probe connects with it.
  assert.equal(
    loadConfig({ yaml: `targets:\n  - { name: s, kind: postgres, url: "${tgt.url}" }\n` }).config.targets.length,
    1,
  );
  const prober = create(t, tgt);
  // A unix-socket session has no client address (NULL); over TCP it would be 127.0.0.1.
  assert.deepEqual(await run(prober), { ok: true, app: { rows: 1 } });
  const adminClient = await admin(t);
  const { rows } = await adminClient.query('SELECT client_addr FROM pg_stat_activity WHERE application_name = $1', [
    `${POSTGRES_APPLICATION_NAME_PREFIX}${tgt.name}`,
  ]);
  assert.deepEqual(rows, [{ client_addr: null }]);
});
