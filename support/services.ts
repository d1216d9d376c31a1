/**
 * Real local services for the probe tests: where they are, and requireService(), which checks one is
 * reachable. Unreachable and CI=true: the test fails (a CI job that forgot its service must not pass).
 * Unreachable elsewhere: the test skips and says how to start the service.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { TestContext } from 'node:test';

/** MYSQL_URL is the MariaDB/MySQL server the mysql tests use. */
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
/** REDIS_URL is the Redis server the redis tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** POSTGRES_URL is the PostgreSQL server the postgres tests use (trust auth on 127.0.0.1). */
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** AMQP_URL is the RabbitMQ server the amqp tests use (its default guest user, which may log in from loopback). */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';
/** MQTT_URL is the Mosquitto server the mqtt tests use. */
export const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
/** NATS_URL is the NATS server the nats tests use. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** ServiceName names a service the tests can require. */
export type ServiceName = 'mysql' | 'redis' | 'postgres' | 'amqp' | 'mqtt' | 'nats';

const DEFAULT_PORTS: Record<ServiceName, number> = {
  mysql: 3306,
  redis: 6379,
  postgres: 5432,
  amqp: 5672,
  mqtt: 1883,
  nats: 4222,
};
const START_HINTS: Record<ServiceName, string> = {
  amqp: 'rabbitmq-server -detached',
  mqtt: 'mosquitto -d -c /etc/mosquitto/mosquitto.conf',
  nats: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222',
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  mysql: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  redis: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
};
const REACH_TIMEOUT_MS = 1000;

/**
 * requireService resolves true when the service at url accepts TCP connections. Otherwise it fails the
 * test when CI is 'true', or skips it with a message naming the command that starts the service, and
 * resolves false: call it as `if (!(await requireService(t, 'redis', REDIS_URL))) return;`.
 */
export async function requireService(t: TestContext, service: ServiceName, url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '');
  const portNumber = port === '' ? DEFAULT_PORTS[service] : Number(port);
  const problem = await reach(host, portNumber);
  if (problem === undefined) return true;
  const what = `${service} at ${host}:${portNumber} is unreachable (${problem})`;
  if (process.env.CI === 'true') assert.fail(`${what}; CI=true, so this fails instead of skipping`);
  t.skip(`${what}; start it with: ${START_HINTS[service]}`);
  return false;
}

/** reach connects once and resolves undefined on success or a short description of the failure. */
function reach(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: REACH_TIMEOUT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no answer within ${REACH_TIMEOUT_MS} ms`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code ?? err.message);
    });
  });
}

/** TARGET_DEFAULTS are the fields every test target shares, as the config loader fills them in. */
export const TARGET_DEFAULTS = Object.freeze({
  intervalMs: 1000,
  timeoutMs: 1000,
  concurrency: 1,
  labels: Object.freeze({}),
  buckets: Object.freeze([0.001, 0.01, 0.1, 1]),
});

/**
 * DEADLINE_MARGIN_MS is how late after its deadline a timed-out run may settle in a test. It absorbs
 * event-loop delay on a loaded CI machine, and is still far below what a probe that ignored its signal
 * would take (mysql2's 10 s connect timeout, node-redis waiting forever).
 */
export const DEADLINE_MARGIN_MS = 250;
