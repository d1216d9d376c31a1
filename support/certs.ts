/**
 * Test certificates and bcrypt hashes, made at test time by the tools an operator would use: openssl for
 * a CA and the certificates it signs (EC P-256, or RSA when asked), htpasswd for bcrypt hashes. Missing
 * tools fail the test in CI and skip it elsewhere (requireTools).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args).error === undefined;
const TOOLS = { openssl: has('openssl', ['version']), htpasswd: has('htpasswd', ['-h']), curl: has('curl', ['-V']) };

/**
 * requireTools returns true when openssl, htpasswd and curl are installed; else it fails the test in CI
 * and skips it elsewhere, naming the Debian packages.
 */
export function requireTools(t: TestContext, ...tools: (keyof typeof TOOLS)[]): boolean {
  const missing = tools.filter((tool) => !TOOLS[tool]);
  if (missing.length === 0) return true;
  const why = `${missing.join(', ')} not installed: apt-get install openssl apache2-utils curl`;
  if (process.env.CI === 'true') assert.fail(`${why}; CI=true, so this fails`);
  t.skip(why);
  return false;
}

/** Pem names the files of one certificate and its key. */
export interface Pem {
  readonly cert: string;
  readonly key: string;
}

/** CertDir is a temp directory of certificates; remove() deletes it. */
export interface CertDir {
  readonly dir: string;
  /** ca makes a self-signed CA. */
  ca(name: string): Pem;
  /** leaf makes a certificate signed by `ca` with subjectAltName `san` (e.g. `IP:127.0.0.1,DNS:localhost`). */
  leaf(name: string, ca: Pem, san: string, options?: { rsa?: boolean }): Pem;
  /** serial reads a certificate file's serial number (hex, upper case). */
  serial(certFile: string): string;
  remove(): void;
}

/** certDir makes a temp directory to put certificates in. */
export function certDir(): CertDir {
  const dir = mkdtempSync(join(tmpdir(), 'probex-certs-'));
  const openssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
  const keyArgs = (rsa: boolean): string[] =>
    rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  let serial = 1;
  return {
    dir,
    ca(name) {
      const pem = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      openssl(
        'req',
        '-x509',
        ...keyArgs(false),
        '-nodes',
        '-keyout',
        pem.key,
        '-out',
        pem.cert,
        '-days',
        '30',
        '-subj',
        `/CN=${name}`,
      );
      return pem;
    },
    leaf(name, ca, san, options = {}) {
      const pem = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, `subjectAltName=${san}\n`);
      openssl(
        'req',
        ...keyArgs(options.rsa ?? false),
        '-nodes',
        '-keyout',
        pem.key,
        '-out',
        csr,
        '-subj',
        `/CN=${name}`,
      );
      openssl(
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-set_serial',
        String(Date.now() * 100 + serial++),
        '-out',
        pem.cert,
        '-days',
        '30',
        '-extfile',
        ext,
      );
      return pem;
    },
    serial(certFile) {
      return openssl('x509', '-in', certFile, '-noout', '-serial')
        .trim()
        .replace(/^serial=/, '')
        .toUpperCase();
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** htpasswdHash makes a bcrypt hash of `password` with htpasswd, as exporter-toolkit's docs say (cost 10 by default). */
export function htpasswdHash(password: string, cost = 10): string {
  const line = execFileSync('htpasswd', ['-bnBC', String(cost), 'user', password])
    .toString()
    .trim();
  return line.slice(line.indexOf(':') + 1);
}
