/**
 * The redis kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from redis.ts, so config never loads node-redis and the probe workers never load zod.
 */
import { z } from 'zod';
import { healthCheckPrefix, targetUrl, type KindConfig } from '../config/fields.ts';
import type { RedisTarget } from './redis.ts';
import { finishSchemeTls, tlsField } from './tls-config.ts';

const fields = {
  kind: z.literal('redis'),
  url: targetUrl({ schemes: ['redis', 'rediss'] }),
  tls: tlsField,
  command: z.enum(['ping', 'setdel']).optional(),
  /** keyPrefix starts the throwaway key of `setdel` (Directus: METRICS_HEALTH_CHECK_PREFIX). */
  keyPrefix: healthCheckPrefix.optional(),
  directusServices: z
    .array(z.enum(['redis', 'cache']))
    .min(1)
    .optional(),
};

export const redisConfig: KindConfig<typeof fields, RedisTarget> = {
  fields,
  finish(t, at, issues) {
    const tls = finishSchemeTls(t.tls, t.url.startsWith('rediss:'), 'rediss://', `${at}.tls`, issues);
    return {
      url: t.url,
      ...(tls === undefined ? {} : { tls }),
      ...(t.command === undefined ? {} : { command: t.command }),
      ...(t.keyPrefix === undefined ? {} : { keyPrefix: t.keyPrefix }),
      ...(t.directusServices === undefined ? {} : { directusServices: [...new Set(t.directusServices)] }),
    };
  },
};
