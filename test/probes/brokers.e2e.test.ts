/**
 * The broker kinds (amqp, mqtt, nats) against the machine's real RabbitMQ, Mosquitto and NATS: round
 * trips counted, one connection kept for many runs, a wrong password, a closed port, a deadline, an
 * outage made by a proxy the test cuts and restores in front of the real broker (never the broker
 * itself), and TLS through a proxy that terminates it.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { amqpProbe, classifyAmqp } from '../../src/probes/amqp.ts';
import { classifyMqtt, defaultTopic, mqttProbe } from '../../src/probes/mqtt.ts';
import { connectionOptions, natsProbe } from '../../src/probes/nats.ts';
import type { AmqpTarget } from '../../src/probes/amqp.ts';
import type { MqttTarget } from '../../src/probes/mqtt.ts';
import type { NatsTarget } from '../../src/probes/nats.ts';
import type { Prober } from '../../src/probes/probe.ts';
import type { ProbeTarget } from '../../src/probes/registry.ts';
import { waitFor } from '../../support/probex-process.ts';
import {
  AMQP_URL,
  MQTT_URL,
  NATS_URL,
  requireService,
  TARGET_DEFAULTS,
  type ServiceName,
} from '../../support/services.ts';
import { startTcpProxy, type TcpProxy, type TcpProxyOptions } from '../../support/tcp-proxy.ts';
import { makePki } from '../helpers/certificates.ts';
import { reasonOf, run } from '../helpers/probe-outcome.ts';
import { closedPort, startSilentServer } from '../helpers/silent-server.ts';

type BrokerKind = 'amqp' | 'mqtt' | 'nats';
type BrokerTarget = AmqpTarget | MqttTarget | NatsTarget;

const URLS: Record<BrokerKind, string> = { amqp: AMQP_URL, mqtt: MQTT_URL, nats: NATS_URL };

/** withPort is `url` with its port (and, when given, its scheme) replaced. */
function withPort(url: string, port: number, scheme?: string): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  const text = parsed.toString();
  return scheme === undefined ? text : text.replace(/^[a-z]+:/, `${scheme}:`);
}

function target(kind: BrokerKind, url: string, more: Partial<BrokerTarget> = {}): ProbeTarget {
  const own = kind === 'mqtt' ? { qos: 1 as const } : {};
  return { ...TARGET_DEFAULTS, name: `${kind}-test`, kind, url, ...own, ...more } as ProbeTarget;
}

function prober(t: TestContext, made: ProbeTarget): Prober {
  const p =
    made.kind === 'amqp'
      ? amqpProbe.create(made)
      : made.kind === 'mqtt'
        ? mqttProbe.create(made)
        : natsProbe.create(made as NatsTarget);
  t.after(() => p.close());
  return p;
}

async function proxy(t: TestContext, options: TcpProxyOptions): Promise<TcpProxy> {
  const started = await startTcpProxy(options);
  t.after(() => started.stop());
  return started;
}

const upstreamPort = (kind: BrokerKind): number => Number(new URL(URLS[kind]).port);

for (const kind of ['amqp', 'mqtt', 'nats'] as const) {
  const need = (t: TestContext): Promise<boolean> => requireService(t, kind as ServiceName, URLS[kind]);

  test(`${kind}: round trips succeed, concurrent runs share one kept connection`, async (t) => {
    if (!(await need(t))) return;
    const relay = await proxy(t, { upstreamPort: upstreamPort(kind) });
    const p = prober(t, target(kind, withPort(URLS[kind], relay.port)));
    for (let i = 0; i < 3; i++) {
      const outcome = await run(p, 5000);
      assert.equal(reasonOf(outcome), 'ok', JSON.stringify(outcome));
      assert.ok(outcome.ok && typeof outcome.latencyUs === 'number' && outcome.latencyUs > 0);
    }
    const concurrent = await Promise.all(Array.from({ length: 16 }, () => run(p, 5000)));
    assert.deepEqual(
      concurrent.map(reasonOf),
      concurrent.map(() => 'ok'),
    );
    assert.equal(relay.accepted(), 1, 'one connection served every run');
    await p.close();
    await waitFor('the connection to close', async () => (relay.open() === 0 ? true : undefined), 5000);
  });

  test(`${kind}: a closed port is refused`, async (t) => {
    const p = prober(t, target(kind, withPort(URLS[kind], await closedPort())));
    const outcome = await run(p);
    assert.equal(reasonOf(outcome), 'refused', JSON.stringify(outcome));
  });

  test(`${kind}: a server that never answers is a timeout at the deadline, and the connection is cancelled`, async (t) => {
    const silent = await startSilentServer();
    t.after(() => silent.close());
    const p = prober(t, target(kind, withPort(URLS[kind], silent.port), { timeoutMs: 300 }));
    const t0 = performance.now();
    const outcome = await p.run(AbortSignal.timeout(300));
    assert.equal(reasonOf(outcome), 'timeout', JSON.stringify(outcome));
    assert.ok(performance.now() - t0 < 300 + 500, 'settled soon after its deadline');
    // nats's connect takes no signal: its own timeout (the target's) ends it.
    await waitFor('the abandoned connect to be closed', async () => (silent.open() === 0 ? true : undefined), 3000);
  });

  test(`${kind}: an outage is counted as failures and recovered from in a later run`, async (t) => {
    if (!(await need(t))) return;
    const relay = await proxy(t, { upstreamPort: upstreamPort(kind) });
    const p = prober(t, target(kind, withPort(URLS[kind], relay.port)));
    assert.equal(reasonOf(await run(p, 5000)), 'ok');
    await relay.cut();
    const broken = await run(p);
    assert.ok(['reset', 'refused'].includes(reasonOf(broken)), JSON.stringify(broken));
    const refused = await run(p);
    assert.equal(reasonOf(refused), 'refused', JSON.stringify(refused));
    assert.equal(relay.open(), 0, 'nothing reconnects between runs');
    await relay.restore();
    const back = await run(p, 5000);
    assert.equal(reasonOf(back), 'ok', JSON.stringify(back));
    assert.equal(relay.open(), 1);
  });
}

