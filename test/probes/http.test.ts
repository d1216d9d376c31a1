import assert from 'node:assert/strict';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { httpProbe, prefixMatchHolds } from '../../src/probes/http.ts';
import type { HttpTarget } from '../../src/probes/http.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/probes/http-config.ts';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import { openFds } from '../helpers/fake-servers.ts';
import { waitFor } from '../../support/probex-process.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../../support/services.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';
import { listenLoopback } from '../helpers/loopback-server.ts';

function target(url: string, extra: Partial<HttpTarget> = {}): HttpTarget {
  return {
    ...TARGET_DEFAULTS,
    name: 'http-test',
    kind: 'http',
    url,
    expectStatus: [],
    headers: {},
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    ...extra,
  };
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** serve starts a loopback server on port 0 and returns its base URL; it is closed after the test. */
async function serve(t: TestContext, handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  return { url: `http://127.0.0.1:${await listenLoopback(t, server)}`, server };
}

test('a 200 answer succeeds with status_code and body_bytes', async (t) => {
  const { url } = await serve(t, (_req, res) => res.end('hello world'));
  const prober = httpProbe.create(target(`${url}/healthz`));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), {
    ok: true,
    app: { status_code: 200, body_bytes: 11 },
  });
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
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'status',
    message: 'HTTP 503, expected 2xx',
  });
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

/** FILLER is one chunk of an endless body: the same bytes every time, so the server allocates nothing. */
const FILLER = Buffer.alloc(64 * 1024, 'x');

/**
 * serveEndless answers every request with 200 and a body that never ends (after `head`, when given),
 * written as fast as the client reads it. It records when the server sees each connection close.
 */
async function serveEndless(
  t: TestContext,
  head = '',
): Promise<{ url: string; open: () => number; accepted: () => number }> {
  let open = 0;
  let accepted = 0;
  const { url, server } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (head !== '') res.write(head);
    const pump = (): void => {
      while (!res.destroyed && res.write(FILLER));
    };
    res.on('drain', pump);
    pump();
  });
  server.on('connection', (socket) => {
    accepted++;
    open++;
    socket.on('close', () => open--);
  });
  return { url, open: () => open, accepted: () => accepted };
}

/** peakRssDuring samples the resident set size while fn runs and returns fn's result and the peak growth. */
async function peakRssDuring<T>(fn: () => Promise<T>): Promise<{ result: T; grownBytes: number }> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, grownBytes: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

test('an endless body without a match fails with bad_reply at maxBodyBytes, in bounded memory, and its connection is closed', async (t) => {
  const endless = await serveEndless(t);
  const prober = httpProbe.create(target(endless.url, { bodyMatch: 'never-there', timeoutMs: 5000 }));
  t.after(() => prober.close());
  const { result: outcome, grownBytes } = await peakRssDuring(() => prober.run(AbortSignal.timeout(5000)));
  assert.deepEqual(outcome, {
    ok: false,
    reason: 'bad_reply',
    message: `no match for /never-there/ in the first ${DEFAULT_MAX_BODY_BYTES} bytes of the body (maxBodyBytes)`,
  });
  // One MiB of body, held once as bytes and once as text, plus the V8 and undici overhead of the run.
  assert.ok(grownBytes < 64 * 1024 * 1024, `RSS grew by ${(grownBytes / 1048576).toFixed(1)} MiB`);
  await waitFor('the server to see the connection closed', async () => (endless.open() === 0 ? true : undefined));
});

test('a match early in an endless body succeeds, stops reading and closes the connection', async (t) => {
  const endless = await serveEndless(t, '{"status":"ok"}\n');
  const prober = httpProbe.create(target(endless.url, { bodyMatch: '"status":"ok"', timeoutMs: 5000 }));
  t.after(() => prober.close());
  const outcome = await prober.run(AbortSignal.timeout(5000));
  assert.ok(outcome.ok, JSON.stringify(outcome));
  assert.ok((outcome.app?.body_bytes ?? Infinity) < DEFAULT_MAX_BODY_BYTES, `read ${outcome.app?.body_bytes} bytes`);
  await waitFor('the server to see the connection closed', async () => (endless.open() === 0 ? true : undefined));
});

