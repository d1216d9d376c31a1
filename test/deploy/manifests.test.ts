/**
 * Deployment artifacts agree with the code: every YAML under deploy/ parses, the ports and paths the
 * Dockerfile, Kubernetes manifests and Prometheus config name are the server's (DEFAULT_PORT, /metrics,
 * /healthz, /readyz), the probex configs they embed load under loadConfig, and promtool accepts the
 * Prometheus config and rules (and their unit tests) when it is installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load as parse, loadAll } from 'js-yaml';
import { DEFAULT_PORT, loadConfig, readTokenFile, type Config } from '../../src/config.ts';
import { PROBE_KINDS } from '../../src/probes/probe.ts';
import { startDist } from '../../support/start-dist.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const CONFIG_PATH = '/etc/probex/probex.yaml';

// ---------------------------------------------------------------------------------------------------
// Helpers

// Parsed Kubernetes manifests are untyped YAML that the tests walk field by field; a missing field fails
// the assertion that reads it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

/** docs parses every document of a YAML file; any YAML error (a duplicate key too) throws, naming the file. */
function docs(rel: string): Obj[] {
  return (loadAll(read(rel), { filename: rel }) as Obj[]).filter((d) => d !== null && d !== undefined);
}

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, found ${items.length}`);
  return items[0]!;
}

function byKind(all: Obj[], kind: string, name?: string): Obj {
  return only(
    all.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name)),
    `${kind}${name === undefined ? '' : ` ${name}`}`,
  );
}

/** under tells whether path is mountPath itself or inside it. */
function under(path: string, mountPath: string): boolean {
  const rel = posix.relative(mountPath, path);
  return rel === '' || (!rel.startsWith('..') && !posix.isAbsolute(rel));
}

/** envOf returns the container's literal env values (valueFrom entries are left out). */
function envOf(container: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

// Dockerfile: comment lines dropped, continuation lines joined, then `INSTRUCTION args`.
interface Instruction {
  readonly op: string;
  readonly args: string;
}
function dockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') logical.push(current.trim());
  return logical.map((l) => {
    const m = /^(\S+)\s*(.*)$/s.exec(l)!;
    return { op: m[1]!.toUpperCase(), args: m[2]! };
  });
}

interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly body: Instruction[];
}
function stages(instructions: Instruction[]): Stage[] {
  const args: Record<string, string> = {};
  const out: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.op === 'ARG' && out.length === 0) {
      const [k, v = ''] = ins.args.split('=', 2);
      args[k!.trim()] = v.trim();
    } else if (ins.op === 'FROM') {
      const [image, as, name] = ins.args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const from = image!.replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? '',
      );
      out.push(as?.toUpperCase() === 'AS' && name !== undefined ? { from, name, body: [] } : { from, body: [] });
    } else {
      assert.ok(out.length > 0, `${ins.op} before the first FROM`);
      out.at(-1)!.body.push(ins);
    }
  }
  return out;
}

/** exec-form JSON array of an instruction (ENTRYPOINT, CMD, HEALTHCHECK ... CMD [...]). */
function execForm(args: string, what: string): string[] {
  const json = args.slice(args.indexOf('['));
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    assert.fail(`${what} must use the exec (JSON array) form, got: ${args}`);
  }
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `${what}: not a string array`);
  return parsed as string[];
}

function whichPromtool(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = join(dir, 'promtool');
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * promtool runs promtool and asserts exit 0, returning its output. Without promtool it skips the test
 * (fails under CI=true). `unsupported` names output that means this promtool build cannot check the
 * input at all (a feature compiled out): the test is skipped with that reason instead of failing.
 */
async function promtool(
  t: TestContext,
  bin: string | undefined,
  args: string[],
  unsupported?: { readonly re: RegExp; readonly why: string },
): Promise<string | undefined> {
  if (bin === undefined) {
    if (process.env.CI === 'true') assert.fail('promtool is required in CI: apt-get install prometheus');
    t.skip('promtool not found; install it to validate the Prometheus files: apt-get install prometheus');
    return undefined;
  }
  try {
    const { stdout, stderr } = await execFileP(bin, args, { timeout: 60_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    if (unsupported !== undefined && unsupported.re.test(out)) {
      t.skip(unsupported.why);
      return undefined;
    }
    assert.fail(`promtool ${args.join(' ')} exited ${String(e.code)}:\n${out}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Loaded once

