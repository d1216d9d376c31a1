/**
 * The grpc kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from grpc.ts, so config never loads @grpc/grpc-js and the probe workers never load zod.
 */
import { z } from 'zod';
import type { KindConfig } from '../config/fields.ts';
import type { GrpcTarget } from './grpc.ts';
import { finishTls, tlsField } from './tls-config.ts';

const fields = {
  kind: z.literal('grpc'),
  /** address is host:port ([ipv6]:port), as gRPC's default resolver reads it. */
  address: z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'must be host:port'),
  /** service is the name asked about; '' (the default) asks about the server as a whole. */
  service: z.string().max(256).default(''),
  tls: tlsField,
};

export const grpcConfig: KindConfig<typeof fields, GrpcTarget> = {
  fields,
  finish(t, at, issues) {
    const port = Number(t.address.slice(t.address.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) issues.push(`${at}.address: port must be 1-65535`);
    const tls = finishTls(t.tls);
    return { address: t.address, service: t.service, ...(tls === undefined ? {} : { tls }) };
  },
};