test('without bodyMatch an endless body is read up to maxBodyBytes and discarded: success, connection closed', async (t) => {
  const endless = await serveEndless(t);
  const prober = httpProbe.create(target(endless.url, { timeoutMs: 5000, maxBodyBytes: 256 * 1024 }));
  t.after(() => prober.close());
  const { result: outcome, grownBytes } = await peakRssDuring(() => prober.run(AbortSignal.timeout(5000)));
  assert.deepEqual(outcome, { ok: true, app: { status_code: 200, body_bytes: 256 * 1024 } });
  assert.ok(grownBytes < 64 * 1024 * 1024, `RSS grew by ${(grownBytes / 1048576).toFixed(1)} MiB`);
  await waitFor('the server to see the connection closed', async () => (endless.open() === 0 ? true : undefined));
});

test('maxBodyBytes is the cap: a body one byte over it without a match fails, one at it matches at its end', async (t) => {
  const body = `${'x'.repeat(1023)}!`;
  const { url } = await serve(t, (_req, res) => res.end(body));
  const at = httpProbe.create(target(url, { bodyMatch: '!', maxBodyBytes: 1024 }));
  const under = httpProbe.create(target(url, { bodyMatch: '!', maxBodyBytes: 1023 }));
  t.after(() => Promise.all([at.close(), under.close()]));
  assert.equal(reasonOf(await at.run(AbortSignal.timeout(1000))), 'ok');
  const outcome = await under.run(AbortSignal.timeout(1000));
  assert.deepEqual(outcome, {
    ok: false,
    reason: 'bad_reply',
    message: 'no match for /!/ in the first 1023 bytes of the body (maxBodyBytes)',
  });
});

test('a pattern that looks past its match ($, \\b, lookahead) is tried on the whole body only', async (t) => {
  assert.equal(prefixMatchHolds('"status":\\s*"ok"'), true);
  assert.equal(prefixMatchHolds('^ok'), true);
  for (const source of ['ok$', 'ok\\b', 'ok\\B', 'ok(?=!)', '^(?!.*error)'])
    assert.equal(prefixMatchHolds(source), false, source);
  // A body longer than the cap cannot answer such a pattern: `ok$` would match the cut, not the end.
  const { url } = await serve(t, (_req, res) => res.end(`status: ok${'.'.repeat(100)}`));
  const prober = httpProbe.create(target(url, { bodyMatch: 'ok$', maxBodyBytes: 10 }));
  t.after(() => prober.close());
  const outcome = await prober.run(AbortSignal.timeout(1000));
  assert.equal(reasonOf(outcome), 'bad_reply', JSON.stringify(outcome));
  const whole = httpProbe.create(target(url, { bodyMatch: '\\.$' }));
  t.after(() => whole.close());
  assert.equal(reasonOf(await whole.run(AbortSignal.timeout(1000))), 'ok');
});

test('credentials in the URL are sent as Basic authorization, and a configured Authorization header wins', async (t) => {
  const seen: Array<string | undefined> = [];
  const { url } = await serve(t, (req, res) => {
    seen.push(req.headers.authorization);
    res.end('ok');
  });
  const withUserinfo = url.replace('http://', 'http://us%40er:p%3Ass@');
  const basic = httpProbe.create(target(`${withUserinfo}/`));
  const header = httpProbe.create(target(`${withUserinfo}/`, { headers: { Authorization: 'Bearer configured' } }));
  t.after(() => Promise.all([basic.close(), header.close()]));
  assert.equal(reasonOf(await basic.run(AbortSignal.timeout(1000))), 'ok');
  assert.equal(reasonOf(await header.run(AbortSignal.timeout(1000))), 'ok');
  assert.deepEqual(seen, [`Basic ${Buffer.from('us@er:p:ss').toString('base64')}`, 'Bearer configured']);
});

test('a failure message never holds the URL password or a token query parameter', async (t) => {
  const port = await closedPort();
  const prober = httpProbe.create(target(`http://user:hunter2secret@127.0.0.1:${port}/x?token=abcsecret&db=0`));
  t.after(() => prober.close());
  const outcome = await prober.run(AbortSignal.timeout(1000));
  assert.equal(reasonOf(outcome), 'refused', JSON.stringify(outcome));
  assert.doesNotMatch(JSON.stringify(outcome), /hunter2secret|abcsecret/);
});

