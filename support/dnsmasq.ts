/**
 * A real resolver for the dns kind's tests and bench: dnsmasq on a loopback port of its own, answering
 * only from its command line (no upstream, no /etc/hosts), over UDP and TCP.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { accepts, freePort } from './probex-process.ts';

/** DNSMASQ is where Debian's dnsmasq-base installs the server. */
const DNSMASQ = '/usr/sbin/dnsmasq';

/** Dnsmasq is a running dnsmasq: its port (UDP and TCP on 127.0.0.1) and how to stop it. */
export interface Dnsmasq {
  readonly port: number;
  /** server is its address as a dns target's `server` writes it. */
  readonly server: string;
  stop(): Promise<void>;
}

/**
 * DNSMASQ_RECORDS are the answers every test resolver gives: db.internal A 10.1.2.3 and AAAA fd00::3,
 * a CNAME, MX, TXT and SRV record, NXDOMAIN for anything under gone.internal, and for any other name
 * under internal an answer of its own (NXDOMAIN, or NODATA for a type it lacks). A name outside
 * internal is REFUSED (dnsmasq has no upstream to ask).
 */
const DNSMASQ_RECORDS = [
  '--address=/db.internal/10.1.2.3',
  '--address=/db.internal/fd00::3',
  '--cname=alias.internal,db.internal',
  '--mx-host=mail.internal,mx1.internal,10',
  '--txt-record=txt.internal,v=probex one,two',
  '--srv-host=_pg._tcp.internal,db.internal,5432,1,2',
  '--address=/gone.internal/',
  '--local=/internal/',
];

/**
 * startDnsmasq starts dnsmasq with DNSMASQ_RECORDS and `extra` arguments and waits until it answers on
 * TCP; it is stopped after the test. In CI a missing dnsmasq fails the test; elsewhere it skips (resolves
 * undefined) with what to install.
 */
export async function startDnsmasq(t: TestContext, extra: readonly string[] = []): Promise<Dnsmasq | undefined> {
  if (!existsSync(DNSMASQ)) {
    const what = `${DNSMASQ} is not installed (Debian: apt-get install dnsmasq-base)`;
    if (process.env.CI === 'true') assert.fail(`${what}; CI=true, so this fails instead of skipping`);
    t.skip(what);
    return undefined;
  }
  const dnsmasq = await launchDnsmasq(extra);
  t.after(() => dnsmasq.stop());
  return dnsmasq;
}

/** launchDnsmasq starts dnsmasq (see startDnsmasq) for a caller that stops it itself. */
export async function launchDnsmasq(extra: readonly string[] = []): Promise<Dnsmasq> {
  // dnsmasq cannot take port 0 (it means "no DNS"): it gets a port the kernel just handed out.
  const port = await freePort();
  const child = spawn(
    DNSMASQ,
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${port}`,
      '--user=root',
      '--pid-file=',
      '--log-facility=-',
      ...DNSMASQ_RECORDS,
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, server: `127.0.0.1:${port}`, stop };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error(`dnsmasq did not start: ${stderr.trim()}`);
}
