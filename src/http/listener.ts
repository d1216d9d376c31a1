/**
 * The listening socket in front of the routes: plain HTTP, TLS by uWebSockets.js itself, or TLS by Node's
 * `tls` in front of uWS, for what uWS cannot do (docs/tls.md has the why and the costs).
 *
 * uWS's SSLApp takes key, certificate, CA, passphrase, DH parameters, a cipher list and a low-memory
 * flag, and nothing else: its minimum version is fixed at TLS 1.2, there is no maximum, no curve list, no
 * way to require a client certificate (with a CA it verifies one if given, and serves a client that gives
 * none), no access to the peer's certificate, and no way to change the certificate of a listening app.
 * So:
 *  - `uws-tls` serves NoClientCert and VerifyClientCertIfGiven (with a CA) at TLS 1.2-1.3, with or
 *    without cipher_suites: the scrape path stays uWS's own.
 *  - `node-tls` is Node's tls.Server on the public port, with every exporter-toolkit option, handing each
 *    connection (once its client-certificate policy passed) to a plain uWS app on a Unix socket in a
 *    private directory (mode 0700: only probex's own user could reach uWS there without TLS).
 *  - Rotation. node-tls calls setSecureContext. uws-tls builds a new SSLApp with the new material and
 *    moves the listening socket to it: close the old listen socket and bind the same port again at once
 *    (SO_REUSEADDR, so connections still open on the port do not stand in the way). Connections already
 *    accepted stay with the app that accepted them until they close, so nothing in flight is dropped; only
 *    a connection that completed its TCP handshake during those microseconds and still waits in the old
 *    socket's accept queue is reset. uWS never frees an app, so each rotation keeps ~35 KiB.
 *
 * uWS wants certificate files, not bytes: the material (checked by tls-material.ts) is written to files
 * of mode 0600 in the private directory, read by SSLApp at once, and removed, so what uWS serves is
 * exactly what was checked, even if the original file changes meanwhile.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer as createNetServer, isIP, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createServer as createTlsServer,
  DEFAULT_CIPHERS,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import type * as UWS from 'uWebSockets.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { NativeServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { TlsMaterial } from './tls-material.ts';
import { needsNodeTls, TLS_VERSIONS, type TlsSettings } from '../config/web-settings.ts';

/** HANDSHAKE_TIMEOUT_MS closes a Node TLS connection that has not finished its handshake (uWS's own: ~10 s). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** ListenerKind says who terminates TLS. */
export type ListenerKind = 'http' | 'uws-tls' | 'node-tls';

/** Listener is a listening front end. */
export interface Listener {
  readonly kind: ListenerKind;
  readonly port: number;
  /** rotate serves `material` to new connections; it throws when this listener cannot take it. */
  rotate(material: TlsMaterial): void;
  /** close stops listening; connections already accepted are served until they close. */
  close(): void;
}

/** ListenTls is what a TLS listener serves. */
export interface ListenTls {
  readonly settings: TlsSettings;
  readonly material: TlsMaterial;
}

/** listenerKind says which listener `tls` needs. */
export function listenerKind(tls: TlsSettings | undefined): ListenerKind {
  return tls === undefined ? 'http' : needsNodeTls(tls).length > 0 ? 'node-tls' : 'uws-tls';
}

/**
 * listen opens the listener `tls` needs on host:port (0 picks a free port); `routes` registers the
 * routes on each uWS app it makes.
 */
export async function listen(
  uws: typeof UWS,
  routes: (app: TemplatedApp) => void,
  host: string,
  port: number,
  tls: ListenTls | undefined,
  log: Logger,
): Promise<Listener> {
  switch (listenerKind(tls?.settings)) {
    case 'http':
      return listenPlain(uws, routes, host, port);
    case 'uws-tls':
      return listenUwsTls(uws, routes, host, port, tls!);
    case 'node-tls':
      return listenNodeTls(uws, routes, host, port, tls!, log);
  }
}

async function listenPlain(
  uws: typeof UWS,
  routes: (app: TemplatedApp) => void,
  host: string,
  port: number,
): Promise<Listener> {
  const app = uws.App();
  routes(app);
  const token = listenExclusive(uws, app, host, port);
  if (token === false) throw new Error(`cannot listen on ${host}:${port}: ${await listenFailure(host, port)}`);
  return {
    kind: 'http',
    port: uws.us_socket_local_port(token as never),
    rotate: () => {
      throw new Error('a plain HTTP listener has no certificate');
    },
    close: () => uws.us_listen_socket_close(token),
  };
}

