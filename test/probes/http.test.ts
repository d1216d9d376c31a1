import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { httpProbe } from '../../src/probes/http.ts';
import type { HttpTarget, ProbeOutcome } from '../../src/probes/probe.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../helpers/services.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';

function target(url: string, extra: Partial<HttpTarget> = {}): HttpTarget {
  return { ...TARGET_DEFAULTS, name: 'http-test', kind: 'http', url, expectStatus: [], headers: {}, ...extra };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** serve starts a loopback server on port 0 and returns its base URL; it is closed after the test. */
async function serve(t: TestContext, handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('a 200 answer succeeds with status_code and body_bytes', async (t) => {
  const { url } = await serve(t, (_req, res) => res.end('hello world'));
  const prober = httpProbe.create(target(`${url}/healthz`));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), { ok: true, app: { status_code: 200, body_bytes: 11 } });
});

test('configured headers are sent', async (t) => {
  let seen: string | undefined;
  const { url } = await serve(t, (req, res) => {
    seen = req.headers.authorization;
    res.end();
  });
  const prober = httpProbe.create(target(url, { headers: { authorization: 'Bearer abc' } }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(1000))), 'ok');
  assert.equal(seen, 'Bearer abc');
});

test('keep-alive reuses connections across runs instead of opening one per run', async (t) => {
  let connections = 0;
  const { url, server } = await serve(t, (_req, res) => res.end('ok'));
  server.on('connection', () => connections++);
  const prober = httpProbe.create(target(url));
  t.after(() => prober.close());
  for (let i = 0; i < 10; i++) assert.equal(reasonOf(await prober.run(AbortSignal.timeout(1000))), 'ok');
  // undici returns a socket to its pool a tick after the body ends, so back-to-back runs may alternate
  // between two sockets; what matters is that the count does not grow with the runs.
  assert.ok(connections <= 2, `${connections} connections for 10 runs`);
});

test('a status outside the expected set fails with status', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.statusCode = 503;
    res.end('down');
  });
  const prober = httpProbe.create(target(url));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), { ok: false, reason: 'status', message: 'HTTP 503, expected 2xx' });
});

test('an explicitly expected non-2xx status succeeds, and a 200 then fails', async (t) => {
  const { url } = await serve(t, (req, res) => {
    res.statusCode = req.url === '/teapot' ? 418 : 200;
    res.end();
  });
  const teapot = httpProbe.create(target(`${url}/teapot`, { expectStatus: [418] }));
  const plain = httpProbe.create(target(`${url}/`, { expectStatus: [418] }));
  t.after(() => Promise.all([teapot.close(), plain.close()]));
  assert.equal(reasonOf(await teapot.run(AbortSignal.timeout(1000))), 'ok');
  assert.equal(reasonOf(await plain.run(AbortSignal.timeout(1000))), 'status');
});

test('a body that matches bodyMatch succeeds and one that does not fails with bad_reply', async (t) => {
  const { url } = await serve(t, (_req, res) => res.end('{"status":"ok","db":"up"}'));
  const good = httpProbe.create(target(url, { bodyMatch: '"db":"up"' }));
  const bad = httpProbe.create(target(url, { bodyMatch: '"db":"down"' }));
  t.after(() => Promise.all([good.close(), bad.close()]));
  assert.equal(reasonOf(await good.run(AbortSignal.timeout(1000))), 'ok');
  assert.equal(reasonOf(await bad.run(AbortSignal.timeout(1000))), 'bad_reply');
});

test('a closed port fails with refused', async (t) => {
  const prober = httpProbe.create(target(`http://127.0.0.1:${await closedPort()}/`));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(1000))), 'refused');
});

test('a server that never answers fails with timeout within the deadline', async (t) => {
  const silent = await startSilentServer();
  t.after(() => silent.close());
  const prober = httpProbe.create(target(`http://127.0.0.1:${silent.port}/`, { timeoutMs: 200 }));
  t.after(() => prober.close());
  const t0 = performance.now();
  const outcome = await prober.run(AbortSignal.timeout(200));
  const elapsed = performance.now() - t0;
  assert.equal(reasonOf(outcome), 'timeout');
  assert.ok(elapsed < 200 + DEADLINE_MARGIN_MS, `settled after ${elapsed} ms`);
});

test('a body that stalls after the headers fails with timeout within the deadline', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial'); // and never ends
  });
  const prober = httpProbe.create(target(url, { timeoutMs: 200 }));
  t.after(() => prober.close());
  const t0 = performance.now();
  const outcome = await prober.run(AbortSignal.timeout(200));
  assert.equal(reasonOf(outcome), 'timeout');
  assert.ok(performance.now() - t0 < 200 + DEADLINE_MARGIN_MS);
});

test('a slow server times out, and the prober succeeds again once it is fast', async (t) => {
  let delayMs = 500;
  const { url } = await serve(t, (_req, res) => {
    setTimeout(() => res.end('late'), delayMs).unref();
  });
  const prober = httpProbe.create(target(url, { timeoutMs: 150 }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(150))), 'timeout');
  delayMs = 0;
  // A generous deadline for the fast run, so a loaded machine cannot turn it into a timeout.
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(2000))), 'ok');
});
