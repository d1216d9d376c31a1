/**
 * The http probe and redirects, in the real process: an https target that answers `301 Location:
 * http://<another port>/` must never send its configured headers (an API key) to that plaintext
 * listener, nor report that listener's health as its own. probex trusts the test's own self-signed
 * certificate through NODE_EXTRA_CA_CERTS, as an operator would trust a private CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { listenLoopback } from '../helpers/loopback-server.ts';

const SECRET = `api-key-${process.pid}`;

/** selfSigned makes a key and a certificate for 127.0.0.1 with openssl, in a temp dir removed after the test. */
function selfSigned(t: TestContext): { key: string; cert: string; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'probex-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'pipe' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

test('an https target redirected to a plaintext port never sends it its headers, followed or not', async (t) => {
  const { key, cert, certFile } = selfSigned(t);
  const plaintext: http.IncomingHttpHeaders[] = [];
  const plainPort = await listenLoopback(
    t,
    http.createServer((req, res) => {
      plaintext.push(req.headers);
      res.end('healthy');
    }),
  );
  const securePort = await listenLoopback(
    t,
    https.createServer({ key, cert }, (_req, res) => {
      res.writeHead(301, { location: `http://127.0.0.1:${plainPort}/` });
      res.end();
    }),
  );
  const url = `https://127.0.0.1:${securePort}/health`;
  const probex = await startProbex(
    `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: as-is, kind: http, url: "${url}", interval: 200ms, headers: { X-Api-Key: "${SECRET}" } }
  - { name: followed, kind: http, url: "${url}", interval: 200ms, headers: { X-Api-Key: "${SECRET}" }, followRedirects: { crossOrigin: true } }
`,
    { NODE_EXTRA_CA_CERTS: certFile },
  );
  t.after(() => probex.stop());
  const samples = await waitFor(
    'both targets to have failed three times',
    async () => {
      const s = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
      const failed = (target: string): number =>
        findSamples(s, 'probex_probe_errors_total', { target, reason: 'status' })[0]?.value ?? 0;
      return failed('as-is') >= 3 && failed('followed') >= 3 ? s : undefined;
    },
    20_000,
  );
  for (const target of ['as-is', 'followed']) {
    assert.equal(findSamples(samples, 'probex_probe_up', { target })[0]?.value, 0, `${target} is not up`);
  }
  assert.deepEqual(plaintext, [], 'the plaintext listener was never asked');
  const messages = probex.logs.filter((l) => String(l.msg).startsWith('probe failed')).map((l) => JSON.stringify(l));
  assert.ok(
    messages.some((m) => m.includes('"as-is"') && m.includes('HTTP 301, expected 2xx')),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.includes('"followed"') && m.includes('a redirect never goes from https to http')),
    messages.join('\n'),
  );
});
