/**
 * Outage logging in the real probex process: a tcp target on a loopback server that the test closes and
 * reopens on the same port, so the dependency really goes away (connections refused) and comes back. Each
 * outage and each recovery must reach the log as it happens, however soon one follows another.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

/** Dependency is a loopback TCP server that can stop and start listening on the same port. */
class Dependency {
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  port = 0;

  async open(): Promise<void> {
    const server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('error', () => this.#sockets.delete(socket)); // the probe resetting its socket is expected
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /** close stops listening at once (new connections are refused) and drops the accepted ones. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const dependency = new Dependency();
let probex: ProbexProcess;
before(async () => {
  await dependency.open();
  probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
threads: 1
targets:
  - { name: dep, kind: tcp, address: "127.0.0.1:${dependency.port}", interval: 50ms, timeout: 40ms }
`);
});
after(async () => {
  await probex?.stop();
  await dependency.close();
  if (probex?.configPath !== undefined) rmSync(dirname(probex.configPath), { recursive: true, force: true });
});

/** depLines are the probe log lines of the target so far, as [message kind, reason]. */
const depLines = (): Array<[string, unknown]> =>
  probex.logs
    .filter((l) => l.target === 'dep' && /^probe /.test(String(l.msg)))
    .map((l) => [String(l.msg).split(':')[0]!, l.reason]);

/** nextLine waits for the target's log line number `n` (0-based) and returns it. */
const nextLine = (n: number, what: string): Promise<[string, unknown]> =>
  waitFor(what, async () => depLines()[n], 10_000);

test('two short outages a few seconds apart are each logged as they start and as they end', async () => {
  // Healthy first: at least one successful probe before the first outage (nothing is logged for it).
  await waitFor(
    'the first probes of dep',
    async () => {
      const res = await fetch(`${probex.url}/metrics`);
      const text = await res.text();
      return /probex_probe_up\{target="dep",kind="tcp"\} 1/.test(text) ? true : undefined;
    },
    15_000,
  );
  assert.deepEqual(depLines(), []);

  for (let outage = 0; outage < 2; outage++) {
    await dependency.close();
    assert.deepEqual(await nextLine(2 * outage, `outage ${outage + 1} to be logged`), ['probe failed', 'refused']);
    await dependency.open();
    assert.deepEqual(await nextLine(2 * outage + 1, `recovery ${outage + 1} to be logged`), [
      'probe recovered',
      undefined,
    ]);
  }
  assert.equal(depLines().length, 4, JSON.stringify(depLines()));
});
