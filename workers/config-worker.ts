/**
 * A one-shot thread per config load (at start and on SIGHUP): reads, parses and validates the config file
 * and its token file, and the web config file with its TLS material, posts one ConfigLoadResult and ends.
 * Parsing a large config takes long enough to delay scrapes, and the parser and validator (js-yaml, zod)
 * would stay in the main thread's memory for good, so the main thread never loads a config itself
 * (docs/decisions.md). A thin adapter around the loader.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { webAuthProblems } from '../src/access.ts';
import { loadConfig, type LoadedConfig } from '../src/config/load.ts';
import { loadDirectusEnvConfig } from '../src/config/directus-env.ts';
import { ConfigError } from '../src/errors.ts';
import type { ConfigLoadRequest, ConfigLoadResult, LoadedWebConfig } from '../src/pool/messages.ts';
import { lowerThreadPriority } from '../src/process/thread-priority.ts';
import { loadTlsMaterialSync, TlsMaterialError } from '../src/http/tls-material.ts';
import { loadWebConfigFile } from '../src/config/web-config.ts';
import { webGuard } from '../src/config/web-settings.ts';

const { path, nice, directusEnv, webConfigPath } = workerData as ConfigLoadRequest;
// A large config's parse is CPU work that must not compete with the front end. If lowering fails, the
// background thread has already logged why at start-up.
lowerThreadPriority(nice);
const issues: string[] = [];
const failed = (err: unknown): void => {
  if (err instanceof ConfigError) issues.push(...err.issues);
  else if (err instanceof TlsMaterialError) issues.push(`${webConfigPath}: tls_server_config.${err.message}`);
  else issues.push(`cannot load the config: ${String(err)}`);
};
let web: LoadedWebConfig | undefined;
if (webConfigPath !== undefined) {
  try {
    const config = loadWebConfigFile(webConfigPath);
    web = { config, material: config.tls === undefined ? undefined : loadTlsMaterialSync(config.tls) };
  } catch (err) {
    failed(err);
  }
}
let loaded: (LoadedConfig & { notes?: readonly string[] }) | undefined;
try {
  // A web config that did not load has its own problems listed; the rule for an open listener waits for it.
  const guard = webConfigPath !== undefined && web === undefined ? 'the web config' : webGuard(web?.config);
  loaded =
    directusEnv === true
      ? loadDirectusEnvConfig(process.env, guard)
      : loadConfig({ path, env: process.env, listenerGuard: guard });
} catch (err) {
  failed(err);
}
if (loaded !== undefined && web !== undefined) issues.push(...webAuthProblems(loaded.config.auth.open, web.config));
const result: ConfigLoadResult =
  issues.length > 0 || loaded === undefined || (webConfigPath !== undefined && web === undefined)
    ? { ok: false, issues }
    : {
        ok: true,
        ...loaded,
        ...(web === undefined ? {} : { web, warnings: [...loaded.warnings, ...web.config.warnings] }),
      };
parentPort!.postMessage(result);
