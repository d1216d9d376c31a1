/**
 * Loading a config: loadConfig reads YAML (a file, a text, or a document already built as data, as
 * `--directus-env` builds one), applies the environment's overrides, fills defaults, validates (zod, the
 * schema in config/schema.ts) and returns a deeply frozen Config. Every problem is reported at once with
 * its path (`targets[2].timeout: ...`), as blackbox_exporter and piscina do: schema issues, the checks
 * across fields, every token source and the rule for an open listener, in one list.
 *
 * No message quotes the config's content: a YAML error gives file:line:column and js-yaml's reason, a
 * schema issue the key path and what is expected there, a token problem its source and position.
 */
import type { Stats } from 'node:fs';
import { loadAll as parseYamlDocuments, YAMLException } from 'js-yaml';
import type { z } from 'zod';
import { openListenerProblem, type TokenConfig } from '../access.ts';
import { ConfigError } from '../errors.ts';
import type { ProbeTarget } from '../probes/registry.ts';
import { checkedTls } from '../probes/tls-config.ts';
import { ownTargets } from '../shard.ts';
import { autoThreads, DEFAULT_LATENCY_BUCKETS_SECONDS, DEFAULT_PORT, defaultTargets } from './defaults.ts';
import { TARGET_KINDS } from './kinds.ts';
import { FileReadError, readCappedFileSync } from './read-file.ts';
import {
  authFields,
  authSchema,
  configSchema,
  listenSchema,
  targetList,
  targetSchema,
  type CommonFields,
  type Config,
} from './schema.ts';
import { envTokens, holdsTokens, looseModeWarning, tokenFile } from './tokens.ts';

/**
 * LoadOptions say where a config comes from: a file (`path`), a YAML text (`yaml`) or a document already
 * built as data (`document`), at most one of them; none runs the embedded default. The environment's
 * overrides (PROBEX_*, METRICS_TOKENS, METRICS_NAME_PREFIX) apply to each alike.
 */
export interface LoadOptions {
  /** path of the YAML config file; it is read capped (MAX_CONFIG_BYTES), and its mode checked when it holds tokens. */
  readonly path?: string | undefined;
  /** yaml is the config's text, when it does not come from a file. */
  readonly yaml?: string;
  /** document is the config as data, the top-level mapping YAML would give (the Directus environment's). */
  readonly document?: Record<string, unknown>;
  /** file names the yaml or the document in messages (a path names itself). */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * listenerGuard names what of the web config authenticates every client (basic auth users, required
   * client certificates), when it does: such a listener is not open without a token (access.ts).
   */
  readonly listenerGuard?: string | undefined;
}

/** LoadedConfig is a valid config with what was read alongside it. */
export interface LoadedConfig {
  readonly config: Config;
  /** fileTokens are the token file's (config.auth.tokens holds the config's own and METRICS_TOKENS'). */
  readonly fileTokens: readonly TokenConfig[];
  /** warnings are problems that do not stop probex; each is logged at start and on every reload. */
  readonly warnings: readonly string[];
}

/** MAX_CONFIG_BYTES bounds a config file: what a load holds in memory. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * loadConfig parses, overrides from env, fills defaults, validates and freezes; it reads the token file
 * the config names. It throws ConfigError listing every problem with its path. A check that reads several
 * fields runs whenever those fields are valid, whatever else is wrong.
 */
