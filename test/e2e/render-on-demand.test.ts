/**
 * Rendering on demand (src/render/plan.ts) in the real probex process, at SCHEDULER_THREAD_MIN_TARGETS
 * targets, where it starts: text is always there; a format, the JSON API, the status page or an HDR export
 * nobody asked for is not rendered, and the first request gets at once what stands in for it (text for
 * /metrics, 503 with Retry-After: 1 for the rest); the ones after the next publish get the real thing, and
 * an HDR export asked for is exported ahead of the others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCHEDULER_THREAD_MIN_TARGETS } from '../../src/process/scheduler-thread.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';

const OPENMETRICS = 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1';
const PROTOBUF =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3';

test('from 500 targets, what nobody asked for is rendered from the publish after its first request', async (t) => {
  const n = SCHEDULER_THREAD_MIN_TARGETS;
  const probex = await startProbex(
    `listen: { port: 0 }\npublishInterval: 200ms\nthreads: 1\ntargets:\n` +
      Array.from({ length: n }, (_, i) => `  - { name: t${i}, kind: synthetic, interval: 500ms }`).join('\n') +
      '\n',
  );
  t.after(() => probex.stop());
  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${probex.url}${path}`, { headers });
  await waitFor('the first snapshot', async () => ((await get('/metrics')).status === 200 ? true : undefined));

  // A format not rendered: the scrape gets text at once, then the format itself.
  for (const [accept, type] of [
    [OPENMETRICS, /^application\/openmetrics-text; version=1\.0\.0/],
    [PROTOBUF, /^application\/vnd\.google\.protobuf/],
  ] as const) {
    const first = await get('/metrics', { accept, 'accept-encoding': 'gzip' });
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/, 'text stands in for it');
    assert.match(await first.text(), /^probex_probe_up\{target="t0",kind="synthetic"\} [01]$/m);
    await waitFor(`${type} rendered`, async () => {
      const r = await get('/metrics', { accept });
      return type.test(r.headers.get('content-type')!) ? r : undefined;
    });
  }
  const om = await (await get('/metrics', { accept: OPENMETRICS })).text();
  assert.match(om, /# EOF\n$/);

  // The JSON API, the status page and an HDR export: 503 with Retry-After, then the body.
  for (const path of ['/system/v1/metrics/v0/node', '/', `/hdr/t${n - 1}?format=hgrm`]) {
    const first = await get(path);
    assert.equal(first.status, 503, path);
    assert.equal(first.headers.get('retry-after'), '1', path);
    await first.arrayBuffer();
    const ok = await waitFor(`${path} rendered`, async () => {
      const r = await get(path);
      return r.status === 200 ? r : (await r.arrayBuffer(), undefined);
    });
    assert.ok((await ok.arrayBuffer()).byteLength > 0, path);
  }
  // The export asked for went ahead of the rotation, which exports the others in config order: the
  // one before it in the config is not exported yet at that moment.
  assert.equal((await get(`/hdr/t${n - 2}?format=hgrm`)).status, 503, 'exported ahead of its turn');

  const api = await get('/system/v1/metrics/v0/node');
  assert.match(api.headers.get('content-type')!, /^application\/json/);
  assert.ok(Array.isArray(((await api.json()) as { datapoints?: unknown }).datapoints));

  // Text was there all along; its gzip too.
  const gz = await get('/metrics', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers.get('content-encoding'), 'gzip');
  assert.match(await gz.text(), /^probex_snapshot_generation \d+$/m, 'fetch gunzips it');
});
