/**
 * grpc: calls grpc.health.v1.Health/Check (the standard health service; gRPC's health-checking protocol)
 * for the target's `service` over one @grpc/grpc-js channel per target, kept open between runs. The
 * request and response are two one-field messages, encoded here by hand, so no .proto is loaded.
 *
 * Outcomes: SERVING is a success; NOT_SERVING (and UNKNOWN, or a service the server does not know,
 * NOT_FOUND) is `status`; a server without the health service (UNIMPLEMENTED) is `bad_reply`; a server
 * that cannot be reached (UNAVAILABLE) is `refused`, or `tls` when the channel's last connect failed its
 * TLS handshake; UNAUTHENTICATED and PERMISSION_DENIED are `auth`; the deadline cancels the call
 * (`timeout`). The channel is gRPC's own: when the server goes away it fails calls at once (UNAVAILABLE,
 * no call waits for it to come back: waitForReady is off) and reconnects, with gRPC's backoff, once it is
 * back.
 *
 * The channel's credentials are our own (SocketCredentials), so every socket the channel connects passes
 * through here: close() ends them all. grpc-js's own close leaves a socket open while its HTTP/2
 * session still waits for the server's first frame (a server that accepts and never speaks), and nothing
 * a prober started may outlive it.
 *
 * TLS: the TLS socket is made here too (TlsCredentials), where CertificateWatch sees it before its
 * handshake completes: the certificate's dates are reported even when it fails verification. The
 * handshake offers ALPN h2, as gRPC requires.
 */