export function loadConfig({ path, yaml, document, file, env = {}, listenerGuard }: LoadOptions = {}): LoadedConfig {
  const name = path ?? file ?? 'config';
  const issues: string[] = [];
  const warnings: string[] = [];
  let stats: Stats | undefined;
  let text = yaml;
  if (path !== undefined) {
    try {
      const read = readCappedFileSync(path, MAX_CONFIG_BYTES);
      text = read.bytes.toString('utf8');
      stats = read.stats;
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      throw new ConfigError([`${path}: cannot read: ${err.reason}`]);
    }
  }
  const raw = document ?? parseDocument(text, name, issues, warnings);
  if (raw === undefined) throw new ConfigError(issues);
  const embedded = path === undefined && yaml === undefined && document === undefined;
  const { targets: rawTargets, ...rest } = applyEnv(raw, env);
  const parsed = configSchema.safeParse(rest);
  if (!parsed.success) issues.push(...formatIssues(parsed.error.issues));
  // Each section again on its own when the whole failed, for the checks that read it.
  const listen = parsed.success ? parsed.data.listen : section(listenSchema, rest.listen);
  const auth = parsed.success ? parsed.data.auth : section(authSchema, rest.auth);
  const targets = parseTargets(
    rawTargets ?? (embedded ? defaultTargets(listen?.port ?? DEFAULT_PORT) : undefined),
    issues,
  );

  const fromEnv = envTokens(env.METRICS_TOKENS, issues);
  const tokenFilePath =
    env.PROBEX_TOKEN_FILE ??
    (auth !== undefined
      ? auth.tokenFile
      : section(authFields.tokenFile, (rest.auth as { tokenFile?: unknown } | undefined)?.tokenFile));
  const fromFile = tokenFilePath === undefined ? [] : tokenFile(tokenFilePath, issues, warnings);
  const configTokens = auth?.tokens.length ?? 0;
  if (auth?.open === true && (configTokens + fromEnv.count > 0 || tokenFilePath !== undefined)) {
    issues.push(
      'auth.open: true opens every route, so it cannot be combined with tokens (auth.tokens, auth.tokenFile,' +
        ' PROBEX_TOKEN_FILE, METRICS_TOKENS): keep one or the other',
    );
  }
  // A METRICS_TOKENS entry that breaks the token rule counts as a token meant: its own problem is the one to fix.
  if (listen !== undefined && auth !== undefined && fromFile !== undefined) {
    const problem = openListenerProblem(
      listen.host,
      configTokens + fromEnv.count + fromFile.length > 0 || listenerGuard !== undefined,
      auth.open,
      'config',
    );
    if (problem !== undefined) issues.push(problem);
  }
  if (stats !== undefined && holdsTokens(raw)) {
    const loose = looseModeWarning(name, stats);
    if (loose !== undefined) warnings.push(loose);
  }
  if (issues.length > 0 || parsed.data === undefined || fromFile === undefined) throw new ConfigError(issues);

  const { threads, auth: settingsAuth, shard, ...settings } = parsed.data;
  const tokens = [...settingsAuth.tokens, ...fromEnv.tokens];
  const sharded = shard === undefined ? undefined : ownTargets(targets, shard);
  const config: Config = deepFreeze({
    ...settings,
    ...(shard === undefined ? {} : { shard: { ...shard, skippedTargets: sharded!.skipped } }),
    threads: threads === 'auto' ? autoThreads((sharded?.own ?? targets).length) : threads,
    auth:
      tokenFilePath === undefined
        ? { tokens, open: settingsAuth.open }
        : { tokens, tokenFile: tokenFilePath, open: settingsAuth.open },
    targets: sharded?.own ?? targets,
  });
  return { config, fileTokens: deepFreeze(fromFile), warnings };
}

/**
 * parseDocument parses the YAML text into its top-level mapping (an empty one for the embedded default),
 * or records why it cannot and returns undefined. An empty or comment-only file is an empty mapping,
 * with a warning: it runs no targets (the embedded default is for running without a file).
 */
function parseDocument(
  yaml: string | undefined,
  name: string,
  issues: string[],
  warnings: string[],
): Record<string, unknown> | undefined {
  if (yaml === undefined) return {};
  let documents: unknown[];
  try {
    documents = parseYamlDocuments(yaml);
  } catch (err) {
    issues.push(yamlIssue(err, name));
    return undefined;
  }
  if (documents.length > 1) {
    issues.push(`${name}: not valid YAML: ${documents.length} documents, probex reads one`);
    return undefined;
  }
  const document = documents[0];
  if (document === undefined || document === null) {
    warnings.push(
      `${name} is empty (no settings, only comments or blank lines): probex runs with the defaults and no targets`,
    );
    return {};
  }
  if (typeof document !== 'object' || Array.isArray(document)) {
    issues.push(`${name}: must be a YAML mapping`);
    return undefined;
  }
  return document as Record<string, unknown>;
}

/**
 * yamlIssue says where js-yaml stopped (file:line:column) and why, without its message: that carries an
 * excerpt of the file, which may hold a token. The few reasons that quote a name from the file (an
 * alias, a tag, a tag handle) have it replaced by `…`.
 */