async function listenUwsTls(
  uws: typeof UWS,
  routes: (app: TemplatedApp) => void,
  host: string,
  requestedPort: number,
  tls: ListenTls,
): Promise<Listener> {
  const dir = privateDir();
  const makeApp = (material: TlsMaterial): TemplatedApp => {
    const app = sslApp(uws, dir, tls.settings, material);
    routes(app);
    return app;
  };
  let app = makeApp(tls.material);
  // Every app ever listened is kept referenced: its accepted connections live on in it.
  const apps = [app];
  let port = requestedPort;
  if (port === 0) {
    // uSockets sets SO_REUSEADDR only when given a port; rebinding on rotation needs it on the first
    // socket too (accepted connections inherit it), so learn a free port, then listen on it by number.
    const probe = listenExclusive(uws, app, host, 0);
    if (probe === false) throw new Error(`cannot listen on ${host}:0: ${await listenFailure(host, 0)}`);
    port = uws.us_socket_local_port(probe as never);
    uws.us_listen_socket_close(probe);
  }
  let token = listenExclusive(uws, app, host, port);
  if (token === false) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot listen on ${host}:${port}: ${await listenFailure(host, port)}`);
  }
  let closed = false;
  return {
    kind: 'uws-tls',
    port,
    rotate(material) {
      if (closed) return;
      const next = makeApp(material);
      apps.push(next);
      uws.us_listen_socket_close(token as us_listen_socket);
      const moved = listenExclusive(uws, next, host, port);
      if (moved !== false) {
        token = moved;
        app = next;
        return;
      }
      // Someone took the port in between (it was free for microseconds): take it back with the old app.
      const back = listenExclusive(uws, app, host, port);
      if (back === false) {
        closed = true;
        throw new NativeServerError(`lost the listening port ${host}:${port} while rotating the certificate`);
      }
      token = back;
      throw new Error(`could not listen on ${host}:${port} with the new certificate; the old one is served`);
    },
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(token as us_listen_socket);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** sslApp builds an SSLApp serving `material`, through files that exist only while it reads them. */
function sslApp(uws: typeof UWS, dir: string, settings: TlsSettings, material: TlsMaterial): TemplatedApp {
  const files: string[] = [];
  const file = (name: string, pem: string): string => {
    const path = join(dir, name);
    rmSync(path, { force: true });
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    files.push(path);
    return path;
  };
  try {
    return uws.SSLApp({
      cert_file_name: file('cert.pem', material.certPem),
      key_file_name: file('key.pem', material.keyPem),
      ...(material.caPem === undefined || settings.clientAuth === 'NoClientCert'
        ? {}
        : { ca_file_name: file('ca.pem', material.caPem) }),
      ...(settings.ciphers === undefined ? {} : { ssl_ciphers: settings.ciphers.join(':') }),
    });
  } catch (err) {
    // uWS says only "App construction failed"; the material passed its checks, so it is the cipher list.
    throw new Error('uWebSockets.js refused the TLS settings (is every cipher in cipher_suites supported?)', {
      cause: err,
    });
  } finally {
    for (const path of files) unlinkSync(path);
  }
}

async function listenNodeTls(
  uws: typeof UWS,
  routes: (app: TemplatedApp) => void,
  host: string,
  port: number,
  tls: ListenTls,
  log: Logger,
): Promise<Listener> {
  const dir = privateDir();
  const socketPath = join(dir, 'uws.sock');
  const inner = uws.App();
  routes(inner);
  let innerToken: us_listen_socket | undefined;
  inner.listen_unix((token) => {
    innerToken = token;
  }, socketPath);
  if (!innerToken) {
    rmSync(dir, { recursive: true, force: true });
    throw new NativeServerError(`uWebSockets.js cannot listen on its private Unix socket ${socketPath}`);
  }
  const innerListen = innerToken;
  const { settings } = tls;
  const server = createTlsServer({
    ...secureContextOptions(settings, tls.material),
    requestCert: settings.clientAuth !== 'NoClientCert',
    rejectUnauthorized: settings.clientAuth === 'RequireAndVerifyClientCert',
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ALPNProtocols: ['http/1.1'],
  } satisfies TlsOptions);
  server.on('secureConnection', (socket: TLSSocket) => {
    const refused = clientCertificateProblem(socket, settings);
    if (refused !== undefined) {
      log.debug({ remote: socket.remoteAddress, why: refused }, 'client certificate refused');
      socket.destroy();
      return;
    }
    proxy(socket, socketPath);
  });
  // A failed handshake (no or a bad client certificate, a scanner) only closes that connection.
  server.on('tlsClientError', () => {});
  try {
    await listenNet(server, host, port);
  } catch (err) {
    uws.us_listen_socket_close(innerListen);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    kind: 'node-tls',
    port: (server.address() as { port: number }).port,
    rotate(material) {
      server.setSecureContext(secureContextOptions(settings, material));
    },
    close() {
      if (closed) return;
      closed = true;
      server.close();
      // Connections already joined to uWS stay joined; a new one could not be, and none comes now.
      uws.us_listen_socket_close(innerListen);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** secureContextOptions are Node's options for exporter-toolkit's TLS settings and the material. */
function secureContextOptions(settings: TlsSettings, material: TlsMaterial): SecureContextOptions {
  // OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level: SECLEVEL=0 lets min_version mean it.
  const legacy = settings.minVersion === 'TLS10' || settings.minVersion === 'TLS11';
  const ciphers = settings.ciphers?.join(':') ?? DEFAULT_CIPHERS;
  return {
    key: material.keyPem,
    cert: material.certPem,
    ...(material.caPem === undefined ? {} : { ca: material.caPem }),
    minVersion: TLS_VERSIONS[settings.minVersion],
    maxVersion: TLS_VERSIONS[settings.maxVersion],
    ciphers: legacy ? `${ciphers}:@SECLEVEL=0` : ciphers,
    ...(settings.curves === undefined ? {} : { ecdhCurve: settings.curves.join(':') }),
  };
}

/**
 * clientCertificateProblem applies client_auth_type and client_allowed_sans to a connection whose
 * handshake Node completed; undefined lets it through. RequireAndVerifyClientCert is Node's own
 * (rejectUnauthorized): such a connection never gets here without a verified certificate.
 */
function clientCertificateProblem(socket: TLSSocket, settings: TlsSettings): string | undefined {
  if (settings.clientAuth === 'NoClientCert') return undefined;
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && Object.keys(cert).length > 0;
  if (!presented) {
    if (settings.clientAuth === 'RequireAnyClientCert') return 'no client certificate';
    return settings.allowedSans === undefined ? undefined : 'no client certificate, and client_allowed_sans is set';
  }
  if (settings.clientAuth === 'VerifyClientCertIfGiven' && !socket.authorized)
    return `client certificate not verified: ${String(socket.authorizationError)}`;
  if (settings.allowedSans !== undefined) {
    const sans = subjectAltNames(cert.subjectaltname ?? '');
    if (!sans.some((san) => settings.allowedSans!.some((allowed) => sameSan(san, allowed))))
      return 'no allowed SAN in the client certificate';
  }
  return undefined;
}

/**
 * subjectAltNames lists the values of Node's `subjectaltname` text (`DNS:a, IP Address:1.2.3.4, URI:x,
 * email:y`; values with special characters are JSON strings), the kinds Go's check compares.
 */
export function subjectAltNames(text: string): string[] {
  const out: string[] = [];
  const re = /(DNS|IP Address|URI|email):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  for (let m; (m = re.exec(text)) !== null && m[0] !== '';) {
    const value = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    out.push(m[1] === 'IP Address' ? canonicalIp(value) : value);
  }
  return out;
}

function sameSan(san: string, allowed: string): boolean {
  return san === (isIP(allowed) === 0 ? allowed : canonicalIp(allowed));
}

/** canonicalIp writes an IP address as Go's ip.String() does (IPv6 compressed, lower case). */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** proxy joins a TLS connection to the inner uWS app; either side closing closes both. */
function proxy(socket: TLSSocket, socketPath: string): void {
  const upstream = createConnection(socketPath);
  const close = (): void => {
    socket.destroy();
    upstream.destroy();
  };
  socket.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  socket.pipe(upstream);
  upstream.pipe(socket);
}

/** privateDir makes a directory only probex's user can enter, for certificate files and the inner socket. */
function privateDir(): string {
  return mkdtempSync(join(tmpdir(), 'probex-tls-'));
}

function listenNet(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(new Error(`cannot listen on ${host}:${port}: ${LISTEN_ERRORS[err.code ?? ''] ?? err.message}`));
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * listenExclusive listens without SO_REUSEPORT and answers the listen socket or false. uWS's plain
 * listen sets it, so a second process (another probex, or anything else that sets it) binds the same
 * host:port and the kernel spreads new connections over both: scrapes would reach either at random.
 * LIBUS_LISTEN_EXCLUSIVE_PORT leaves it unset, and such a bind fails. The native listen takes (host,
 * port, options, callback) and calls back before it returns; index.d.ts only declares the options
 * overload without a host.
 */
function listenExclusive(uws: typeof UWS, app: TemplatedApp, host: string, port: number): us_listen_socket | false {
  const exclusive = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown }).LIBUS_LISTEN_EXCLUSIVE_PORT;
  if (typeof exclusive !== 'number') {
    throw new NativeServerError(
      'this uWebSockets.js build has no LIBUS_LISTEN_EXCLUSIVE_PORT; probex will not share its port',
    );
  }
  let result: us_listen_socket | false | undefined;
  (app.listen as unknown as (h: string, p: number, o: number, cb: (t: us_listen_socket | false) => void) => void)(
    host,
    port,
    exclusive,
    (token) => {
      result = token;
    },
  );
  if (result === undefined) throw new NativeServerError('uWebSockets.js did not answer listen synchronously');
  return result;
}

/** LISTEN_ERRORS words the errno of a failed bind for the operator. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use (another process listens on this port)',
  EADDRNOTAVAIL: 'address not available (no interface of this host has it)',
  EACCES: 'permission denied (ports below 1024 need privilege)',
};

/**
 * listenFailure says why host:port cannot be listened on. uWS hands its callback only `false`, so the
 * bind is tried once more with node:net (no SO_REUSEPORT either), whose error carries the errno.
 */
function listenFailure(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(LISTEN_ERRORS[err.code ?? ''] ?? err.message));
    probe.listen({ host, port, exclusive: true }, () =>
      probe.close(() => resolve('the bind failed, and a retry found the address free')),
    );
  });
}
