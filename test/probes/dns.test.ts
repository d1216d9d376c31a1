import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test, type TestContext } from 'node:test';
import * as packet from 'dns-packet';
import { dnsProbe, parseServer, reverseName } from '../../src/probes/dns.ts';
import type { DnsRecordType, DnsTarget } from '../../src/probes/dns.ts';
import type { ProbeOutcome } from '../../src/probes/probe.ts';
import { startDnsmasq } from '../../support/dnsmasq.ts';
import { DEADLINE_MARGIN_MS, TARGET_DEFAULTS } from '../../support/services.ts';
import { reasonOf, run } from '../helpers/probe-outcome.ts';
import { closedPort } from '../helpers/silent-server.ts';

function target(port: number, query: string, more: Partial<DnsTarget> = {}): DnsTarget {
  return {
    ...TARGET_DEFAULTS,
    name: 'dns-test',
    kind: 'dns',
    query,
    recordType: 'A',
    transport: 'udp',
    server: { host: '127.0.0.1', port },
    ...more,
  };
}

async function ask(t: TestContext, dnsTarget: DnsTarget): Promise<ProbeOutcome> {
  const prober = dnsProbe.create(dnsTarget);
  t.after(() => prober.close());
  return run(prober);
}

test('every record type resolves against dnsmasq, over UDP and TCP, and expect matches the joined answers', async (t) => {
  const dnsmasq = await startDnsmasq(t);
  if (dnsmasq === undefined) return;
  const cases: Array<[query: string, type: DnsRecordType, expect: string]> = [
    ['db.internal', 'A', '^10\\.1\\.2\\.3$'],
    ['db.internal', 'AAAA', '^fd00::3$'],
    ['alias.internal', 'CNAME', '^db\\.internal'],
    ['mail.internal', 'MX', '^10 mx1\\.internal$'],
    ['txt.internal', 'TXT', '^v=probex onetwo$'],
    ['_pg._tcp.internal', 'SRV', '^1 2 5432 db\\.internal$'],
  ];
  for (const transport of ['udp', 'tcp'] as const) {
    for (const [query, recordType, expect] of cases) {
      const outcome = await ask(t, target(dnsmasq.port, query, { recordType, transport, expect }));
      assert.equal(reasonOf(outcome), 'ok', `${transport} ${recordType} ${query}: ${JSON.stringify(outcome)}`);
      assert.deepEqual(outcome.ok && outcome.app, { answers: 1, rcode: 0 });
    }
  }
});

test('NXDOMAIN and REFUSED are dns with the rcode in the message; a mismatch is bad_reply', async (t) => {
  const dnsmasq = await startDnsmasq(t);
  if (dnsmasq === undefined) return;
  const nx = await ask(t, target(dnsmasq.port, 'x.gone.internal'));
  assert.equal(reasonOf(nx), 'dns');
  assert.match(nx.ok ? '' : nx.message, /^NXDOMAIN for A x\.gone\.internal$/);
  const refused = await ask(t, target(dnsmasq.port, 'example.com', { transport: 'tcp' }));
  assert.equal(reasonOf(refused), 'dns');
  assert.match(refused.ok ? '' : refused.message, /^REFUSED/);
  const mismatch = await ask(t, target(dnsmasq.port, 'db.internal', { expect: '^10\\.9\\.' }));
  assert.equal(reasonOf(mismatch), 'bad_reply');
  assert.match(mismatch.ok ? '' : mismatch.message, /"10\.1\.2\.3" does not match/);
});

/** fakeResolver answers every UDP query with `answer(query)` (or nothing when it returns undefined). */
async function fakeResolver(
  t: TestContext,
  answer: (query: packet.DecodedPacket) => Buffer | undefined,
): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    const reply = answer(packet.decode(msg));
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  return socket.address().port;
}

