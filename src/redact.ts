/**
 * Secrets in target URLs: `redactUrl` is how a URL is shown anywhere (log, message, page), and
 * `secretScrubber` cleans text a client library built from a URL (an error message that quotes the URL, its
 * password or a token query parameter) before probex shows it. Pure string functions, no I/O, so probes,
 * config and renderers may all use them.
 *
 * Userinfo is shown as `***` as a whole, user name included: some services put the secret in the user part
 * (`https://<token>@host`, or an API key as user with an empty password), so only dropping the password
 * would still show it. A query parameter whose name says it holds a secret keeps its name and shows
 * `***` as its value: `?token=***&db=0`.
 */

/** REDACTED replaces every secret probex shows. */
const REDACTED = '***';

/**
 * SECRET_PARAM_SUFFIXES: a query parameter holds a secret when its name, lowercased and without `-` and `_`,
 * ends with one of these (`password`, `api_key`, `access_token`, `client_secret`, `X-Amz-Signature` ...).
 * Redacting a harmless parameter by mistake costs a less informative log line; missing a secret leaks it.
 */
const SECRET_PARAM_SUFFIXES = [
  'password',
  'passwd',
  'pwd',
  'pass',
  'token',
  'secret',
  'key',
  'auth',
  'signature',
  'sig',
  'credential',
  'credentials',
];

/**
 * MIN_USER_SECRET_CHARS: a user name with no password is treated as a secret in messages (a token as user)
 * only from this length on, so `mysql://root@db` still lets mysql2's "Access denied for user 'root'" through.
 */
const MIN_USER_SECRET_CHARS = 8;

/** scheme `://` authority: the authority ends at the first `/`, `?`, `#` (or `\`, which WHATWG URL treats as `/`). */
const AUTHORITY_RE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\\]*)/i;

/** isSecretParam says whether a query parameter name (raw, maybe percent-encoded) names a secret. */
export function isSecretParam(name: string): boolean {
  const normalized = safeDecode(name).toLowerCase().replace(/[-_]/g, '');
  return SECRET_PARAM_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

/**
 * redactUrl returns url with its userinfo replaced by `***` and the values of secret query parameters by
 * `***`; everything else is kept byte for byte. It works on any string (an invalid URL is still cleaned of
 * what looks like userinfo and query secrets), and never throws.
 */
export function redactUrl(url: string): string {
  let out = url;
  const authority = AUTHORITY_RE.exec(out);
  if (authority !== null) {
    const [whole, scheme, hostPart] = authority as unknown as [string, string, string];
    // The last `@` ends the userinfo: WHATWG URL reads `u:pa@ss@host` as user `u`, password `pa@ss`.
    const at = hostPart.lastIndexOf('@');
    if (at >= 0) out = `${scheme}${REDACTED}${hostPart.slice(at)}${out.slice(whole.length)}`;
  }
  const q = out.indexOf('?');
  if (q < 0) return out;
  const hash = out.indexOf('#', q);
  const end = hash < 0 ? out.length : hash;
  const query = out
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq >= 0 && isSecretParam(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
  return `${out.slice(0, q + 1)}${query}${out.slice(end)}`;
}

/**
 * urlSecrets lists the secret strings of a URL in every form a library may print them: the URL itself
 * (as written and as WHATWG URL normalizes it), the password, a long user name with no password, and the
 * values of secret query parameters, each raw and percent-decoded. Longest first, so a scrub replaces a
 * whole URL before the parts inside it.
 */
export function urlSecrets(url: string): string[] {
  const found = new Set<string>();
  const add = (value: string): void => {
    if (value === '') return;
    found.add(value);
    found.add(safeDecode(value));
  };
  const parsed = parseUrl(url);
  if (parsed !== undefined) {
    add(parsed.password);
    if (parsed.password === '' && safeDecode(parsed.username).length >= MIN_USER_SECRET_CHARS) add(parsed.username);
    for (const [name, value] of parsed.searchParams) {
      if (isSecretParam(name)) {
        found.add(value); // searchParams decodes; the raw form comes from the query text below
        found.add(encodeURIComponent(value));
      }
    }
    for (const pair of parsed.search.slice(1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq >= 0 && isSecretParam(pair.slice(0, eq))) add(pair.slice(eq + 1));
    }
  }
  const hasSecret = found.size > 0 || redactUrl(url) !== url;
  if (!hasSecret) return [];
  found.add(url);
  found.add(safeHref(url));
  found.delete('');
  return [...found].sort((a, b) => b.length - a.length);
}

/**
 * secretScrubber returns a function that removes url's secrets from a text (a failure message), or
 * undefined when url holds none, so a target without secrets pays nothing. The URL itself is replaced by its
 * redacted form; any other occurrence of a secret by `***`.
 */
export function secretScrubber(url: string): ((text: string) => string) | undefined {
  const secrets = urlSecrets(url);
  if (secrets.length === 0) return undefined;
  const shown = redactUrl(url);
  const urls = new Set([url, safeHref(url)]);
  return (text) => {
    let out = text;
    for (const secret of secrets) {
      if (out.includes(secret)) out = out.split(secret).join(urls.has(secret) ? shown : REDACTED);
    }
    return out;
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // malformed %-encoding: the raw text is what a library would print
  }
}

/**
 * parseUrl parses url, or undefined when it is not one. A URL with userinfo and an empty host (libpq's
 * unix socket form, `postgresql://user:pw@/db?host=/run/postgresql`) is parsed with a placeholder host, so
 * its password is still found.
 */
function parseUrl(url: string): URL | undefined {
  for (const text of [url, url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#\\]*@)(?=[/?#]|$)/i, '$1socket.invalid')]) {
    try {
      return new URL(text);
    } catch {
      continue; // not a URL as written: try the next form, and redactUrl still cleans the text
    }
  }
  return undefined;
}

function safeHref(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url; // not a URL: its only form is the text itself
  }
}