function yamlIssue(err: unknown, name: string): string {
  if (!(err instanceof YAMLException)) return `${name}: not valid YAML`;
  const where = err.mark === undefined ? name : `${name}:${err.mark.line + 1}:${err.mark.column + 1}`;
  const reason = err.reason
    .replace(/"[^"]*"/g, '"…"')
    .replace(/!<[^>]*>/g, '!<…>')
    .replace(/(such characters): .*$/, '$1')
    .replace(/(for tag) \S+/, '$1 …');
  return `${where}: not valid YAML: ${reason}`;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const listen = { ...(typeof raw.listen === 'object' && raw.listen !== null ? raw.listen : {}) } as Record<
    string,
    unknown
  >;
  if (env.PROBEX_HOST !== undefined) listen.host = env.PROBEX_HOST;
  if (env.PROBEX_PORT !== undefined)
    listen.port = /^\d+$/.test(env.PROBEX_PORT) ? Number(env.PROBEX_PORT) : env.PROBEX_PORT;
  if (Object.keys(listen).length > 0) out.listen = listen;
  if (env.PROBEX_LOG_LEVEL !== undefined) out.log = { ...(raw.log as object | undefined), level: env.PROBEX_LOG_LEVEL };
  if (env.PROBEX_AGENT_ID !== undefined) out.agentId = env.PROBEX_AGENT_ID;
  if (env.PROBEX_PROFILE !== undefined) out.profile = env.PROBEX_PROFILE;
  if (env.PROBEX_SHARD !== undefined) out.shard = env.PROBEX_SHARD;
  // Directus's own variable: the directus profile names its families with it, as Directus does.
  if (env.METRICS_NAME_PREFIX !== undefined)
    out.directus = { ...(raw.directus as object | undefined), namePrefix: env.METRICS_NAME_PREFIX };
  return out;
}

/**
 * parseTargets validates each target on its own, so one bad target hides no other target's problems and
 * the checks across fields (timeout against interval, the tcp port, duplicate names) run for every target
 * they can.
 */
function parseTargets(raw: unknown, issues: string[]): ProbeTarget[] {
  if (raw === undefined) return [];
  const list = targetList.safeParse(raw);
  if (!list.success) {
    issues.push(...formatIssues(list.error.issues, ['targets']));
    return [];
  }
  const targets: ProbeTarget[] = [];
  // Names as written, valid or not, so a duplicate is found whatever else is wrong; the message points
  // at the first one rather than quote a value that has not been validated.
  const firstAt = new Map<string, number>();
  list.data.forEach((t, i) => {
    const name = typeof t === 'object' && t !== null ? (t as { name?: unknown }).name : undefined;
    if (typeof name === 'string') {
      const first = firstAt.get(name);
      if (first !== undefined)
        issues.push(`targets[${i}].name: duplicate target name, the same as targets[${first}].name`);
      else firstAt.set(name, i);
    }
    const parsed = targetSchema.safeParse(t);
    if (parsed.success) targets.push(finishTarget(parsed.data, `targets[${i}]`, issues));
    else issues.push(...formatIssues(parsed.error.issues, ['targets', i]));
  });
  return targets;
}

/**
 * finishTarget makes a parsed entry a ProbeTarget: the common fields here (the timeout checked against the
 * interval, the default buckets), the kind's own by its KindConfig, then the files of its `tls`, if any.
 */
function finishTarget(t: CommonFields & { kind: ProbeTarget['kind'] }, at: string, issues: string[]): ProbeTarget {
  const timeoutMs = t.timeout ?? (t.interval > 0 ? Math.min(t.interval, 1000) : 1000);
  if (timeoutMs <= 0) issues.push(`${at}.timeout: must be greater than 0`);
  if (t.interval > 0 && timeoutMs > t.interval) {
    issues.push(`${at}.timeout: must not exceed interval (${timeoutMs}ms > ${t.interval}ms)`);
  }
  // A kind's finish takes the entry of its own kind: targetSchema parsed `t` with that kind's keys.
  const own = TARGET_KINDS[t.kind].finish(t as never, at, issues);
  if ('tls' in own && own.tls !== undefined) checkedTls(own.tls, at, issues);
  return {
    name: t.name,
    kind: t.kind,
    intervalMs: t.interval,
    timeoutMs,
    concurrency: t.concurrency,
    labels: t.labels,
    buckets: t.buckets ?? DEFAULT_LATENCY_BUCKETS_SECONDS,
    ...own,
  } as ProbeTarget;
}

/** section parses one top-level section on its own: its value, or undefined when it is invalid. */
function section<S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** formatIssues turns zod issues into `path: message` lines. zod's messages name the expectation, never the input. */
function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.map((i) => `${formatPath([...prefix, ...i.path])}: ${i.message}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? 'config' : out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
