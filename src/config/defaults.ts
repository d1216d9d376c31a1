/**
 * What probex runs on when the config says nothing: the listener, the bucket set, the number of probe
 * workers of `threads: auto`, and the embedded default targets that run without a config file.
 */
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { DIRECTUS_BUCKETS_MS } from '../metrics/names.ts';

/** DEFAULT_LATENCY_BUCKETS_SECONDS are Directus's response-time buckets (1..1000 ms), in seconds. */
export const DEFAULT_LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze(
  DIRECTUS_BUCKETS_MS.map((ms) => ms / 1000),
);

export const DEFAULT_PORT = 9469;
export const DEFAULT_HOST = '127.0.0.1';
/**
 * DEFAULT_BACKGROUND_NICE is 0: every thread competes alike. Nice weighs a thread only against the others
 * of its scheduling group (a container's or systemd unit's cgroup, a terminal session's autogroup). In a
 * container of its own, 10 lets the front end get a core ahead of probex's busy threads (the image's
 * config sets it); in a session shared with CPU-bound work it would also make the probes queue behind
 * that work, and measure its queueing (README, "Thread priority").
 */
export const DEFAULT_BACKGROUND_NICE = 0;

/**
 * TARGETS_PER_AUTO_THREAD: `threads: auto` starts one probe worker per this many targets (rounded up), at
 * most one per core. Each worker is a V8 isolate (~9 MiB idle, plus the client libraries of the kinds it
 * runs), and one worker probes a few hundred targets at 10 Hz with room to spare, so a sidecar's handful
 * of targets gets one, and 1,000 targets on two cores get two.
 */
export const TARGETS_PER_AUTO_THREAD = 500;

/** autoThreads is the probe worker count of `threads: auto` for `targets` targets. */
export function autoThreads(targets: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 64, Math.ceil(targets / TARGETS_PER_AUTO_THREAD)));
}

/** defaultAgentId is this host's name as an agent id: characters a URL path segment keeps, starting with one that may lead. */
export function defaultAgentId(): string {
  const h = hostname().replace(/[^A-Za-z0-9_.-]/g, '-');
  return /^[A-Za-z0-9]/.test(h) ? h : `host-${h}`;
}

/**
 * defaultTargets is the embedded default, as the targets of a config file would read it: local storage,
 * the local Redis, MariaDB/MySQL and PostgreSQL, and probex's own /healthz on `port`, so a newcomer sees
 * real numbers at once (an absent dependency shows as up 0 and rising errors).
 */
export function defaultTargets(port: number): Record<string, unknown>[] {
  return [
    // The temp directory itself: it exists on every machine, and the storage probe never creates its path.
    { name: 'storage-local', kind: 'storage', path: tmpdir(), location: 'local' },
    { name: 'redis', kind: 'redis', url: 'redis://127.0.0.1:6379' },
    { name: 'mysql', kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/test', query: 'SELECT 1' },
    { name: 'postgres', kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', query: 'SELECT 1' },
    { name: 'probex-self', kind: 'http', url: `http://127.0.0.1:${port}/healthz`, expectStatus: [200] },
  ];
}