const SIDECAR = 'deploy/kubernetes/sidecar.yaml';
const PODMONITOR = 'deploy/kubernetes/podmonitor.yaml';
const PROMETHEUS = 'deploy/prometheus/prometheus.yml';
const RULES = 'deploy/prometheus/rules.yml';
const RULES_TEST = 'deploy/prometheus/rules.test.yml';
const EXAMPLE = 'examples/probex.yaml';
const IMAGE_CONFIG = 'deploy/probex.container.yaml';

const sidecarDocs = docs(SIDECAR);
const deployment = byKind(sidecarDocs, 'Deployment');
const podSpec: Obj = deployment.spec.template.spec;
const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
const probex: Obj = only(
  (podSpec.containers as Obj[]).filter((c) => c.name === 'probex'),
  'probex container',
);
const PROMTOOL = whichPromtool();

function containerPortByName(name: string): Obj | undefined {
  return (probex.ports as Obj[] | undefined)?.find((p) => p.name === name);
}

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

// ---------------------------------------------------------------------------------------------------

describe('YAML under deploy/', () => {
  const files = yamlFiles(DEPLOY);
  it('finds the manifests', () => {
    for (const f of [SIDECAR, PODMONITOR, PROMETHEUS, RULES, IMAGE_CONFIG])
      assert.ok(files.includes(f), `${f} missing`);
  });
  for (const f of files) {
    it(`${f} parses (every document, no errors or warnings)`, () => {
      assert.ok(docs(f).length > 0, `${f} has no documents`);
    });
  }
  it('Kubernetes documents have apiVersion, kind and metadata.name', () => {
    for (const f of files.filter((x) => x.startsWith('deploy/kubernetes/'))) {
      for (const d of docs(f)) {
        assert.ok(d.apiVersion && d.kind && d.metadata?.name, `${f}: ${JSON.stringify(d).slice(0, 80)}`);
      }
    }
  });
});

