/**
 * nats: subscribes to a unique inbox subject of its own (`_INBOX.probex.<random>`: the `_INBOX.` prefix
 * is the one NATS permissions commonly grant for request-reply), publishes one message to it and
 * receives it (@nats-io/transport-node); the duration is that round trip, from publish to arrival. One
 * connection and one subscription per target, kept between runs (round-trip.ts keeps them, and drops
 * them when they break or a message does not come back in time).
 *
 * Nothing is left on the server: core NATS keeps a subscription only as long as its connection, and
 * nothing is stored (no JetStream). The connection is named `probex:<target>`.
 *
 * Reconnection is round-trip.ts's, not the client's: `reconnect: false` makes a broken connection close
 * for good, and a later run opens a new one. The client's connect takes no AbortSignal: its own
 * `timeout` (the target's) bounds it, and a connection that opens after its runs gave up is closed at once.
 *
 * Credentials come from the URL: `nats://user:pass@host` (user and password), `nats://token@host` (a token).
 *
 * TLS: NATS upgrades to TLS after the server's plaintext INFO, inside the client, so the certificate's
 * dates are recorded by the identity check Node calls for a certificate that verified
 * (recordingTlsOptions). A certificate that fails verification is reported as `tls` without its dates.
 */
import {
  NatsConnectionImpl,
  setTransportFactory,
  type ConnectionOptions,
  type NatsConnection,
  type TlsOptions,
} from '@nats-io/transport-node';
import { nodeResolveHost, NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';
import type { Socket } from 'node:net';
import type { Probe, ProbeFailureReason, Prober, TargetBase, TargetTls } from './probe.ts';
import { RoundTripProber, SessionLostError, uniqueSuffix, type Session, type SessionEvents } from './round-trip.ts';
import { CertificateWatch, recordingTlsOptions, serverNameFor } from './tls.ts';

export interface NatsTarget extends TargetBase {
  readonly kind: 'nats';
  /** url like nats://[user:pass@ or token@]host:4222. */
  readonly url: string;
  /** tls, when set, upgrades the connection to TLS (NATS's own upgrade after the server's INFO). */
  readonly tls?: TargetTls;
}

/** NATS_SUBJECT_PREFIX starts every probe's inbox subject (`_INBOX.probex.<random>`). */
export const NATS_SUBJECT_PREFIX = '_INBOX.probex.';

/**
 * ClosingTransport is the client's Node transport with one fix: closing a transport that never finished
 * connecting (a server that accepted TCP but sent no INFO before the connect timeout) destroys its
 * socket. The client's own close returns early for such a transport, so each timed-out connect would
 * leave its socket open on the server.
 */
class ClosingTransport extends NodeTransport {
  override close(err?: Error): Promise<void> {
    if (!this.connected) (this.socket as Socket | undefined)?.destroy();
    return super.close(err);
  }
}

/**
 * connectNats is the client's connect (transport-node's `connect`) with ClosingTransport: the same
 * factory and resolver, set the same way before each connect.
 */
function connectNats(options: ConnectionOptions): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new ClosingTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}

/** natsProbe makes probers that send a message through a NATS server and receive it. */
export const natsProbe: Probe<NatsTarget> = {
  kind: 'nats',
  create(target: NatsTarget): Prober {
    const subject = `${NATS_SUBJECT_PREFIX}${uniqueSuffix()}`;
    const watch = target.tls === undefined ? undefined : new CertificateWatch();
    return new RoundTripProber({
      timeoutMs: target.timeoutMs,
      open: (signal, events) => openSession(target, subject, watch, signal, events),
      classify: classifyNats,
      ...(watch === undefined ? {} : { certificates: watch }),
    });
  },
};

/** classifyNats reads the client's errors by class name (nats-core's errors carry no code). */
export function classifyNats(err: unknown): ProbeFailureReason | undefined {
  const name = (err as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  if (name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError' || name === 'PermissionViolationError')
    return 'auth';
  return undefined;
}

async function openSession(
  target: NatsTarget,
  subject: string,
  watch: CertificateWatch | undefined,
  signal: AbortSignal,
  events: SessionEvents,
): Promise<Session> {
  const nc = await connectNats(connectionOptions(target, watch));
  let closing = false;
  const close = (): void => {
    closing = true;
    nc.close().catch(() => {}); // closing a connection that failed already: nothing left to do
  };
  if (signal.aborted) {
    close();
    throw signal.reason;
  }
  void nc.closed().then((err) => {
    if (!closing) events.broken(err ?? new SessionLostError('the server closed the connection'));
  });
  nc.subscribe(subject, {
    callback: (err, message) => {
      if (err !== null) events.broken(err);
      else events.received(message.string());
    },
  });
  return { send: (body) => nc.publish(subject, body), close };
}

/** connectionOptions are the client's options for a target: one server, no reconnects, the URL's credentials. */
export function connectionOptions(target: NatsTarget, watch?: CertificateWatch): ConnectionOptions {
  const url = new URL(target.url);
  const host = url.hostname;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const credentials = url.password !== '' ? { user, pass } : url.username !== '' ? { token: user } : {};
  const tls = target.tls;
  const servername = tls === undefined ? undefined : serverNameFor(tls, host);
  return {
    servers: `${host}:${url.port === '' ? 4222 : url.port}`,
    name: `probex:${target.name}`,
    reconnect: false,
    timeout: target.timeoutMs,
    ...credentials,
    ...(tls === undefined
      ? {}
      : {
          // The client extends its TLS options with these and hands them to tls.connect.
          tls: {
            ...recordingTlsOptions(tls, (dates) => {
              if (watch !== undefined) watch.latest = dates;
            }),
            ...(servername === undefined ? {} : { servername }),
          } as TlsOptions,
        }),
  };
}
