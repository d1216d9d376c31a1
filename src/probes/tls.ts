/**
 * The client side of TLS shared by every kind that can speak it: the finished `tls` block of a target
 * (TargetTls), the Node TLS options it stands for (clientTlsOptions), and the validity dates of the
 * certificate a server presented (peerCertificateDates, CertificateWatch), which a probe reports whether
 * or not the certificate verified: an expired or untrusted certificate still has an expiry worth alerting on.
 *
 * Which certificate: the leaf, the server's own (the first of the chain it sent), since that is the one
 * whose expiry breaks clients first and the one a renewal replaces. The dates are those of the last
 * handshake the target's client made: a kind that keeps its connection open reports a renewed
 * certificate once it reconnects.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { CertificateDates, ProbeOutcome, TargetTls } from './probe.ts';

/** TLS_MIN_VERSIONS are the values `minVersion` takes. */
export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * MAX_TLS_FILE_BYTES bounds each file of a `tls` block (a certificate chain or a key is a few KiB), and
 * each file a postgres URL names: the probe worker reads them whole on every new connection.
 */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

/** DEFAULT_TLS is the block a target gets from `tls: true` or a TLS scheme alone (rediss://, https://). */
export const DEFAULT_TLS: TargetTls = Object.freeze({ insecureSkipVerify: false });

/**
 * clientTlsOptions turns a TargetTls into Node's TLS connection options, reading its files now: call it
 * when a client is created (a renewed client certificate is then used from the next connection on). A file
 * that cannot be read throws (call it where a throw becomes the run's failure).
 */
export function clientTlsOptions(tls: TargetTls): ConnectionOptions {
  const serverName = tls.serverName;
  return {
    rejectUnauthorized: !tls.insecureSkipVerify,
    ...(tls.caFile === undefined ? {} : { ca: readTlsFile(tls.caFile) }),
    ...(tls.certFile === undefined ? {} : { cert: readTlsFile(tls.certFile) }),
    ...(tls.keyFile === undefined ? {} : { key: readTlsFile(tls.keyFile) }),
    // The name is checked against serverName even where a library sets `servername` (SNI) to its host
    // itself after these options (pg does, for a host name).
    ...(serverName === undefined
      ? {}
      : { servername: serverName, checkServerIdentity: (_host, cert) => checkServerIdentity(serverName, cert) }),
    ...(tls.minVersion === undefined ? {} : { minVersion: tls.minVersion }),
  };
}

/**
 * serverNameFor is the SNI name of a connection to `host`: the block's serverName, else the host when it
 * is a name (SNI carries no IP address); undefined for an IP address without serverName.
 */
export function serverNameFor(tls: TargetTls, host: string): string | undefined {
  if (tls.serverName !== undefined) return tls.serverName;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  return isIP(bare) === 0 ? bare : undefined;
}

/**
 * peerCertificateDates reads the leaf certificate (the server's own, first in the chain it sent) of a TLS
 * socket; undefined before the handshake has delivered one. It works after a failed verification too, as
 * long as the socket has not been destroyed: read it in the 'secureConnect' handler or, for a failed
 * verification, before the socket is torn down (CertificateWatch does).
 */
function peerCertificateDates(socket: TLSSocket): CertificateDates | undefined {
  const cert: PeerCertificate | null | undefined = socket.getPeerCertificate();
  return cert === undefined || cert === null ? undefined : certificateDates(cert);
}

/** certificateDates reads a PeerCertificate's validity bounds; undefined when it has none (an empty object). */
function certificateDates(cert: PeerCertificate): CertificateDates | undefined {
  if (typeof cert.valid_from !== 'string' || typeof cert.valid_to !== 'string') return undefined;
  const notBefore = Date.parse(cert.valid_from);
  const notAfter = Date.parse(cert.valid_to);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) return undefined;
  return { notBeforeSeconds: notBefore / 1000, notAfterSeconds: notAfter / 1000 };
}

