import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { appDatapoints, mysqlProbe } from '../../src/probes/mysql.ts';
import type { MysqlTarget } from '../../src/probes/mysql.ts';
import type { Prober } from '../../src/probes/probe.ts';
import { DEADLINE_MARGIN_MS, MYSQL_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { openFds, startFakeServer, startMysqlErrorServer } from '../helpers/fake-servers.ts';
import { waitFor } from '../../support/probex-process.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';
import { reasonOf, run, valueOf } from '../helpers/probe-outcome.ts';

let targets = 0;

function target(url: string, query = 'SELECT 1', extra: Partial<MysqlTarget> = {}): MysqlTarget {
  return { ...TARGET_DEFAULTS, name: `mysql-test-${process.pid}-${++targets}`, kind: 'mysql', url, query, ...extra };
}

function create(t: TestContext, tgt: MysqlTarget): Prober {
  const prober = mysqlProbe.create(tgt);
  t.after(() => prober.close());
  return prober;
}

/** admin opens a separate connection to inspect and kill the probe's connections; closed after the test. */
async function admin(t: TestContext): Promise<Connection> {
  const conn = await mysql.createConnection(MYSQL_URL);
  t.after(() => conn.destroy()); // destroy() cannot fail, so later after-hooks (prober.close) always run
  return conn;
}

async function connectionExists(adminConn: Connection, id: number): Promise<boolean> {
  const [rows] = await adminConn.query({
    sql: 'SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?',
    values: [id],
    rowsAsArray: true,
  });
  return Number((rows as unknown[][])[0]?.[0]) > 0;
}

test('the default SELECT 1 succeeds with rows and value datapoints', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const prober = create(t, target(MYSQL_URL));
  assert.deepEqual(await run(prober), { ok: true, app: { rows: 1, value: 1 } });
});

test('one connection is kept open and reused across runs', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const prober = create(t, target(MYSQL_URL, 'SELECT CONNECTION_ID()'));
  const first = valueOf(await run(prober));
  for (let i = 0; i < 5; i++) assert.equal(valueOf(await run(prober)), first);
});

test('concurrent runs use up to `concurrency` connections and keep them', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  // The sleep keeps every connection busy, so four runs need four connections.
  const prober = create(t, target(MYSQL_URL, 'SELECT CONNECTION_ID() + 0 * SLEEP(0.05)', { concurrency: 4 }));
  const round = async (): Promise<number[]> =>
    (await Promise.all(Array.from({ length: 4 }, () => run(prober, 5000)))).map(valueOf).sort();
  const first = await round();
  assert.equal(new Set(first).size, 4);
  assert.deepEqual(await round(), first);
});

test('close() ends the connection on the server', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const adminConn = await admin(t);
  const prober = mysqlProbe.create(target(MYSQL_URL, 'SELECT CONNECTION_ID()'));
  const id = valueOf(await run(prober));
  assert.ok(await connectionExists(adminConn, id));
  await prober.close();
  await prober.close(); // twice is fine
  await waitFor(
    'the server to drop the connection',
    async () => ((await connectionExists(adminConn, id)) ? undefined : true),
    2000,
  );
});

test('a closed port fails with refused', async (t) => {
  const prober = create(t, target(`mysql://root@127.0.0.1:${await closedPort()}/test`));
  assert.equal(reasonOf(await run(prober)), 'refused');
});

test('a wrong password fails with auth', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const url = new URL(MYSQL_URL);
  url.password = 'wrong';
  const prober = create(t, target(url.toString()));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.equal(reasonOf(await run(prober)), 'auth');
});

test('a query error fails with other and keeps the prober usable', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const prober = create(t, target(MYSQL_URL, 'SELECT * FROM probex_no_such_table'));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'other');
  assert.match(outcome.ok ? '' : outcome.message, /ER_NO_SUCH_TABLE/);
  assert.equal(reasonOf(await run(prober)), 'other');
});

