/**
 * tcp: opens a TCP connection to host:port and closes it again. Success is the completed handshake; there
 * is no client to keep, so every run is independent and concurrent runs share nothing.
 */
import net from 'node:net';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TcpTarget } from './probe.ts';

/** tcpProbe makes probers that check a TCP port accepts connections. */
export const tcpProbe: Probe<'tcp'> = {
  kind: 'tcp',
  create(target: TcpTarget): Prober {
    const { host, port, timeoutMs } = target;
    return {
      run: (signal) => settle(signal, timeoutMs, () => connectOnce(host, port, signal)),
      close: () => Promise.resolve(),
    };
  },
};

function connectOnce(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve, reject) => {
    const socket = net.connect({ host, port });
    // The deadline destroys the socket with the signal's reason: the attempt fails, as a `timeout`.
    const onAbort = (): void => {
      socket.destroy(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
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
