/**
 * The arguments of `probex run`, checked before anything runs: parseRunArgs turns argv (and the
 * environment, which holds the remote write credentials) into RunOptions, or into the message to print
 * with the usage and exit 2. Pure: no file is read here (the config is loaded by the run, cli.ts).
 */
import { parseArgs } from 'node:util';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from '../config/fields.ts';
import { redactUrl } from '../redact.ts';
import { REMOTE_WRITE_INTERVAL_MS, type RemoteWriteEndpoint } from './remote-write.ts';

export const RUN_USAGE = `usage: probex run --config FILE --duration 60s --out DIR [--force] [--slo "redis:p99<5ms"]... [--listen [HOST:]PORT]
                 [--junit FILE] [--remote-write URL [--remote-write-header "Name: value"]...]...
  --config FILE     the targets to probe (YAML, as for probex)
  --duration D      how long to probe: 500ms, 30s, 5m, 1h (at most ${MAX_DURATION_TEXT})
  --out DIR         where to write NAME.hgrm, NAME.hlog, run.hlog, summary.json and report.html: a new or empty
                    directory (created if missing); probex never writes through an existing file or symlink
  --force           write into a --out that is not empty: files of the run's names are replaced, others kept
  --slo SPEC        an objective, e.g. "redis:p99<5ms", "*:errors<1%" (repeatable, or comma-separated)
  --listen ADDR     also serve /metrics, the status page and the JSON API while the run lasts, on PORT or
                    HOST:PORT (port 0 picks a free one; the config's auth applies, as for probex)
  --junit FILE      also write the objectives as JUnit XML, one testcase each (a new file, as for --out)
  --remote-write URL
                    push the run's series (labelled run="ID", the id printed at start) with Prometheus remote
                    write every ${REMOTE_WRITE_INTERVAL_MS / 1000}s and at the end (repeatable); credentials come from the environment only:
                    PROBEX_REMOTE_WRITE_USERNAME and _PASSWORD, or PROBEX_REMOTE_WRITE_BEARER_TOKEN
  --remote-write-header "Name: value"
                    a header every remote write request carries, e.g. X-Scope-OrgID (repeatable)
exit status: 0 every objective met, 1 one missed, 2 bad arguments, config or listen address, or a file
             that cannot be written (one line on stderr says which and why)`;

/** LISTEN_RE reads --listen: PORT, HOST:PORT or [IPv6]:PORT. */
const LISTEN_RE = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\s]+):)?(\d{1,5})$/;

/** RunOptions are the checked arguments of a run. */
export interface RunOptions {
  /** configFile is the --config file, loaded by the run. */
  readonly configFile: string;
  /**
   * listen, for --listen, overrides the config's listen address as PROBEX_HOST and PROBEX_PORT do (so the
   * same checks apply): host (an IPv6 address without its brackets) when given, and port.
   */
  readonly listen: { readonly host?: string; readonly port: string } | undefined;
  readonly durationMs: number;
  readonly out: string;
  /** force lets the run write into a non-empty --out (OutDir). */
  readonly force: boolean;
  /** slos are the --slo values as given; the run parses them against the config's target names. */
  readonly slos: readonly string[];
  /** junit is the --junit file, if any. */
  readonly junit: string | undefined;
  readonly remoteWrite: readonly RemoteWriteEndpoint[];
}

/** RunArgs is what parseRunArgs makes of the arguments: a run, a request for help, or what is wrong. */
export type RunArgs =
  | { readonly kind: 'run'; readonly options: RunOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string };

/**
 * parseRunArgs checks every argument of `probex run` (after `run`) and reports every problem at once,
 * one line each. `env` supplies the remote write credentials.
 */
