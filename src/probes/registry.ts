/**
 * The probe registry (blackbox_exporter's `Probers` map): one entry per kind, and the kinds themselves:
 * ProbeKind is the registry's keys and ProbeTarget the union of the targets its probes take, so a kind
 * is one line here (docs/design.md, "Adding a kind"). An entry whose key is not its probe's kind is a
 * compile error (KindsMatch).
 *
 * Each entry imports its probe's module on first use, so a kind's client library (mysql2, pg, node-redis
 * and their dependencies: megabytes of code and heap per V8 isolate) loads only in a thread that runs a
 * target of that kind, and only once such a target exists. A thread calls loadProbes with the kinds it is
 * about to run; createProber then creates probers synchronously.
 */
import type { Probe, Prober, TargetBase } from './probe.ts';

/** PROBES maps every kind to the import of its probe factory. */
const PROBES = {
  mysql: async () => (await import('./mysql.ts')).mysqlProbe,
  redis: async () => (await import('./redis.ts')).redisProbe,
  storage: async () => (await import('./storage.ts')).storageProbe,
  http: async () => (await import('./http.ts')).httpProbe,
  tcp: async () => (await import('./tcp.ts')).tcpProbe,
  synthetic: async () => (await import('./synthetic.ts')).syntheticProbe,
  postgres: async () => (await import('./postgres.ts')).postgresProbe,
  sqlite: async () => (await import('./sqlite.ts')).sqliteProbe,
  dns: async () => (await import('./dns.ts')).dnsProbe,
  grpc: async () => (await import('./grpc.ts')).grpcProbe,
  amqp: async () => (await import('./amqp.ts')).amqpProbe,
  mqtt: async () => (await import('./mqtt.ts')).mqttProbe,
  nats: async () => (await import('./nats.ts')).natsProbe,
} satisfies Record<string, () => Promise<Probe<TargetBase>>>;

/** ProbeKind is one of the registry's kinds. */
export type ProbeKind = keyof typeof PROBES;
/** TargetOfKind is the target a kind's probe takes. */
export type TargetOfKind<K extends ProbeKind> =
  Awaited<ReturnType<(typeof PROBES)[K]>> extends Probe<infer T> ? T : never;
/** ProbeTarget is one configured target, discriminated by kind. It is plain data: it crosses threads. */
export type ProbeTarget = { [K in ProbeKind]: TargetOfKind<K> }[ProbeKind];

/** KindsMatch holds when every entry's key is the kind its probe's targets carry. */
type KindsMatch = { [K in ProbeKind]: TargetOfKind<K>['kind'] } extends { [K in ProbeKind]: K } ? true : never;

/** PROBE_KINDS lists every kind, in the registry's order. */
export const PROBE_KINDS = Object.freeze(Object.keys(PROBES) as ProbeKind[]);
const kindsMatch: KindsMatch = true;
void kindsMatch;

/**
 * loaded holds each kind's probe once its module is imported. A kind maps to its own probe (loadProbes
 * stores it so), which TypeScript cannot correlate across the union: the pairing is stated once, there.
 */
const loaded = new Map<ProbeKind, Probe<ProbeTarget>>();
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
          (probe) => void loaded.set(kind, probe as Probe<ProbeTarget>),
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
  const probe = loaded.get(target.kind);
  if (probe === undefined) throw new Error(`the ${target.kind} probe is not loaded: call loadProbes first`);
  return probe.create(target);
}
