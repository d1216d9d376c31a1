/**
 * deploy/kubernetes/sidecar.yaml and podmonitor.yaml agree with the server: the port and the health paths
 * are probex's (DEFAULT_PORT, /healthz, /readyz), the ConfigMap's config loads, the token and web config
 * come from Secrets, and the PodMonitor scrapes those pods with what they accept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_PORT } from '../../src/config/defaults.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { readTokenFile } from '../../src/config/tokens.ts';
import { parseWebConfig } from '../../src/config/web-config.ts';
import {
  type Obj,
  docs,
  only,
  byKind,
  under,
  envOf,
  PODMONITOR,
  sidecarDocs,
  deployment,
  podSpec,
  podLabels,
  probex,
  containerPortByName,
} from '../helpers/manifests.ts';

/** probePort resolves an httpGet port (a number or a container port name) to a number. */
function probePort(port: number | string): number | undefined {
  return typeof port === 'number' ? port : containerPortByName(port)?.containerPort;
}

function volumeAt(mountPath: string): Obj {
  const mount = only(
    (probex.volumeMounts as Obj[]).filter((m) => m.mountPath === mountPath),
    `mount at ${mountPath}`,
  );
  return only(
    (podSpec.volumes as Obj[]).filter((v) => v.name === mount.name),
    `volume ${mount.name}`,
  );
}

/**
 * podEnv is the probex container's env as it runs: its literal values, with PROBEX_TOKEN_FILE pointing at
 * a temp file holding what the Secret mounts there.
 */
function podEnv(): Record<string, string> {
  const env = envOf(probex);
  if (env.PROBEX_TOKEN_FILE === undefined) return env;
  const file = join(mkdtempSync(join(tmpdir(), 'probex-pod-')), 'tokens');
  writeFileSync(file, secretFileText(env.PROBEX_TOKEN_FILE), { mode: 0o600 });
  return { ...env, PROBEX_TOKEN_FILE: file };
}

/** secretFileText is the content of the Secret item the probex container sees at path. */
function secretFileText(path: string): string {
  const mount = only(
    (probex.volumeMounts as Obj[]).filter((m) => under(path, m.mountPath)),
    `mount holding ${path}`,
  );
  const volume = only(
    (podSpec.volumes as Obj[]).filter((v) => v.name === mount.name),
    `volume ${mount.name}`,
  );
  assert.ok(volume.secret?.secretName, `${path} must come from a Secret`);
  const item = (volume.secret.items as Obj[] | undefined)?.find((i) => posix.join(mount.mountPath, i.path) === path);
  const key = item?.key ?? posix.relative(mount.mountPath, path);
  const secret = byKind(sidecarDocs, 'Secret', volume.secret.secretName);
  assert.ok(key in { ...secret.stringData, ...secret.data }, `Secret ${secret.metadata.name} has no key ${key}`);
  return String(secret.stringData?.[key] ?? Buffer.from(secret.data[key], 'base64').toString());
}

function configMapProbexYaml(): string {
  const volume = volumeAt('/etc/probex');
  assert.ok(volume.configMap?.name, 'the /etc/probex volume must be a ConfigMap');
  const cm = byKind(sidecarDocs, 'ConfigMap', volume.configMap.name);
  const text = cm.data?.['probex.yaml'];
  assert.equal(typeof text, 'string', `ConfigMap ${volume.configMap.name} must have a probex.yaml key`);
  return text as string;
}

