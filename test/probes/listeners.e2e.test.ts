/**
 * Prober.run's contract: a run removes every listener it adds to its signal by the time it settles,
 * because its lane hands the same signal to the next run (and only checks for leftovers every
 * LISTENER_CHECK_RUNS runs). Checked for every kind, on what it probes for real, on success and failure.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/probes/http-config.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { createProber, loadProbes } from '../../src/probes/registry.ts';
import { MYSQL_URL, REDIS_URL, requireService, TARGET_DEFAULTS } from '../../support/services.ts';
import { closedPort } from '../helpers/silent-server.ts';
import { listenLoopback } from '../helpers/loopback-server.ts';

/** runsLeaveNoListener runs each target three times on one signal and checks nothing stays on it. */
async function runsLeaveNoListener(
  t: TestContext,
  targets: readonly ProbeTarget[],
  expect: readonly string[],
): Promise<void> {
  const signal = new AbortController().signal;
  await loadProbes(targets.map((t) => t.kind));
  for (const [i, target] of targets.entries()) {
    const prober = createProber(target);
    t.after(() => prober.close());
    for (let run = 0; run < 3; run++) {
      const outcome = await prober.run(signal);
      assert.equal(outcome.ok ? 'ok' : outcome.reason, expect[i], `${target.name} run ${run}`);
      assert.equal(getEventListeners(signal, 'abort').length, 0, `${target.name} run ${run} left a listener`);
    }
  }
}

const base = { ...TARGET_DEFAULTS, timeoutMs: 2000 };

test('http runs leave no listener: fetch gets a signal of its own', async (t) => {
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end('ok');
  });
  const url = `http://127.0.0.1:${await listenLoopback(t, server)}`;
  const http_ = (name: string, path: string, extra = {}): ProbeTarget => ({
    ...base,
    name,
    kind: 'http',
    url: `${url}${path}`,
    expectStatus: [],
    headers: {},
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    ...extra,
  });
  await runsLeaveNoListener(
    t,
    [
      http_('ok', '/'),
      http_('status', '/fail'),
      http_('body', '/', { bodyMatch: 'nope' }),
      {
        ...base,
        name: 'refused',
        kind: 'http',
        url: `http://127.0.0.1:${await closedPort()}/`,
        expectStatus: [],
        headers: {},
        maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      },
    ],
    ['ok', 'status', 'bad_reply', 'refused'],
  );
});

test('tcp, storage and synthetic runs leave no listener', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'probex-listeners-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await runsLeaveNoListener(
    t,
    [
      { ...base, name: 'tcp-refused', kind: 'tcp', host: '127.0.0.1', port: await closedPort() },
      { ...base, name: 'storage', kind: 'storage', path: dir, location: 'local' },
      { ...base, name: 'synthetic', kind: 'synthetic', distribution: { type: 'constant', valueMs: 1 }, errorRate: 0 },
    ],
    ['refused', 'ok', 'ok'],
  );
});

test('redis runs leave no listener', async (t) => {
  if (!(await requireService(t, 'redis', REDIS_URL))) return;
  await runsLeaveNoListener(
    t,
    [
      { ...base, name: `listeners-redis-${process.pid}`, kind: 'redis', url: REDIS_URL },
      {
        ...base,
        name: `listeners-redis-refused-${process.pid}`,
        kind: 'redis',
        url: `redis://127.0.0.1:${await closedPort()}`,
      },
    ],
    ['ok', 'refused'],
  );
});

test('mysql runs leave no listener', async (t) => {
  if (!(await requireService(t, 'mysql', MYSQL_URL))) return;
  await runsLeaveNoListener(
    t,
    [
      { ...base, name: `listeners-mysql-${process.pid}`, kind: 'mysql', url: MYSQL_URL, query: 'SELECT 1' },
      {
        ...base,
        name: `listeners-mysql-refused-${process.pid}`,
        kind: 'mysql',
        url: `mysql://root@127.0.0.1:${await closedPort()}/test`,
        query: 'SELECT 1',
      },
    ],
    ['ok', 'refused'],
  );
});
