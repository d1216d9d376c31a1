/**
 * A probe past its deadline leaves no work on the server it watches: the real probex process, with a
 * PostgreSQL and a MariaDB target whose query sleeps 30 s under a 200 ms timeout, while the test samples
 * the servers' own views of what runs (pg_stat_activity, information_schema.processlist). At no time may
 * more sessions of the target exist than its concurrency, every round reports timeout, and once the target
 * is reloaded away or probex has exited (SIGTERM), nothing of it runs within 2 s.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { test, type TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { MYSQL_URL, POSTGRES_URL, requireService } from '../../support/services.ts';
import { startSilentServer } from '../helpers/silent-server.ts';

const CONCURRENCY = 2;
/** SAMPLE_MS is how long the test watches the server while probex probes it. */
const SAMPLE_MS = 5_000;
/** GONE_MS is how soon after a reload or an exit nothing of the target may be left on the server. */
const GONE_MS = 2_000;

/**
 * config: the targets on 4 probe threads, with 6 http targets on a server that never answers (busyPort),
 * which keep the workers busy in turn: a target whose rounds went to whichever worker is least busy would
 * have sessions in several workers at once.
 */
const config = (targets: string[], busyPort: number): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
threads: 4
targets:
${[
  ...targets,
  ...Array.from(
    { length: 6 },
    (_, i) => `{ name: busy-${i}, kind: http, url: "http://127.0.0.1:${busyPort}/", timeout: 400ms, interval: 500ms }`,
  ),
]
  .map((t) => `  - ${t}`)
  .join('\n')}
`;

/** Server is how a test counts the target's sessions on the real server (all of them, and those running its query). */
interface Server {
  count(): Promise<{ sessions: number; running: number }>;
  close(): Promise<void>;
}

async function postgres(t: TestContext, name: string): Promise<Server | undefined> {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return undefined;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  return {
    async count() {
      const { rows } = await admin.query<{ sessions: number; running: number }>(
        `SELECT count(*)::int AS sessions,
                count(*) FILTER (WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%')::int AS running
           FROM pg_stat_activity WHERE application_name = $1`,
        [`probex:${name}`],
      );
      return rows[0]!;
    },
    close: () => admin.end(),
  };
}

async function mariadb(t: TestContext, marker: string): Promise<Server | undefined> {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return undefined;
  const admin = await mysql.createConnection(MYSQL_URL);
  return {
    // A MySQL session has no application name: the probe's query carries a marker of this test.
    async count() {
      const [rows] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT count(*) AS running FROM information_schema.processlist WHERE info LIKE ? AND command = 'Query' AND id <> CONNECTION_ID()`,
        [`SELECT SLEEP(30) AS ${marker}%`],
      );
      const running = Number(rows[0]!.running);
      return { sessions: running, running };
    },
    close: () => admin.end(),
  };
}

/** timeouts is the target's timeout count as probex serves it. */
async function timeouts(probex: ProbexProcess, name: string): Promise<number> {
  const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
  return findSamples(samples, 'probex_probe_errors_total', { target: name, reason: 'timeout' }).reduce(
    (sum, s) => sum + s.value,
    0,
  );
}

/** watch samples the server for `ms` and returns the most sessions and running queries seen at once. */
async function watch(server: Server, ms: number): Promise<{ sessions: number; running: number; samples: number }> {
  const most = { sessions: 0, running: 0, samples: 0 };
  for (const end = Date.now() + ms; Date.now() < end;) {
    const now = await server.count();
    most.sessions = Math.max(most.sessions, now.sessions);
    most.running = Math.max(most.running, now.running);
    most.samples++;
    await new Promise((r) => setTimeout(r, 50));
  }
  return most;
}

/** gone resolves once the server shows nothing of the target, failing after GONE_MS. */
async function gone(server: Server, what: string): Promise<void> {
  await waitFor(
    `no session of the target ${what}`,
    async () => {
      const now = await server.count();
      return now.sessions === 0 && now.running === 0 ? true : undefined;
    },
    GONE_MS,
  );
}

/**
 * harmless runs the scenario for one kind: sample while probex probes, reload the target away and back,
 * then SIGTERM. `target` renders the target's YAML under a name.
 */
async function harmless(t: TestContext, server: Server, name: string, target: string): Promise<void> {
  const busy = await startSilentServer();
  t.after(() => busy.close());
  const probex = await startProbex(config([target], busy.port));
  t.after(async () => {
    await probex.stop();
    if (probex.configPath !== undefined) rmSync(dirname(probex.configPath), { recursive: true, force: true });
  });
  t.after(() => server.close());

  // Worker threads take a while to start on a loaded machine: watch from the first time the query runs.
  await waitFor('the probe query to run', async () => ((await server.count()).running > 0 ? true : undefined), 30_000);
  const most = await watch(server, SAMPLE_MS);
  t.diagnostic(`at most ${most.sessions} sessions and ${most.running} running queries in ${most.samples} samples`);
  assert.ok(most.running >= 1, 'the probe query was never seen running: the test watched nothing');
  assert.ok(
    most.sessions <= CONCURRENCY,
    `${most.sessions} sessions of the target at once; concurrency is ${CONCURRENCY}`,
  );
  assert.ok(
    most.running <= CONCURRENCY,
    `${most.running} probe queries running at once; concurrency is ${CONCURRENCY}`,
  );
  // Every round times out: at 2 runs per 500 ms over 5 s, well above 10 counted (a generous floor on a loaded box).
  assert.ok((await timeouts(probex, name)) >= 10, 'the target reports timeout');

  // A reload that removes the target ends its sessions, while probex keeps running.
  writeFileSync(probex.configPath!, config([], busy.port));
  const reloads = probex.logs.length;
  probex.child.kill('SIGHUP');
  await waitFor('the reload', async () =>
    probex.logs.slice(reloads).some((l) => l.msg === 'config reloaded') ? true : undefined,
  );
  await gone(server, 'after a reload removed it');

  // Back again, then SIGTERM: nothing of it outlives probex.
  writeFileSync(probex.configPath!, config([target], busy.port));
  const again = probex.logs.length;
  probex.child.kill('SIGHUP');
  await waitFor('the reload', async () =>
    probex.logs.slice(again).some((l) => l.msg === 'config reloaded') ? true : undefined,
  );
  await waitFor('the target to run again', async () => ((await server.count()).running > 0 ? true : undefined));
  probex.child.kill('SIGTERM');
  const exit = await probex.exited;
  assert.equal(exit.code, 0, JSON.stringify(exit));
  await gone(server, 'after probex exited');
}

test('postgres: a query past its deadline is cancelled on the server, sessions stay within concurrency, none outlives probex', async (t) => {
  const name = `harm-pg-${process.pid}`;
  const server = await postgres(t, name);
  if (server === undefined) return;
  const target = `{ name: ${name}, kind: postgres, url: "${POSTGRES_URL}", query: "SELECT pg_sleep(30)", timeout: 200ms, interval: 500ms, concurrency: ${CONCURRENCY} }`;
  await harmless(t, server, name, target);
});

test('mysql: a query past its deadline is killed on the server, queries stay within concurrency, none outlives probex', async (t) => {
  const name = `harm-my-${process.pid}`;
  const marker = `harm_my_${process.pid}`;
  const server = await mariadb(t, marker);
  if (server === undefined) return;
  const target = `{ name: ${name}, kind: mysql, url: "${MYSQL_URL}", query: "SELECT SLEEP(30) AS ${marker}", timeout: 200ms, interval: 500ms, concurrency: ${CONCURRENCY} }`;
  await harmless(t, server, name, target);
});
