/**
 * The rules for who may read what, across config loads: what a token is and may carry, an open listener
 * only on loopback or with `auth.open: true`, and a reload that never opens access by accident. A leaf:
 * it imports nothing of probex, so the config loader, the front end and the reload path all read the same
 * rules, and the main thread applies them without loading zod or the YAML parser.
 */
import { BlockList, isIP } from 'node:net';

/** PERMISSIONS a token may carry. The `dcos:` names are DC/OS's, accepted so existing policies carry over. */
export const PERMISSIONS = [
  'metrics', // GET /metrics
  'api', // every JSON route
  'superuser', // everything
  'dcos:adminrouter:ops:system-metrics', // JSON routes under /system/v1/metrics/
  'dcos:adminrouter:system:agent', // JSON routes under /system/v1/agent/{id}/
  'dcos:superuser', // everything
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** TokenConfig is one token and what it may read. */
export interface TokenConfig {
  /** token is the secret. Never logged, never rendered. */
  readonly token: string;
  readonly permissions: readonly Permission[];
}

export const MIN_TOKEN_LENGTH = 8;
export const MAX_TOKEN_LENGTH = 1024;

/**
 * tokenProblem is the one rule every token follows, from auth.tokens, a token file or METRICS_TOKENS: it
 * says what is wrong with a token, or returns undefined. It never quotes the token. At least 8 characters,
 * so a token is not guessed in a few tries; at most 1024 characters of visible ASCII (`!` to `~`, which
 * holds RFC 6750's token68), so it arrives intact in an Authorization header: the front end trims
 * surrounding whitespace and refuses long headers, and a header's bytes beyond ASCII reach it one character
 * per byte (a client sends `é` as two UTF-8 bytes), so a token that breaks the rule could never match.
 */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `tokens must be at least ${MIN_TOKEN_LENGTH} characters`;
  if (token.length > MAX_TOKEN_LENGTH) return `tokens must be at most ${MAX_TOKEN_LENGTH} characters`;
  if (/[\s\p{Cc}]/u.test(token)) return 'tokens must not contain whitespace or control characters';
  if (/[^\x21-\x7e]/.test(token))
    return 'tokens must be visible ASCII characters, ! to ~ (an HTTP header carries nothing else intact)';
  return undefined;
}

/** RunningAuth is what a reload is checked against: where probex listens, and the credentials it asks for now. */
export interface RunningAuth {
  /** host is the address probex listens on (a reload does not move it). */
  readonly host: string;
  /** tokens counts every token in force; fileTokens those of the token file among them. */
  readonly tokens: number;
  readonly fileTokens: number;
  /** basicUsers counts the web config's basic_auth_users in force. */
  readonly basicUsers: number;
  /**
   * clientCertificates: the listener demands a verified client certificate of every connection
   * (RequireAndVerifyClientCert). The listener's TLS settings change only on restart.
   */
  readonly clientCertificates: boolean;
}

/** NextAuth is what a reload reads of the config it loaded: its auth block, the token file's tokens, the web config's users. */
export interface NextAuth {
  readonly auth: {
    readonly open: boolean;
    readonly tokens: readonly TokenConfig[];
    readonly tokenFile?: string | undefined;
  };
  readonly fileTokens: readonly TokenConfig[];
  readonly basicUsers: number;
}

/**
 * reloadProblems are the reasons to refuse a valid config on reload: a reload never opens access unless
 * the new config says `auth.open: true` (fail closed), and a token file that lost its tokens (being
 * rewritten, a broken mount) keeps the running ones rather than drop them.
 */
export function reloadProblems(running: RunningAuth, next: NextAuth): string[] {
  const problems: string[] = [];
  const { auth } = next;
  const tokens = auth.tokens.length + next.fileTokens.length;
  if (running.tokens + running.basicUsers > 0 && tokens + next.basicUsers === 0 && !auth.open) {
    problems.push(
      'auth: the new config has no token or basic-auth user and the running one has: a reload opens access' +
        ' only when the new config says auth.open: true',
    );
  }
  if (auth.tokenFile !== undefined && next.fileTokens.length === 0 && running.fileTokens > 0) {
    problems.push(
      `auth.tokenFile: ${auth.tokenFile} holds no tokens now, and the running config has` +
        ` ${running.fileTokens} from its token file: the running tokens stay`,
    );
  }
  const listener = openListenerProblem(
    running.host,
    tokens + next.basicUsers > 0 || running.clientCertificates,
    auth.open,
    'running',
  );
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
  'set a token (auth.tokens, auth.tokenFile or PROBEX_TOKEN_FILE, or METRICS_TOKENS), basic_auth_users or' +
  ' client_auth_type RequireAndVerifyClientCert in the web config (--web.config.file), or set' +
  ' auth.open: true to serve every route to anyone who can reach it';

/**
 * openListenerProblem is the rule for a listener that no credential guards (no token, no basic-auth
 * user, no required client certificate): fine on a loopback address, anywhere else only with
 * `auth.open: true`. `which` tells the address the new config names from the one probex already listens
 * on (on reload).
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

/**
 * webAuthProblems are the rules across the config and the web config: `auth.open: true` opens every
 * route, so basic-auth users, which would close them again, contradict it.
 */
export function webAuthProblems(open: boolean, web: { readonly path: string; readonly users: object }): string[] {
  if (open && Object.keys(web.users).length > 0)
    return [`auth.open: true opens every route, so it cannot be combined with basic_auth_users in ${web.path}`];
  return [];
}
