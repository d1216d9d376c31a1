/**
 * amqp: publishes one message to a server-named, exclusive, auto-delete queue of its own and consumes it
 * (amqplib); the duration is that round trip, from publish to delivery. One connection, one channel and
 * one queue per target, kept between runs (round-trip.ts keeps them, and drops them when they break or
 * a message does not come back in time).
 *
 * Nothing is left on the broker: the queue is exclusive (the broker deletes it with the connection) and
 * auto-delete (and with its consumer), messages are transient, are consumed without acks and expire after
 * the target's timeout, so a message that does not come back is not kept for long either. The connection
 * is named `probex:<target>` (its connection_name), as the broker's connection list shows it.
 *
 * The connect is cancelled at the deadline: amqplib hands its socket options to net.connect or
 * tls.connect, and the AbortSignal among them destroys the socket, during the TCP connect, the TLS or
 * the AMQP handshake alike, and later when the session is dropped.
 *
 * TLS (amqps://): amqplib makes its TLS socket where nothing can see it, so the certificate's dates are
 * recorded by the identity check Node calls for a certificate that verified (recordingTlsOptions), and a
 * certificate that fails verification or is accepted unverified is read with a handshake of its own
 * that sends no AMQP byte (peekCertificate), as the redis kind does.
 */
import { connect, type Channel, type ChannelModel, type SocketOptions } from 'amqplib';
import type { ConnectionOptions } from 'node:tls';
import type { Probe, ProbeFailureReason, Prober, TargetBase, TargetTls } from './probe.ts';
import { RoundTripProber, SessionLostError, type Session, type SessionEvents } from './round-trip.ts';
import { CertificateWatch, peekCertificate, recordingTlsOptions, serverNameFor } from './tls.ts';

export interface AmqpTarget extends TargetBase {
  readonly kind: 'amqp';
  /** url like amqp://user:pass@host:5672/vhost; amqps:// connects with TLS. */
  readonly url: string;
  /** tls is the TLS settings of an amqps:// URL (DEFAULT_TLS when the target has no `tls` block). */
  readonly tls?: TargetTls;
}

/** AMQP_CONNECTION_NAME_PREFIX starts the connection_name every probe connection gives (`probex:<target>`). */
export const AMQP_CONNECTION_NAME_PREFIX = 'probex:';

/** CLOSE_GRACE_MS is how long a polite close (Connection.Close, CloseOk) may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** amqpProbe makes probers that send a message through an AMQP 0-9-1 broker (RabbitMQ) and receive it. */
export const amqpProbe: Probe<AmqpTarget> = {
  kind: 'amqp',
  create(target: AmqpTarget): Prober {
    const tls = target.tls === undefined ? undefined : new HiddenCertificate(target.url, target.tls);
    return new RoundTripProber({
      timeoutMs: target.timeoutMs,
      open: (signal, events) => openSession(target, tls, signal, events),
      classify: classifyAmqp,
      ...(tls === undefined
        ? {}
        : { certificates: tls.watch, afterFailure: (reason, signal) => tls.afterFailure(reason, signal) }),
    });
  },
};

/**
 * classifyAmqp reads amqplib's handshake errors, which carry no code: a refused login is the broker's
 * 403 ACCESS_REFUSED; a vhost the user may not open (or that does not exist) closes the connection in
 * place of Connection.OpenOk (530 NOT_ALLOWED).
 */
export function classifyAmqp(err: unknown): ProbeFailureReason | undefined {
  const message = err instanceof Error ? err.message : '';
  if (/\bACCESS[-_]REFUSED\b/.test(message)) return 'auth';
  if (message.startsWith('Expected ConnectionOpenOk; got <ConnectionClose')) return 'auth';
  return undefined;
}

