/**
 * The probe registry (blackbox_exporter's `Probers` map): one entry per kind. Adding a kind is one file
 * in this directory plus one line here; the mapped type makes a missing or mistyped entry a compile error.
 */
import { httpProbe } from './http.ts';
import { mysqlProbe } from './mysql.ts';
import { postgresProbe } from './postgres.ts';
import type { Probe, ProbeKind, ProbeTarget, Prober, TargetOfKind } from './probe.ts';
import { redisProbe } from './redis.ts';
import { sqliteProbe } from './sqlite.ts';
import { storageProbe } from './storage.ts';
import { syntheticProbe } from './synthetic.ts';
import { tcpProbe } from './tcp.ts';

/** PROBES maps every kind to its probe factory. */
export const PROBES: { readonly [K in ProbeKind]: Probe<K> } = {
  mysql: mysqlProbe,
  redis: redisProbe,
  storage: storageProbe,
  http: httpProbe,
  tcp: tcpProbe,
  synthetic: syntheticProbe,
  postgres: postgresProbe,
  sqlite: sqliteProbe,
};

/** createProber makes the live Prober for a target, with the probe of the target's kind. */
export function createProber(target: ProbeTarget): Prober {
  return createOfKind(target.kind, target);
}

// TypeScript cannot correlate `PROBES[target.kind]` with `target` across the union, so the pairing is
// stated once here; `target.kind === kind` holds by construction in createProber.
function createOfKind<K extends ProbeKind>(kind: K, target: ProbeTarget): Prober {
  const probe: Probe<K> = PROBES[kind];
  return probe.create(target as TargetOfKind<K>);
}