describe('deploy/kubernetes/sidecar.yaml', () => {
  it(`the probex container port is DEFAULT_PORT (${DEFAULT_PORT}), named metrics`, () => {
    assert.equal(containerPortByName('metrics')?.containerPort, DEFAULT_PORT);
  });

  it('liveness on /healthz, readiness on /readyz, startup on /healthz, all on the metrics port over https', () => {
    const want = { livenessProbe: '/healthz', readinessProbe: '/readyz', startupProbe: '/healthz' } as const;
    for (const [probe, path] of Object.entries(want)) {
      const get = probex[probe]?.httpGet;
      assert.ok(get, `${probe}.httpGet missing`);
      assert.equal(get.path, path, probe);
      assert.equal(get.scheme, 'HTTPS', `${probe}: the listener serves TLS (the web config)`);
      assert.equal(probePort(get.port), DEFAULT_PORT, `${probe}.port`);
    }
  });

  it('is small and locked down: requests, memory limit, non-root, read-only root filesystem', () => {
    const { requests, limits } = probex.resources ?? {};
    assert.ok(requests?.cpu && requests?.memory && limits?.memory, 'requests.cpu, requests.memory and limits.memory');
    const sc = { ...podSpec.securityContext, ...probex.securityContext };
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(probex.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(probex.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(probex.securityContext?.capabilities?.drop, ['ALL']);
  });

  it('mounts the ConfigMap at /etc/probex as a directory (no subPath, so edits reach the pod)', () => {
    const mount = (probex.volumeMounts as Obj[]).find((m) => m.mountPath === '/etc/probex');
    assert.ok(mount && mount.subPath === undefined);
    configMapProbexYaml();
  });

  it('the ConfigMap holds a valid probex config on DEFAULT_PORT, listening beyond loopback with a token', () => {
    const yaml = configMapProbexYaml();
    // On 0.0.0.0 without the Deployment's token file, probex would refuse to start.
    assert.throws(() => loadConfig({ yaml, env: {} }).config, /not a loopback address, with no token/);
    // As the container sees it: with its env overrides and the Secret mounted.
    const cfg: Config = loadConfig({ yaml, env: podEnv() }).config;
    assert.equal(cfg.listen.port, DEFAULT_PORT);
    assert.equal(cfg.listen.host, '0.0.0.0');
    assert.ok(cfg.auth.tokens.length > 0 || cfg.auth.tokenFile !== undefined, 'a pod-wide listener needs a token');
    const kinds = new Set(cfg.targets.map((t) => t.kind));
    for (const k of ['mysql', 'redis', 'storage'] as const) assert.ok(kinds.has(k), `probes the app's ${k}`);
  });

  it('the web config comes from a Secret: TLS from the mounted probex-tls Secret, the PodMonitor user among basic_auth_users', () => {
    const file = envOf(probex).PROBEX_WEB_CONFIG_FILE;
    assert.ok(file, 'PROBEX_WEB_CONFIG_FILE is set');
    const text = secretFileText(file);
    // The shipped hash is a placeholder probex refuses, so nobody runs it by accident.
    assert.throws(() => parseWebConfig(text, file), /basic_auth_users\.prometheus: must be a bcrypt hash/);
    const web = parseWebConfig(
      text.replace(/REPLACE-WITH-[\w-]+/, () => '$2y$10$0123456789012345678901uJ1PzYbM1xGzV8RZ5jGqkcAIbH2sZbQ'),
      file,
    );
    const tls = web.tls!;
    assert.ok(tls, 'TLS is on');
    for (const source of [tls.cert, tls.key]) {
      assert.ok('file' in source, 'certificate and key come from files');
      const volume = (podSpec.volumes as Obj[]).find(
        (v) => v.name === (probex.volumeMounts as Obj[]).find((m) => under(source.file, m.mountPath))?.name,
      );
      assert.equal(volume?.secret?.secretName, 'probex-tls', `${source.file} is on the probex-tls Secret`);
    }
    const tlsMount = (probex.volumeMounts as Obj[]).find((m) => m.name === 'probex-tls')!;
    assert.equal(tlsMount.subPath, undefined, 'a directory mount, so a renewed certificate reaches the pod');
    const ep = only(byKind(docs(PODMONITOR), 'PodMonitor').spec.podMetricsEndpoints as Obj[], 'endpoint');
    const scrape = byKind(sidecarDocs, 'Secret', ep.basicAuth.username.name);
    assert.ok(
      Object.hasOwn(web.users, scrape.stringData[ep.basicAuth.username.key]),
      'the PodMonitor user is a web user',
    );
    // With basic auth guarding it, the listener would be allowed on 0.0.0.0 even without the token file.
    assert.equal(
      loadConfig({ yaml: configMapProbexYaml(), env: {}, listenerGuard: 'basic_auth_users' }).config.listen.host,
      '0.0.0.0',
    );
  });

  it('the token file comes from a Secret', () => {
    const file = envOf(probex).PROBEX_TOKEN_FILE;
    const tokensEnv = (probex.env as Obj[]).find((e) => e.name === 'METRICS_TOKENS');
    assert.ok(
      file !== undefined || tokensEnv?.valueFrom?.secretKeyRef,
      'PROBEX_TOKEN_FILE or METRICS_TOKENS from a Secret',
    );
    if (file === undefined) return;
    // The token rule is probex's own: the token file must load as one.
    const tokens = readTokenFile(podEnv().PROBEX_TOKEN_FILE!);
    assert.equal(tokens.length, 1);
    assert.ok(secretFileText(file).includes(tokens[0]!.token));
  });

  it('every storage probe path is on a writable volume (the root filesystem is read-only)', () => {
    const cfg = loadConfig({ yaml: configMapProbexYaml(), env: podEnv() }).config;
    const storage = cfg.targets.filter((t) => t.kind === 'storage');
    assert.ok(storage.length > 0);
    for (const t of storage) {
      const mount = (probex.volumeMounts as Obj[]).find((m) => under(t.path, m.mountPath));
      assert.ok(mount && mount.readOnly !== true, `${t.name}: ${t.path} is not on a writable mount`);
      const volume = (podSpec.volumes as Obj[]).find((v) => v.name === mount.name)!;
      assert.ok(
        volume.emptyDir !== undefined || volume.persistentVolumeClaim !== undefined,
        `${t.name}: ${mount.name}`,
      );
    }
    assert.ok(
      (probex.volumeMounts as Obj[]).some((m) => m.mountPath === '/tmp' && m.readOnly !== true),
      'os.tmpdir() needs a writable /tmp',
    );
  });

  it('the Service exposes the metrics port of these pods', () => {
    const svc = byKind(sidecarDocs, 'Service');
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v);
    const port = only(
      (svc.spec.ports as Obj[]).filter((p) => p.name === 'metrics'),
      'Service port metrics',
    );
    assert.equal(port.port, DEFAULT_PORT);
    assert.equal(probePort(port.targetPort ?? port.port), DEFAULT_PORT);
  });

  it('the Deployment selector matches its pod labels', () => {
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels as Record<string, string>)) {
      assert.equal(podLabels[k], v);
    }
  });
});

