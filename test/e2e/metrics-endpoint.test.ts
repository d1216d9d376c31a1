/**
 * Process-level tests: the real probex process, the real uWS front end, curl-like requests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { findSamples, parseExposition, sampleValue } from '../../support/exposition.ts';
import {
  freePort,
  runProbex,
  startProbex,
  waitFor,
  writeConfig,
  type ProbexProcess,
} from '../../support/probex-process.ts';

const TOKEN = 'scrape-token-e2e-1';
const API_TOKEN = 'api-only-token-e2e';
const CONFIG = `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 200ms
auth:
  tokens:
    - { token: ${TOKEN}, permissions: [metrics] }
    - { token: ${API_TOKEN}, permissions: [api] }
targets:
  - { name: fast, kind: synthetic, interval: 50ms, distribution: { type: constant, valueMs: 3 } }
  - { name: odd.name, kind: synthetic, interval: 100ms, labels: { note: "quote \\" back \\\\ nl" } }
`;

let probex: ProbexProcess;
before(async () => {
  probex = await startProbex(CONFIG);
  // Ready once both synthetic targets have been probed and published (worker start-up takes a moment).
  await waitFor(
    'first observations',
    async () => {
      const res = await fetch(`${probex.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (res.status !== 200) return undefined;
      const samples = parseExposition(await res.text());
      return ['fast', 'odd.name'].every((target) => sampleValue(samples, 'probex_probe_up', { target }) === 1)
        ? true
        : undefined;
    },
    30_000,
  );
});
after(() => probex.stop());

const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> =>
  fetch(`${probex.url}${path}`, { method, headers });

test('/metrics without a token is 401 with a WWW-Authenticate challenge', async () => {
  const res = await get('/metrics');
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
  const wrong = await get('/metrics', { authorization: 'Bearer not-a-real-token' });
  assert.equal(wrong.status, 401);
});

test('a known token without the metrics permission gets 403', async () => {
  assert.equal((await get('/metrics', { authorization: `Bearer ${API_TOKEN}` })).status, 403);
});

test('Directus and Bearer headers both get Prometheus text 0.0.4 with real histograms', async () => {
  for (const authorization of [`Metrics ${TOKEN}`, `Bearer ${TOKEN}`]) {
    const res = await get('/metrics', { authorization });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(await res.text());
    const count = sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'fast' });
    assert.ok(count > 0, 'fast target has observations');
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_bucket', { target: 'fast', le: '+Inf' }), count);
    // 3 ms constant latency: nothing at or below 1 ms, everything at or below 10 ms.
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_bucket', { target: 'fast', le: '0.001' }), 0);
    assert.equal(sampleValue(samples, 'probex_probe_duration_seconds_bucket', { target: 'fast', le: '0.01' }), count);
    assert.equal(sampleValue(samples, 'probex_probe_up', { target: 'fast' }), 1);
  }
});

test('gzip is served precompressed when Accept-Encoding allows it', async () => {
  const res = await fetch(`${probex.url}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}`, 'accept-encoding': 'gzip' },
  });
  assert.equal(res.status, 200);
  // fetch decodes gzip itself; ask node for the raw bytes with a raw request to check the encoding.
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  const text = await res.text();
  assert.match(text, /^# HELP /);
  const raw = spawnSync('curl', [
    '-s',
    '-H',
    `Authorization: Bearer ${TOKEN}`,
    '-H',
    'Accept-Encoding: gzip',
    `${probex.url}/metrics`,
  ]);
  if (raw.status === 0) assert.match(gunzipSync(raw.stdout).toString(), /probex_probe_duration_seconds_bucket/);
});

test('OpenMetrics is served when Accept asks for it, ending in # EOF', async () => {
  const accept =
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const res = await get('/metrics', { authorization: `Bearer ${TOKEN}`, accept });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
  const text = await res.text();
  assert.ok(text.endsWith('# EOF\n'));
  assert.ok(findSamples(parseExposition(text), 'probex_probes_total', { target: 'fast' }).length === 1);
});

test('HEAD answers headers with the body length and no body', async () => {
  const res = await get('/metrics', { authorization: `Bearer ${TOKEN}` }, 'HEAD');
  assert.equal(res.status, 200);
  assert.ok(Number(res.headers.get('content-length')) > 100);
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

test('other methods get 405, unknown paths 404, health routes need no token', async () => {
  assert.equal((await get('/metrics', {}, 'POST')).status, 405);
  assert.equal((await get('/metrics', {}, 'DELETE')).status, 405);
  assert.equal((await get('/nope')).status, 404);
  assert.equal((await get('/metrics/')).status, 404);
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/readyz')).status, 200);
});

test('counters only grow between scrapes', async () => {
  const scrape = async (): Promise<number> =>
    sampleValue(
      parseExposition(await (await get('/metrics', { authorization: `Bearer ${TOKEN}` })).text()),
      'probex_probe_duration_seconds_count',
      { target: 'fast' },
    );
  const first = await scrape();
  // A counter that never grows times this out; one that shrank fails the assertion.
  const next = await waitFor('the count to change', async () => {
    const n = await scrape();
    return n === first ? undefined : n;
  });
  assert.ok(next > first, `${next} after ${first}`);
});

test(
  'promtool accepts the live exposition',
  {
    skip:
      spawnSync('promtool', ['--version']).error !== undefined && process.env.CI !== 'true'
        ? 'promtool not installed: apt-get install prometheus'
        : false,
  },
  async () => {
    const text = await (await get('/metrics', { authorization: `Bearer ${TOKEN}` })).text();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text });
    assert.equal(result.error, undefined, 'promtool must be installed in CI');
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  },
);

test('no token ever appears in the log', () => {
  const logText = JSON.stringify(probex.logs);
  assert.doesNotMatch(logText, new RegExp(TOKEN));
  assert.doesNotMatch(logText, new RegExp(API_TOKEN));
});

test('SIGTERM stops probex with exit 0 within 2 s, the background thread closing its pool', async () => {
  const other = await startProbex(CONFIG);
  await waitFor('probing', async () => ((await fetch(`${other.url}/readyz`)).status === 200 ? true : undefined));
  const t0 = Date.now();
  other.child.kill('SIGTERM');
  const { code } = await other.exited;
  const elapsed = Date.now() - t0;
  assert.equal(code, 0);
  assert.ok(elapsed < 2_000, `took ${elapsed} ms`);
  const messages = other.logs.map((l) => String(l.msg));
  assert.ok(messages.includes('bye'), messages.join(' | '));
  assert.ok(
    !messages.some((m) => /did not close the probe pool/.test(m)),
    'the background thread answered stop in time',
  );
});

test('the scheduler reports its pool and skipped rounds into the self-metrics', async () => {
  // threads: auto gives these few targets one probe thread; a round of `fast` that overran its interval
  // would be counted, not lost.
  const samples = await waitFor('pool stats from the scheduler', async () => {
    const s = parseExposition(await (await get('/metrics', { authorization: `Bearer ${TOKEN}` })).text());
    return sampleValue(s, 'probex_pool_threads') === 1 ? s : undefined;
  });
  const utilization = sampleValue(samples, 'probex_pool_utilization_ratio');
  assert.ok(utilization > 0 && utilization <= 1, `utilization ${utilization}`);
  assert.equal(sampleValue(samples, 'probex_pool_queue_size'), 0);
  assert.ok(Number.isFinite(sampleValue(samples, 'probex_probes_skipped_total')));
});

test('with no tokens it warns that the endpoints are open', async () => {
  const open = await startProbex('listen: { port: 0 }\ntargets:\n  - { name: s, kind: synthetic }\n');
  try {
    assert.ok(open.logs.some((l) => l.level === 40 && /no tokens configured/.test(String(l.msg))));
    await waitFor('readyz', async () => ((await fetch(`${open.url}/readyz`)).status === 200 ? true : undefined));
    assert.equal((await fetch(`${open.url}/metrics`)).status, 200);
  } finally {
    await open.stop();
  }
});

test('--check-config accepts a valid file and rejects a bad one with every path, exit 2', async () => {
  const ok = await runProbex([
    '--check-config',
    '--config',
    writeConfig('targets:\n  - { name: s, kind: synthetic }\n'),
  ]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /valid, 1 targets/);
  const bad = await runProbex([
    '--check-config',
    '--config',
    writeConfig('listen: { port: -5 }\ntargets:\n  - { name: s, kind: bogus }\n'),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /listen\.port/);
  assert.match(bad.stderr, /targets\[0\]\.kind/);
  const missing = await runProbex(['--config', '/nonexistent.yaml']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nonexistent\.yaml: cannot read/);
});

test('a port already in use fails start-up with a clear message and exit 1', async () => {
  const port = probex.port;
  const clash = await runProbex(['--config', writeConfig(`listen: { port: ${port} }\ntargets: []\n`)]);
  assert.equal(clash.code, 1);
  assert.match(clash.stdout, /cannot listen on 127\.0\.0\.1:\d+/);
});

test('start-up fails loudly, exit 1, when the native uWebSockets.js build is refused', async () => {
  // UWS_USE_FALLBACK=1 is the package's own switch to its pure-JS shim: probex must not serve from it.
  const res = await runProbex(['--config', writeConfig('listen: { port: 0 }\ntargets: []\n')], {
    UWS_USE_FALLBACK: '1',
  });
  assert.equal(res.code, 1);
  assert.match(res.stdout, /"level":60/);
  assert.match(res.stdout, /requires the native uWebSockets\.js build/);
});

test('the embedded default shows real numbers from storage, Redis, MariaDB, PostgreSQL and itself within seconds', async () => {
  const port = await freePort();
  const dflt = await startProbex(undefined, { PROBEX_PORT: String(port) });
  try {
    const samples = await waitFor(
      'all default targets up',
      async () => {
        const s = parseExposition(await (await fetch(`${dflt.url}/metrics`)).text());
        const up = ['storage-local', 'redis', 'mysql', 'postgres', 'probex-self'].map((t) =>
          sampleValue(s, 'probex_probe_up', { target: t }),
        );
        return up.every((v) => v === 1) ? s : undefined;
      },
      // Seconds on a quiet machine; the bound is for a loaded CI runner compiling the sources under tsx.
      30_000,
    );
    assert.ok(sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'mysql' }) >= 1);
    assert.ok(sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'postgres' }) >= 1);
  } finally {
    await dflt.stop();
  }
});