async function openSession(
  target: AmqpTarget,
  tls: HiddenCertificate | undefined,
  signal: AbortSignal,
  events: SessionEvents,
): Promise<Session> {
  // The socket listens to `hangUp`, which ends the session's connection at once (see close below).
  const hangUp = new AbortController();
  const onAbort = (): void => hangUp.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let model: ChannelModel | undefined;
  let closing = false;
  try {
    // `signal` is net.connect's and tls.connect's option; amqplib passes its socket options on to them.
    const options: SocketOptions & { signal: AbortSignal } = {
      signal: hangUp.signal,
      clientProperties: { connection_name: `${AMQP_CONNECTION_NAME_PREFIX}${target.name}` },
      ...(tls === undefined ? {} : tls.options()),
    };
    model = await connect(target.url, options);
    model.on('error', reportedByClose);
    model.on('close', (err?: Error) => {
      if (!closing) events.broken(err ?? new SessionLostError('the broker closed the connection'));
    });
    const channel: Channel = await model.createChannel();
    channel.on('error', reportedByClose);
    channel.on('close', () => {
      if (!closing) events.broken(new SessionLostError('the broker closed the channel'));
    });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.consume(
      queue,
      (message) => {
        // null: the broker cancelled the consumer (the queue was deleted under it).
        if (message === null) events.broken(new SessionLostError('the broker cancelled the consumer'));
        else events.received(message.content.toString());
      },
      { noAck: true, exclusive: true },
    );
    if (tls !== undefined) await tls.afterOpen(signal);
    const opened = model;
    return {
      send: (body) => {
        channel.sendToQueue(queue, Buffer.from(body), { persistent: false, expiration: String(target.timeoutMs) });
      },
      close: () => {
        closing = true;
        hangUpAfter(opened, hangUp);
      },
    };
  } catch (err) {
    closing = true;
    if (model === undefined) hangUp.abort();
    else hangUpAfter(model, hangUp);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** hangUpAfter closes a connection politely, and destroys its socket if the broker does not answer in time. */
function hangUpAfter(model: ChannelModel, hangUp: AbortController): void {
  const timer = setTimeout(() => hangUp.abort(), CLOSE_GRACE_MS);
  timer.unref();
  model.close().then(
    () => {
      clearTimeout(timer);
      hangUp.abort();
    },
    () => {
      clearTimeout(timer);
      hangUp.abort(); // already closed, or the socket failed: nothing more to say to the broker
    },
  );
}

/**
 * reportedByClose is the 'error' listener of the connection and the channel: amqplib emits 'close' after
 * every 'error', and the close is what drops the session. Without a listener, the event would throw.
 */
function reportedByClose(): void {}

/** HiddenCertificate records the certificate of an amqps:// connection whose TLS socket amqplib keeps to itself. */
class HiddenCertificate {
  readonly watch = new CertificateWatch();
  readonly #settings: TargetTls;
  readonly #host: string;
  readonly #port: number;
  /** #seen: the identity check recorded the current connection's certificate. */
  #seen = false;

  constructor(url: string, settings: TargetTls) {
    const parsed = new URL(url);
    this.#settings = settings;
    this.#host = parsed.hostname.replace(/^\[|\]$/g, '');
    this.#port = parsed.port === '' ? 5671 : Number(parsed.port);
  }

  /** options are the connection's TLS options (read now: a renewed client certificate is used from here on). */
  options(): ConnectionOptions {
    this.#seen = false;
    const servername = serverNameFor(this.#settings, this.#host);
    return {
      ...recordingTlsOptions(this.#settings, (dates) => {
        this.watch.latest = dates;
        this.#seen = true;
      }),
      ...(servername === undefined ? {} : { servername }),
    };
  }

  /** afterOpen reads the certificate of a connection that opened without the identity check (insecureSkipVerify). */
  async afterOpen(signal: AbortSignal): Promise<void> {
    if (!this.#seen) await this.#peek(signal);
  }

  /** afterFailure reads the certificate a failed handshake rejected. */
  async afterFailure(reason: ProbeFailureReason, signal: AbortSignal): Promise<void> {
    if (reason === 'tls') await this.#peek(signal);
  }

  async #peek(signal: AbortSignal): Promise<void> {
    const dates = await peekCertificate(this.#host, this.#port, this.#settings, signal);
    if (dates !== undefined) this.watch.latest = dates;
  }
}
