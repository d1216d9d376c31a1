import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const yaml = (targets: string): string => `targets:\n${targets}`;

test('amqp, mqtt and nats targets load with their defaults; amqps:// and mqtts:// speak TLS', () => {
  const config = loadConfig({
    yaml: yaml(`  - { name: q, kind: amqp, url: "amqp://guest:guest@127.0.0.1:5672/" }
  - { name: qs, kind: amqp, url: "amqps://u:p@rabbit:5671/app" }
  - { name: m, kind: mqtt, url: "mqtt://127.0.0.1:1883" }
  - { name: ms, kind: mqtt, url: "mqtts://broker:8883", topic: "health/probex", qos: 1 }
  - { name: n, kind: nats, url: "nats://127.0.0.1:4222" }
  - { name: nt, kind: nats, url: "nats://nats:4222", tls: { insecureSkipVerify: true } }
`),
  }).config;
  const [q, qs, m, ms, n, nt] = config.targets;
  assert.deepEqual([q?.kind, q && 'tls' in q], ['amqp', false]);
  assert.deepEqual(qs?.kind === 'amqp' && qs.tls, { insecureSkipVerify: false });
  assert.deepEqual(m?.kind === 'mqtt' && [m.qos, m.topic, 'tls' in m], [0, undefined, false]);
  assert.deepEqual(ms?.kind === 'mqtt' && [ms.qos, ms.topic, ms.tls], [
    1,
    'health/probex',
    { insecureSkipVerify: false },
  ]);
  assert.deepEqual([n?.kind, n && 'tls' in n], ['nats', false]);
  assert.deepEqual(nt?.kind === 'nats' && nt.tls, { insecureSkipVerify: true });
});

test('broker targets are checked: scheme, topic wildcards and $ topics, qos, a tls block on a plaintext scheme', () => {
  const problems = (targets: string): string => {
    try {
      loadConfig({ yaml: yaml(targets) });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    assert.fail('the config loaded');
  };
  assert.match(
    problems('  - { name: a, kind: amqp, url: "http://h:5672" }\n'),
    /targets\[0\]\.url: must be a amqp:\/\/ or amqps:\/\/ URL/,
  );
  assert.match(
    problems('  - { name: a, kind: mqtt, url: "mqtt://h", topic: "a/+/b" }\n'),
    /targets\[0\]\.topic: must be a topic to publish to/,
  );
  assert.match(problems('  - { name: a, kind: mqtt, url: "mqtt://h", topic: "$SYS/x" }\n'), /targets\[0\]\.topic/);
  assert.match(problems('  - { name: a, kind: mqtt, url: "mqtt://h", qos: 2 }\n'), /targets\[0\]\.qos/);
  assert.match(
    problems('  - { name: a, kind: amqp, url: "amqp://h", tls: true }\n'),
    /targets\[0\]\.tls: applies to amqps:\/\/ URLs only/,
  );
  assert.match(
    problems('  - { name: a, kind: nats, url: "tls://h:4222" }\n'),
    /targets\[0\]\.url: must be a nats:\/\/ URL/,
  );
});
