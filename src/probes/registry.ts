/**
 * The probe registry (blackbox_exporter's `Probers` map): one entry per kind. Adding a kind is one file
 * in this directory plus one line here; the mapped type makes a missing or mistyped entry a compile error.
 *
 * Each entry imports its probe's module on first use, so a kind's client library (mysql2, pg, node-redis
 * and their dependencies: megabytes of code and heap per V8 isolate) loads only in a thread that runs a
 * target of that kind, and only once such a target exists. A thread calls loadProbes with the kinds it is
 * about to run; createProber then creates probers synchronously.
 */
import type { Probe, ProbeKind, ProbeTarget, Prober, TargetOfKind } from './probe.ts';

/** PROBES maps every kind to the import of its probe factory. */
export const PROBES: { readonly [K in ProbeKind]: () => Promise<Probe<K>> } = {
  mysql: async () => (await import('./mysql.ts')).mysqlProbe,
  redis: async () => (await import('./redis.ts')).redisProbe,
  storage: async () => (await import('./storage.ts')).storageProbe,
  http: async () => (await import('./http.ts')).httpProbe,
  tcp: async () => (await import('./tcp.ts')).tcpProbe,
  synthetic: async () => (await import('./synthetic.ts')).syntheticProbe,
  postgres: async () => (await import('./postgres.ts')).postgresProbe,
  sqlite: async () => (await import('./sqlite.ts')).sqliteProbe,
};

/** loaded holds each kind's probe once its module is imported (a kind maps to a probe of that kind). */
const loaded = new Map<ProbeKind, Probe<ProbeKind>>();
/** loading holds the imports in flight, so concurrent callers share one. */
const loading = new Map<ProbeKind, Promise<void>>();

/**
 * loadProbes imports the probes of `kinds` that are not loaded yet. It resolves at once (one microtask)
 * when all are; a module that fails to load rejects, and the next call tries again.
 */
export async function loadProbes(kinds: Iterable<ProbeKind>): Promise<void> {
  let pending: Promise<void>[] | undefined;
  for (const kind of kinds) {
    if (loaded.has(kind)) continue;
    let load = loading.get(kind);
    if (load === undefined) {
      load = PROBES[kind]()
        .then(
          (probe) => void loaded.set(kind, probe as Probe<ProbeKind>),
          (err: unknown) => {
            throw new Error(`cannot load the ${kind} probe`, { cause: err });
          },
        )
        .finally(() => loading.delete(kind));
      loading.set(kind, load);
    }
    (pending ??= []).push(load);
  }
  if (pending !== undefined) await Promise.all(pending);
}

/** createProber makes the live Prober for a target, with the probe of the target's kind (see loadProbes). */
export function createProber(target: ProbeTarget): Prober {
  return createOfKind(target.kind, target);
}

// TypeScript cannot correlate a kind's probe with `target` across the union, so the pairing is stated once
// here; `target.kind === kind` holds by construction in createProber, and loadProbes stores a kind's own probe.
function createOfKind<K extends ProbeKind>(kind: K, target: ProbeTarget): Prober {
  const probe = loaded.get(kind) as Probe<K> | undefined;
  if (probe === undefined) throw new Error(`the ${kind} probe is not loaded: call loadProbes first`);
  return probe.create(target as TargetOfKind<K>);
}