test('a server that accepts but never answers fails with timeout within the deadline, every run', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = create(t, target(`mysql://root@127.0.0.1:${silent.port}/test`, 'SELECT 1', { timeoutMs: 250 }));
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    const outcome = await prober.run(AbortSignal.timeout(250));
    const elapsed = performance.now() - t0;
    assert.equal(reasonOf(outcome), 'timeout');
    assert.ok(elapsed < 250 + DEADLINE_MARGIN_MS, `run ${i} settled after ${elapsed} ms`);
  }
});

test('a query slower than the deadline is killed on the server at the deadline, and its connection is reused', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  // The probe's query sleeps for as long as this table says, so the test can slow it down and back.
  // One hook drops the table and then closes the admin connection (after hooks run in order).
  const adminConn = await mysql.createConnection(MYSQL_URL);
  const table = `probex_probe_delay_${process.pid}`;
  t.after(async () => {
    try {
      await adminConn.query(`DROP TABLE IF EXISTS ${table}`);
    } finally {
      adminConn.destroy();
    }
  });
  await adminConn.query(`CREATE TABLE ${table} (delay_s DOUBLE NOT NULL)`);
  await adminConn.query(`INSERT INTO ${table} VALUES (0)`);
  const prober = create(
    t,
    target(MYSQL_URL, `SELECT CONNECTION_ID() + 0 * SLEEP((SELECT delay_s FROM ${table}))`, { timeoutMs: 250 }),
  );
  const before = valueOf(await run(prober));

  await adminConn.query(`UPDATE ${table} SET delay_s = 30`);
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    const outcome = await prober.run(AbortSignal.timeout(250));
    const elapsed = performance.now() - t0;
    assert.equal(reasonOf(outcome), 'timeout');
    assert.ok(elapsed < 250 + DEADLINE_MARGIN_MS, `run ${i} settled after ${elapsed} ms`);
    // The run settles once the server has killed the query: the same connection, idle.
    const [rows] = await adminConn.query({
      sql: 'SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?',
      values: [before],
      rowsAsArray: true,
    });
    assert.deepEqual(rows, [['Sleep']], `run ${i}: the same connection, its query killed`);
  }

  await adminConn.query(`UPDATE ${table} SET delay_s = 0`);
  assert.equal(valueOf(await run(prober)), before, 'the connection whose query was killed is reused');
});

test('a connection limits its statements a little above the timeout, as the server-side backstop', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const [[version]] = (await (await admin(t)).query({ sql: 'SELECT VERSION()', rowsAsArray: true })) as unknown as [
    [string],
  ];
  // MariaDB's limit is in seconds, MySQL's in ms.
  const query = /mariadb/i.test(version)
    ? 'SELECT @@session.max_statement_time * 1000'
    : 'SELECT @@session.max_execution_time';
  assert.equal(valueOf(await run(create(t, target(MYSQL_URL, query, { timeoutMs: 2000 })))), 2200);
  assert.equal(valueOf(await run(create(t, target(MYSQL_URL, query, { timeoutMs: 300 })))), 400);
});

test('close() kills a query that is running and ends its connection on the server', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const adminConn = await admin(t);
  const marker = `close_kill_${process.pid}`;
  const prober = mysqlProbe.create(target(MYSQL_URL, `SELECT SLEEP(30) AS ${marker}`, { timeoutMs: 60_000 }));
  const running = prober.run(AbortSignal.timeout(60_000));
  const count = async (): Promise<number> => {
    const [rows] = await adminConn.query({
      sql: 'SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()',
      values: [`SELECT SLEEP(30) AS ${marker}%`],
      rowsAsArray: true,
    });
    return Number((rows as unknown[][])[0]?.[0]);
  };
  await waitFor('the query to run', async () => ((await count()) === 1 ? true : undefined));
  const t0 = performance.now();
  await prober.close();
  assert.ok(performance.now() - t0 < 1000, 'close() is bounded');
  assert.equal(await count(), 0, 'the query was killed by the time close() resolved');
  // MariaDB fails the killed query (interrupted); MySQL's SLEEP() answers 1. Either way the run is over.
  const outcome = await running;
  t.diagnostic(JSON.stringify(outcome));
  assert.ok(outcome.ok || /interrupted/i.test(outcome.message), JSON.stringify(outcome));
});

