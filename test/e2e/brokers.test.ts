/**
 * The broker kinds through the real probex process, against the machine's RabbitMQ, Mosquitto and NATS:
 * round trips counted, a wrong password counted as auth without showing it, an outage (a proxy in
 * front of each broker, cut and restored by the test) counted and recovered from, promtool clean, and
 * nothing left on the brokers once probex exited: no queue or connection on RabbitMQ (rabbitmqctl), no
 * subscription on NATS (a request to each subject probex used finds no responder), no retained message
 * on Mosquitto.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { connectAsync as connectMqtt } from 'mqtt';
import { NATS_SUBJECT_PREFIX } from '../../src/probes/nats.ts';
import { findSamples, firstSampleValue, scrapeSamples, type ExpositionSample } from '../../support/exposition.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { AMQP_URL, MQTT_URL, NATS_URL, requireService } from '../../support/services.ts';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.ts';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';
const PREFIX = `e2e-${process.pid}`;

/** rabbit runs rabbitmqctl with JSON output; undefined when it cannot (not installed, not allowed). */
function rabbit(args: string[]): Array<Record<string, unknown>> | undefined {
  const out = spawnSync(RABBITMQCTL, ['-q', ...args, '--formatter', 'json'], { encoding: 'utf8', timeout: 60_000 });
  if (out.error !== undefined || out.status !== 0) return undefined;
  return JSON.parse(out.stdout) as Array<Record<string, unknown>>;
}

/** probexConnections are the pids of RabbitMQ connections named `probex:<PREFIX>...` (AMQP_CONNECTION_NAME_PREFIX). */
function probexConnections(): string[] | undefined {
  const rows = rabbit(['list_connections', 'pid', 'client_properties']);
  if (rows === undefined) return undefined;
  return rows
    .filter((row) => {
      const props = row.client_properties;
      const pairs = Array.isArray(props) ? (props as unknown[][]) : Object.entries((props ?? {}) as object);
      return pairs.some((pair) => pair[0] === 'connection_name' && String(pair.at(-1)).startsWith(`probex:${PREFIX}`));
    })
    .map((row) => String(row.pid));
}

/** queuesOf are the names of the queues owned by those connections. */
function queuesOf(pids: readonly string[]): string[] {
  const rows = rabbit(['list_queues', 'name', 'owner_pid']) ?? [];
  return rows.filter((row) => pids.includes(String(row.owner_pid))).map((row) => String(row.name));
}

function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}

