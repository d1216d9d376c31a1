/**
 * Certificates made with openssl at test time, in a temp dir removed after the test: a CA, a server
 * certificate it signed for 127.0.0.1 and localhost, and a client certificate it signed, for the TLS tests
 * of every kind.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Pem is a PEM file as a path and its content. */
export interface Pem {
  readonly file: string;
  readonly pem: string;
}

/** ServerCertificate is a certificate with its key, and its validity as X509Certificate reads it (Unix seconds). */
export interface ServerCertificate {
  readonly cert: Pem;
  readonly key: Pem;
  readonly notBeforeSeconds: number;
  readonly notAfterSeconds: number;
}

/** TestPki is a CA with the server and client certificates it signed. */
export interface TestPki {
  readonly dir: string;
  readonly ca: Pem;
  readonly server: ServerCertificate;
  readonly client: ServerCertificate;
}

/** makePki makes a CA and the certificates it signs, in a temp dir removed after the test. `days` is the server's validity. */
export function makePki(t: TestContext, days = 30): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'probex-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const at = (name: string): string => join(dir, name);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-subj',
      '/CN=probex test CA',
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.pem'),
    ]),
  );
  writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const server = signed(dir, 'server', '/CN=localhost', days, 'server.ext');
  writeFileSync(at('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const client = signed(dir, 'client', '/CN=probex client', 2, 'client.ext');
  return { dir, ca: pem(at('ca.pem')), server, client };
}

function signed(dir: string, name: string, subject: string, days: number, ext: string): ServerCertificate {
  const at = (file: string): string => join(dir, file);
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subject].concat([
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.csr`),
    ]),
  );
  openssl(
    ['x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial'].concat([
      '-days',
      String(days),
      '-extfile',
      at(ext),
      '-out',
      at(`${name}.pem`),
    ]),
  );
  const cert = pem(at(`${name}.pem`));
  const x509 = new X509Certificate(cert.pem);
  return {
    cert,
    key: pem(at(`${name}.key`)),
    notBeforeSeconds: Date.parse(x509.validFrom) / 1000,
    notAfterSeconds: Date.parse(x509.validTo) / 1000,
  };
}

function pem(file: string): Pem {
  return { file, pem: readFileSync(file, 'utf8') };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
