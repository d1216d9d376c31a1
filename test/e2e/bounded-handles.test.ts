/**
 * Dependencies that fail in ways that used to cost a handle per probe, probed many times by the real
 * probex process: a MySQL server answering the greeting with ER_CON_COUNT_ERROR and keeping the socket
 * open, a Redis server answering every command with an error, and an HTTP server streaming an endless body.
 * probex's open file descriptors stay flat, its memory bounded, and the servers see the sockets closed.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { findSamples, parseExposition } from '../../support/exposition.ts';
import { startMysqlErrorServer, startRedisErrorServer } from '../helpers/fake-servers.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';

const PROBES = 200;

function fdsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

test('failing dependencies probed hundreds of times leave probex with flat fds and bounded memory', async (t) => {
  const mysqlServer = await startMysqlErrorServer(1040, 'Too many connections');
  const redisServer = await startRedisErrorServer('ERR max number of clients reached');
  t.after(() => Promise.all([mysqlServer.close(), redisServer.close()]));
  const filler = Buffer.alloc(64 * 1024, 'x');
  let httpOpen = 0;
  const endless = http.createServer((_req, res) => {
    res.writeHead(200);
    const pump = (): void => {
      while (!res.destroyed && res.write(filler));
    };
    res.on('drain', pump);
    pump();
  });
  endless.on('connection', (socket) => {
    httpOpen++;
    socket.on('close', () => httpOpen--);
  });
  await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        endless.closeAllConnections();
        endless.close(() => resolve());
      }),
  );
  const probex = await startProbex(`
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 100ms
targets:
  - { name: mysql-busy, kind: mysql, url: "mysql://root:pw@127.0.0.1:${mysqlServer.port}/test", interval: 50ms, concurrency: 4 }
  - { name: redis-busy, kind: redis, url: "redis://127.0.0.1:${redisServer.port}", interval: 50ms }
  - { name: http-endless, kind: http, url: "http://127.0.0.1:${(endless.address() as AddressInfo).port}/", bodyMatch: "never-there", interval: 250ms, timeout: 250ms }
`);
  t.after(() => probex.stop());
  const pid = probex.child.pid!;
  const errors = async (): Promise<{ mysql: number; redis: number; http: number }> => {
    const samples = parseExposition(await (await fetch(`${probex.url}/metrics`)).text());
    const count = (target: string): number =>
      findSamples(samples, 'probex_probe_errors_total', { target }).reduce((sum, s) => sum + s.value, 0);
    return { mysql: count('mysql-busy'), redis: count('redis-busy'), http: count('http-endless') };
  };
  // Past start-up: every client library loaded and every target failing.
  const warm = await waitFor(
    'every target to fail a few times',
    async () => {
      const e = await errors();
      return e.mysql >= 20 && e.redis >= 10 && e.http >= 5 ? e : undefined;
    },
    30_000,
  );
  const fdsBefore = fdsOf(pid);
  const rssBefore = rssOf(pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssOf(pid));
  }, 50);
  t.after(() => clearInterval(sampler));
  const done = await waitFor(
    `${PROBES} more failed mysql probes`,
    async () => {
      const e = await errors();
      return e.mysql >= warm.mysql + PROBES && e.redis >= warm.redis + PROBES / 4 && e.http >= warm.http + 10
        ? e
        : undefined;
    },
    60_000,
  );
  clearInterval(sampler);
  const fdsAfter = fdsOf(pid);
  t.diagnostic(
    `errors ${JSON.stringify(warm)} -> ${JSON.stringify(done)}; fds ${fdsBefore} -> ${fdsAfter}; ` +
      `RSS ${(rssBefore / 1048576).toFixed(0)} MiB, peak ${(rssPeak / 1048576).toFixed(0)} MiB`,
  );
  // Sockets of probes in flight come and go; a leak would add one per failed probe.
  assert.ok(
    fdsAfter - fdsBefore <= 16,
    `probex holds ${fdsAfter - fdsBefore} more fds after ${done.mysql - warm.mysql} failed mysql probes`,
  );
  // The servers hold only the connections of probes in flight, or just closed (mysql runs 4 at a time); a
  // leak would hold one per failed probe, hundreds by now, and never fewer.
  await waitFor('the servers to hold only the sockets of probes in flight', async () =>
    mysqlServer.open() <= 4 && redisServer.open() <= 1 && httpOpen <= 1 ? true : undefined,
  );
  // Each http probe reads at most 1 MiB; without the cap it buffers whatever arrives before its deadline.
  assert.ok(rssPeak - rssBefore < 128 * 1024 * 1024, `RSS grew by ${((rssPeak - rssBefore) / 1048576).toFixed(0)} MiB`);
});
