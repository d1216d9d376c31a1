/**
 * The tokens that come from outside the config's own `auth.tokens`: a token file (`auth.tokenFile`,
 * PROBEX_TOKEN_FILE) and Directus's METRICS_TOKENS, and the warning about a file holding tokens that
 * others may read. Problems name the source and the position (`tokens:3`, `METRICS_TOKENS[1]`), never a
 * token.
 */
import type { Stats } from 'node:fs';
import { PERMISSIONS, tokenProblem, type Permission, type TokenConfig } from '../access.ts';
import { ConfigError } from '../errors.ts';
import { FileReadError, readCappedFileSync } from './read-file.ts';

/** MAX_TOKEN_FILE_BYTES bounds a token file: what a load holds in memory. */
export const MAX_TOKEN_FILE_BYTES = 1024 * 1024;

/**
 * readTokenFile parses a token file: one token per line, optionally followed by whitespace and a
 * comma-separated permission list (default `metrics`). Blank lines and `#` comments are skipped.
 */
export function readTokenFile(path: string): TokenConfig[] {
  const issues: string[] = [];
  const tokens = tokenFile(path, issues, []);
  if (issues.length > 0) throw new ConfigError(issues);
  return tokens!;
}

/**
 * tokenFile reads and checks a token file (format: readTokenFile). Its problems go into issues; it
 * returns undefined when the file cannot be read. Problems name the file and line, never the line's text.
 */
export function tokenFile(path: string, issues: string[], warnings: string[]): TokenConfig[] | undefined {
  let read;
  try {
    read = readCappedFileSync(path, MAX_TOKEN_FILE_BYTES);
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    issues.push(`auth.tokenFile: ${err.message}`);
    return undefined;
  }
  const tokens: TokenConfig[] = [];
  read.bytes
    .toString('utf8')
    .split('\n')
    .forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return;
      const at = `${path}:${i + 1}`;
      const fields = trimmed.split(/\s+/);
      if (fields.length > 2) {
        issues.push(`${at}: expected a token and its permissions, found ${fields.length} fields`);
        return;
      }
      const [token, perms] = fields as [string, string | undefined];
      const permissions = (perms ?? 'metrics').split(',');
      const problem = tokenProblem(token);
      if (problem !== undefined) issues.push(`${at}: ${problem}`);
      permissions.forEach((p, k) => {
        if (!(PERMISSIONS as readonly string[]).includes(p))
          issues.push(`${at}: permission ${k + 1} is not one of ${PERMISSIONS.join(', ')}`);
      });
      tokens.push({ token, permissions: permissions as Permission[] });
    });
  if (tokens.length === 0) warnings.push(`${path} holds no tokens`);
  else {
    const loose = looseModeWarning(path, read.stats);
    if (loose !== undefined) warnings.push(loose);
  }
  return tokens;
}

/**
 * envTokens reads Directus's METRICS_TOKENS: comma-separated tokens, each allowed /metrics. A problem
 * names the entry's position (`METRICS_TOKENS[1]`, from 0 as config paths do); `count` counts every
 * token given, valid or not.
 */
export function envTokens(value: string | undefined, issues: string[]): { tokens: TokenConfig[]; count: number } {
  const tokens: TokenConfig[] = [];
  let count = 0;
  (value ?? '').split(',').forEach((entry, i) => {
    const token = entry.trim();
    if (token === '') return;
    count++;
    const problem = tokenProblem(token);
    if (problem !== undefined) issues.push(`METRICS_TOKENS[${i}]: ${problem}`);
    else tokens.push({ token, permissions: ['metrics'] });
  });
  return { tokens, count };
}

/** holdsTokens: the config file itself lists tokens (METRICS_TOKENS and a token file are elsewhere). */
export function holdsTokens(raw: Record<string, unknown>): boolean {
  const auth = raw.auth;
  if (typeof auth !== 'object' || auth === null) return false;
  const tokens = (auth as { tokens?: unknown }).tokens;
  return Array.isArray(tokens) && tokens.length > 0;
}

/**
 * looseModeWarning warns, as ssh does for a private key, about a file holding tokens that others may
 * read. Group read counts when probex's user owns the file (chmod 600 fixes it); a file another user owns
 * and lets probex's group read is how that owner grants access (a Kubernetes Secret volume with fsGroup),
 * so there only read by others counts.
 */
export function looseModeWarning(path: string, stats: Stats): string | undefined {
  const own = stats.uid === process.getuid?.();
  const group = own && (stats.mode & 0o040) !== 0;
  const others = (stats.mode & 0o004) !== 0;
  if (!group && !others) return undefined;
  const who = group && others ? 'group and others' : group ? 'group' : 'others';
  const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
  return `${path} holds tokens and is readable by ${who} (mode ${mode}); run ${own ? 'chmod 600' : 'chmod o-r'} ${path}`;
}
