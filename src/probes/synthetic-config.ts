/**
 * The synthetic kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from synthetic.ts, so the probe workers never load zod.
 */
import { z } from 'zod';
import type { KindConfig } from '../config/fields.ts';
import type { SyntheticTarget } from './synthetic.ts';

const fields = {
  kind: z.literal('synthetic'),
  distribution: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('constant'), valueMs: z.number().nonnegative() }).strict(),
      z
        .object({ type: z.literal('uniform'), minMs: z.number().nonnegative(), maxMs: z.number().nonnegative() })
        .strict()
        .refine((d) => d.maxMs >= d.minMs, { message: 'maxMs must be >= minMs', path: ['maxMs'] }),
      z
        .object({
          type: z.literal('lognormal'),
          medianMs: z.number().positive(),
          sigma: z.number().nonnegative(),
        })
        .strict(),
      z.object({ type: z.literal('exponential'), meanMs: z.number().positive() }).strict(),
    ])
    .default({ type: 'lognormal', medianMs: 2, sigma: 0.5 }),
  errorRate: z.number().min(0).max(1).default(0),
};

export const syntheticConfig: KindConfig<typeof fields, SyntheticTarget> = {
  fields,
  finish: (t) => ({ distribution: t.distribution, errorRate: t.errorRate }),
};
