/**
 * The postgres kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target, with the files its URL names checked. Apart from postgres.ts, so config never loads pg and the
 * probe workers never load zod.
 */
import { z } from 'zod';
import { targetUrl, type KindConfig } from '../config/fields.ts';
import { FileReadError, readCappedFileSync } from '../config/read-file.ts';
import type { PostgresTarget } from './postgres.ts';
import { finishTls, type RawTls, tlsField } from './tls-config.ts';
import { MAX_TLS_FILE_BYTES } from './tls.ts';

/**
 * postgresTlsField is tlsField plus the `tls: { rejectUnauthorized }` form postgres targets had before the shared
 * block; it is still read, as `insecureSkipVerify: !rejectUnauthorized`.
 */
const postgresTlsField = z
  .unknown()
  .transform((value, ctx): RawTls => {
    if (typeof value === 'object' && value !== null && 'rejectUnauthorized' in value) {
      const legacy = z.object({ rejectUnauthorized: z.boolean() }).strict().safeParse(value);
      if (legacy.success) return { insecureSkipVerify: !legacy.data.rejectUnauthorized };
      for (const issue of legacy.error.issues)
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
      return z.NEVER;
    }
    const parsed = tlsField.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
    return z.NEVER;
  })
  .optional();

const fields = {
  kind: z.literal('postgres'),
  url: targetUrl({ schemes: ['postgres', 'postgresql'], socketHost: true }),
  query: z.string().min(1).default('SELECT 1'),
  tls: postgresTlsField,
  directusClient: z.enum(['pg', 'postgres', 'cockroachdb']).optional(),
};

export const postgresConfig: KindConfig<typeof fields, PostgresTarget> = {
  fields,
  finish(t, at, issues) {
    for (const problem of postgresFileProblems(t.url)) issues.push(`${at}.url: ${problem}`);
    const tls = finishTls(t.tls);
    return {
      url: t.url,
      query: t.query,
      ...(tls === undefined ? {} : { tls }),
      ...(t.directusClient === undefined ? {} : { directusClient: t.directusClient }),
    };
  },
};

/** PG_FILE_PARAMS are the URL query parameters pg reads a file from, whole, on every connect. */
const PG_FILE_PARAMS = ['sslcert', 'sslkey', 'sslrootcert'];

/**
 * postgresFileProblems checks the files a postgres URL names (`?sslrootcert=/path`, ...): pg reads each
 * without a limit in the probe worker on every connect, so each must be a regular file of at most
 * MAX_TLS_FILE_BYTES (a certificate or key is a few KiB). It names the parameter, never the URL.
 */
function postgresFileProblems(url: string): string[] {
  const query = /\?([^#]*)/.exec(url)?.[1];
  if (query === undefined) return [];
  const params = new URLSearchParams(query);
  const problems: string[] = [];
  for (const name of PG_FILE_PARAMS) {
    const path = params.get(name);
    if (path === null) continue;
    try {
      readCappedFileSync(path, MAX_TLS_FILE_BYTES);
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      problems.push(`cannot read the file of ?${name}=: ${err.reason}`);
    }
  }
  return problems;
}
