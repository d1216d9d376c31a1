/**
 * The `tls` block of a target's config, for every kind that can speak TLS: its schema piece (zod) and how
 * a raw block becomes a TargetTls. It sits next to tls.ts, apart from it, so the probe workers that use
 * TargetTls never load zod; checkedTls checks the files the block names (regular files of bounded size,
 * parsed by OpenSSL) when the config is loaded.
 */
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { FileReadError, readCappedFileSync } from '../config/read-file.ts';
import type { TargetTls } from './probe.ts';
import { DEFAULT_TLS, MAX_TLS_FILE_BYTES, TLS_MIN_VERSIONS } from './tls.ts';

/** DNS_NAME_RE matches a host name as SNI carries it: dot-separated labels of letters, digits, - and _. */
const DNS_NAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*$/;

const tlsFile = z.string().min(1, 'must be a file path');

/** tlsBlock is the `tls: {...}` form: every key optional, `insecureSkipVerify` false unless set. */
const tlsBlock = z
  .object({
    caFile: tlsFile.optional(),
    certFile: tlsFile.optional(),
    keyFile: tlsFile.optional(),
    serverName: z.string().regex(DNS_NAME_RE, 'must be a DNS name (SNI carries no IP address)').optional(),
    insecureSkipVerify: z.boolean().default(false),
    minVersion: z.enum(TLS_MIN_VERSIONS).optional(),
  })
  .strict()
  .refine((b) => (b.certFile === undefined) === (b.keyFile === undefined), {
    message: 'certFile and keyFile go together: set both or neither',
    path: ['keyFile'],
  });

/** RawTls is what the schema yields for `tls`: a block, `true` (the defaults) or `false` (no TLS). */
export type RawTls = boolean | z.output<typeof tlsBlock> | undefined;

/**
 * tlsField is the `tls` key of a kind that can speak TLS: `true` (the defaults), `false`, or a block.
 * It is not a zod union, whose failure says only "Invalid input": a block's problems keep their own
 * paths and messages (`tls.keyFile: certFile and keyFile go together ...`).
 */
export const tlsField = z
  .unknown()
  .transform((value, ctx): RawTls => {
    if (value === undefined || typeof value === 'boolean') return value;
    const parsed = tlsBlock.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
    return z.NEVER;
  })
  .optional();

/** TLS_FILE_KEYS are the block's keys that name files (checkedTls reads and checks them at load). */
const TLS_FILE_KEYS = ['caFile', 'certFile', 'keyFile'] as const;

/**
 * checkedTls checks the files a target's TargetTls names: each a regular file of at most
 * MAX_TLS_FILE_BYTES, which together make a TLS context OpenSSL accepts (PEM that parses, a key that fits
 * its certificate). Problems go into issues at `at` (`targets[3]`) and name the key, never the content.
 */
export function checkedTls(tls: TargetTls, at: string, issues: string[]): void {
  const contents: Partial<Record<(typeof TLS_FILE_KEYS)[number], string>> = {};
  let readable = true;
  for (const key of TLS_FILE_KEYS) {
    const path = tls[key];
    if (path === undefined) continue;
    try {
      contents[key] = readCappedFileSync(path, MAX_TLS_FILE_BYTES).bytes.toString('utf8');
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      issues.push(`${at}.tls.${key}: ${err.message}`);
      readable = false;
    }
  }
  if (!readable) return;
  // OpenSSL skips what is not a certificate in a CA bundle: a file without one would verify nothing.
  for (const key of ['caFile', 'certFile'] as const) {
    const text = contents[key];
    if (text !== undefined && !/-----BEGIN CERTIFICATE-----/.test(text))
      issues.push(`${at}.tls.${key}: holds no PEM certificate`);
  }
  if (Object.keys(contents).length > 0) {
    try {
      createSecureContext({ ca: contents.caFile, cert: contents.certFile, key: contents.keyFile });
    } catch (err) {
      issues.push(`${at}.tls: OpenSSL refuses the files: ${(err as Error).message}`);
    }
  }
}

/**
 * finishTls is the TargetTls a raw `tls` stands for on a kind where TLS is chosen by the `tls` key alone
 * (tcp, postgres, mysql, grpc): undefined for none or `false`, DEFAULT_TLS for `true`.
 */
export function finishTls(raw: RawTls): TargetTls | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return DEFAULT_TLS;
  return withoutUndefined(raw);
}

/**
 * finishSchemeTls is the TargetTls of a kind whose URL scheme says whether it speaks TLS (https://,
 * rediss://): the block, or DEFAULT_TLS, with the TLS scheme; a block on the plaintext scheme is a
 * mistake (it would be silently ignored), and so is `tls: false` on the TLS one. A problem is added to
 * `issues` at `at` (`targets[3].tls`).
 */
export function finishSchemeTls(
  raw: RawTls,
  tlsScheme: boolean,
  scheme: string,
  at: string,
  issues: string[],
): TargetTls | undefined {
  if (!tlsScheme) {
    if (raw !== undefined && raw !== false) issues.push(`${at}: applies to ${scheme} URLs only`);
    return undefined;
  }
  if (raw === false) issues.push(`${at}: a ${scheme} URL always speaks TLS; remove tls: false`);
  return finishTls(raw === undefined || raw === false ? true : raw);
}

function withoutUndefined(block: z.output<typeof tlsBlock>): TargetTls {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(block)) if (value !== undefined) out[key] = value;
  return out as unknown as TargetTls;
}
