/**
 * What the tests of the deployment artifacts (test/deploy/) share: reading and parsing the files, the
 * paths they check, and the sidecar manifest's pod, which other artifacts must agree with.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';

export const execFileP = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const CONFIG_PATH = '/etc/probex/probex.yaml';

// Parsed Kubernetes manifests are untyped YAML that the tests walk field by field; a missing field fails
// the assertion that reads it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

/** docs parses every document of a YAML file; any YAML error (a duplicate key too) throws, naming the file. */
export function docs(rel: string): Obj[] {
  return (loadAll(read(rel), { filename: rel }) as Obj[]).filter((d) => d !== null && d !== undefined);
}

export function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, found ${items.length}`);
  return items[0]!;
}

export function byKind(all: Obj[], kind: string, name?: string): Obj {
  return only(
    all.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name)),
    `${kind}${name === undefined ? '' : ` ${name}`}`,
  );
}

/** under tells whether path is mountPath itself or inside it. */
export function under(path: string, mountPath: string): boolean {
  const rel = posix.relative(mountPath, path);
  return rel === '' || (!rel.startsWith('..') && !posix.isAbsolute(rel));
}

/** envOf returns the container's literal env values (valueFrom entries are left out). */
export function envOf(container: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

export const SIDECAR = 'deploy/kubernetes/sidecar.yaml';

export const PODMONITOR = 'deploy/kubernetes/podmonitor.yaml';

export const PROMETHEUS = 'deploy/prometheus/prometheus.yml';

export const RULES = 'deploy/prometheus/rules.yml';

export const IMAGE_CONFIG = 'deploy/probex.container.yaml';

export const sidecarDocs = docs(SIDECAR);

export const deployment = byKind(sidecarDocs, 'Deployment');

export const podSpec: Obj = deployment.spec.template.spec;

export const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;

export const probex: Obj = only(
  (podSpec.containers as Obj[]).filter((c) => c.name === 'probex'),
  'probex container',
);

export function containerPortByName(name: string): Obj | undefined {
  return (probex.ports as Obj[] | undefined)?.find((p) => p.name === name);
}
