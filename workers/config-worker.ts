/**
 * A one-shot thread per config reload (SIGHUP): reads, parses and validates the config file and its
 * token file, posts one ConfigLoadResult and ends. When the main thread parsed a reload itself, 1,000
 * targets made every scrape wait 0.5-0.7 s on a 2-core box under probe load; now a reload takes 0.4-0.8 s
 * from SIGHUP to applied there, and scrapes go on meanwhile. A thin adapter (STYLE.md).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfigFile } from '../src/config.ts';
import { loadDirectusEnvConfig } from '../src/directus-env.ts';
import { ConfigError } from '../src/errors.ts';
import type { ConfigLoadRequest, ConfigLoadResult } from '../src/pool/messages.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const { path, nice, directusEnv } = workerData as ConfigLoadRequest;
// A parse takes 0.4-0.8 s of CPU at 1,000 targets. If lowering fails, the publisher and scheduler threads
// have already logged why at start-up.
lowerThreadPriority(nice);
let result: ConfigLoadResult;
try {
  result = { ok: true, ...(directusEnv === true ? loadDirectusEnvConfig(process.env) : loadConfigFile(path)) };
} catch (err) {
  result = { ok: false, issues: err instanceof ConfigError ? err.issues : [`cannot load the config: ${String(err)}`] };
}
parentPort!.postMessage(result);
