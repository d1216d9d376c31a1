/**
 * Config reload (SIGHUP): the config is read again on a one-shot thread of its own
 * (workers/config-worker.ts), so the main thread keeps serving while it loads. A bad config keeps the
 * running one and is counted, and so is one that would open access without saying auth.open: true
 * (reloadProblems). SIGHUPs during a reload queue one more (coalesce).
 */
import { Worker } from 'node:worker_threads';
import { coalesce } from './coalesce.ts';
import { reloadProblems, type RunningAuth } from './access.ts';
import type { Config, TokenConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import type { Logger } from './log.ts';
import type { ConfigLoadRequest, ConfigLoadResult } from './pool/messages.ts';
import { workerBootstrap, workerUrl } from './threads.ts';

const CONFIG_URL = workerUrl('config-worker');

/** ConfigSource is where the running config comes from, and where a reload reads it again. */
export interface ConfigSource {
  readonly path?: string | undefined;
  readonly directusEnv?: boolean;
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
  /** apply makes a loaded config the running one. */
  apply(config: Config, fileTokens: readonly TokenConfig[]): void;
}

/**
 * loadConfigOffThread loads the config file (and its token file) on a one-shot thread, and resolves once
 * that thread has ended (so its memory is gone before anything else starts). It never rejects: a thread
 * that fails or ends without answering is a failed load.
 */
export function loadConfigOffThread(source: ConfigSource, nice: number): Promise<ConfigLoadResult> {
  return new Promise((resolve) => {
    const thread = new Worker(workerBootstrap(CONFIG_URL), {
      eval: true,
      workerData: {
        path: source.path,
        nice,
        ...(source.directusEnv ? { directusEnv: true } : {}),
      } satisfies ConfigLoadRequest,
    });
    let answer: ConfigLoadResult | undefined;
    let failure: unknown;
    thread.once('message', (result: ConfigLoadResult) => (answer = result));
    thread.once('error', (err) => (failure = err));
    thread.once('exit', (code) =>
      resolve(
        answer ??
          (failure !== undefined
            ? { ok: false, issues: [`the config thread failed: ${String(failure)}`] }
            : { ok: false, issues: [`the config thread exited (${code}) without an answer`] }),
      ),
    );
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
      const problems = reloadProblems(host.running(), result);
      if (problems.length > 0) throw new ConfigError(problems);
      host.apply(result.config, result.fileTokens);
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
