/**
 * The JSON metrics API (DC/OS shape) through the real probex process and its uWS front end: every route
 * under both prefixes, every status it answers, each permission (probex's names and DC/OS's), the three
 * header forms, tokens from config, METRICS_TOKENS and a token file re-read on SIGHUP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { MYSQL_URL, requireService } from '../../support/services.ts';
import { startSilentServer, type SilentServer } from '../helpers/silent-server.ts';

const AGENT = 'agent-7';
const TOKENS = {
  metrics: 'tok-metrics-only',
  api: 'tok-api-only',
  superuser: 'tok-superuser',
  dcosOps: 'tok-dcos-ops-metrics',
  dcosAgent: 'tok-dcos-agent',
  dcosSuper: 'tok-dcos-superuser',
  env: 'tok-from-metrics-tokens-env',
  file: 'tok-from-token-file',
  fileNext: 'tok-from-token-file-after-hup',
} as const;

const METRICS = '/system/v1/metrics/v0';
const AGENT_PREFIX = `/system/v1/agent/${AGENT}/metrics/v0`;
const PREFIXES = [METRICS, AGENT_PREFIX] as const;

let silent: SilentServer;
let probex: ProbexProcess;
let tokenFile: string;

const config = (silentPort: number): string => `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
agentId: ${AGENT}
auth:
  tokenFile: TOKEN_FILE
  tokens:
    - { token: ${TOKENS.metrics}, permissions: [metrics] }
    - { token: ${TOKENS.api}, permissions: [api] }
    - { token: ${TOKENS.superuser}, permissions: [superuser] }
    - { token: ${TOKENS.dcosOps}, permissions: ["dcos:adminrouter:ops:system-metrics"] }
    - { token: ${TOKENS.dcosAgent}, permissions: ["dcos:adminrouter:system:agent"] }
    - { token: ${TOKENS.dcosSuper}, permissions: ["dcos:superuser"] }
targets:
  - { name: db, kind: mysql, url: "${MYSQL_URL}", query: "SELECT 42 AS value", interval: 100ms }
  - { name: synth, kind: synthetic, interval: 50ms, labels: { team: core }, distribution: { type: constant, valueMs: 2 } }
  # Its first probe waits a minute on a server that never answers: a known target with no data yet.
  - { name: pending, kind: http, url: "http://127.0.0.1:${silentPort}/", interval: 1h, timeout: 60s }
`;

before(async () => {
  silent = await startSilentServer();
  // The token file lives next to the config; startProbex writes the config, so patch its path in after.
  probex = await startProbex(config(silent.port).replace('TOKEN_FILE', '/dev/null'), {
    METRICS_TOKENS: ` ${TOKENS.env} ,`,
  });
  tokenFile = join(dirname(probex.configPath!), 'tokens');
  writeFileSync(tokenFile, `# token file: one token per line, then its permissions\n${TOKENS.file} api\n`);
  writeFileSync(probex.configPath!, config(silent.port).replace('TOKEN_FILE', tokenFile));
  probex.child.kill('SIGHUP');
  await waitFor(
    'the token file and the synthetic target to be live',
    async () => {
      const res = await get(`${METRICS}/containers/synth`, TOKENS.file);
      return res.status === 200 ? true : undefined;
    },
    20_000,
  );
});
after(async () => {
  await probex?.stop();
  await silent?.close();
});

/** get requests a path with `Authorization: Bearer <token>` (or the given header form) and Accept JSON. */
function get(path: string, token?: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return fetch(`${probex.url}${path}`, {
    method,
    headers: {
      accept: 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
  });
}

interface Datapoint {
  name: string;
  value: number;
  unit: string;
  timestamp: string;
  tags?: Record<string, string>;
}
interface Message {
  datapoints: Datapoint[];
  dimensions: Record<string, unknown>;
}

/** json GETs path with the superuser token, asserts 200 and application/json, and parses the body. */
async function json<T>(path: string): Promise<T> {
  const res = await get(path, TOKENS.superuser);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  assert.equal(res.headers.get('content-type'), 'application/json');
  return (await res.json()) as T;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function assertDatapoints(path: string, body: Message): void {
  assert.ok(Array.isArray(body.datapoints) && body.datapoints.length > 0, `${path}: datapoints`);
  for (const dp of body.datapoints) {
    assert.equal(typeof dp.name, 'string', `${path}: name`);
    assert.ok(Number.isFinite(dp.value), `${path}: ${dp.name} value ${dp.value}`);
    assert.ok(dp.unit.length > 0, `${path}: ${dp.name} has a unit`);
    assert.match(dp.timestamp, ISO, `${path}: ${dp.name} timestamp`);
  }
}

const byName = (body: Message): Map<string, Datapoint> => new Map(body.datapoints.map((d) => [d.name, d]));

test('node: host and probex process datapoints with units and ISO-8601 timestamps, under both prefixes', async () => {
  for (const prefix of PREFIXES) {
    const body = await json<Message>(`${prefix}/node`);
    assertDatapoints(`${prefix}/node`, body);
    const names = [...byName(body).keys()];
    for (const wanted of [
      'load.1min',
      'memory.total',
      'system.uptime',
      'process.cpu.user',
      'process.memory.resident',
    ]) {
      assert.ok(
        names.some((n) => n.startsWith(wanted)),
        `${prefix}/node has ${wanted}*: ${names.join(', ')}`,
      );
    }
    assert.equal(body.dimensions.agent_id, AGENT);
  }
});

test('ping answers a JSON health check under both prefixes (dcos-metrics /v0/ping)', async () => {
  for (const prefix of PREFIXES) {
    const body = await json<{ ok: boolean; timestamp: string }>(`${prefix}/ping`);
    assert.equal(body.ok, true);
    assert.match(body.timestamp, ISO);
  }
});

test('containers lists every configured target, probed or not', async () => {
  for (const prefix of PREFIXES)
    assert.deepEqual(await json<string[]>(`${prefix}/containers`), ['db', 'synth', 'pending']);
});

test('containers/{id}: probe count, sum, errors by reason, up and HDR quantiles of the target', async () => {
  const body = await json<Message>(`${AGENT_PREFIX}/containers/synth`);
  assertDatapoints('containers/synth', body);
  const dp = byName(body);
  assert.ok(dp.get('probe.count')!.value > 0);
  assert.equal(dp.get('probe.up')!.value, 1);
  // A constant 2 ms: every quantile and the max are 2 ms within HDR's 0.1%.
  for (const q of [
    'probe.latency.p50',
    'probe.latency.p90',
    'probe.latency.p99',
    'probe.latency.p999',
    'probe.latency.max',
  ]) {
    assert.ok(Math.abs(dp.get(q)!.value - 0.002) <= 0.002 * 0.01, `${q} = ${dp.get(q)!.value}`);
    assert.equal(dp.get(q)!.unit, 'seconds');
  }
  assert.ok(dp.get('probe.latency.sum')!.value > 0);
  const errors = body.datapoints.filter((d) => d.name === 'probe.errors');
  assert.ok(
    errors.length > 1 && errors.every((d) => d.value === 0 && typeof d.tags?.reason === 'string'),
    'errors by reason',
  );
  assert.deepEqual(body.dimensions, {
    container_id: 'synth',
    agent_id: AGENT,
    hostname: body.dimensions.hostname,
    labels: { team: 'core', kind: 'synthetic' },
  });
});

test('containers/{id}/app and app/{metric_id}: the query result of a real MariaDB target', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  // A first probe may fail (a cold connect on a busy box can outlast its 100 ms deadline): wait for a
  // successful one, which is what carries the query's result.
  const app = await waitFor('db app datapoints of a successful probe', async () => {
    const res = await get(`${METRICS}/containers/db/app`, TOKENS.api);
    const body = res.status === 200 ? ((await res.json()) as Message) : undefined;
    return body !== undefined && byName(body).has('value') ? body : undefined;
  });
  const dp = byName(app);
  assert.deepEqual([dp.get('rows')?.value, dp.get('value')?.value, dp.get('up')?.value], [1, 42, 1]);
  for (const prefix of PREFIXES) {
    const one = await json<Message>(`${prefix}/containers/db/app/value`);
    assert.deepEqual(
      one.datapoints.map((d) => [d.name, d.value]),
      [['value', 42]],
    );
    assert.equal(one.dimensions.container_id, 'db');
  }
});

test('a known target not probed yet answers 204; an unknown target or metric 404 with a JSON error body', async () => {
  const pending = await get(`${METRICS}/containers/pending`, TOKENS.api);
  assert.equal(pending.status, 204);
  assert.equal(await pending.text(), '');
  for (const path of [
    `${METRICS}/containers/nope`,
    `${AGENT_PREFIX}/containers/nope/app`,
    `${METRICS}/containers/synth/app/nope`,
    `${METRICS}/nope`,
    `${METRICS}/containers/synth/other`,
  ]) {
    const res = await get(path, TOKENS.api);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as { status: number; error: string; message: string };
    assert.deepEqual([body.status, body.error], [404, 'Not Found'], path);
  }
});

test('another agent id is 404, whoever asks', async () => {
  for (const token of [TOKENS.superuser, undefined]) {
    const res = await get('/system/v1/agent/someone-else/metrics/v0/node', token);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { message: string }).message, /unknown agent/);
  }
});

