import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listenerKind, subjectAltNames } from '../../src/http/listener.ts';
import type { TlsSettings } from '../../src/config/web-settings.ts';

test("subjectAltNames reads Node's subjectaltname text as Go lists SANs: DNS, IP (canonical), URI, e-mail", () => {
  assert.deepEqual(
    subjectAltNames(
      'DNS:scraper.example, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://x/prom, email:a@b.c',
    ),
    ['scraper.example', '10.0.0.1', '::1', 'spiffe://x/prom', 'a@b.c'],
  );
  assert.deepEqual(subjectAltNames('DNS:"a, b", DNS:c'), ['a, b', 'c'], 'quoted values with a comma');
  assert.deepEqual(subjectAltNames('DirName:CN=x, DNS:c'), [], 'an entry kind Go does not compare stops the scan');
  assert.deepEqual(subjectAltNames(''), []);
});

test('listenerKind: plain HTTP without TLS, uWS for what it can do, Node tls for the rest', () => {
  const tls: TlsSettings = {
    cert: { file: 'c' },
    key: { file: 'k' },
    clientCa: undefined,
    clientAuth: 'NoClientCert',
    allowedSans: undefined,
    minVersion: 'TLS12',
    maxVersion: 'TLS13',
    ciphers: ['ECDHE-RSA-AES128-GCM-SHA256'],
    curves: undefined,
  };
  assert.equal(listenerKind(undefined), 'http');
  assert.equal(listenerKind(tls), 'uws-tls');
  assert.equal(listenerKind({ ...tls, clientAuth: 'VerifyClientCertIfGiven', clientCa: { file: 'ca' } }), 'uws-tls');
  assert.equal(
    listenerKind({ ...tls, clientAuth: 'RequireAndVerifyClientCert', clientCa: { file: 'ca' } }),
    'node-tls',
  );
  assert.equal(listenerKind({ ...tls, maxVersion: 'TLS12' }), 'node-tls');
  assert.equal(listenerKind({ ...tls, curves: ['X25519'] }), 'node-tls');
});
