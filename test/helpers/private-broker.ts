/**
 * A broker of the test's own: the machine's nats-server or mosquitto started on a free loopback port with
 * the arguments a test needs (passwords, TLS), for what the shared brokers, which take anonymous clients
 * in plain TCP, cannot show. Stopped after the test. In CI a missing binary fails the test; elsewhere it
 * skips with what to install.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { accepts, freePort } from '../../support/probex-process.ts';

/** PrivateBroker is a started broker: its port. */
export interface PrivateBroker {
  readonly port: number;
}

/** BROKERS are the binaries, and the Debian package that has each. */
const BROKERS = {
  nats: { binary: '/usr/sbin/nats-server', pkg: 'nats-server' },
  mosquitto: { binary: '/usr/sbin/mosquitto', pkg: 'mosquitto' },
} as const;

/**
 * startBroker runs `which` with the arguments `args(port)` builds for a free port, and resolves once the
 * port accepts connections (undefined when the test was skipped for a missing binary).
 */
export async function startBroker(
  t: TestContext,
  which: keyof typeof BROKERS,
  args: (port: number) => readonly string[],
): Promise<PrivateBroker | undefined> {
  const { binary, pkg } = BROKERS[which];
  if (!existsSync(binary)) {
    const what = `${binary} is not installed (Debian: apt-get install ${pkg})`;
    if (process.env.CI === 'true') assert.fail(`${what}; CI=true, so this fails instead of skipping`);
    t.skip(what);
    return undefined;
  }
  const port = await freePort();
  const child = spawn(binary, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => void (output += chunk.toString());
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    if (await accepts(port)) return { port };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${which} did not start on port ${port}: ${output.trim()}`);
}