export function parseRunArgs(argv: readonly string[], env: NodeJS.ProcessEnv): RunArgs {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        duration: { type: 'string' },
        out: { type: 'string' },
        slo: { type: 'string', multiple: true },
        listen: { type: 'string' },
        force: { type: 'boolean' },
        junit: { type: 'string' },
        'remote-write': { type: 'string', multiple: true },
        'remote-write-header': { type: 'string', multiple: true },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    return { kind: 'usage-error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const problems: string[] = [];
  if (values.config === undefined) problems.push('--config is required');
  if (values.out === undefined) problems.push('--out is required');
  const durationMs = parseDuration(values.duration ?? '') ?? NaN;
  if (!(durationMs >= 100 && durationMs <= MAX_DURATION_MS))
    problems.push(`--duration must be a duration from 100ms to ${MAX_DURATION_TEXT}, e.g. 30s or 5m`);
  const listen = values.listen === undefined ? undefined : LISTEN_RE.exec(values.listen);
  if (listen === null) problems.push('--listen must be PORT or HOST:PORT, e.g. 9469 or 127.0.0.1:9469');
  if (values.junit === '') problems.push('--junit needs a file name');
  const remoteWrite = parseRemoteWrite(
    values['remote-write'] ?? [],
    values['remote-write-header'] ?? [],
    env,
    problems,
  );
  if (problems.length > 0) return { kind: 'usage-error', message: problems.join('\n') };
  return {
    kind: 'run',
    options: {
      configFile: values.config!,
      listen:
        listen === undefined || listen === null
          ? undefined
          : {
              // A bracketed IPv6 address is a URL's way to write it; the listener takes the address itself.
              ...(listen[1] === undefined ? {} : { host: listen[1].replace(/^\[(.*)\]$/, '$1') }),
              port: listen[2]!,
            },
      durationMs,
      out: values.out!,
      force: values.force === true,
      slos: values.slo ?? [],
      junit: values.junit,
      remoteWrite,
    },
  };
}

/** RESERVED_HEADERS are set by the remote write protocol itself, or carry credentials (the environment's job). */
const RESERVED_HEADERS = new Set([
  'authorization',
  'content-type',
  'content-encoding',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'user-agent',
  'x-prometheus-remote-write-version',
]);
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * parseRemoteWrite checks --remote-write URLs and --remote-write-header values and reads the credentials
 * from the environment (never from argv, where `ps` shows them to every user of the machine). Problems
 * go to `problems`; a URL is shown redacted.
 */
function parseRemoteWrite(
  urls: readonly string[],
  headerArgs: readonly string[],
  env: NodeJS.ProcessEnv,
  problems: string[],
): RemoteWriteEndpoint[] {
  const headers: Record<string, string> = {};
  for (const arg of headerArgs) {
    const colon = arg.indexOf(':');
    const name = colon < 0 ? '' : arg.slice(0, colon).trim();
    const value = colon < 0 ? '' : arg.slice(colon + 1).trim();
    if (!HEADER_NAME_RE.test(name) || /[\r\n\0]/.test(value)) {
      problems.push(`--remote-write-header must be "Name: value" on one line, e.g. "X-Scope-OrgID: team-a"`);
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      problems.push(
        `--remote-write-header ${name}: ${name.toLowerCase() === 'authorization' ? 'credentials come from PROBEX_REMOTE_WRITE_USERNAME/_PASSWORD or PROBEX_REMOTE_WRITE_BEARER_TOKEN, never from argv' : 'remote write sets this header itself'}`,
      );
    } else {
      headers[name] = value;
    }
  }
  if (urls.length === 0) {
    if (headerArgs.length > 0) problems.push('--remote-write-header needs a --remote-write URL');
    return [];
  }
  const user = env.PROBEX_REMOTE_WRITE_USERNAME;
  const password = env.PROBEX_REMOTE_WRITE_PASSWORD;
  const bearer = env.PROBEX_REMOTE_WRITE_BEARER_TOKEN;
  if (bearer !== undefined && (user !== undefined || password !== undefined)) {
    problems.push('PROBEX_REMOTE_WRITE_BEARER_TOKEN and PROBEX_REMOTE_WRITE_USERNAME/_PASSWORD: set one or the other');
  } else if (bearer !== undefined) {
    headers.Authorization = `Bearer ${bearer}`;
  } else if (user !== undefined || password !== undefined) {
    if (user !== undefined && user.includes(':')) problems.push('PROBEX_REMOTE_WRITE_USERNAME must not contain ":"');
    headers.Authorization = `Basic ${Buffer.from(`${user ?? ''}:${password ?? ''}`).toString('base64')}`;
  }
  const endpoints: RemoteWriteEndpoint[] = [];
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      problems.push(`--remote-write ${redactUrl(url)}: not an http:// or https:// URL`);
    } else if (parsed.username !== '' || parsed.password !== '') {
      problems.push(
        `--remote-write ${redactUrl(url)}: credentials in the URL would be on the command line; use PROBEX_REMOTE_WRITE_USERNAME and _PASSWORD`,
      );
    } else {
      endpoints.push({ url, headers });
    }
  }
  return endpoints;
}
