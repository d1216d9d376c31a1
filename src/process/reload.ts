/**
 * Config reload (SIGHUP): the config is read again on a one-shot thread of its own
 * (workers/config-worker.ts), so the main thread keeps serving while it loads. A bad config keeps the
 * running one and is counted, and so is one that would open access without saying auth.open: true
 * (reloadProblems). SIGHUPs during a reload queue one more (coalesce). A load has a deadline
 * (CONFIG_LOAD_DEADLINE_MS): one that misses it is a failed reload, logged and counted like any other.
 */
import { Worker } from 'node:worker_threads';
import { coalesce } from './coalesce.ts';
import { reloadProblems, type RunningAuth } from '../access.ts';
import type { TokenConfig } from '../access.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConfigLoadRequest, ConfigLoadResult, LoadedWebConfig } from '../pool/messages.ts';
import { workerBootstrap, workerUrl } from './threads.ts';

const CONFIG_URL = workerUrl('config-worker');

/** ConfigSource is where the running config comes from, and where a reload reads it again. */
export interface ConfigSource {
  readonly path?: string | undefined;
  readonly directusEnv?: boolean;
  /** webConfigPath is the web config file (`--web.config.file`), read again on every reload too. */
  readonly webConfigPath?: string | undefined;
}

/** ReloadCounters are the reload self-metrics. */
export interface ReloadCounters {
  total: number;
  failures: number;
  lastOk: 0 | 1;
}

/** ReloadHost is what a reload needs from the running process. */
export interface ReloadHost {
  readonly source: ConfigSource;
  /** running is what the new config is checked against (reloadProblems) and its backgroundNice. */
  running(): RunningAuth & { readonly nice: number };
  /** apply makes a loaded config (and web config) the running one. */
  apply(config: Config, fileTokens: readonly TokenConfig[], web: LoadedWebConfig | undefined): void;
}

/**
 * CONFIG_LOAD_DEADLINE_MS bounds a config load. The files are read without blocking on open and only when
 * they are regular files (config/read-file.ts), so a load that takes this long is stuck in the kernel (a file on a
 * hung network mount) or parsing something pathological: it fails, rather than hold every later SIGHUP.
 */
const CONFIG_LOAD_DEADLINE_MS = 30_000;

/**
 * unfinished is the thread of a load that missed its deadline and has not ended yet: it was told to
 * terminate, but a thread blocked in a system call ends only when that call returns. No load starts
 * while it lives, so a mount that hangs holds one thread, not one per SIGHUP.
 */
let unfinished: Promise<unknown> | undefined;

/**
 * loadConfigOffThread loads the config file (and its token file) on a one-shot thread, and resolves once
 * that thread has ended (so its memory is gone before anything else starts), or once `deadlineMs` has
 * passed. It never rejects: a thread that fails, ends without answering or misses the deadline is a
 * failed load, whose issue says so.
 */
export function loadConfigOffThread(
  source: ConfigSource,
  nice: number,
  deadlineMs = CONFIG_LOAD_DEADLINE_MS,
): Promise<ConfigLoadResult> {
  if (unfinished !== undefined) {
    return Promise.resolve({
      ok: false,
      issues: ['an earlier config load missed its deadline and has not ended yet (a file on a hung mount?)'],
    });
  }
  return new Promise((resolve) => {
    const thread = new Worker(workerBootstrap(CONFIG_URL), {
      eval: true,
      workerData: {
        path: source.path,
        nice,
        ...(source.directusEnv ? { directusEnv: true } : {}),
        ...(source.webConfigPath === undefined ? {} : { webConfigPath: source.webConfigPath }),
      } satisfies ConfigLoadRequest,
    });
    let answer: ConfigLoadResult | undefined;
    let failure: unknown;
    const exited = new Promise((ended) => thread.once('exit', ended));
    const deadline = setTimeout(() => {
      unfinished = exited.then(() => (unfinished = undefined));
      void thread.terminate();
      resolve({ ok: false, issues: [`the config load did not finish within ${deadlineMs / 1000}s; it was stopped`] });
    }, deadlineMs);
    thread.once('message', (result: ConfigLoadResult) => (answer = result));
    thread.once('error', (err) => (failure = err));
    thread.once('exit', (code) => {
      clearTimeout(deadline);
      resolve(
        answer ??
          (failure !== undefined
            ? { ok: false, issues: [`the config thread failed: ${String(failure)}`] }
            : { ok: false, issues: [`the config thread exited (${code}) without an answer`] }),
      );
    });
  });
}

/** createReload returns the SIGHUP handler and the counters it keeps. */
export function createReload(
  host: ReloadHost,
  log: Logger,
): { readonly reload: () => void; readonly counters: ReloadCounters } {
  const counters: ReloadCounters = { total: 0, failures: 0, lastOk: 1 };
  const reload = coalesce(async () => {
    const result = await loadConfigOffThread(host.source, host.running().nice);
    counters.total++;
    try {
      if (!result.ok) throw new ConfigError(result.issues);
      for (const warning of result.warnings) log.warn(warning);
      const basicUsers = Object.keys(result.web?.config.users ?? {}).length;
      const problems = reloadProblems(host.running(), {
        auth: result.config.auth,
        fileTokens: result.fileTokens,
        basicUsers,
      });
      if (problems.length > 0) throw new ConfigError(problems);
      host.apply(result.config, result.fileTokens, result.web);
      counters.lastOk = 1;
      log.info({ targets: result.config.targets.length }, 'config reloaded');
    } catch (err) {
      counters.failures++;
      counters.lastOk = 0;
      log.error(
        { err: err instanceof ConfigError ? { code: err.code, issues: err.issues } : err },
        'config reload failed; the running config stays',
      );
    }
  });
  return { reload, counters };
}
