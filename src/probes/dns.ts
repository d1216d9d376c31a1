/**
 * dns: one query to a resolver (the target's `server`, or the system's first resolver), over UDP or TCP,
 * encoded and decoded with dns-packet. node:dns's Resolver was not enough: it speaks no TCP, and it
 * reports REFUSED and SERVFAIL alike (ECONNREFUSED / ESERVFAIL are c-ares's reading, not the rcode), so
 * an answer's rcode and its records are read from the packet itself.
 *
 * Each run is one query on a socket of its own (a UDP socket, or a TCP connection with the 2-byte length
 * framing of RFC 1035 4.2.2), closed when the answer arrives or the deadline passes: nothing is kept
 * between runs and nothing outlives a run. A UDP answer with the TC (truncated) bit is asked again over
 * TCP within the same deadline, as resolvers do. An answer is taken only from the server asked, with the
 * query's id and question: anything else on the socket is ignored.
 *
 * Outcomes: NOERROR with at least one record of the asked type (the answers joined by a space match
 * `expect`, when set) is a success; its app datapoints are `answers` and `rcode` (0). Any other rcode
 * (NXDOMAIN, SERVFAIL, REFUSED, ...) is `dns` with the rcode's name in the message; NOERROR without a
 * record of the asked type (NODATA) is `dns` too; an answer that does not match `expect` is `bad_reply`;
 * the deadline is `timeout`; a TCP server that refuses the connection is `refused`.
 */
import dgram from 'node:dgram';
import { getServers } from 'node:dns';
import { randomInt } from 'node:crypto';
import net from 'node:net';
import * as packet from 'dns-packet';
import { settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, TargetBase } from './probe.ts';

/** DNS_RECORD_TYPES are the record types a dns target asks for. */
export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS', 'SRV', 'PTR', 'SOA'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];
/** DnsServer is a resolver's address: an IP address and a port. */
export interface DnsServer {
  readonly host: string;
  readonly port: number;
}
export interface DnsTarget extends TargetBase {
  readonly kind: 'dns';
  /** query is the name asked for (for PTR an IP address is turned into its reverse name). */
  readonly query: string;
  readonly recordType: DnsRecordType;
  /** server is the resolver asked; undefined asks the system's first resolver (/etc/resolv.conf). */
  readonly server?: DnsServer;
  readonly transport: 'udp' | 'tcp';
  /** expect is a regular expression source the answers, joined by a space, must match. */
  readonly expect?: string;
}

/** DNS_PORT is where a resolver listens unless its address says otherwise. */
export const DNS_PORT = 53;

/** MAX_TCP_ANSWER_BYTES is the most a TCP answer can hold: its 2-byte length and up to 65,535 bytes. */
const MAX_TCP_ANSWER_BYTES = 65_535 + 2;

/** RCODE_NAMES are the rcodes of RFC 1035 4.1.1 and RFC 2136 2.2, by value. */
const RCODE_NAMES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];

/** dnsProbe makes probers that ask a resolver one question and check the answer. */
export const dnsProbe: Probe<DnsTarget> = {
  kind: 'dns',
  create(target: DnsTarget): Prober {
    const expect = target.expect === undefined ? undefined : new RegExp(target.expect);
    const name = target.recordType === 'PTR' ? reverseName(target.query) : target.query;
    return {
      run: (signal) =>
        settle(signal, target.timeoutMs, async () => {
          const server = target.server ?? systemResolver();
          if (server === undefined)
            return {
              ok: false,
              reason: 'dns',
              message: 'no resolver: the system lists none and the target sets no server',
            };
          const question: Query = { name, type: target.recordType };
          let answer = await (target.transport === 'tcp' ? askTcp : askUdp)(server, question, signal);
          if (isPacket(answer) && answer.flag_tc && target.transport === 'udp')
            answer = await askTcp(server, question, signal);
          return isPacket(answer) ? judge(answer, question, expect) : answer;
        }),
      close: () => Promise.resolve(),
    };
  },
};

interface Query {
  readonly name: string;
  readonly type: DnsRecordType;
}

/** judge turns an answer into the run's outcome (see the file comment). */
export function judge(answer: packet.DecodedPacket, question: Query, expect: RegExp | undefined): ProbeOutcome {
  const rcode = (answer.flags ?? 0) & 0xf;
  const rcodeName = RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
  if (rcode !== 0) return { ok: false, reason: 'dns', message: `${rcodeName} for ${question.type} ${question.name}` };
  const answers = answer.answers ?? [];
  const matching = answers.filter((a) => a.type === question.type).length;
  if (matching === 0)
    return {
      ok: false,
      reason: 'dns',
      message: `NOERROR without a ${question.type} record for ${question.name} (NODATA)`,
    };
  if (expect !== undefined) {
    const text = answers.map(answerText).join(' ');
    if (!expect.test(text))
      return {
        ok: false,
        reason: 'bad_reply',
        message: `answer ${JSON.stringify(text.slice(0, 120))} does not match /${expect.source}/`,
      };
  }
  return { ok: true, app: { answers: matching, rcode } };
}

/**
 * answerText is a record as `expect` sees it, in zone-file order: an address or a name as it is, `MX` as
 * `preference exchange`, `SRV` as `priority weight port target`, `SOA` as its seven fields, `TXT` as its
 * strings joined.
 */
