/**
 * The zod pieces a config is made of that more than one section or kind uses: durations, target URLs,
 * regular expressions, health-check prefixes; and KindConfig, the shape of one kind's part of the config
 * (src/probes/<kind>-config.ts), which config/kinds.ts lists. Messages name the expectation, never the
 * value (a URL may hold a password).
 */
import { z } from 'zod';
import type { TargetBase } from '../probes/probe.ts';
import { targetUrlProblem, type UrlRules } from './target-url.ts';

/**
 * KindConfig is one kind's part of the config: `fields` are its own keys in a target's entry (`kind`
 * among them; config/schema.ts adds the common ones: name, interval, timeout, labels, ...), and `finish`
 * makes a parsed entry the kind's own target fields, adding each problem to `issues` at `at`
 * (`targets[3]`). The `tls` it returns, when any, has its files checked by the loader (checkedTls).
 */
export interface KindConfig<Shape extends KindShape<Target>, Target extends TargetBase> {
  readonly fields: Shape;
  finish(raw: z.output<z.ZodObject<Shape>>, at: string, issues: string[]): KindFields<Target>;
}

/** KindShape is a kind's keys: `kind` is the literal its targets carry. */
export type KindShape<Target extends TargetBase> = z.ZodRawShape & { readonly kind: z.ZodLiteral<Target['kind']> };

/** KindFields are a target's own fields: what its kind adds to TargetBase. */
export type KindFields<Target extends TargetBase> = Omit<Target, keyof TargetBase>;

// Durations: a number is milliseconds; a string is Prometheus-style (`250ms`, `1s`, `1.5m`, `1h`).
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationRe = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MESSAGE = 'must be a duration like 250ms, 1s, 2m or a number of milliseconds';
/**
 * MAX_DURATION_MS caps every duration (interval, timeout, publishInterval, `probex run --duration`): Node's
 * timers hold at most 2^31-1 ms (~24.8 days) and fire at once for anything longer, so a longer interval
 * would probe continuously and a longer timeout expire at once. 24 days, a round figure below that limit.
 */
export const MAX_DURATION_MS = 576 * 3_600_000;
/** MAX_DURATION_TEXT is MAX_DURATION_MS as messages say it. */
export const MAX_DURATION_TEXT = '576h (24 days)';

/** parseDuration reads a Prometheus-style duration (`250ms`, `1s`, `1.5m`, `1h`) in ms; undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = durationRe.exec(text);
  return m === null ? undefined : Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
}

/** duration is a duration key: a number of ms or a Prometheus-style string, as whole ms. */
export const duration = z
  .union(
    [
      z.number().nonnegative().finite(),
      z
        .string()
        .regex(durationRe)
        .transform((s) => parseDuration(s)!),
    ],
    { error: DURATION_MESSAGE },
  )
  .transform((ms) => Math.round(ms))
  .pipe(z.number().max(MAX_DURATION_MS, `must be at most ${MAX_DURATION_TEXT}`));

/** targetUrl is a target's `url`, checked by targetUrlProblem (each problem named on its own). */
export function targetUrl(rules: UrlRules) {
  return z.string().superRefine((url, ctx) => {
    const problem = targetUrlProblem(url, rules);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** hostPort is `host:port` (the port's range is checked when the target is finished). */
export const hostPort = z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port');

/** regExpSource is the source of a regular expression the probe matches an answer against. */
export const regExpSource = z.string().refine(isRegExp, 'must be a valid regular expression');

/**
 * healthCheckPrefix starts a redis `setdel` key or a storage probe file: 1-128 printable characters, so a
 * leftover key or file is easy to find by its prefix.
 */
export const healthCheckPrefix = z
  .string()
  .regex(/^[^\p{Cc}]{1,128}$/u, 'must be 1-128 characters without control characters');

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false; // the refine's message says what is wrong; the RegExp error text is not needed
  }
}