test('amqp, mqtt and nats targets count round trips through probex; an outage is counted and recovered from; nothing is left on the brokers after exit', async (t) => {
  for (const [service, url] of [
    ['amqp', AMQP_URL],
    ['mqtt', MQTT_URL],
    ['nats', NATS_URL],
  ] as const)
    if (!(await requireService(t, service, url))) return;
  const rabbitmqctl = rabbit(['list_queues', 'name']) !== undefined;
  if (!rabbitmqctl && process.env.CI === 'true') assert.fail(`${RABBITMQCTL} cannot list RabbitMQ's queues`);

  const proxies: Record<'amqp' | 'mqtt' | 'nats', TcpProxy> = {
    amqp: await startTcpProxy({ upstreamPort: Number(new URL(AMQP_URL).port) }),
    mqtt: await startTcpProxy({ upstreamPort: Number(new URL(MQTT_URL).port) }),
    nats: await startTcpProxy({ upstreamPort: Number(new URL(NATS_URL).port) }),
  };
  t.after(() => Promise.all(Object.values(proxies).map((p) => p.stop())));

  // A second NATS client sees the subjects probex publishes to, to ask about them once probex exited.
  const watcher: NatsConnection = await connectNats({ servers: new URL(NATS_URL).host });
  t.after(() => watcher.close());
  const subjects = new Set<string>();
  const seeing = watcher.subscribe(`${NATS_SUBJECT_PREFIX}>`, {
    callback: (_err, message) => void subjects.add(message.subject),
  });
  await watcher.flush();

  const wrong = new URL(AMQP_URL);
  wrong.password = 'wrong-secret-8813';
  const probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: ${PREFIX}-amqp, kind: amqp, url: "${withPort(AMQP_URL, proxies.amqp.port)}", interval: 200ms, timeout: 200ms, concurrency: 2 }
  - { name: ${PREFIX}-mqtt, kind: mqtt, url: "${withPort(MQTT_URL, proxies.mqtt.port)}", qos: 1, interval: 200ms, timeout: 200ms }
  - { name: ${PREFIX}-nats, kind: nats, url: "${withPort(NATS_URL, proxies.nats.port)}", interval: 200ms, timeout: 200ms, concurrency: 2 }
  - { name: ${PREFIX}-amqp-wrong, kind: amqp, url: "${wrong.toString()}", interval: 500ms, timeout: 500ms }
`);
  let stopped = false;
  t.after(() => (stopped ? undefined : probex.stop()));
  const scrape = (): Promise<ExpositionSample[]> => scrapeSamples(probex.url);
  const value = firstSampleValue;
  const kinds = ['amqp', 'mqtt', 'nats'] as const;

  const first = await waitFor(
    'every broker target up with five round trips, and the wrong password failing as auth',
    async () => {
      const s = await scrape();
      const ok = kinds.every(
        (kind) =>
          value(s, 'probex_probe_up', { target: `${PREFIX}-${kind}` }) === 1 &&
          value(s, 'probex_probe_duration_seconds_count', { target: `${PREFIX}-${kind}` }) >= 5,
      );
      return ok && value(s, 'probex_probe_errors_total', { target: `${PREFIX}-amqp-wrong`, reason: 'auth' }) >= 2
        ? s
        : undefined;
    },
    30_000,
  );
  assert.equal(value(first, 'probex_probe_up', { target: `${PREFIX}-amqp-wrong` }), 0);
  for (const kind of kinds) assert.equal(proxies[kind].open(), 1, `${kind}: one connection for the target`);

  // What the brokers hold while probex runs: the checks below would see a leftover.
  let pids: string[] = [];
  if (rabbitmqctl) {
    pids = probexConnections() ?? [];
    assert.equal(pids.length, 1, 'one RabbitMQ connection, named after its target');
    assert.equal(queuesOf(pids).length, 1, 'one queue, owned by that connection');
  }
  assert.ok(subjects.size >= 1, 'the watcher saw probex publish');
  // The watcher's own subscription would answer for every subject: it goes before asking.
  seeing.unsubscribe();
  await watcher.flush();
  // probex's subscription answers nobody, so a request to it times out where one to a subject without a
  // subscriber fails at once with "no responders". A round that misses its deadline on a loaded runner
  // drops the session and the next round subscribes again, so the question is asked until one finds it.
  const [subject] = subjects;
  await waitFor(
    'probex subscribed to its subject while it runs',
    () =>
      watcher.request(subject!, '', { timeout: 500 }).then(
        () => assert.fail('nobody answers on the subject probex receives on'),
        (err: Error) => (/no responders/.test(err.message) ? undefined : true),
      ),
    10_000,
  );

  const text = await (await fetch(`${probex.url}/metrics`)).text();
  assert.doesNotMatch(text, /wrong-secret-8813/);
  const promtool = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    if (process.env.CI === 'true') assert.fail(`${PROMTOOL} is not installed; CI must install it`);
  } else {
    assert.equal(`${promtool.stdout}${promtool.stderr}`.trim(), '', 'promtool check metrics has no complaint');
    assert.equal(promtool.status, 0);
  }

  // The outage: every proxy is cut; the failures are counted, then the targets recover once it is restored.
  const failures = (s: ExpositionSample[], kind: string): number =>
    findSamples(s, 'probex_probe_errors_total', { target: `${PREFIX}-${kind}` }).reduce((a, x) => a + x.value, 0);
  const before = Object.fromEntries(kinds.map((kind) => [kind, failures(first, kind)]));
  await Promise.all(kinds.map((kind) => proxies[kind].cut()));
  await waitFor(
    'every broker target down, with refused failures counted',
    async () => {
      const s = await scrape();
      return kinds.every(
        (kind) =>
          value(s, 'probex_probe_up', { target: `${PREFIX}-${kind}` }) === 0 &&
          failures(s, kind) > before[kind]! &&
          value(s, 'probex_probe_errors_total', { target: `${PREFIX}-${kind}`, reason: 'refused' }) >= 1,
      )
        ? true
        : undefined;
    },
    15_000,
  );
  await Promise.all(kinds.map((kind) => proxies[kind].restore()));
  await waitFor(
    'every broker target up again',
    async () => {
      const s = await scrape();
      return kinds.every((kind) => value(s, 'probex_probe_up', { target: `${PREFIX}-${kind}` }) === 1)
        ? true
        : undefined;
    },
    15_000,
  );
  for (const kind of kinds) assert.equal(proxies[kind].open(), 1, `${kind}: one connection again`);
  const logs = JSON.stringify(probex.logs) + probex.output().stderr;
  assert.doesNotMatch(logs, /wrong-secret-8813/);

  stopped = true;
  await probex.stop();
  assert.deepEqual(await probex.exited, { code: 0, signal: null });

  // Nothing is left once probex exited.
  for (const kind of kinds)
    await waitFor(`${kind}: no connection open`, async () => (proxies[kind].open() === 0 ? true : undefined), 5000);
  if (rabbitmqctl) {
    assert.deepEqual(probexConnections(), [], 'no probex connection on RabbitMQ');
    assert.deepEqual(queuesOf(pids), [], 'no probex queue on RabbitMQ');
  }
  for (const seen of subjects)
    await assert.rejects(watcher.request(seen, '', { timeout: 2000 }), /no responders/, `${seen} has no subscriber`);
  const mqtt = await connectMqtt(MQTT_URL, { clean: true, reconnectPeriod: 0 });
  t.after(() => mqtt.endAsync(true));
  const retained: string[] = [];
  mqtt.on('message', (topic, _payload, packet) => {
    if (packet.retain) retained.push(topic);
  });
  await mqtt.subscribeAsync(`probex/${PREFIX}-mqtt/#`, { qos: 1 });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(retained, [], 'no retained message under the target topic');
});
