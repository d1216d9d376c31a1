/**
 * The listener's certificate, key and client CA: read (files through config/read-file.ts, capped), and checked
 * before anything serves them. The key must match the certificate, the certificate must parse, the CA
 * must hold at least one certificate, and an encrypted key is refused (exporter-toolkit has no passphrase
 * field). A problem names the field and the file, never a byte of the PEM.
 *
 * The config thread calls loadTlsMaterialSync at start and on reload; the main thread's watcher
 * (tls-rotation.ts) calls loadTlsMaterial when a file changed, and serves the new pair only if it passes.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readCappedFile, readCappedFileSync } from '../config/read-file.ts';
import type { PemSource, TlsSettings } from '../config/web-settings.ts';

/** MAX_PEM_BYTES caps a certificate chain, key or CA bundle file. */
export const MAX_PEM_BYTES = 1024 * 1024;

/** TlsMaterial is a checked certificate, key and client CA, ready to serve. */
export interface TlsMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string | undefined;
  /** notAfterSeconds is when the (leaf) certificate expires, Unix seconds. */
  readonly notAfterSeconds: number;
  /** digest identifies the material (SHA-256 of all three), so a file touched but unchanged changes nothing. */
  readonly digest: string;
}

/** TlsMaterialError says what is wrong with the material; the message names fields and files only. */
export class TlsMaterialError extends Error {
  override name = 'TlsMaterialError';
}

/** loadTlsMaterialSync reads and checks the material of `tls` (config thread). */
export function loadTlsMaterialSync(tls: TlsSettings): TlsMaterial {
  const read = (source: PemSource, field: string): string =>
    'inline' in source ? source.inline : readPem(() => readCappedFileSync(source.file, MAX_PEM_BYTES).bytes, field);
  return checkMaterial(
    read(tls.cert, 'cert_file'),
    read(tls.key, 'key_file'),
    tls.clientCa === undefined ? undefined : read(tls.clientCa, 'client_ca_file'),
  );
}

/** loadTlsMaterial reads and checks the material of `tls` off the event loop, each read within timeoutMs. */
export async function loadTlsMaterial(tls: TlsSettings, timeoutMs: number): Promise<TlsMaterial> {
  const read = async (source: PemSource, field: string): Promise<string> =>
    'inline' in source
      ? source.inline
      : readPemAsync(
          readCappedFile(source.file, MAX_PEM_BYTES, timeoutMs).then((f) => f.bytes),
          field,
        );
  const [cert, key, ca] = await Promise.all([
    read(tls.cert, 'cert_file'),
    read(tls.key, 'key_file'),
    tls.clientCa === undefined ? undefined : read(tls.clientCa, 'client_ca_file'),
  ]);
  return checkMaterial(cert, key, ca);
}

/** watchedFiles are the files of `tls` a change of which means new material. */
export function watchedFiles(tls: TlsSettings): string[] {
  return [tls.cert, tls.key, tls.clientCa].flatMap((s) => (s !== undefined && 'file' in s ? [s.file] : []));
}

function readPem(read: () => Buffer, field: string): string {
  try {
    return read().toString('utf8');
  } catch (err) {
    throw new TlsMaterialError(`${field}: ${(err as Error).message}`);
  }
}

async function readPemAsync(read: Promise<Buffer>, field: string): Promise<string> {
  try {
    return (await read).toString('utf8');
  } catch (err) {
    throw new TlsMaterialError(`${field}: ${(err as Error).message}`);
  }
}

/** checkMaterial parses the PEMs and checks that the key is the certificate's. */
export function checkMaterial(certPem: string, keyPem: string, caPem: string | undefined): TlsMaterial {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch {
    throw new TlsMaterialError('cert: not a PEM certificate');
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem))
    throw new TlsMaterialError('key: the key is encrypted, and the web config has no passphrase: decrypt it');
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new TlsMaterialError('key: not a PEM private key');
  }
  if (!leaf.checkPrivateKey(key)) throw new TlsMaterialError('key: does not match the certificate');
  if (caPem !== undefined) {
    const count = caPem.split('-----BEGIN CERTIFICATE-----').length - 1;
    try {
      if (count === 0) throw new Error('no certificate');
      new X509Certificate(caPem);
    } catch {
      throw new TlsMaterialError('client_ca: holds no PEM certificate');
    }
  }
  const digest = createHash('sha256')
    .update(certPem)
    .update('\0')
    .update(keyPem)
    .update('\0')
    .update(caPem ?? '')
    .digest('hex');
  return { certPem, keyPem, caPem, notAfterSeconds: Math.floor(Date.parse(leaf.validTo) / 1000), digest };
}