import {
  CallCredentials,
  ChannelCredentials,
  Client,
  logVerbosity,
  Metadata,
  setLogVerbosity,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { classifyError, failureOutcome, settle } from './classify.ts';
import type { Probe, ProbeFailureReason, ProbeOutcome, Prober, TargetBase, TargetTls } from './probe.ts';
import { CertificateWatch, clientTlsOptions, serverNameFor } from './tls.ts';

export interface GrpcTarget extends TargetBase {
  readonly kind: 'grpc';
  /** address is host:port of the gRPC server. */
  readonly address: string;
  /** service is the name asked about in grpc.health.v1.Health/Check; '' is the server as a whole. */
  readonly service: string;
  /** tls, when set, connects with TLS (plaintext h2c otherwise). */
  readonly tls?: TargetTls;
}

// grpc-js logs connection trouble to stderr by itself; here every failure is a probe outcome instead.
setLogVerbosity(logVerbosity.NONE);

/** HEALTH_CHECK_METHOD is the path of grpc.health.v1.Health/Check. */
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

/** ServingStatus is grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
const SERVING_STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** grpcProbe makes probers that ask a gRPC server's health service about one service. */
export const grpcProbe: Probe<GrpcTarget> = {
  kind: 'grpc',
  create(target: GrpcTarget): Prober {
    return new GrpcProber(target);
  },
};

/** CLOSE_GRACE_MS is how long close() lets the channel's sockets end by themselves before it resets them. */
const CLOSE_GRACE_MS = 100;

/** STATUS_REASONS maps the gRPC status of a failed call to a failure reason (the rest are `other`). */
const STATUS_REASONS = new Map<number, ProbeFailureReason>([
  [status.UNAVAILABLE, 'refused'],
  [status.UNIMPLEMENTED, 'bad_reply'],
  [status.NOT_FOUND, 'status'],
  [status.DEADLINE_EXCEEDED, 'timeout'],
  [status.CANCELLED, 'timeout'],
  [status.UNAUTHENTICATED, 'auth'],
  [status.PERMISSION_DENIED, 'auth'],
  [status.INTERNAL, 'bad_reply'],
]);

class GrpcProber implements Prober {
  readonly #target: GrpcTarget;
  readonly #request: Buffer;
  readonly #credentials: SocketCredentials;
  #client: Client | undefined;

  constructor(target: GrpcTarget) {
    this.#target = target;
    this.#request = encodeHealthCheckRequest(target.service);
    this.#credentials =
      target.tls === undefined ? new SocketCredentials() : new TlsCredentials(target.address, target.tls);
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    const outcome = settle(signal, this.#target.timeoutMs, () => this.#check(signal));
    const watch = this.#credentials instanceof TlsCredentials ? this.#credentials.watch : undefined;
    return watch === undefined ? outcome : outcome.then((o) => watch.stamp(o));
  }

  async close(): Promise<void> {
    this.#client?.close();
    this.#client = undefined;
    await this.#credentials.endSockets(CLOSE_GRACE_MS);
  }

  #check(signal: AbortSignal): Promise<ProbeOutcome> {
    const client = (this.#client ??= new Client(
      this.#target.address,
      this.#credentials,
      // One connection: the health check needs no more. Reconnects back off from 250 ms to the interval.
      {
        'grpc.initial_reconnect_backoff_ms': 250,
        'grpc.max_reconnect_backoff_ms': Math.max(1000, this.#target.intervalMs),
        'grpc.enable_retries': 0,
      },
    ));
    return new Promise<ProbeOutcome>((resolve) => {
      const call = client.makeUnaryRequest(
        HEALTH_CHECK_METHOD,
        (request: Buffer) => request,
        (response: Buffer) => response,
        this.#request,
        new Metadata(),
        { deadline: Date.now() + this.#target.timeoutMs },
        (err: ServiceError | null, response?: Buffer) => {
          signal.removeEventListener('abort', onAbort);
          resolve(err === null ? servingOutcome(response!) : this.#failure(err));
        },
      );
      // The deadline cancels the call: grpc-js sends RST_STREAM (CANCEL), so the server stops its work too.
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #failure(err: ServiceError): ProbeOutcome {
    if (err.code === status.UNAVAILABLE && this.#credentials instanceof TlsCredentials) {
      const handshake = this.#credentials.lastError;
      if (handshake !== undefined && classifyError(handshake) === 'tls') return failureOutcome('tls', handshake);
    }
    const reason = STATUS_REASONS.get(err.code) ?? 'other';
    const name = status[err.code] ?? String(err.code);
    return { ok: false, reason, message: `${name}: ${err.details || err.message}` };
  }
}

/** servingOutcome reads a HealthCheckResponse: SERVING is a success, anything else `status`. */
function servingOutcome(response: Buffer): ProbeOutcome {
  const serving = decodeServingStatus(response);
  if (serving === undefined) return { ok: false, reason: 'bad_reply', message: 'undecodable HealthCheckResponse' };
  if (serving === ServingStatus.SERVING) return { ok: true };
  return { ok: false, reason: 'status', message: `health status ${SERVING_STATUS_NAMES[serving] ?? serving}` };
}

/** encodeHealthCheckRequest is HealthCheckRequest { string service = 1 } in protobuf's wire format. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

/**
 * decodeServingStatus reads field 1 (the enum status) of a HealthCheckResponse, skipping any other field;
 * an absent field is its default, UNKNOWN (0). Undefined when the bytes are not a protobuf message.
 */
export function decodeServingStatus(bytes: Buffer): number | undefined {
  let at = 0;
  let serving = 0;
  const readVarint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= bytes.length) return undefined;
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  while (at < bytes.length) {
    const key = readVarint();
    if (key === undefined) return undefined;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const value = readVarint();
      if (value === undefined) return undefined;
      if (field === 1) serving = value;
    } else if (wire === 2) {
      const length = readVarint();
      if (length === undefined || at + length > bytes.length) return undefined;
      at += length;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > bytes.length) return undefined;
    } else return undefined;
  }
  return serving;
}

function varint(value: number): Buffer {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

/** SecureConnection is what a grpc-js secure connector answers for a socket (its SecureConnectResult). */
interface SecureConnection {
  socket: Socket;
  secure: boolean;
}

/**
 * SocketCredentials are a target's plaintext channel credentials: grpc-js hands every TCP socket it
 * connected to the credentials' connector (grpc-js's ChannelCredentials contract, `_createSecureConnector`),
 * which keeps it until it closes, so that endSockets() can end what the channel's own close leaves.
 */
class SocketCredentials extends ChannelCredentials {
  readonly #sockets = new Set<Socket>();

  _isSecure(): boolean {
    return false;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(): {
    connect(socket: Socket): Promise<SecureConnection>;
    waitForReady(): Promise<void>;
    getCallCredentials(): CallCredentials;
    destroy(): void;
  } {
    return {
      connect: (socket) => {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        return this.connect(socket);
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => CallCredentials.createEmpty(),
      destroy: () => {},
    };
  }

  /** connect turns a connected TCP socket into the channel's transport socket: here, the socket itself. */
  protected connect(socket: Socket): Promise<SecureConnection> {
    return Promise.resolve({ socket, secure: false });
  }

  /**
   * endSockets gives the channel's sockets graceMs to close after the channel did (a session that was up
   * sends GOAWAY and ends), then resets the rest: a plain destroy() does not end a socket whose HTTP/2
   * session still waits for the server's first frame.
   */
  async endSockets(graceMs: number): Promise<void> {
    const closing = [...this.#sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    const grace = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all(closing), grace]);
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
  }
}

/**
 * TlsCredentials are a TLS target's channel credentials: the connector makes the TLS socket itself. Its
 * TLS settings are the target's `tls` block; its socket is shown to the target's CertificateWatch; the
 * error of the last failed handshake is kept (lastError), since the call that fails meanwhile sees only
 * UNAVAILABLE.
 */
class TlsCredentials extends SocketCredentials {
  readonly watch = new CertificateWatch();
  lastError: Error | undefined;
  readonly #settings: TargetTls;
  readonly #host: string;

  constructor(address: string, settings: TargetTls) {
    super();
    this.#settings = settings;
    this.#host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  }

  override _isSecure(): boolean {
    return true;
  }

  protected override connect(socket: Socket): Promise<SecureConnection> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        this.lastError = err;
        reject(err);
      };
      let secure: tls.TLSSocket;
      try {
        const servername = serverNameFor(this.#settings, this.#host);
        secure = tls.connect({
          socket,
          host: this.#host,
          ...clientTlsOptions(this.#settings),
          ...(servername === undefined ? {} : { servername }),
          ALPNProtocols: ['h2'],
        });
      } catch (err) {
        fail(err as Error); // a tls file that cannot be read
        return;
      }
      this.watch.watch(secure);
      secure.once('secureConnect', () => {
        this.lastError = undefined;
        resolve({ socket: secure, secure: true });
      });
      secure.once('error', fail);
    });
  }
}
