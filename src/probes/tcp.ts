/**
 * tcp: opens a TCP connection to host:port and closes it again. Success is the completed handshake; there
 * is no client to keep, so every run is independent and concurrent runs share nothing.
 *
 * With `tls`, success is the completed TLS handshake with a certificate that verified (unless
 * insecureSkipVerify); the certificate's dates are reported either way (CertificateWatch). The
 * connection is closed right after: no application byte is ever sent.
 */
import net from 'node:net';
import tls from 'node:tls';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { CertificateWatch, clientTlsOptions, serverNameFor } from './tls.ts';

export interface TcpTarget extends TargetBase {
  readonly kind: 'tcp';
  readonly host: string;
  readonly port: number;
  /** tls, when set, makes the probe a TLS handshake: the connect succeeds once the certificate verified. */
  readonly tls?: TargetTls;
}

/** tcpProbe makes probers that check a TCP port accepts connections (and, with `tls`, completes a TLS handshake). */
export const tcpProbe: Probe<TcpTarget> = {
  kind: 'tcp',
  create(target: TcpTarget): Prober {
    const { host, port, timeoutMs } = target;
    if (target.tls !== undefined) {
      const settings = target.tls;
      const watch = new CertificateWatch();
      return {
        run: (signal) =>
          settle(signal, timeoutMs, () => handshakeOnce(host, port, settings, watch, signal)).then((outcome) =>
            watch.stamp(outcome),
          ),
        close: () => Promise.resolve(),
      };
    }
    return {
      run: (signal) => settle(signal, timeoutMs, () => connectOnce(host, port, signal)),
      close: () => Promise.resolve(),
    };
  },
};

function connectOnce(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  return settleSocket(net.connect({ host, port }), 'connect', signal);
}

function handshakeOnce(
  host: string,
  port: number,
  settings: TargetTls,
  watch: CertificateWatch,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  const servername = serverNameFor(settings, host);
  const socket = tls.connect({
    host,
    port,
    ...clientTlsOptions(settings),
    ...(servername === undefined ? {} : { servername }),
  });
  watch.watch(socket);
  return settleSocket(socket, 'secureConnect', signal);
}

/** settleSocket resolves once `socket` emits `event` (then closes it) and rejects with its error. */
function settleSocket(
  socket: net.Socket,
  event: 'connect' | 'secureConnect',
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve, reject) => {
    // The deadline destroys the socket with the signal's reason: the attempt fails, as a `timeout`.
    const onAbort = (): void => {
      socket.destroy(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once(event, () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
  });
}
