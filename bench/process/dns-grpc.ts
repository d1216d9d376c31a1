/**
 * dns and grpc probe throughput through probex against a bare client loop of the same library
 * (bench/lib/probe-rate.ts): the bare loop sends dns-packet queries over UDP to a dnsmasq, or calls
 * @grpc/grpc-js Health/Check on one channel to a grpc-js server in this process.
 * `npm run bench:dns-grpc [-- --seconds 5 --rounds 3 --concurrency 16 --kind dns|grpc]`.
 */
import dgram from 'node:dgram';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import * as packet from 'dns-packet';
import { launchDnsmasq } from '../../support/dnsmasq.ts';
import { startHealthServer } from '../../support/grpc-health.ts';
import { HEALTH_CHECK_METHOD } from '../../src/probes/grpc.ts';
import { compareRates, rateOptions, type RateCase } from '../lib/probe-rate.ts';

const options = rateOptions(['dns', 'grpc']);
const { concurrency } = options;

/** dnsQuery asks dnsmasq for db.internal A over a UDP socket of its own, as the dns kind does per run. */
function dnsQuery(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = Math.floor(Math.random() * 0x10000);
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg) => {
      if (packet.decode(msg).id !== id) return;
      socket.close();
      resolve();
    });
    socket.on('error', reject);
    socket.send(
      packet.encode({
        type: 'query',
        id,
        flags: packet.RECURSION_DESIRED,
        questions: [{ type: 'A', name: 'db.internal' }],
      }),
      port,
      '127.0.0.1',
    );
  });
}

async function setup(kind: string): Promise<RateCase> {
  if (kind === 'dns') {
    const dnsmasq = await launchDnsmasq();
    return {
      bare: () => dnsQuery(dnsmasq.port),
      target: `{ name: bench, kind: dns, query: db.internal, server: "${dnsmasq.server}", interval: 0, concurrency: ${concurrency} }`,
      stop: dnsmasq.stop,
    };
  }
  const server = await startHealthServer();
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  return {
    bare: () =>
      new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          HEALTH_CHECK_METHOD,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          new Metadata(),
          {},
          (err) => (err === null ? resolve() : reject(err)),
        ),
      ),
    target: `{ name: bench, kind: grpc, address: "127.0.0.1:${server.port}", interval: 0, concurrency: ${concurrency} }`,
    stop: async () => {
      client.close();
      await server.stop();
    },
  };
}

await compareRates('dns-grpc', options, setup);