test('amqp: a wrong password is auth, and the password is not in the message', async (t) => {
  if (!(await requireService(t, 'amqp', AMQP_URL))) return;
  const url = new URL(AMQP_URL);
  url.password = 'not-the-password-4711';
  const outcome = await run(prober(t, target('amqp', url.toString())), 5000);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
  assert.doesNotMatch(outcome.ok ? '' : outcome.message, /4711/);
});

test('amqp: a vhost that does not exist is auth', async (t) => {
  if (!(await requireService(t, 'amqp', AMQP_URL))) return;
  const url = new URL(AMQP_URL);
  url.pathname = `/probex-missing-${process.pid}`;
  const outcome = await run(prober(t, target('amqp', url.toString())), 5000);
  assert.equal(reasonOf(outcome), 'auth', JSON.stringify(outcome));
});

for (const kind of ['amqp', 'mqtt'] as const) {
  test(`${kind}s: TLS that verifies is ok with the certificate's dates; an unknown CA is tls with them too`, async (t) => {
    if (!(await requireService(t, kind, URLS[kind]))) return;
    const pki = makePki(t, 33);
    const relay = await proxy(t, {
      upstreamPort: upstreamPort(kind),
      tls: { key: pki.server.key.pem, cert: pki.server.cert.pem },
    });
    const url = withPort(URLS[kind], relay.port, `${kind}s`);
    const dates = { notBeforeSeconds: pki.server.notBeforeSeconds, notAfterSeconds: pki.server.notAfterSeconds };
    const good = await run(
      prober(t, target(kind, url, { tls: { caFile: pki.ca.file, insecureSkipVerify: false } })),
      5000,
    );
    assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
    assert.deepEqual(good.tls, dates);
    const unknown = await run(prober(t, target(kind, url, { tls: { insecureSkipVerify: false } })), 5000);
    assert.equal(reasonOf(unknown), 'tls', JSON.stringify(unknown));
    assert.deepEqual(unknown.tls, dates);
    const skipped = await run(prober(t, target(kind, url, { tls: { insecureSkipVerify: true } })), 5000);
    assert.equal(reasonOf(skipped), 'ok', JSON.stringify(skipped));
    assert.deepEqual(skipped.tls, dates);
  });
}

test('library errors map to reasons', () => {
  assert.equal(classifyAmqp(new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message')), 'auth');
  assert.equal(classifyAmqp(new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>')), 'auth');
  assert.equal(classifyAmqp(new Error('connect ECONNREFUSED')), undefined);
  assert.equal(
    classifyMqtt(Object.assign(new Error('Connection refused: Bad username or password'), { code: 4 })),
    'auth',
  );
  assert.equal(classifyMqtt(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 })), 'auth');
  assert.match(defaultTopic('a b/c+#'), /^probex\/a_b_c__\/[0-9a-f]{16}$/);
  const options = connectionOptions({ ...(target('nats', 'nats://u%40x:p%3Aw@db.internal') as NatsTarget) });
  assert.deepEqual([options.servers, options.user, options.pass], ['db.internal:4222', 'u@x', 'p:w']);
  assert.equal(connectionOptions(target('nats', 'nats://s3cret@127.0.0.1:4223') as NatsTarget).token, 's3cret');
});
