/**
 * What the shared brokers cannot show, each against a nats-server or mosquitto of the test's own
 * (test/helpers/private-broker.ts): a wrong password or token is `auth` without the secret in the
 * message, the right one round-trips; and NATS's own TLS (upgraded after the server's INFO, which a
 * TLS-terminating proxy cannot stand in for) verifies against its CA, with the certificate's dates.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { mqttProbe, type MqttTarget } from '../../src/probes/mqtt.ts';
import { natsProbe, type NatsTarget } from '../../src/probes/nats.ts';
import type { ProbeOutcome, Prober } from '../../src/probes/probe.ts';
import { TARGET_DEFAULTS } from '../../support/services.ts';
import { makePki } from '../helpers/certificates.ts';
import { startBroker } from '../helpers/private-broker.ts';
import { reasonOf, run } from '../helpers/probe-outcome.ts';

const USER = 'probex';
const PASSWORD = 'right-password-5821';
const WRONG = 'wrong-password-4711';

function natsProber(t: TestContext, url: string, more: Partial<NatsTarget> = {}): Prober {
  const p = natsProbe.create({ ...TARGET_DEFAULTS, name: 'nats-private', kind: 'nats', url, ...more });
  t.after(() => p.close());
  return p;
}

function mqttProber(t: TestContext, url: string): Prober {
  const target: MqttTarget = { ...TARGET_DEFAULTS, name: 'mqtt-private', kind: 'mqtt', url, qos: 1 };
  const p = mqttProbe.create(target);
  t.after(() => p.close());
  return p;
}

/** failedWithout asserts a run failed with `reason` and its message does not hold `secret`. */
function failedWithout(outcome: ProbeOutcome, reason: string, secret: string): void {
  assert.equal(reasonOf(outcome), reason, JSON.stringify(outcome));
  assert.ok(
    !outcome.ok && !outcome.message.includes(secret),
    `the message keeps ${secret} out: ${JSON.stringify(outcome)}`,
  );
}

test('nats: the right user and password round-trip; a wrong password is auth, not in the message', async (t) => {
  const broker = await startBroker(t, 'nats', (port) => [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '--user',
    USER,
    '--pass',
    PASSWORD,
  ]);
  if (broker === undefined) return;
  const good = await run(natsProber(t, `nats://${USER}:${PASSWORD}@127.0.0.1:${broker.port}`), 5000);
  assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
  failedWithout(await run(natsProber(t, `nats://${USER}:${WRONG}@127.0.0.1:${broker.port}`), 5000), 'auth', WRONG);
  failedWithout(await run(natsProber(t, `nats://127.0.0.1:${broker.port}`), 5000), 'auth', PASSWORD);
});

test('nats: the right token round-trips; a wrong token is auth, not in the message', async (t) => {
  const broker = await startBroker(t, 'nats', (port) => ['-a', '127.0.0.1', '-p', String(port), '--auth', PASSWORD]);
  if (broker === undefined) return;
  const good = await run(natsProber(t, `nats://${PASSWORD}@127.0.0.1:${broker.port}`), 5000);
  assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
  failedWithout(await run(natsProber(t, `nats://${WRONG}@127.0.0.1:${broker.port}`), 5000), 'auth', WRONG);
});

test("nats: TLS that verifies round-trips with the certificate's dates; an unknown CA is tls", async (t) => {
  const pki = makePki(t, 33);
  const broker = await startBroker(t, 'nats', (port) => [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '--tls',
    '--tlscert',
    pki.server.cert.file,
    '--tlskey',
    pki.server.key.file,
  ]);
  if (broker === undefined) return;
  const url = `nats://127.0.0.1:${broker.port}`;
  const good = await run(natsProber(t, url, { tls: { caFile: pki.ca.file, insecureSkipVerify: false } }), 5000);
  assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
  assert.deepEqual(good.tls, {
    notBeforeSeconds: pki.server.notBeforeSeconds,
    notAfterSeconds: pki.server.notAfterSeconds,
  });
  const unknown = await run(natsProber(t, url, { tls: { insecureSkipVerify: false } }), 5000);
  assert.equal(reasonOf(unknown), 'tls', JSON.stringify(unknown));
  const plain = await run(natsProber(t, url), 5000);
  assert.notEqual(reasonOf(plain), 'ok', 'a client without TLS is refused by a server that requires it');
});

test('mqtt: the right user and password round-trip; a wrong password is auth, not in the message', async (t) => {
  const pki = makePki(t); // a private directory, removed after the test
  const passwords = join(pki.dir, 'mosquitto.passwd');
  writeFileSync(passwords, '');
  const config = join(pki.dir, 'mosquitto.conf');
  const broker = await startBroker(t, 'mosquitto', (port) => {
    execFileSync('mosquitto_passwd', ['-b', passwords, USER, PASSWORD]);
    writeFileSync(
      config,
      // user: mosquitto started as root would become user mosquitto, who cannot read the test's private directory.
      `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwords}\npersistence false\n` +
        `user ${userInfo().username}\n`,
    );
    return ['-c', config];
  });
  if (broker === undefined) return;
  const good = await run(mqttProber(t, `mqtt://${USER}:${PASSWORD}@127.0.0.1:${broker.port}`), 5000);
  assert.equal(reasonOf(good), 'ok', JSON.stringify(good));
  failedWithout(await run(mqttProber(t, `mqtt://${USER}:${WRONG}@127.0.0.1:${broker.port}`), 5000), 'auth', WRONG);
  failedWithout(await run(mqttProber(t, `mqtt://127.0.0.1:${broker.port}`), 5000), 'auth', PASSWORD);
});
