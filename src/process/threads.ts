/**
 * Starting probex's own threads (the background thread, config loads) from the main thread; the probe
 * workers are Piscina's (src/pool/probe-pool.ts), started by the background thread.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { BackgroundInit } from '../pool/messages.ts';

const EXT = extname(fileURLToPath(import.meta.url));
/** workerUrl is the URL of the thread entry `workers/<name>`, with this file's extension (.ts or .js). */
export const workerUrl = (name: string): URL => new URL(`../../workers/${name}${EXT}`, import.meta.url);

/**
 * workerBootstrap is the eval'd entry of a plain worker thread. Node 20 does not apply the parent's
 * loader hooks (tsx) to a worker, so when running from .ts sources the worker registers tsx itself
 * before importing its module; compiled .js needs nothing.
 */
export function workerBootstrap(url: URL): string {
  const load = `import(${JSON.stringify(url.href)})`;
  return url.pathname.endsWith('.ts')
    ? `import('tsx/esm/api').then(({ register }) => { register(); return ${load}; })`
    : load;
}

/**
 * startThread starts one of probex's own threads (not a probe worker) with its workerData. Such a thread
 * failing is fatal: probex exits so its supervisor restarts it, rather than serve a frozen snapshot.
 */
export function startThread(
  name: string,
  url: URL,
  workerData: BackgroundInit,
  log: Logger,
  resourceLimits?: ResourceLimits,
): Worker {
  // A results port in workerData moves to the thread (a port cannot be copied).
  const thread = new Worker(workerBootstrap(url), {
    eval: true,
    workerData,
    transferList: workerData.results === undefined ? [] : [workerData.results],
    ...(resourceLimits ? { resourceLimits } : {}),
  });
  thread.on('error', (err) => {
    log.fatal({ err }, `${name} thread failed; exiting so the supervisor restarts probex`);
    process.exit(1);
  });
  return thread;
}
