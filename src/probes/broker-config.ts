/**
 * The config of the broker kinds (amqp, mqtt, nats): their keys (zod) and how a parsed entry becomes
 * the kind's target. Apart from the probes, so config never loads a broker client and the
 * probe workers never load zod.
 */
import { z } from 'zod';
import { targetUrl, type KindConfig } from '../config/fields.ts';
import type { AmqpTarget } from './amqp.ts';
import type { MqttTarget } from './mqtt.ts';
import type { NatsTarget } from './nats.ts';
import { finishSchemeTls, finishTls, tlsField } from './tls-config.ts';

/**
 * MQTT_TOPIC_RE is a topic one may publish to (MQTT 3.1.1 §4.7): not empty, no wildcard (+ #), no control character (NUL is forbidden),
 * and not a `$` topic, which brokers keep for themselves ($SYS).
 */
const MQTT_TOPIC_RE = /^[^$+#\p{Cc}][^+#\p{Cc}]*$/u;

const amqpFields = {
  kind: z.literal('amqp'),
  url: targetUrl({ schemes: ['amqp', 'amqps'] }),
  tls: tlsField,
};

const mqttFields = {
  kind: z.literal('mqtt'),
  url: targetUrl({ schemes: ['mqtt', 'mqtts'] }),
  /** topic: absent, `probex/<target>/<random>` (one per prober, so nothing else publishes there). */
  topic: z
    .string()
    .max(1024)
    .regex(MQTT_TOPIC_RE, 'must be a topic to publish to: no + or # wildcard, not starting with $')
    .optional(),
  qos: z.union([z.literal(0), z.literal(1)]).default(0),
  tls: tlsField,
};

const natsFields = {
  kind: z.literal('nats'),
  url: targetUrl({ schemes: ['nats'] }),
  tls: tlsField,
};

/** amqpConfig: amqps:// speaks TLS (a `tls` block applies to it alone). */
export const amqpConfig: KindConfig<typeof amqpFields, AmqpTarget> = {
  fields: amqpFields,
  finish(t, at, issues) {
    const tls = finishSchemeTls(t.tls, t.url.startsWith('amqps:'), 'amqps://', `${at}.tls`, issues);
    return { url: t.url, ...(tls === undefined ? {} : { tls }) };
  },
};

/** mqttConfig: mqtts:// speaks TLS (a `tls` block applies to it alone). */
export const mqttConfig: KindConfig<typeof mqttFields, MqttTarget> = {
  fields: mqttFields,
  finish(t, at, issues) {
    const tls = finishSchemeTls(t.tls, t.url.startsWith('mqtts:'), 'mqtts://', `${at}.tls`, issues);
    return {
      url: t.url,
      qos: t.qos,
      ...(t.topic === undefined ? {} : { topic: t.topic }),
      ...(tls === undefined ? {} : { tls }),
    };
  },
};

/** natsConfig: the `tls` key alone makes a nats target upgrade to TLS. */
export const natsConfig: KindConfig<typeof natsFields, NatsTarget> = {
  fields: natsFields,
  finish(t) {
    const tls = finishTls(t.tls);
    return { url: t.url, ...(tls === undefined ? {} : { tls }) };
  },
};
