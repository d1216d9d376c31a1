/**
 * The storage kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from storage.ts, so the probe workers never load zod.
 */
import { z } from 'zod';
import { healthCheckPrefix, type KindConfig } from '../config/fields.ts';
import type { StorageTarget } from './storage.ts';

const fields = {
  kind: z.literal('storage'),
  path: z.string().min(1),
  /** filePrefix starts the name of each probe file (Directus: METRICS_HEALTH_CHECK_PREFIX). */
  filePrefix: healthCheckPrefix.regex(/^[^/\\]+$/, 'must not contain / or \\').optional(),
  location: z
    .string()
    .regex(/^[a-z0-9_]+$/)
    .default('local'),
};

export const storageConfig: KindConfig<typeof fields, StorageTarget> = {
  fields,
  finish: (t) => ({
    path: t.path,
    location: t.location,
    ...(t.filePrefix === undefined ? {} : { filePrefix: t.filePrefix }),
  }),
};