test('SERVFAIL and NOERROR without a record of the type asked (NODATA) are dns', async (t) => {
  const servfail = await fakeResolver(t, (q) =>
    packet.encode({ type: 'response', id: q.id, flags: 2, questions: q.questions, answers: [] }),
  );
  const failed = await ask(t, target(servfail, 'db.internal'));
  assert.equal(reasonOf(failed), 'dns');
  assert.match(failed.ok ? '' : failed.message, /^SERVFAIL/);
  const nodata = await fakeResolver(t, (q) =>
    packet.encode({
      type: 'response',
      id: q.id,
      questions: q.questions,
      answers: [{ type: 'CNAME', name: 'db.internal', data: 'elsewhere.internal' }],
    }),
  );
  const empty = await ask(t, target(nodata, 'db.internal'));
  assert.equal(reasonOf(empty), 'dns', JSON.stringify(empty));
  assert.match(empty.ok ? '' : empty.message, /NOERROR without a A record .*NODATA/);
});

test('an answer with another id is ignored, so the run times out', async (t) => {
  const spoofed = await fakeResolver(t, (q) =>
    packet.encode({
      type: 'response',
      id: (q.id! + 1) & 0xffff,
      questions: q.questions,
      answers: [{ type: 'A', name: 'db.internal', data: '6.6.6.6' }],
    }),
  );
  const prober = dnsProbe.create(target(spoofed, 'db.internal', { timeoutMs: 300 }));
  t.after(() => prober.close());
  const started = performance.now();
  const late = await prober.run(AbortSignal.timeout(300));
  assert.equal(reasonOf(late), 'timeout');
  assert.ok(performance.now() - started < 300 + DEADLINE_MARGIN_MS);
});

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const dnsmasq = await startDnsmasq(t);
  if (dnsmasq === undefined) return;
  // The fake answers UDP on dnsmasq's port number with TC set; dnsmasq answers the TCP retry.
  const socket = dgram.createSocket('udp4');
  let asked = 0;
  socket.on('message', (msg, from) => {
    asked++;
    const q = packet.decode(msg);
    socket.send(
      packet.encode({ type: 'response', id: q.id, flags: packet.TRUNCATED_RESPONSE, questions: q.questions }),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  // A TCP proxy on the fake's port number to dnsmasq's TCP port.
  const net = await import('node:net');
  const proxy = net.createServer((c) => {
    const up = net.connect(dnsmasq.port, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  const port = socket.address().port;
  const listening = await new Promise<boolean>((resolve) => {
    proxy.once('error', () => resolve(false));
    proxy.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!listening) return void t.skip('the UDP port number is taken on TCP');
  t.after(() => proxy.close());
  const outcome = await ask(t, target(port, 'db.internal', { expect: '10.1.2.3' }));
  assert.equal(reasonOf(outcome), 'ok', JSON.stringify(outcome));
  assert.equal(asked, 1);
});

test('over TCP a closed port is refused; over UDP a silent resolver is a timeout, and no socket is left', async (t) => {
  const closed = await closedPort();
  assert.equal(reasonOf(await ask(t, target(closed, 'db.internal', { transport: 'tcp' }))), 'refused');
  const silent = await fakeResolver(t, () => undefined);
  const prober = dnsProbe.create(target(silent, 'db.internal', { timeoutMs: 200 }));
  t.after(() => prober.close());
  assert.equal(reasonOf(await prober.run(AbortSignal.timeout(200))), 'timeout');
});

test('server addresses and reverse names are read as resolvers and PTR queries write them', () => {
  assert.deepEqual(parseServer('10.0.0.2'), { host: '10.0.0.2', port: 53 });
  assert.deepEqual(parseServer('10.0.0.2:5353'), { host: '10.0.0.2', port: 5353 });
  assert.deepEqual(parseServer('[fd00::2]:53'), { host: 'fd00::2', port: 53 });
  assert.deepEqual(parseServer('fd00::2'), { host: 'fd00::2', port: 53 });
  assert.equal(parseServer('dns.example:53'), undefined);
  assert.equal(parseServer('10.0.0.2:70000'), undefined);
  assert.equal(reverseName('10.1.2.3'), '3.2.1.10.in-addr.arpa');
  assert.equal(reverseName('2001:db8::1'), `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  assert.equal(reverseName('db.internal'), 'db.internal');
});
