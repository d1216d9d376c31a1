/**
 * A Redis client of the test's own, to see and kill the connections probex's redis probers hold: each is
 * named `probex:<target>` (CLIENT SETNAME), so a test finds a target's connections by name.
 */
import type { TestContext } from 'node:test';
import { createClient } from 'redis';
import { REDIS_CLIENT_NAME_PREFIX } from '../../src/probes/redis.ts';
import { REDIS_URL } from '../../support/services.ts';

function newAdminClient() {
  return createClient({ url: REDIS_URL });
}
export type AdminClient = ReturnType<typeof newAdminClient>;

/** redisAdmin opens a separate client to inspect and kill the probe's connections; closed after the test. */
export async function redisAdmin(t: TestContext): Promise<AdminClient> {
  const client = newAdminClient();
  client.on('error', (err: unknown) => t.diagnostic(`admin client: ${String(err)}`));
  await client.connect();
  t.after(() => client.destroy());
  return client;
}

/** probeClientIds lists the server-side ids of the connections named after target `name`. */
export async function probeClientIds(adminClient: AdminClient, name: string): Promise<number[]> {
  const list = String(await adminClient.sendCommand(['CLIENT', 'LIST']));
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${REDIS_CLIENT_NAME_PREFIX}${name} `))
    .map((line) => Number(/^id=(\d+)/.exec(line)?.[1]));
}
