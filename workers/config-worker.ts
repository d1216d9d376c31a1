/**
 * A one-shot thread per config load (at start and on SIGHUP): reads, parses and validates the config file
 * and its token file, posts one ConfigLoadResult and ends. Parsing a large config takes long enough to
 * delay scrapes, and the parser and validator (js-yaml, zod) would stay in the main thread's memory for
 * good, so the main thread never loads a config itself (docs/decisions.md). A thin adapter (STYLE.md).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfigFile } from '../src/config.ts';
import { loadDirectusEnvConfig } from '../src/directus-env.ts';
import { ConfigError } from '../src/errors.ts';
import type { ConfigLoadRequest, ConfigLoadResult } from '../src/pool/messages.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const { path, nice, directusEnv } = workerData as ConfigLoadRequest;
// A large config's parse is CPU work that must not compete with the front end. If lowering fails, the
// background thread has already logged why at start-up.
lowerThreadPriority(nice);
let result: ConfigLoadResult;
try {
  result = { ok: true, ...(directusEnv === true ? loadDirectusEnvConfig(process.env) : loadConfigFile(path)) };
} catch (err) {
  result = { ok: false, issues: err instanceof ConfigError ? err.issues : [`cannot load the config: ${String(err)}`] };
}
parentPort!.postMessage(result);
