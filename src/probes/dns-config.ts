/**
 * The dns kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that target.
 * Apart from dns.ts, so the probe workers that run dns targets never load zod (config reads the server
 * address with dns.ts's parser, which costs it dns-packet, a few KiB).
 */
import { z } from 'zod';
import { regExpSource, type KindConfig, type KindFields } from '../config/fields.ts';
import { DNS_RECORD_TYPES, parseServer, type DnsTarget } from './dns.ts';

/** DNS_QUERY_RE is a domain name as a query carries it: labels of 1-63 characters, 253 in all, a root dot allowed. */
const DNS_QUERY_RE =
  /^(?=.{1,254}$)(?:[A-Za-z0-9_*](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/;

const fields = {
  kind: z.literal('dns'),
  query: z.string().min(1),
  recordType: z.enum(DNS_RECORD_TYPES).default('A'),
  /** server is `ip`, `ip:port` or `[ipv6]:port`; absent: the system's resolver. */
  server: z.string().optional(),
  transport: z.enum(['udp', 'tcp']).default('udp'),
  expect: regExpSource.optional(),
};

export const dnsConfig: KindConfig<typeof fields, DnsTarget> = { fields, finish };

/** finish is a dns target's own fields; its problems go into issues, at `at` (`targets[3]`). */
function finish(t: z.output<z.ZodObject<typeof fields>>, at: string, issues: string[]): KindFields<DnsTarget> {
  const ipForPtr =
    t.recordType === 'PTR' && /^[0-9a-fA-F:.]+$/.test(t.query) && t.query.includes(t.query.includes(':') ? ':' : '.');
  if (!DNS_QUERY_RE.test(t.query) && !ipForPtr)
    issues.push(`${at}.query: must be a domain name${t.recordType === 'PTR' ? ' or an IP address' : ''}`);
  const server = t.server === undefined ? undefined : parseServer(t.server);
  if (t.server !== undefined && server === undefined)
    issues.push(`${at}.server: must be an IP address with an optional port: 10.0.0.2, 10.0.0.2:5353, [fd00::2]:53`);
  return {
    query: t.query,
    recordType: t.recordType,
    transport: t.transport,
    ...(server === undefined ? {} : { server }),
    ...(t.expect === undefined ? {} : { expect: t.expect }),
  };
}