describe('deploy/Dockerfile', () => {
  const text = read('deploy/Dockerfile');
  const all = stages(dockerfile(text));
  const runtime = all.at(-1)!;
  const ops = (op: string) => runtime.body.filter((i) => i.op === op);

  it('is multi-stage on Debian bookworm Node 20 (uWebSockets.js needs glibc >= 2.36, ABI 115), not Alpine', () => {
    assert.ok(all.length >= 2, 'expected a deps stage and a runtime stage');
    for (const s of all) {
      assert.match(s.from, /^node:20(\.\d+)*-bookworm(-slim)?(@sha256:[0-9a-f]{64})?$/, `FROM ${s.from}`);
    }
  });

  it('compiles in a build stage and installs production dependencies only, in another', () => {
    const build = all.find((s) => s.body.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args)));
    assert.ok(build && build !== runtime, 'npm run build must run in a build stage');
    const copyDist = ops('COPY').find((i) => new RegExp(`--from=${build.name}\\b`).test(i.args));
    assert.ok(copyDist && /\bdist\b/.test(copyDist.args), 'runtime must copy dist/ from the build stage');
    const deps = all.find((s) => s.body.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev\b/.test(i.args)));
    assert.ok(deps && deps !== runtime, 'npm ci --omit=dev must run in a stage of its own, not the runtime stage');
    const copyFrom = ops('COPY').find((i) => new RegExp(`--from=${deps.name}\\b`).test(i.args));
    assert.ok(copyFrom && /node_modules/.test(copyFrom.args), 'runtime must copy node_modules from the deps stage');
    const pkg = JSON.parse(read('package.json')) as {
      dependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    assert.ok(pkg.dependencies['uWebSockets.js'], 'uWebSockets.js must be a runtime dependency');
    assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json');
  });

  it('builds better-sqlite3 in the deps stage and proves it loads there', () => {
    const deps = all.find((s) => s.body.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev\b/.test(i.args)))!;
    const runs = deps.body
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    assert.match(
      runs,
      /apt-get install[^\n]*\bpython3\b[^\n]*\bmake\b[^\n]*\bg\+\+/,
      'node-gyp needs python3, make and g++',
    );
    assert.match(runs, /require\('better-sqlite3'\)/, 'the deps stage must load better-sqlite3 once');
    assert.notEqual(deps, runtime, 'the compilers stay out of the runtime image');
  });

  it('copies only what exists and what .dockerignore lets in', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '*', '.dockerignore is an allowlist: it starts with *');
    const sources = all
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) =>
        i.args
          .split(/\s+/)
          .filter((a) => !a.startsWith('--'))
          .slice(0, -1),
      );
    for (const want of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
      'workers',
    ]) {
      assert.ok(sources.includes(want), `the image needs ${want}`);
    }
    for (const src of sources) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
      assert.ok(ignore.includes(`!${src}`), `COPY ${src}: excluded by .dockerignore (add !${src})`);
    }
  });

  it(`exposes DEFAULT_PORT (${DEFAULT_PORT}) and listens beyond loopback`, () => {
    assert.deepEqual(
      ops('EXPOSE').flatMap((i) => i.args.split(/\s+/)),
      [String(DEFAULT_PORT)],
    );
    const env = ops('ENV')
      .map((i) => i.args)
      .join(' ');
    assert.match(env, /\bPROBEX_HOST=0\.0\.0\.0\b/);
    assert.doesNotMatch(env, /\bPROBEX_PORT=/, 'PROBEX_PORT in the image would override listen.port of every config');
  });

  it('runs as a numeric non-root user', () => {
    const user = ops('USER').at(-1);
    assert.ok(user, 'USER missing');
    const [uid] = user.args.split(':');
    assert.match(uid!, /^\d+$/, 'numeric, so Kubernetes runAsNonRoot can verify it');
    assert.notEqual(Number(uid), 0);
    const k8sUser = probex.securityContext?.runAsUser;
    if (k8sUser !== undefined) assert.equal(k8sUser, Number(uid), 'sidecar runAsUser and image USER differ');
  });

  it("runs the build with node as PID 1, start:dist's flags and --config /etc/probex/probex.yaml", () => {
    const entry = execForm(only(ops('ENTRYPOINT'), 'ENTRYPOINT').args, 'ENTRYPOINT');
    const { nodeFlags, entry: script } = startDist();
    assert.equal(entry[0], 'node');
    assert.deepEqual(entry.slice(1, nodeFlags.length + 1), nodeFlags, 'same node flags as npm run start:dist');
    assert.equal(entry[nodeFlags.length + 1], `/app/${script}`);
    const env = ops('ENV')
      .map((i) => i.args)
      .join(' ');
    for (const [name, value] of Object.entries(startDist().env)) {
      assert.match(env, new RegExp(`\\b${name}=${value}\\b`), `ENV ${name}=${value}, as npm run start:dist sets it`);
    }
    const i = entry.indexOf('--config');
    assert.ok(i > 0 && entry[i + 1] === CONFIG_PATH, `ENTRYPOINT must pass --config ${CONFIG_PATH}`);
    assert.equal(ops('CMD').length, 0, 'extra arguments (e.g. --check-config) come from docker run');
  });

  it('bakes a valid default config at /etc/probex/probex.yaml', () => {
    assert.ok(ops('COPY').some((c) => c.args.split(/\s+/).at(-1) === CONFIG_PATH && c.args.includes(IMAGE_CONFIG)));
    const cfg = loadConfig({
      yaml: read(IMAGE_CONFIG),
      file: IMAGE_CONFIG,
      env: { PROBEX_HOST: '0.0.0.0', METRICS_TOKENS: 'a-scrape-token' },
    });
    assert.equal(cfg.listen.port, DEFAULT_PORT);
    for (const t of cfg.targets) if (t.kind === 'http') assert.equal(new URL(t.url).port, String(DEFAULT_PORT));
  });

  it('refuses to start without a token, and its default config and comments say what to set', () => {
    // As the image runs it: PROBEX_HOST=0.0.0.0 and nothing else.
    assert.throws(
      () => loadConfig({ yaml: read(IMAGE_CONFIG), file: IMAGE_CONFIG, env: { PROBEX_HOST: '0.0.0.0' } }),
      (err: Error) =>
        /0\.0\.0\.0, not a loopback address, with no token: .*METRICS_TOKENS.*auth\.open: true/.test(err.message),
    );
    const open = `${read(IMAGE_CONFIG)}auth:\n  open: true\n`;
    assert.equal(loadConfig({ yaml: open, file: IMAGE_CONFIG, env: { PROBEX_HOST: '0.0.0.0' } }).auth.open, true);
    for (const file of [IMAGE_CONFIG, 'deploy/Dockerfile']) {
      for (const how of ['METRICS_TOKENS', 'PROBEX_TOKEN_FILE', 'auth.tokens', 'auth.tokenFile', 'open: true']) {
        assert.ok(read(file).includes(how), `${file} names ${how}`);
      }
    }
  });

  describe('HEALTHCHECK', () => {
    const hc = only(ops('HEALTHCHECK'), 'HEALTHCHECK').args;
    const argv = execForm(hc.slice(hc.indexOf('CMD')), 'HEALTHCHECK CMD');

    it(`uses node (no curl in slim images) on /healthz, port ${DEFAULT_PORT} by default`, () => {
      assert.equal(argv[0], 'node');
      const script = argv.at(-1)!;
      assert.match(script, /\/healthz\b/);
      assert.match(script, /127\.0\.0\.1/);
      const ports = [...script.matchAll(/\b(\d{4,5})\b/g)].map((m) => Number(m[1]));
      assert.deepEqual(ports, [DEFAULT_PORT]);
    });

    // Run the command itself against a stub server (via PROBEX_PORT): 0 on 200, 1 on 503 or no server.
    async function runCheck(port: number): Promise<number> {
      try {
        await execFileP(argv[0] === 'node' ? process.execPath : argv[0]!, argv.slice(1), {
          env: { ...process.env, PROBEX_PORT: String(port) },
          timeout: 10_000,
        });
        return 0;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    }
    for (const [status, want] of [
      [200, 0],
      [503, 1],
    ] as const) {
      it(`exits ${want} when /healthz answers ${status}`, async () => {
        const paths: string[] = [];
        const server = createServer((req, res) => {
          paths.push(req.url ?? '');
          res.writeHead(status).end();
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
          assert.equal(await runCheck((server.address() as AddressInfo).port), want);
          assert.deepEqual(paths, ['/healthz']);
        } finally {
          await new Promise((r) => server.close(r));
        }
      });
    }
    it('exits 1 when nothing listens', async () => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      await new Promise((r) => server.close(r));
      assert.equal(await runCheck(port), 1);
    });
  });
});