export function answerText(answer: packet.Answer): string {
  const data: unknown = (answer as { data?: unknown }).data;
  switch (answer.type) {
    case 'MX': {
      const mx = data as { preference?: number; exchange: string };
      return `${mx.preference ?? 0} ${mx.exchange}`;
    }
    case 'SRV': {
      const srv = data as { priority?: number; weight?: number; port?: number; target: string };
      return `${srv.priority ?? 0} ${srv.weight ?? 0} ${srv.port ?? 0} ${srv.target}`;
    }
    case 'SOA': {
      const soa = data as Record<string, unknown>;
      return ['mname', 'rname', 'serial', 'refresh', 'retry', 'expire', 'minimum'].map((k) => String(soa[k])).join(' ');
    }
    case 'TXT':
      return (Array.isArray(data) ? data : [data]).map((part) => Buffer.from(part as Buffer).toString('utf8')).join('');
    default:
      return typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('hex') : JSON.stringify(data);
  }
}

function query(question: Query): { id: number; bytes: Packet } {
  const id = randomInt(0, 0x10000);
  const bytes = packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type: question.type, name: question.name, class: 'IN' }],
  });
  return { id, bytes };
}
type Packet = Buffer;

/** Reply is a decoded answer, or the failure that a TCP answer that cannot be one is. */
type Reply = packet.DecodedPacket | ProbeOutcome;

function isPacket(reply: Reply): reply is packet.DecodedPacket {
  return !('ok' in reply);
}

function badReply(message: string): ProbeOutcome {
  return { ok: false, reason: 'bad_reply', message };
}

/** isAnswerTo: a response with the query's id and the same question (names compared without case). */
function isAnswerTo(answer: packet.DecodedPacket, id: number, question: Query): boolean {
  const q = answer.questions?.[0];
  return (
    answer.type === 'response' &&
    answer.id === id &&
    q !== undefined &&
    q.type === question.type &&
    q.name.toLowerCase() === question.name.replace(/\.$/, '').toLowerCase()
  );
}

function askUdp(server: DnsServer, question: Query, signal: AbortSignal): Promise<packet.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const { id, bytes } = query(question);
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const finish = (err: Error | undefined, answer?: packet.DecodedPacket): void => {
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err === undefined) resolve(answer!);
      else reject(err);
    };
    const onAbort = (): void => finish(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish(err));
    socket.on('message', (msg, from) => {
      if (from.port !== server.port || !sameAddress(from.address, server.host)) return;
      let answer: packet.DecodedPacket;
      try {
        answer = packet.decode(msg);
      } catch {
        return; // not a DNS packet: not the answer, which may still come
      }
      if (isAnswerTo(answer, id, question)) finish(undefined, answer);
    });
    socket.send(bytes, server.port, server.host);
  });
}

function askTcp(server: DnsServer, question: Query, signal: AbortSignal): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const { id, bytes } = query(question);
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    const finish = (err: Error | undefined, answer?: Reply): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err === undefined) resolve(answer!);
      else reject(err);
    };
    const onAbort = (): void => finish(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish(err));
    socket.once('connect', () => {
      const framed = Buffer.alloc(2 + bytes.length);
      framed.writeUInt16BE(bytes.length, 0);
      bytes.copy(framed, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length > MAX_TCP_ANSWER_BYTES) return finish(undefined, badReply('more bytes than one DNS answer'));
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      let answer: packet.DecodedPacket;
      try {
        answer = packet.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
      } catch (err) {
        return finish(undefined, badReply(`undecodable DNS answer: ${String(err)}`));
      }
      if (!isAnswerTo(answer, id, question)) return finish(undefined, badReply('an answer to another question'));
      finish(undefined, answer);
    });
    socket.on('end', () =>
      finish(Object.assign(new Error('connection closed before an answer'), { code: 'ECONNRESET' })),
    );
  });
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, '') === b.replace(/^::ffff:/, '');
}

/** systemResolver is the first resolver the system lists (/etc/resolv.conf), read when a run needs it. */
function systemResolver(): DnsServer | undefined {
  const first = getServers()[0];
  return first === undefined ? undefined : parseServer(first);
}

/** parseServer reads `ip`, `ip:port` or `[ipv6]:port` (as config and getServers() write them). */
export function parseServer(text: string): DnsServer | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed !== null) return server(bracketed[1]!, bracketed[2]);
  if (net.isIPv6(text)) return server(text, undefined);
  const at = text.lastIndexOf(':');
  return at < 0 ? server(text, undefined) : server(text.slice(0, at), text.slice(at + 1));
}

function server(host: string, port: string | undefined): DnsServer | undefined {
  if (net.isIP(host) === 0) return undefined;
  const p = port === undefined ? DNS_PORT : Number(port);
  return Number.isInteger(p) && p >= 1 && p <= 65535 ? { host, port: p } : undefined;
}

/** reverseName turns an IP address into its PTR name (in-addr.arpa / ip6.arpa); any other text is kept. */
export function reverseName(query: string): string {
  if (net.isIPv4(query)) return `${query.split('.').reverse().join('.')}.in-addr.arpa`;
  if (!net.isIPv6(query)) return query;
  const groups = query.split('::');
  const head = groups[0] === '' ? [] : groups[0]!.split(':');
  const tail = groups.length > 1 && groups[1] !== '' ? groups[1]!.split(':') : [];
  const full = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const nibbles = full.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}
