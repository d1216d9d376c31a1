/**
 * GET / and GET /hdr/{target} from a real probex probing the local Redis and MariaDB (one MariaDB target
 * with a password in its URL that the server refuses), a synthetic target and one that never answers.
 * The status page: auth (any of metrics, api, superuser), CSP and the other headers, gzip, HEAD, no secret.
 * The HDR exports: auth (api), 404 for unknown targets, the base64 decoded by HdrHistogram's Java
 * implementation with the JSON API's count, the .hgrm text, a valid empty histogram before any success.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { STATUS_PAGE_CSP } from '../../src/render/status-page.ts';
import { reference, requireJavaHdr } from '../helpers/java-hdr.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { MYSQL_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { startSilentServer, type SilentServer } from '../helpers/silent-server.ts';

const SECRET = `S3cretPw${process.pid}x`;
const TOKENS = {
  metrics: 'tok-status-metrics-0123456789',
  api: 'tok-status-api-0123456789',
  superuser: 'tok-status-super-0123456789',
};
const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

let silent: SilentServer;
let probex: ProbexProcess;

const config = (silentPort: number): string => {
  const secretUrl = new URL(MYSQL_URL);
  secretUrl.password = SECRET;
  return `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
auth:
  tokens:
    - { token: ${TOKENS.metrics}, permissions: [metrics] }
    - { token: ${TOKENS.api}, permissions: [api] }
    - { token: ${TOKENS.superuser}, permissions: [superuser] }
targets:
  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 100ms }
  - { name: db, kind: mysql, url: "${MYSQL_URL}", interval: 100ms }
  - { name: secretdb, kind: mysql, url: "${secretUrl.href}", interval: 200ms }
  - { name: synth, kind: synthetic, interval: 50ms, distribution: { type: lognormal, medianMs: 2, sigma: 0.5 } }
  - { name: const.1ms, kind: synthetic, interval: 100ms, distribution: { type: constant, valueMs: 1 } }
  - { name: pending, kind: http, url: "http://127.0.0.1:${silentPort}/", interval: 1h, timeout: 60s }
`;
};

before(async () => {
  silent = await startSilentServer();
  probex = await startProbex(config(silent.port));
});

after(async () => {
  await probex?.stop();
  await silent?.close();
});

/** jsonCount reads a target's successful-probe count from the JSON API. */
async function jsonCount(target: string): Promise<number> {
  const res = await fetch(`${probex.url}/system/v1/metrics/v0/containers/${encodeURIComponent(target)}`, {
    headers: auth(TOKENS.api),
  });
  const body = (await res.json()) as { datapoints: Array<{ name: string; value: number }> };
  return body.datapoints.find((d) => d.name === 'probe.latency.count')!.value;
}

