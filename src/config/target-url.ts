/**
 * targetUrlProblem checks a target's URL (a config's `url`, or one the Directus environment names) and
 * says what is wrong with it, or returns undefined. Pure: no I/O, and no message quotes the URL, which
 * may hold a password.
 *
 * The checks are those a URL parser makes, each with its own message, so a user learns which part to fix
 * (a port out of range is "port must be 1-65535", not "invalid URL"). For postgres the host may be empty
 * when a `host` query parameter names a unix socket directory, libpq's form that pg reads too:
 * `postgresql://user:pw@/db?host=/run/postgresql` (the socket's port, when not 5432, goes in `?port=`).
 */

/** UrlRules are the schemes a kind accepts, and whether its host may be a socket directory in `?host=`. */
export interface UrlRules {
  readonly schemes: readonly string[];
  readonly socketHost?: boolean;
}

/** PLACEHOLDER_HOST stands in for an empty host while the rest of the URL is parsed. */
const PLACEHOLDER_HOST = 'socket.invalid';

const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\\]*)([^?#]*)(\?[^#]*)?(#.*)?$/s;

/** targetUrlProblem returns why `text` is not a URL of `rules`, or undefined when it is one. */
export function targetUrlProblem(text: string, rules: UrlRules): string | undefined {
  const expected = `must be a ${rules.schemes.map((s) => `${s}://`).join(' or ')} URL`;
  const m = URL_RE.exec(text);
  if (m === null || !rules.schemes.includes(m[1]!.toLowerCase())) return expected;
  const [, scheme, authority, path, query = ''] = m as unknown as [string, string, string, string, string?];
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  const { host, port } = splitHostPort(hostPort);
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return 'port must be a number from 1 to 65535';
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return 'port must be 1-65535';
  let parsed = text;
  if (host === '') {
    if (rules.socketHost !== true) return 'must name a host';
    const socket = new URLSearchParams(query.slice(1)).get('host');
    if (socket === null || !socket.startsWith('/'))
      return 'must name a host, or a unix socket directory as ?host=/path (postgresql://user@/db?host=/run/postgresql)';
    if (port !== undefined) return 'with a unix socket directory in ?host=, the port goes in ?port=';
    parsed = `${scheme}://${authority.slice(0, at + 1)}${PLACEHOLDER_HOST}${path}${query}`;
  }
  return URL.canParse(parsed) ? undefined : `${expected}: its host, path or query is not valid`;
}

/** splitHostPort splits `host[:port]` (an IPv6 host in brackets); port is undefined when absent or empty. */
function splitHostPort(hostPort: string): { host: string; port: string | undefined } {
  const end = hostPort.startsWith('[') ? hostPort.indexOf(']') + 1 : 0;
  const colon = hostPort.indexOf(':', end);
  if (colon < 0) return { host: hostPort, port: undefined };
  const port = hostPort.slice(colon + 1);
  return { host: hostPort.slice(0, colon), port: port === '' ? undefined : port };
}

/** hostForUrl is a host as a URL writes it: an IPv6 address in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
