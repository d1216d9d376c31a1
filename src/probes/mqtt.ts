/**
 * mqtt: subscribes to a topic of its own, publishes one message to it and receives it (MQTT.js, MQTT
 * 3.1.1); the duration is that round trip, from publish to arrival. One connection and one subscription
 * per target, kept between runs (round-trip.ts keeps them, and drops them when they break or a message
 * does not come back in time).
 *
 * Nothing is left on the broker: the session is clean (the broker forgets the subscription when the
 * connection closes), messages are never retained, and the client id is random, so no other session is
 * taken over. The topic is `probex/<target>/<random>` unless the target names one.
 *
 * Reconnection is round-trip.ts's, not MQTT.js's: `reconnectPeriod: 0` makes a broken connection stay
 * closed, and a later run opens a new one. At the deadline, a connect still in progress is ended.
 *
 * TLS (mqtts://): MQTT.js makes its TLS socket when the client is created, before the handshake, so the
 * target's CertificateWatch sees it and reports the certificate whether or not it verifies.
 */
import { connect, type IClientOptions } from 'mqtt';
import type { Probe, ProbeFailureReason, Prober, TargetBase, TargetTls } from './probe.ts';
import { RoundTripProber, SessionLostError, uniqueSuffix, type Session, type SessionEvents } from './round-trip.ts';
import { CertificateWatch, clientTlsOptions } from './tls.ts';
import type { TLSSocket } from 'node:tls';

export interface MqttTarget extends TargetBase {
  readonly kind: 'mqtt';
  /** url like mqtt://[user:pass@]host:1883; mqtts:// connects with TLS. */
  readonly url: string;
  /** topic is published to and subscribed to; undefined: `probex/<target>/<random>`, one per prober. */
  readonly topic?: string;
  readonly qos: 0 | 1;
  /** tls is the TLS settings of an mqtts:// URL (DEFAULT_TLS when the target has no `tls` block). */
  readonly tls?: TargetTls;
}

/** MQTT_CLIENT_ID_PREFIX starts every probe connection's client id (`probex-<random>`, 23 characters). */
export const MQTT_CLIENT_ID_PREFIX = 'probex-';

/** mqttProbe makes probers that send a message through an MQTT broker and receive it. */
export const mqttProbe: Probe<MqttTarget> = {
  kind: 'mqtt',
  create(target: MqttTarget): Prober {
    const topic = target.topic ?? defaultTopic(target.name);
    const watch = target.tls === undefined ? undefined : new CertificateWatch();
    return new RoundTripProber({
      timeoutMs: target.timeoutMs,
      open: (signal, events) => openSession(target, topic, watch, signal, events),
      classify: classifyMqtt,
      ...(watch === undefined ? {} : { certificates: watch }),
    });
  },
};

/** defaultTopic is `probex/<target>/<random>`, the target's name without the characters MQTT gives a meaning. */
export function defaultTopic(target: string): string {
  return `probex/${target.replace(/[^A-Za-z0-9_.-]/g, '_')}/${uniqueSuffix()}`;
}

/**
 * classifyMqtt reads a refused CONNECT: its CONNACK return code (MQTT 3.1.1 §3.2.2.3; MQTT.js puts it in
 * `code`) is 4 for a bad user name or password and 5 for a client that is not authorized.
 */
export function classifyMqtt(err: unknown): ProbeFailureReason | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 4 || code === 5) return 'auth';
  if (code === 1 || code === 2 || code === 3) return 'refused'; // protocol version, client id, server unavailable
  return undefined;
}

async function openSession(
  target: MqttTarget,
  topic: string,
  watch: CertificateWatch | undefined,
  signal: AbortSignal,
  events: SessionEvents,
): Promise<Session> {
  const client = connect(target.url, clientOptions(target));
  if (watch !== undefined && client.stream !== undefined) watch.watch(client.stream as TLSSocket);
  let closing = false;
  const close = (): void => {
    closing = true;
    client.end(true);
  };
  // Errors after the connect also close the connection, which is what drops the session ('close').
  client.on('error', () => {});
  // Until the session is open, the opening's deadline ends the connection (the connect, the SUBSCRIBE).
  signal.addEventListener('abort', close, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => finish(signal.reason);
      const onClose = (): void => finish(new SessionLostError('the connection closed before the broker accepted it'));
      const finish = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        client.off('connect', onConnect).off('error', finish).off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onConnect = (): void => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      client.once('connect', onConnect).once('error', finish).once('close', onClose);
    });
    client.on('close', () => {
      if (!closing) events.broken(new SessionLostError('the broker closed the connection'));
    });
    client.on('message', (at, payload) => {
      if (at === topic) events.received(payload.toString());
    });
    const granted = await client.subscribeAsync(topic, { qos: target.qos });
    if (granted[0]?.qos === 128)
      throw Object.assign(new Error(`the broker refused the subscription to ${topic}`), { code: 5 });
    if (signal.aborted) throw signal.reason;
  } catch (err) {
    close();
    throw err;
  } finally {
    signal.removeEventListener('abort', close);
  }
  return {
    send: (body) => {
      client.publish(topic, body, { qos: target.qos, retain: false });
    },
    close,
  };
}

function clientOptions(target: MqttTarget): IClientOptions {
  return {
    clientId: `${MQTT_CLIENT_ID_PREFIX}${uniqueSuffix()}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: target.timeoutMs,
    queueQoSZero: false,
    resubscribe: false,
    ...(target.tls === undefined ? {} : tlsOptions(target.tls)),
  };
}

/** tlsOptions are the MQTT.js options of the target's `tls` block (MQTT.js hands them to tls.connect). */
function tlsOptions(tls: TargetTls): IClientOptions {
  return clientTlsOptions(tls) as IClientOptions;
}