describe('GET / (status page)', () => {
  test('answers any token with metrics, api or superuser, and 401 without one', async () => {
    const page = await waitFor('the status page', async () => {
      const res = await fetch(`${probex.url}/`, { headers: auth(TOKENS.metrics) });
      return res.status === 200 ? res : undefined;
    });
    assert.match(await page.text(), /<title>probex · 6 targets/);
    for (const token of [TOKENS.api, TOKENS.superuser]) {
      assert.equal((await fetch(`${probex.url}/`, { headers: auth(token) })).status, 200);
    }
    const none = await fetch(`${probex.url}/`);
    assert.equal(none.status, 401);
    assert.ok(none.headers.get('www-authenticate'));
    assert.equal((await fetch(`${probex.url}/`, { headers: auth('tok-unknown-0123456789') })).status, 401);
  });

  test('is sent with the CSP, nosniff and no-store, gzip when accepted, and HEAD has no body', async () => {
    const plain = await fetch(`${probex.url}/`, {
      headers: { ...auth(TOKENS.metrics), 'accept-encoding': 'identity' },
    });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(plain.headers.get('content-security-policy'), STATUS_PAGE_CSP);
    assert.equal(plain.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(plain.headers.get('cache-control'), 'no-store');
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.match(await plain.text(), /^<!doctype html>/);

    // node's fetch would decompress silently: ask for the raw bytes with node:http semantics instead.
    const { request } = await import('node:http');
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(`${probex.url}/`, { headers: { ...auth(TOKENS.metrics), 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(raw.headers['content-encoding'], 'gzip');
    assert.equal(raw.headers['content-security-policy'], STATUS_PAGE_CSP);
    assert.match(gunzipSync(raw.body).toString('utf8'), /^<!doctype html>[\s\S]*<\/html>\n$/);

    const head = await fetch(`${probex.url}/`, { method: 'HEAD', headers: auth(TOKENS.metrics) });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-security-policy'), STATUS_PAGE_CSP);
    assert.ok(Number(head.headers.get('content-length')) > 1000);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  test("shows each target's row, and the refused login's error without the password", async (t) => {
    if (!(await requireService(t, 'mysql', MYSQL_URL)) || !(await requireService(t, 'redis', REDIS_URL))) return;
    const html = await waitFor(
      'rows with latencies and the auth error',
      async () => {
        const text = await (await fetch(`${probex.url}/`, { headers: auth(TOKENS.metrics) })).text();
        const up = (name: string): boolean => new RegExp(`id="row-${name}"(?:(?!</tr>)[^])*badge up`).test(text);
        const ready = up('redis') && up('db') && /Last error [^<]*\(auth\)/.test(text);
        return ready ? text : undefined;
      },
      20_000,
    );
    for (const name of ['redis', 'db', 'secretdb', 'synth', 'const.1ms', 'pending']) {
      assert.ok(html.includes(`id="row-${name}"`), `a row for ${name}`);
    }
    assert.match(html, /Access denied for user/, 'the refused login shows its reason');
    assert.ok(!html.includes(SECRET), 'the password in the URL is not on the page');
    assert.ok(!html.includes(encodeURIComponent(SECRET)));
    assert.match(html, /<svg viewBox/);
  });
});

describe('GET /hdr/{target}', () => {
  test('needs the api permission: a metrics token is forbidden, no token unauthorized', async () => {
    assert.equal((await fetch(`${probex.url}/hdr/synth`)).status, 401);
    assert.equal((await fetch(`${probex.url}/hdr/synth`, { headers: auth(TOKENS.metrics) })).status, 403);
    const ok = await waitFor('an export', async () => {
      const res = await fetch(`${probex.url}/hdr/synth`, { headers: auth(TOKENS.api) });
      return res.status === 200 ? res : undefined;
    });
    assert.equal(ok.headers.get('content-type'), 'text/plain; charset=us-ascii');
    assert.match(await ok.text(), /^HISTF[A-Za-z0-9+/=]+$/);
  });

  test('unknown targets are 404, a bad format 400', async () => {
    for (const path of ['/hdr/nope', '/hdr/', '/hdr/synth/extra', '/hdr/%E0%A4%A']) {
      assert.equal((await fetch(`${probex.url}${path}`, { headers: auth(TOKENS.api) })).status, 404, path);
    }
    assert.equal((await fetch(`${probex.url}/hdr/synth?format=png`, { headers: auth(TOKENS.api) })).status, 400);
  });

  test("HdrHistogram (Java) decodes each export with the JSON API's count", async (t) => {
    if (!requireJavaHdr(t)) return;
    if (!(await requireService(t, 'mysql', MYSQL_URL)) || !(await requireService(t, 'redis', REDIS_URL))) return;
    for (const target of ['redis', 'db', 'synth', 'const.1ms']) {
      // The export and the JSON body come from the same publish once both are read between two publishes.
      const { base64, count } = await waitFor(
        `${target}: export and JSON count agree`,
        async () => {
          const before = await jsonCount(target);
          const res = await fetch(`${probex.url}/hdr/${encodeURIComponent(target)}`, { headers: auth(TOKENS.api) });
          const base64 = await res.text();
          const after = await jsonCount(target);
          if (res.status !== 200 || before === 0 || before !== after) return undefined;
          const decoded = await reference('decode', [], base64);
          const total = Number(/^total (\d+)/.exec(decoded)?.[1]);
          return total === before ? { base64, count: total } : undefined;
        },
        30_000,
      );
      assert.ok(count > 0 && base64.startsWith('HISTF'), target);
    }
  });

  test('?format=hgrm is the percentile distribution with the Java footer', async () => {
    const text = await waitFor('an hgrm with data', async () => {
      const res = await fetch(`${probex.url}/hdr/synth?format=hgrm`, { headers: auth(TOKENS.api) });
      const body = await res.text();
      return res.status === 200 && !/Total count {4}= {12}0\]/.test(body) ? body : undefined;
    });
    assert.match(text, /^ {7}Value {5}Percentile TotalCount 1\/\(1-Percentile\)\n\n/);
    assert.match(
      text,
      /#\[Mean {4}= +[\d.]+, StdDeviation {3}= +[\d.]+\]\n#\[Max {5}= +[\d.]+, Total count {4}= +\d+\]\n#\[Buckets = +\d+, SubBuckets {5}= +\d+\]\n$/,
    );
  });

  test('a known target with no successful probe exports a valid empty histogram', async (t) => {
    if (!requireJavaHdr(t)) return;
    const base64 = await waitFor("the pending target's export", async () => {
      const res = await fetch(`${probex.url}/hdr/pending`, { headers: auth(TOKENS.api) });
      return res.status === 200 ? res.text() : undefined;
    });
    assert.match(await reference('decode', [], base64), /^total 0 /);
    const hgrm = await (await fetch(`${probex.url}/hdr/pending?format=hgrm`, { headers: auth(TOKENS.api) })).text();
    assert.match(hgrm, /Total count {4}= {12}0\]/);
  });
});
