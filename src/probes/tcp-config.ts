/**
 * The tcp kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from tcp.ts, so the probe workers never load zod.
 */
import { z } from 'zod';
import { hostPort, type KindConfig } from '../config/fields.ts';
import type { TcpTarget } from './tcp.ts';
import { finishTls, tlsField } from './tls-config.ts';

const fields = { kind: z.literal('tcp'), address: hostPort, tls: tlsField };

export const tcpConfig: KindConfig<typeof fields, TcpTarget> = {
  fields,
  finish(t, at, issues) {
    const colon = t.address.lastIndexOf(':');
    const port = Number(t.address.slice(colon + 1));
    if (port < 1 || port > 65535) issues.push(`${at}.address: port must be 1-65535`);
    const tls = finishTls(t.tls);
    return { host: t.address.slice(0, colon), port, ...(tls === undefined ? {} : { tls }) };
  },
};