test('a prober recovers after its connection is killed on the server', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const adminConn = await admin(t);
  const prober = create(t, target(MYSQL_URL, 'SELECT CONNECTION_ID()'));
  const before = valueOf(await run(prober));
  await adminConn.query(`KILL ${before}`);
  // The run right after the kill may still pick the dying connection (reset); the one after must succeed.
  let outcome = await run(prober);
  t.diagnostic(`first run after KILL: ${JSON.stringify(outcome)}`);
  assert.ok(['ok', 'reset'].includes(reasonOf(outcome)), JSON.stringify(outcome));
  if (!outcome.ok) outcome = await run(prober);
  assert.notEqual(valueOf(outcome), before);
});

test('appDatapoints reads rows, a single numeric cell and affected rows', () => {
  assert.deepEqual(appDatapoints([[1]]), { rows: 1, value: 1 });
  assert.deepEqual(appDatapoints([['12.50']]), { rows: 1, value: 12.5 });
  assert.deepEqual(appDatapoints([['abc']]), { rows: 1 });
  assert.deepEqual(appDatapoints([[1, 2]]), { rows: 1 });
  assert.deepEqual(appDatapoints([[1], [2], [3]]), { rows: 3 });
  assert.deepEqual(appDatapoints([]), { rows: 0 });
  assert.deepEqual(appDatapoints({ affectedRows: 4, insertId: 0 }), { affected_rows: 4 });
});

/**
 * startSourceProxy forwards each connection to the real MariaDB/MySQL from another loopback source address,
 * so the server sees this client coming from a host that no account names (the test server's accounts are
 * root@localhost and root@127.0.0.1). Closed after the test.
 */
async function startSourceProxy(t: TestContext, localAddress: string): Promise<number> {
  const upstream = new URL(MYSQL_URL);
  const server = await startFakeServer((client) => {
    const remote = net.connect({ host: upstream.hostname, port: Number(upstream.port || 3306), localAddress });
    remote.on('error', () => client.destroy());
    remote.on('close', () => client.destroy());
    client.on('close', () => remote.destroy());
    client.pipe(remote).pipe(client);
  });
  t.after(() => server.close());
  return server.port;
}

test('a host the server does not allow (ER_HOST_NOT_PRIVILEGED from the real server) fails with auth', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  const port = await startSourceProxy(t, '127.0.0.2');
  const prober = create(t, target(`mysql://root@127.0.0.1:${port}/test`));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.match(
    outcome.ok ? '' : outcome.message,
    /^ER_HOST_NOT_PRIVILEGED Host '127\.0\.0\.2' is not allowed to connect/,
  );
});

test('a blocked host (ER_HOST_IS_BLOCKED in place of the greeting) fails with auth', async (t) => {
  const server = await startMysqlErrorServer(
    1129,
    "Host '127.0.0.1' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'",
    true,
  );
  t.after(() => server.close());
  const prober = create(t, target(`mysql://root@127.0.0.1:${server.port}/test`));
  const outcome = await run(prober);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.match(outcome.ok ? '' : outcome.message, /^ER_HOST_IS_BLOCKED /);
});

test('an error greeting on a socket the server keeps open: every failed connect closes its socket', async (t) => {
  const server = await startMysqlErrorServer(1040, 'Too many connections');
  t.after(() => server.close());
  const prober = create(t, target(`mysql://root:secret@127.0.0.1:${server.port}/test`));
  assert.equal(reasonOf(await run(prober)), 'other'); // warm up: the first connect loads mysql2's code paths
  const fdsBefore = openFds();
  const runs = 50;
  for (let i = 0; i < runs; i++) {
    const outcome = await run(prober);
    assert.deepEqual(outcome, { ok: false, reason: 'other', message: 'ER_CON_COUNT_ERROR Too many connections' });
  }
  assert.equal(server.accepted(), runs + 1, 'each run tried a new connection');
  // The server keeps every socket open: only the client closing them brings its count to zero.
  await waitFor('the server to see every socket closed', async () => (server.open() === 0 ? true : undefined));
  const grown = openFds() - fdsBefore;
  assert.ok(grown <= 2, `${grown} more open fds after ${runs} failed connects`);
});
