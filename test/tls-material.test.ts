import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkMaterial, loadTlsMaterial, loadTlsMaterialSync, TlsMaterialError } from '../src/http/tls-material.ts';
import type { TlsSettings } from '../src/config/web-settings.ts';
import { certDir, requireTools, type CertDir, type Pem } from '../support/certs.ts';

let certs: CertDir | undefined;
let ca: Pem;
let server: Pem;
let other: Pem;
before(() => {
  try {
    certs = certDir();
    ca = certs.ca('ca');
    server = certs.leaf('server', ca, 'IP:127.0.0.1');
    other = certs.leaf('other', ca, 'DNS:other', { rsa: true });
  } catch {
    certs = undefined; // requireTools says what is missing
  }
});
after(() => certs?.remove());

const settings = (cert: string, key: string, clientCa?: string): TlsSettings => ({
  cert: { file: cert },
  key: { file: key },
  clientCa: clientCa === undefined ? undefined : { file: clientCa },
  clientAuth: clientCa === undefined ? 'NoClientCert' : 'VerifyClientCertIfGiven',
  allowedSans: undefined,
  minVersion: 'TLS12',
  maxVersion: 'TLS13',
  ciphers: undefined,
  curves: undefined,
});
const pem = (file: string): string => readFileSync(file, 'utf8');

test('a matching pair loads with its expiry and a digest; from files, sync and async alike', async (t) => {
  if (!requireTools(t, 'openssl')) return;
  const sync = loadTlsMaterialSync(settings(server.cert, server.key, ca.cert));
  const async = await loadTlsMaterial(settings(server.cert, server.key, ca.cert), 1000);
  assert.deepEqual(sync, async);
  const days = (sync.notAfterSeconds * 1000 - Date.now()) / 86_400_000;
  assert.ok(days > 29 && days <= 30, `expires in ${days} days`);
  assert.notEqual(checkMaterial(pem(other.cert), pem(other.key), undefined).digest, sync.digest);
});

test('a key that is not the certificate’s, an encrypted key, junk and an empty CA are refused, naming only the field', (t) => {
  if (!requireTools(t, 'openssl')) return;
  const refusal = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof TlsMaterialError);
      return err.message;
    }
    assert.fail('expected a refusal');
  };
  assert.equal(
    refusal(() => checkMaterial(pem(server.cert), pem(other.key), undefined)),
    'key: does not match the certificate',
  );
  const encrypted = join(certs!.dir, 'encrypted.key');
  execFileSync('openssl', ['pkey', '-in', server.key, '-aes256', '-passout', 'pass:x', '-out', encrypted]);
  assert.match(
    refusal(() => checkMaterial(pem(server.cert), pem(encrypted), undefined)),
    /^key: the key is encrypted/,
  );
  assert.equal(
    refusal(() => checkMaterial('junk', pem(server.key), undefined)),
    'cert: not a PEM certificate',
  );
  const junkKey = `-----BEGIN PRIVATE KEY-----\nsecretbytes\n-----END PRIVATE KEY-----\n`;
  const junk = refusal(() => checkMaterial(pem(server.cert), junkKey, undefined));
  assert.equal(junk, 'key: not a PEM private key');
  assert.equal(
    refusal(() => checkMaterial(pem(server.cert), pem(server.key), 'nothing')),
    'client_ca: holds no PEM certificate',
  );
  const missing = join(certs!.dir, 'missing.crt');
  assert.match(
    refusal(() => loadTlsMaterialSync(settings(missing, server.key))),
    /^cert_file: cannot read .*missing\.crt: ENOENT$/,
  );
  writeFileSync(join(certs!.dir, 'empty.crt'), '');
  assert.equal(
    refusal(() => loadTlsMaterialSync(settings(join(certs!.dir, 'empty.crt'), server.key))),
    'cert: not a PEM certificate',
  );
});