/**
 * CertificateWatch keeps the dates of the last certificate a target's servers presented, and stamps them
 * on the target's outcomes (ProbeOutcome.tls), failures included.
 *
 * watch() reads the certificate when the handshake has delivered it and before Node judges it: a
 * TLSSocket emits 'secure' when the handshake completes, and Node's own client check (onConnectSecure in
 * lib/_tls_wrap.js, which destroys the socket of a certificate that fails verification) is a listener of
 * that event; a listener prepended to it runs first, on a socket whose peer certificate is still there.
 * So the library that owns the socket keeps its own verification, untouched, and an expired, untrusted
 * or misnamed certificate is still read. The event is Node's since v0.11 (v20, v22 and v24 alike; the
 * certificate tests pin it).
 */
export class CertificateWatch {
  /** latest is the dates of the last certificate seen, undefined until a handshake delivered one. */
  latest: CertificateDates | undefined;

  /** watch reads the peer certificate of `socket` once its handshake completes; call it before it completes. */
  watch(socket: TLSSocket): void {
    socket.prependOnceListener('secure', () => {
      const dates = peerCertificateDates(socket);
      if (dates !== undefined) this.latest = dates;
    });
  }

  /** stamp returns the outcome with the latest certificate dates (as it is while none was seen). */
  stamp(outcome: ProbeOutcome): ProbeOutcome {
    const tls = this.latest;
    return tls === undefined ? outcome : { ...outcome, tls };
  }
}

/**
 * recordingTlsOptions is clientTlsOptions for a client library that makes its TLS socket where nothing
 * can see it (node-redis): a checkServerIdentity that hands the certificate's dates to onCertificate, then
 * checks the name as Node would. Node calls it for a chain that verified (not for a resumed session), so
 * a certificate that fails verification is read with peekCertificate instead.
 */
export function recordingTlsOptions(
  tls: TargetTls,
  onCertificate: (dates: CertificateDates) => void,
): ConnectionOptions {
  const options = clientTlsOptions(tls);
  const check = options.checkServerIdentity ?? checkServerIdentity;
  return {
    ...options,
    checkServerIdentity: (host, cert) => {
      const dates = certificateDates(cert);
      if (dates !== undefined) onCertificate(dates);
      return check(host, cert);
    },
  };
}

/**
 * peekCertificate makes one TLS handshake to host:port only to read the certificate the server presents,
 * accepting any, and closes the connection at once: no application byte is sent. It is for a protocol
 * that starts with TLS (rediss://) whose client library showed no certificate because it rejected it.
 * It settles by the time `signal` aborts, with undefined when no certificate arrived.
 */
export function peekCertificate(
  host: string,
  port: number,
  tls: TargetTls,
  signal: AbortSignal,
): Promise<CertificateDates | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const servername = serverNameFor(tls, host);
    const watch = new CertificateWatch();
    let socket: TLSSocket;
    try {
      socket = connect({
        host,
        port,
        ...clientTlsOptions(tls),
        rejectUnauthorized: false,
        ...(servername === undefined ? {} : { servername }),
      });
    } catch {
      resolve(undefined); // a tls file that cannot be read: the run's own failure says so
      return;
    }
    const done = (): void => {
      signal.removeEventListener('abort', done);
      socket.destroy();
      resolve(watch.latest);
    };
    watch.watch(socket);
    signal.addEventListener('abort', done, { once: true });
    socket.once('secureConnect', done);
    socket.once('error', done);
  });
}

/**
 * readTlsFile reads a file of a `tls` block: opened without blocking (a FIFO put in its place since the
 * config was loaded cannot hang the probe worker), a regular file of at most MAX_TLS_FILE_BYTES.
 */
function readTlsFile(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EINVAL' });
    if (stats.size > MAX_TLS_FILE_BYTES)
      throw Object.assign(new Error(`${path} is larger than 1 MiB`), { code: 'EFBIG' });
    const buffer = Buffer.alloc(stats.size);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
