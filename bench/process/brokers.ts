/**
 * amqp, mqtt and nats probe throughput through probex against a bare client loop of the same library
 * (bench/lib/probe-rate.ts), on the machine's RabbitMQ, Mosquitto and NATS. The bare loop does what a probe
 * does, on one connection of its own: amqplib publishes to an exclusive server-named queue it consumes,
 * MQTT.js publishes to a topic it subscribes to (QoS 0), the NATS client publishes to an inbox subject it
 * subscribes to; each call waits for its own message to come back.
 * `npm run bench:brokers [-- --seconds 5 --rounds 3 --concurrency 16 --kind amqp|mqtt|nats]`.
 */
import { connect as connectNats } from '@nats-io/transport-node';
import { connect as connectAmqp } from 'amqplib';
import { connectAsync as connectMqtt } from 'mqtt';
import { randomUUID } from 'node:crypto';
import { AMQP_URL, MQTT_URL, NATS_URL } from '../../support/services.ts';
import { compareRates, rateOptions, type RateCase } from '../lib/probe-rate.ts';

const options = rateOptions(['amqp', 'mqtt', 'nats']);
const { concurrency } = options;

/** RoundTrips hands each arriving message to the call that sent it. */
class RoundTrips {
  readonly #waiting = new Map<string, () => void>();
  #next = 0;

  /** call sends one message with `send` and resolves when `arrived` is given its id. */
  call(send: (id: string) => void): Promise<void> {
    const id = String(++this.#next);
    return new Promise<void>((resolve) => {
      this.#waiting.set(id, resolve);
      send(id);
    });
  }

  arrived(id: string): void {
    const resolve = this.#waiting.get(id);
    this.#waiting.delete(id);
    resolve?.();
  }
}

async function setup(kind: string): Promise<RateCase> {
  const trips = new RoundTrips();
  const target = (url: string, more = ''): string =>
    `{ name: bench, kind: ${kind}, url: "${url}"${more}, interval: 0, concurrency: ${concurrency} }`;
  if (kind === 'amqp') {
    const model = await connectAmqp(AMQP_URL);
    const channel = await model.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.consume(queue, (m) => m && trips.arrived(m.content.toString()), { noAck: true });
    return {
      bare: () => trips.call((id) => channel.sendToQueue(queue, Buffer.from(id), { persistent: false })),
      target: target(AMQP_URL),
      stop: () => model.close(),
    };
  }
  if (kind === 'mqtt') {
    const topic = `probex/bench/${randomUUID()}`;
    const client = await connectMqtt(MQTT_URL, { clean: true, reconnectPeriod: 0 });
    client.on('message', (_topic, payload) => trips.arrived(payload.toString()));
    await client.subscribeAsync(topic, { qos: 0 });
    return {
      bare: () => trips.call((id) => client.publish(topic, id, { qos: 0, retain: false })),
      target: target(MQTT_URL, ', qos: 0'),
      stop: () => client.endAsync(),
    };
  }
  const subject = `_INBOX.probex.bench.${randomUUID()}`;
  const nc = await connectNats({ servers: new URL(NATS_URL).host });
  nc.subscribe(subject, { callback: (_err, m) => trips.arrived(m.string()) });
  return {
    bare: () => trips.call((id) => nc.publish(subject, id)),
    target: target(NATS_URL),
    stop: () => nc.close(),
  };
}

await compareRates('brokers', options, setup);
