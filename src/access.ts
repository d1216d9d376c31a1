/**
 * The rules for who may read what, across config loads: an open listener only on loopback or with
 * `auth.open: true`, and a reload that never opens access by accident. Kept apart from config.ts (and
 * its zod and YAML parser) because the main thread applies them on reload and must not load those.
 */
import { BlockList, isIP } from 'node:net';
import type { LoadedConfig } from './config.ts';

/** RunningAuth is what a reload is checked against: where probex listens, and the tokens it asks for now. */
export interface RunningAuth {
  /** host is the address probex listens on (a reload does not move it). */
  readonly host: string;
  /** tokens counts every token in force; fileTokens those of the token file among them. */
  readonly tokens: number;
  readonly fileTokens: number;
}

/**
 * reloadProblems are the reasons to refuse a valid config on reload: a reload never opens access unless
 * the new config says `auth.open: true` (fail closed), and a token file that lost its tokens (being
 * rewritten, a broken mount) keeps the running ones rather than drop them.
 */
export function reloadProblems(running: RunningAuth, next: LoadedConfig): string[] {
  const problems: string[] = [];
  const { auth } = next.config;
  const tokens = auth.tokens.length + next.fileTokens.length;
  if (running.tokens > 0 && tokens === 0 && !auth.open) {
    problems.push(
      'auth: the new config has no token and the running one has: a reload opens access only when' +
        ' the new config says auth.open: true',
    );
  }
  if (auth.tokenFile !== undefined && next.fileTokens.length === 0 && running.fileTokens > 0) {
    problems.push(
      `auth.tokenFile: ${auth.tokenFile} holds no tokens now, and the running config has` +
        ` ${running.fileTokens} from its token file: the running tokens stay`,
    );
  }
  const listener = openListenerProblem(running.host, tokens > 0, auth.open, 'running');
  if (listener !== undefined) problems.push(listener);
  return problems;
}

/** isLoopback: 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name localhost. Other names count as not. */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const HOW_TO_SET_A_TOKEN =
  'set a token (auth.tokens, auth.tokenFile or PROBEX_TOKEN_FILE, or METRICS_TOKENS), or set' +
  ' auth.open: true to serve every route to anyone who can reach it';

/**
 * openListenerProblem is the rule for a listener without a token: fine on a loopback address, anywhere
 * else only with `auth.open: true`. `which` tells the address the new config names from the one probex
 * already listens on (on reload).
 */
export function openListenerProblem(
  host: string,
  hasTokens: boolean,
  open: boolean,
  which: 'config' | 'running',
): string | undefined {
  if (hasTokens || open || isLoopback(host)) return undefined;
  return which === 'config'
    ? `auth: probex would listen on ${host}, not a loopback address, with no token: ${HOW_TO_SET_A_TOKEN}`
    : `auth: probex listens on ${host}, not a loopback address (the listen address changes only on restart), and` +
        ` the new config has no token: ${HOW_TO_SET_A_TOKEN}`;
}