test('error answers on kept-open connections and unparseable answers leave no socket open', async (t) => {
  let open = 0;
  const { url, server } = await serve(t, (req, res) => {
    if (req.url === '/error') {
      // An error page that never ends, on a keep-alive connection.
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.write(FILLER);
      return;
    }
    // Not HTTP at all: the client must give the socket up, while the server keeps it.
    res.socket?.write('NOT HTTP\r\n\r\n');
  });
  server.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  const status = httpProbe.create(target(`${url}/error`));
  const garbage = httpProbe.create(target(`${url}/garbage`));
  t.after(() => Promise.all([status.close(), garbage.close()]));
  assert.equal(reasonOf(await status.run(AbortSignal.timeout(2000))), 'status'); // warm up
  assert.equal(reasonOf(await garbage.run(AbortSignal.timeout(2000))), 'bad_reply');
  const fdsBefore = openFds();
  for (let i = 0; i < 25; i++) {
    assert.equal(reasonOf(await status.run(AbortSignal.timeout(2000))), 'status');
    const outcome = await garbage.run(AbortSignal.timeout(2000));
    assert.equal(reasonOf(outcome), 'bad_reply', JSON.stringify(outcome));
  }
  await waitFor('the server to see every connection closed', async () => (open === 0 ? true : undefined));
  const grown = openFds() - fdsBefore;
  assert.ok(grown <= 2, `${grown} more open fds after 50 failed runs`);
});

test('config: maxBodyBytes defaults to 1 MiB, takes a positive integer up to 64 MiB', () => {
  const http = (extra: string): string =>
    `targets:\n  - { name: api, kind: http, url: "http://127.0.0.1:8080/"${extra} }\n`;
  const [byDefault] = loadConfig({ yaml: http('') }).config.targets;
  assert.equal(byDefault?.kind === 'http' && byDefault.maxBodyBytes, 1024 * 1024);
  const [set] = loadConfig({ yaml: http(', maxBodyBytes: 4096') }).config.targets;
  assert.equal(set?.kind === 'http' && set.maxBodyBytes, 4096);
  for (const bad of ['0', '-1', '1.5', '67108865', '"1MiB"']) {
    assert.throws(
      () => loadConfig({ yaml: http(`, maxBodyBytes: ${bad}`) }).config,
      (err: Error & { code?: string }) =>
        err.code === 'EXPORTER_CONFIG_INVALID' && /targets\[0\]\.maxBodyBytes/.test(err.message),
      bad,
    );
  }
});

test('a response without a body is an empty body to bodyMatch', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.statusCode = 204;
    res.end();
  });
  const empty = httpProbe.create(target(url, { bodyMatch: '^$' }));
  const something = httpProbe.create(target(url, { bodyMatch: 'ok' }));
  t.after(() => Promise.all([empty.close(), something.close()]));
  assert.equal(reasonOf(await empty.run(AbortSignal.timeout(1000))), 'ok');
  assert.deepEqual(await something.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'bad_reply',
    message: 'body (0 bytes) does not match /ok/',
  });
});

/** recording serves what `answer` says for each request, and records every request's path and headers. */
async function recording(
  t: TestContext,
  answer: (req: http.IncomingMessage, base: string) => { status: number; location?: string; body?: string },
): Promise<{ url: string; seen: Array<{ path: string; headers: http.IncomingHttpHeaders }> }> {
  const seen: Array<{ path: string; headers: http.IncomingHttpHeaders }> = [];
  let base = '';
  const { url } = await serve(t, (req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const { status, location, body } = answer(req, base);
    res.writeHead(status, location === undefined ? {} : { location });
    res.end(body ?? 'body');
  });
  base = url;
  return { url, seen };
}