test('Accept must allow application/json: 406 otherwise, with a JSON error body', async () => {
  for (const accept of ['text/plain', 'application/json;q=0, text/html', 'image/*']) {
    const res = await get(`${METRICS}/node`, TOKENS.api, { accept });
    assert.equal(res.status, 406, accept);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(((await res.json()) as { status: number }).status, 406);
  }
  for (const accept of ['*/*', 'application/*', 'text/plain, application/json;q=0.1']) {
    assert.equal((await get(`${METRICS}/node`, TOKENS.api, { accept })).status, 200, accept);
  }
});

test('methods other than GET and HEAD are 405 with Allow; HEAD has the headers and no body', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const res = await get(`${METRICS}/node`, TOKENS.api, {}, method);
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  }
  const head = await get(`${METRICS}/containers/synth`, TOKENS.api, {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.ok(Number(head.headers.get('content-length')) > 0);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('no or an unknown token is 401 with a challenge, in every header form', async () => {
  const missing = await get(`${METRICS}/node`);
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get('www-authenticate') ?? '', /Bearer realm="probex"/);
  assert.equal(((await missing.json()) as { status: number }).status, 401);
  for (const authorization of [
    'Bearer not-a-token',
    'Metrics not-a-token',
    'token=not-a-token',
    `Basic ${TOKENS.api}`,
    TOKENS.api,
  ]) {
    assert.equal((await get(`${METRICS}/node`, undefined, { authorization })).status, 401, authorization);
  }
});

test('the Metrics, Bearer and token= header forms all carry a token', async () => {
  for (const authorization of [
    `Metrics ${TOKENS.api}`,
    `Bearer ${TOKENS.api}`,
    `token=${TOKENS.api}`,
    `bearer   ${TOKENS.api}  `,
  ]) {
    assert.equal((await get(`${METRICS}/node`, undefined, { authorization })).status, 200, authorization);
  }
});

test('each permission opens exactly its routes; a known token without it is 403', async () => {
  const routes = { metrics: '/metrics', ops: `${METRICS}/node`, agent: `${AGENT_PREFIX}/node` };
  const expected: Record<string, [number, number, number]> = {
    metrics: [200, 403, 403],
    api: [403, 200, 200],
    superuser: [200, 200, 200],
    dcosOps: [403, 200, 403],
    dcosAgent: [403, 403, 200],
    dcosSuper: [200, 200, 200],
    env: [200, 403, 403], // METRICS_TOKENS: Directus's variable, /metrics only
    file: [403, 200, 200], // `api` in the token file
  };
  for (const [who, statuses] of Object.entries(expected)) {
    const got = [];
    for (const path of Object.values(routes)) got.push((await get(path, TOKENS[who as keyof typeof TOKENS])).status);
    assert.deepEqual(got, statuses, `${who}: /metrics, ops route, agent route`);
  }
  const forbidden = await get(`${METRICS}/node`, TOKENS.metrics);
  assert.deepEqual((await forbidden.json()) as object, {
    status: 403,
    error: 'Forbidden',
    message: 'token lacks the permission for this route',
  });
});

test('the token file is re-read on SIGHUP: a new token works, a removed one is 401', async () => {
  writeFileSync(tokenFile, `${TOKENS.fileNext} superuser\n`);
  probex.child.kill('SIGHUP');
  await waitFor('the new token file to apply', async () =>
    (await get(`${METRICS}/node`, TOKENS.fileNext)).status === 200 ? true : undefined,
  );
  assert.equal((await get(`${METRICS}/node`, TOKENS.file)).status, 401);
  assert.equal((await get('/metrics', TOKENS.fileNext)).status, 200);
});

test('no token appears in the log', () => {
  const logged = JSON.stringify(probex.logs);
  for (const token of Object.values(TOKENS)) assert.ok(!logged.includes(token), `${token} was logged`);
});
