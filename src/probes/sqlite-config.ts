/**
 * The sqlite kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from sqlite.ts, so the probe workers never load zod.
 */
import { z } from 'zod';
import type { KindConfig } from '../config/fields.ts';
import type { SqliteTarget } from './sqlite.ts';

const fields = {
  kind: z.literal('sqlite'),
  path: z.string().min(1),
  query: z.string().min(1).default('SELECT 1'),
};

export const sqliteConfig: KindConfig<typeof fields, SqliteTarget> = {
  fields,
  finish: (t) => ({ path: t.path, query: t.query }),
};