test('a redirect is the answer by default: checked against expectStatus, never followed', async (t) => {
  const other = await recording(t, () => ({ status: 200 }));
  const moved = await recording(t, () => ({ status: 301, location: `${other.url}/elsewhere` }));
  const strict = httpProbe.create(target(`${moved.url}/`));
  const expecting = httpProbe.create(target(`${moved.url}/`, { expectStatus: [301] }));
  t.after(() => Promise.all([strict.close(), expecting.close()]));
  assert.deepEqual(await strict.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'status',
    message: 'HTTP 301, expected 2xx (redirects are not followed unless followRedirects is set)',
  });
  assert.deepEqual(await expecting.run(AbortSignal.timeout(1000)), {
    ok: true,
    app: { status_code: 301, body_bytes: 4 },
  });
  assert.equal(other.seen.length, 0, 'the other origin was never asked');
});

test('followRedirects follows on the same origin, with the configured headers', async (t) => {
  const site = await recording(t, (req) =>
    req.url === '/'
      ? { status: 302, location: '/next' }
      : req.url === '/next'
        ? { status: 307, location: '/final' }
        : { status: 200, body: 'ok' },
  );
  const prober = httpProbe.create(
    target(`${site.url}/`, { headers: { 'X-Api-Key': 'SECRET' }, followRedirects: { maxHops: 5, crossOrigin: false } }),
  );
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), { ok: true, app: { status_code: 200, body_bytes: 2 } });
  assert.deepEqual(
    site.seen.map((s) => [s.path, s.headers['x-api-key']]),
    [
      ['/', 'SECRET'],
      ['/next', 'SECRET'],
      ['/final', 'SECRET'],
    ],
  );
});

test('followRedirects stays on the target origin unless crossOrigin, and a cross-origin hop carries no configured header', async (t) => {
  const other = await recording(t, () => ({ status: 200, body: 'other' }));
  const moved = await recording(t, () => ({ status: 301, location: `${other.url}/there` }));
  const sameOnly = httpProbe.create(target(`${moved.url}/`, { followRedirects: { maxHops: 5, crossOrigin: false } }));
  t.after(() => sameOnly.close());
  assert.deepEqual(await sameOnly.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'status',
    message: `HTTP 301 to another origin (${other.url}), not followed: followRedirects.crossOrigin is false`,
  });
  assert.equal(other.seen.length, 0);

  const withUserinfo = moved.url.replace('http://', 'http://probe:url-secret@');
  const anywhere = httpProbe.create(
    target(`${withUserinfo}/`, {
      headers: { 'X-Api-Key': 'SECRET', Cookie: 'session=abc' },
      followRedirects: { maxHops: 5, crossOrigin: true },
    }),
  );
  t.after(() => anywhere.close());
  assert.deepEqual(await anywhere.run(AbortSignal.timeout(1000)), {
    ok: true,
    app: { status_code: 200, body_bytes: 5 },
  });
  assert.equal(moved.seen.at(-1)?.headers['x-api-key'], 'SECRET', 'the target itself gets its headers');
  assert.ok(moved.seen.at(-1)?.headers.authorization?.startsWith('Basic '));
  const hop = other.seen.at(-1)!;
  assert.equal(hop.path, '/there');
  for (const name of ['x-api-key', 'cookie', 'authorization']) assert.equal(hop.headers[name], undefined, name);
});

test('followRedirects stops after maxHops, and on a Location that is not http(s)', async (t) => {
  const loop = await recording(t, (req) => ({ status: 302, location: `/hop${Number(req.url?.slice(4) || 0) + 1}` }));
  const prober = httpProbe.create(target(`${loop.url}/hop0`, { followRedirects: { maxHops: 3, crossOrigin: false } }));
  t.after(() => prober.close());
  assert.deepEqual(await prober.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'status',
    message: 'HTTP 302 after 3 redirects, not followed: followRedirects.maxHops is 3',
  });
  assert.equal(loop.seen.length, 4, 'the target and 3 hops');
  const odd = await recording(t, () => ({ status: 301, location: 'ftp://example.invalid/file' }));
  const oddProber = httpProbe.create(target(`${odd.url}/`, { followRedirects: { maxHops: 3, crossOrigin: true } }));
  t.after(() => oddProber.close());
  assert.deepEqual(await oddProber.run(AbortSignal.timeout(1000)), {
    ok: false,
    reason: 'bad_reply',
    message: 'HTTP 301 to a ftp: URL, not followed',
  });
});