describe('deploy/kubernetes/sidecar.yaml', () => {
  it(`the probex container port is DEFAULT_PORT (${DEFAULT_PORT}), named metrics`, () => {
    assert.equal(containerPortByName('metrics')?.containerPort, DEFAULT_PORT);
  });

  it('liveness on /healthz, readiness on /readyz, startup on /healthz, all on the metrics port', () => {
    const want = { livenessProbe: '/healthz', readinessProbe: '/readyz', startupProbe: '/healthz' } as const;
    for (const [probe, path] of Object.entries(want)) {
      const get = probex[probe]?.httpGet;
      assert.ok(get, `${probe}.httpGet missing`);
      assert.equal(get.path, path, probe);
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
    assert.throws(() => loadConfig({ yaml, env: {} }), /not a loopback address, with no token/);
    // As the container sees it: with its env overrides and the Secret mounted.
    const cfg: Config = loadConfig({ yaml, env: podEnv() });
    assert.equal(cfg.listen.port, DEFAULT_PORT);
    assert.equal(cfg.listen.host, '0.0.0.0');
    assert.ok(cfg.auth.tokens.length > 0 || cfg.auth.tokenFile !== undefined, 'a pod-wide listener needs a token');
    const kinds = new Set(cfg.targets.map((t) => t.kind));
    for (const k of ['mysql', 'redis', 'storage'] as const) assert.ok(kinds.has(k), `probes the app's ${k}`);
  });

  it('the token file comes from the Secret the PodMonitor also uses', () => {
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
    const cfg = loadConfig({ yaml: configMapProbexYaml(), env: podEnv() });
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

  it('scrapes port metrics, path /metrics, every 1s or 5s, with the Bearer token from the Secret', () => {
    const ep = only(pm.spec.podMetricsEndpoints as Obj[], 'podMetricsEndpoint');
    assert.equal(ep.port, 'metrics');
    assert.equal(containerPortByName(ep.port)?.containerPort, DEFAULT_PORT);
    assert.equal(ep.path, '/metrics');
    assert.ok(['1s', '5s'].includes(ep.interval), `interval ${ep.interval}`);
    assert.equal(ep.authorization?.type, 'Bearer');
    const { name, key } = ep.authorization.credentials;
    const secret = byKind(sidecarDocs, 'Secret', name);
    assert.ok(key in { ...secret.stringData, ...secret.data }, `Secret ${name} has no key ${key}`);
  });
});

describe('deploy/prometheus', () => {
  const prom = parse(read(PROMETHEUS)) as Obj;
  const rules = parse(read(RULES)) as Obj;
  const allRules = (rules.groups as Obj[]).flatMap((g) => g.rules as Obj[]);

  it(`scrapes probex at 127.0.0.1:${DEFAULT_PORT}/metrics every 1s with a credentials file`, () => {
    assert.equal(prom.global.scrape_interval, '1s');
    const job = only(
      (prom.scrape_configs as Obj[]).filter((j) => j.job_name === 'probex'),
      'job probex',
    );
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    const targets = (job.static_configs as Obj[]).flatMap((s) => s.targets as string[]);
    assert.deepEqual(targets, [`127.0.0.1:${DEFAULT_PORT}`]);
    assert.equal(job.authorization?.type ?? 'Bearer', 'Bearer');
    assert.equal(typeof job.authorization?.credentials_file, 'string');
  });

  it('records the cross-instance p99 and error rate, and alerts on probex_probe_up == 0 for 1m', () => {
    const rec = (name: string) =>
      only(
        allRules.filter((r) => r.record === name),
        `record ${name}`,
      );
    assert.equal(
      rec('probex:probe_duration_seconds:p99').expr.replace(/\s+/g, ' ').trim(),
      'histogram_quantile(0.99, sum by (le, target, kind) (rate(probex_probe_duration_seconds_bucket[1m])))',
    );
    assert.match(rec('probex:probe_errors:rate1m').expr, /rate\(probex_probe_errors_total\[1m\]\)/);
    const down = only(
      allRules.filter((r) => r.alert !== undefined && r.expr.trim() === 'probex_probe_up == 0'),
      'alert on probex_probe_up == 0',
    );
    assert.equal(down.for, '1m');
  });

  /** uncommentBlock uncomments the whole lines between `# BEGIN <name>` and `# END <name>`. */
  function uncommentBlock(text: string, name: string): string {
    const begin = text.lastIndexOf('\n', text.indexOf(`# BEGIN ${name}`)) + 1;
    const end = text.lastIndexOf('\n', text.indexOf(`# END ${name}`)) + 1;
    assert.ok(begin > 0 && end > begin, `the ${name} markers are missing`);
    const block = text
      .slice(begin, end)
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^(\s*)# ?/, '$1'))
      .join('\n');
    return text.slice(0, begin) + block + text.slice(end);
  }

  // promtool checks that credentials_file exists: check a copy whose credentials file is a temp file.
  function checkableCopy(uncommentSd: boolean): { dir: string; file: string } {
    const dir = mkdtempSync(join(tmpdir(), 'probex-prom-'));
    writeFileSync(join(dir, 'token'), 'a-test-token-0123456789\n');
    let text = read(PROMETHEUS).replaceAll(/credentials_file:\s*\S+/g, `credentials_file: ${join(dir, 'token')}`);
    if (uncommentSd) {
      // Whole lines from the BEGIN marker's line to the END marker's line; uncomment those between.
      const begin = text.lastIndexOf('\n', text.indexOf('# BEGIN kubernetes_sd example')) + 1;
      const end = text.lastIndexOf('\n', text.indexOf('# END kubernetes_sd example')) + 1;
      assert.ok(begin > 0 && end > begin, 'the kubernetes_sd example markers are missing');
      const block = text
        .slice(begin, end)
        .split('\n')
        .slice(1)
        .map((l) => l.replace(/^(\s*)# ?/, '$1'))
        .join('\n');
      text = text.slice(0, begin) + block + text.slice(end);
      const parsed = parse(text) as Obj;
      const sd = only(
        (parsed.scrape_configs as Obj[]).filter((j) => j.kubernetes_sd_configs),
        'kubernetes_sd job',
      );
      assert.equal(sd.metrics_path, '/metrics');
      assert.ok(JSON.stringify(sd.relabel_configs).includes('metrics'), 'keeps the port named metrics');
    }
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, text);
    writeFileSync(join(dir, 'rules.yml'), read(RULES));
    return { dir, file };
  }

  it('promtool check config (native histogram example uncommented)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'probex-prom-'));
    try {
      writeFileSync(join(dir, 'token'), 'a-test-token-0123456789\n');
      writeFileSync(join(dir, 'rules.yml'), read(RULES));
      const text = uncommentBlock(
        read(PROMETHEUS).replaceAll(/credentials_file:\s*\S+/g, `credentials_file: ${join(dir, 'token')}`),
        'native example',
      );
      const job = only(
        (parse(text) as { scrape_configs: Obj[] }).scrape_configs.filter((j) => j.job_name === 'probex-native'),
        'probex-native job',
      );
      assert.equal(job.scrape_native_histograms, true);
      assert.equal(job.always_scrape_classic_histograms, true);
      assert.equal(job.metrics_path, '/metrics');
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, text);
      if (PROMTOOL === undefined) {
        await promtool(t, PROMTOOL, []);
        return;
      }
      const version = (await execFileP(PROMTOOL, ['--version'])).stdout;
      const [major = 0, minor = 0] = (/version (\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
      if (major > 3 || (major === 3 && minor >= 8)) {
        assert.match((await promtool(t, PROMTOOL, ['check', 'config', file]))!, /SUCCESS/);
        return;
      }
      // An older promtool does not know the 3.x fields (the first its parser meets is reported) and the
      // rest of the job must check clean without them.
      const old = await execFileP(PROMTOOL, ['check', 'config', file]).then(
        () => '',
        (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
      assert.match(old, /field (scrape_native_histograms|always_scrape_classic_histograms) not found/);
      writeFileSync(
        file,
        text.replace(/^\s*(scrape_native_histograms|always_scrape_classic_histograms): true\n/gm, ''),
      );
      assert.match((await promtool(t, PROMTOOL, ['check', 'config', file]))!, /SUCCESS: 1 rule files found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const sd of [false, true]) {
    it(`promtool check config${sd ? ' (kubernetes_sd example uncommented)' : ''}`, async (t) => {
      const { dir, file } = checkableCopy(sd);
      try {
        // Debian's prometheus package builds without Kubernetes service discovery.
        const out = await promtool(
          t,
          PROMTOOL,
          ['check', 'config', file],
          !sd
            ? undefined
            : {
                re: /field kubernetes_sd_configs not found/,
                why: 'this promtool build has no kubernetes_sd (Debian strips it); use an upstream promtool to check it',
              },
        );
        if (out !== undefined) assert.match(out, /SUCCESS: 1 rule files found/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('promtool check rules', async (t) => {
    await promtool(t, PROMTOOL, ['check', 'rules', join(ROOT, RULES)]);
  });

  it('promtool test rules (rules.test.yml: quantiles, error ratio and alerts on known series)', async (t) => {
    await promtool(t, PROMTOOL, ['test', 'rules', join(ROOT, RULES_TEST)]);
  });
});

describe('examples/probex.yaml', () => {
  const text = read(EXAMPLE);
  const raw = parse(text) as Obj;

  it('is a valid probex config on DEFAULT_PORT', () => {
    const cfg = loadConfig({ yaml: text, file: EXAMPLE, env: {} });
    assert.equal(cfg.listen.port, DEFAULT_PORT);
  });

  it('covers every top-level setting', () => {
    for (const k of [
      'listen',
      'publishInterval',
      'profile',
      'agentId',
      'threads',
      'snapshotBytes',
      'nativeHistograms',
      'log',
      'auth',
      'targets',
    ]) {
      assert.ok(k in raw, `missing ${k}`);
    }
    assert.ok(
      raw.auth.tokens.length > 0 && raw.auth.tokens.every((t: Obj) => t.permissions),
      'tokens with permissions',
    );
    assert.match(text, /^\s*#?\s*tokenFile:/m, 'documents auth.tokenFile');
  });

  it('covers every probe kind, target option and synthetic distribution', () => {
    const cfg = loadConfig({ yaml: text, env: {} });
    assert.deepEqual([...new Set(cfg.targets.map((t) => t.kind))].sort(), [...PROBE_KINDS].sort());
    const keys = new Set((raw.targets as Obj[]).flatMap((t) => Object.keys(t)));
    for (const k of [
      'name',
      'kind',
      'interval',
      'timeout',
      'concurrency',
      'labels',
      'buckets',
      'url',
      'query',
      'path',
      'location',
      'expectStatus',
      'bodyMatch',
      'headers',
      'address',
      'distribution',
      'errorRate',
    ]) {
      assert.ok(keys.has(k), `no target sets ${k}`);
    }
    const types = new Set(cfg.targets.flatMap((t) => (t.kind === 'synthetic' ? [t.distribution.type] : [])));
    assert.deepEqual([...types].sort(), ['constant', 'exponential', 'lognormal', 'uniform']);
  });
});
