/**
 * Secrets in target URLs never leave the real probex process: targets whose URLs carry a password or a
 * token fail over and over (each failure is logged), and neither the process's whole stdout and stderr nor
 * anything it serves (/metrics in every format, the JSON API, the status page) ever holds one, while the
 * logs still name each failing target and its reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import { runProbex, startProbex, waitFor } from '../../support/probex-process.ts';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { closedPort } from '../helpers/silent-server.ts';

test('URL passwords and token parameters reach no log line, no metric and no API body', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL)) || !(await requireService(t, 'redis', REDIS_URL))) return;
  const secrets = {
    http: 'hunter2secret',
    token: 'abcsecret',
    mysql: `wrong-mysql-pw-${process.pid}`,
    redis: `redis-pw-${process.pid}`,
  };
  const mysqlUrl = new URL(MYSQL_URL);
  mysqlUrl.password = secrets.mysql;
  const redisUrl = new URL(REDIS_URL);
  redisUrl.password = secrets.redis;
  const port = await closedPort();
  const targets = {
    'api-with-credentials': 'refused',
    'db-wrong-password': 'auth',
    'cache-with-password': 'auth', // the test Redis has no password: AUTH is refused
  } as const;
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: api-with-credentials, kind: http, url: "http://user:${secrets.http}@127.0.0.1:${port}/x?token=${secrets.token}", interval: 200ms }
  - { name: db-wrong-password, kind: mysql, url: "${mysqlUrl.href}", interval: 200ms }
  - { name: cache-with-password, kind: redis, url: "${redisUrl.href}", interval: 200ms }
`;
  const probex = await startProbex(yaml);
  t.after(() => probex.stop());

  const bodies: string[] = [];
  const get = async (path: string, headers: Record<string, string> = {}): Promise<string> => {
    const res = await fetch(`${probex.url}${path}`, { headers });
    const body = await res.text();
    bodies.push(`${path} ${res.status} ${JSON.stringify([...res.headers])} ${body}`);
    return body;
  };
  // Every target has failed with its reason, more than once.
  await waitFor(
    'every target to fail with its reason',
    async () => {
      const samples = parseExposition(await get('/metrics'));
      return Object.entries(targets).every(
        ([target, reason]) =>
          (findSamples(samples, 'probex_probe_errors_total', { target, reason })[0]?.value ?? 0) >= 3,
      )
        ? true
        : undefined;
    },
    20_000,
  );
  await get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
  await get('/metrics', { 'accept-encoding': 'gzip' }); // fetch decodes it
  await get('/system/v1/metrics/v0/node');
  await get('/system/v1/metrics/v0/containers');
  for (const target of Object.keys(targets)) {
    await get(`/system/v1/metrics/v0/containers/${target}`);
    await get(`/system/v1/metrics/v0/containers/${target}/app`);
  }
  await get('/');
  // The logs name each failing target (its first failure may be a slow first connect's timeout, and
  // later ones are rate-limited; the metrics above have every reason).
  for (const target of Object.keys(targets)) {
    assert.ok(
      probex.logs.some((l) => l.target === target && String(l.msg).startsWith('probe failed')),
      `no failure logged for ${target}`,
    );
  }
  const check = await runProbex(['--check-config', '--config', probex.configPath!]);
  assert.equal(check.code, 0, check.stderr);
  await probex.stop();

  const { stdout, stderr } = probex.output();
  const everything = { stdout, stderr, bodies: bodies.join('\n'), checkConfig: check.stdout + check.stderr };
  assert.ok(stdout.includes('"target":"api-with-credentials"'));
  for (const [where, text] of Object.entries(everything)) {
    for (const [which, secret] of Object.entries(secrets)) {
      assert.ok(!text.includes(secret), `the ${which} secret appears in ${where}`);
    }
  }
});

test('a PostgreSQL role name that is a token reaches no log line, no metric and no page, whatever the kind', async (t) => {
  if (!(await requireService(t, 'postgres', POSTGRES_URL))) return;
  // No password: the user name is the secret (an API token as user), which PostgreSQL quotes back in
  // `role "..." does not exist`; a role this long also ends where a 240-character message would be cut.
  const token = `pgtok${process.pid}x${'Q7'.repeat(24)}`;
  const url = new URL(POSTGRES_URL);
  url.username = token;
  url.password = '';
  const probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: pg-token-role, kind: postgres, url: "${url.href}", interval: 200ms }
`);
  t.after(() => probex.stop());
  let page = '';
  await waitFor(
    'the postgres target to fail with auth',
    async () => {
      const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
      const failed = findSamples(samples, 'probex_probe_errors_total', { target: 'pg-token-role', reason: 'auth' });
      if ((failed[0]?.value ?? 0) < 2) return undefined;
      // The status page is rendered less often than /metrics: wait until it shows the last error.
      page = await (await fetch(`${probex.url}/`)).text();
      return page.includes('does not exist') ? true : undefined;
    },
    20_000,
  );
  const api = await (await fetch(`${probex.url}/system/v1/metrics/v0/containers/pg-token-role`)).text();
  await probex.stop();
  const logged = probex.logs.find((l) => l.target === 'pg-token-role' && String(l.msg).startsWith('probe failed'));
  assert.ok(logged !== undefined, 'the failure is logged');
  assert.match(
    JSON.stringify(logged),
    /role \\"\*\*\*\\" does not exist/,
    'the message says what failed, with the role scrubbed',
  );
  const { stdout, stderr } = probex.output();
  for (const [where, text] of Object.entries({ stdout, stderr, page, api })) {
    assert.ok(!text.includes(token.slice(0, 12)), `the role name appears in ${where}`);
  }
});
