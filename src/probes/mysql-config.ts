/**
 * The mysql kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from mysql.ts, so config never loads mysql2 and the probe workers never load zod (they
 * import the target's type only).
 */
import { z } from 'zod';
import { targetUrl, type KindConfig } from '../config/fields.ts';
import type { MysqlTarget } from './mysql.ts';
import { finishTls, tlsField } from './tls-config.ts';

const fields = {
  kind: z.literal('mysql'),
  url: targetUrl({ schemes: ['mysql'] }),
  query: z.string().min(1).default('SELECT 1'),
  tls: tlsField,
};

export const mysqlConfig: KindConfig<typeof fields, MysqlTarget> = {
  fields,
  finish(t, at, issues) {
    const tls = finishTls(t.tls);
    // mysql2 checks the certificate against the URL's host and takes no other name.
    if (tls?.serverName !== undefined)
      issues.push(`${at}.tls.serverName: not supported for mysql (the URL's host is the name checked)`);
    return { url: t.url, query: t.query, ...(tls === undefined ? {} : { tls }) };
  },
};
