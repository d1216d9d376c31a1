/**
 * The http kind's config: the target it yields, its keys (zod) and how a parsed entry becomes that
 * target. Apart from http.ts, so the probe workers never load zod.
 */
import { z } from 'zod';
import { regExpSource, targetUrl, type KindConfig } from '../config/fields.ts';
import type { HttpTarget } from './http.ts';
import { finishSchemeTls, tlsField } from './tls-config.ts';

/** DEFAULT_MAX_BODY_BYTES is an http target's `maxBodyBytes` when its config sets none: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** MAX_BODY_BYTES_LIMIT bounds an http target's maxBodyBytes: what one probe may hold in memory. */
const MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024;
/** DEFAULT_REDIRECT_HOPS and MAX_REDIRECT_HOPS: how many redirects `followRedirects` follows (fetch's own limit is 20). */
const DEFAULT_REDIRECT_HOPS = 5;
const MAX_REDIRECT_HOPS = 20;

const fields = {
  kind: z.literal('http'),
  url: targetUrl({ schemes: ['http', 'https'] }),
  expectStatus: z.array(z.number().int().min(100).max(599)).default([]),
  bodyMatch: regExpSource.optional(),
  maxBodyBytes: z.number().int().min(1).max(MAX_BODY_BYTES_LIMIT).default(DEFAULT_MAX_BODY_BYTES),
  headers: z.record(z.string(), z.string()).default({}),
  followRedirects: z
    .union([
      z.boolean(),
      z
        .object({
          maxHops: z.number().int().min(1).max(MAX_REDIRECT_HOPS).default(DEFAULT_REDIRECT_HOPS),
          crossOrigin: z.boolean().default(false),
        })
        .strict(),
    ])
    .default(false),
  tls: tlsField,
};

export const httpConfig: KindConfig<typeof fields, HttpTarget> = {
  fields,
  finish(t, at, issues) {
    const tls = finishSchemeTls(t.tls, t.url.startsWith('https:'), 'https://', `${at}.tls`, issues);
    return {
      url: t.url,
      ...(tls === undefined ? {} : { tls }),
      expectStatus: t.expectStatus,
      headers: t.headers,
      maxBodyBytes: t.maxBodyBytes,
      ...(t.bodyMatch === undefined ? {} : { bodyMatch: t.bodyMatch }),
      ...(t.followRedirects === false
        ? {}
        : {
            followRedirects:
              t.followRedirects === true ? { maxHops: DEFAULT_REDIRECT_HOPS, crossOrigin: false } : t.followRedirects,
          }),
    };
  },
};