describe('deploy/kubernetes/podmonitor.yaml', () => {
  const pm = byKind(docs(PODMONITOR), 'PodMonitor');

  it('selects the sidecar pods', () => {
    assert.equal(pm.apiVersion, 'monitoring.coreos.com/v1');
    const match = pm.spec.selector.matchLabels as Record<string, string>;
    assert.ok(Object.keys(match).length > 0);
    for (const [k, v] of Object.entries(match)) assert.equal(podLabels[k], v, `pod label ${k}`);
  });

  it('scrapes port metrics, path /metrics, every 1s or 5s, over https with basic auth from the Secret', () => {
    const ep = only(pm.spec.podMetricsEndpoints as Obj[], 'podMetricsEndpoint');
    assert.equal(ep.port, 'metrics');
    assert.equal(containerPortByName(ep.port)?.containerPort, DEFAULT_PORT);
    assert.equal(ep.path, '/metrics');
    assert.ok(['1s', '5s'].includes(ep.interval), `interval ${ep.interval}`);
    assert.equal(ep.scheme, 'https');
    // The CA comes from the Secret the probex container mounts its certificate from.
    const tlsVolume = (podSpec.volumes as Obj[]).find((v) => v.name === 'probex-tls');
    assert.equal(ep.tlsConfig?.ca?.secret?.name, tlsVolume?.secret?.secretName);
    assert.equal(ep.tlsConfig.ca.secret.key, 'ca.crt');
    assert.equal(ep.authorization, undefined, 'basic auth or a Bearer token, not both');
    for (const part of ['username', 'password'] as const) {
      const { name, key } = ep.basicAuth[part];
      const secret = byKind(sidecarDocs, 'Secret', name);
      assert.ok(key in { ...secret.stringData, ...secret.data }, `Secret ${name} has no key ${key}`);
    }
  });
});
