/**
 * deploy/Dockerfile agrees with the code: a supported Node on Debian trixie, one uWebSockets.js build that
 * loads, production dependencies only, DEFAULT_PORT, a non-root user, start:dist's flags and a default
 * config that loads and refuses to start without a token.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_PORT } from '../../src/config/defaults.ts';
import { loadConfig } from '../../src/config/load.ts';
import { UWS_BUILDS } from '../../src/http/uws.ts';
import { LAUNCHER, startDist } from '../../support/start-dist.ts';
import { execFileP, ROOT, CONFIG_PATH, read, only, IMAGE_CONFIG, probex } from '../helpers/manifests.ts';

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

describe('deploy/Dockerfile', () => {
  const text = read('deploy/Dockerfile');
  const all = stages(dockerfile(text));
  const runtime = all.at(-1)!;
  const ops = (op: string) => runtime.body.filter((i) => i.op === op);

  it('is multi-stage on a supported LTS (Node 24 or 22) on Debian trixie, where uWebSockets.js 20.57 loads (glibc >= 2.38), not Alpine', () => {
    assert.ok(all.length >= 2, 'expected a deps stage and a runtime stage');
    for (const s of all) {
      assert.match(s.from, /^node:(24|22)(\.\d+)*-trixie(-slim)?(@sha256:[0-9a-f]{64})?$/, `FROM ${s.from}`);
    }
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    const major = /^node:(\d+)/.exec(all.at(-1)!.from)![1];
    assert.ok(
      pkg.engines.node.split('||').some((r) => r.trim() === `${major}.x`),
      `engines ${pkg.engines.node}`,
    );
  });

  it("keeps one uWebSockets.js build and one binary, chosen by probex's own loader, and proves it loads", () => {
    const deps = all.find((s) => s.body.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev\b/.test(i.args)))!;
    const runs = deps.body
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    // After npm ci, with the compiled loader there: dist/ from the build stage, the script from deploy/.
    assert.match(runs, /npm ci --omit=dev[\s\S]*node deploy\/prune-uws\.mjs/, 'prune-uws runs after npm ci');
    const copies = deps.body.filter((i) => i.op === 'COPY').map((i) => i.args);
    const build = all.find((s) => s.body.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args)))!;
    assert.ok(
      copies.some((c) => new RegExp(`--from=${build.name}\\b.*\\bdist\\b`).test(c)),
      'the deps stage copies dist/ from the build stage',
    );
    assert.ok(
      copies.some((c) => /\bdeploy\/prune-uws\.mjs\b/.test(c)),
      'the deps stage copies the script',
    );
    assert.match(runs, /loadNativeUws\(\)/, 'the deps stage loads the build that stayed once more');
    // The loader's list is the dependencies' list: the image starts with every build to choose from.
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    for (const { specifier } of UWS_BUILDS) assert.ok(pkg.dependencies[specifier], `${specifier} is a dependency`);
    assert.equal(
      Object.keys(pkg.dependencies).filter((d) => /^uWebSockets\.js/.test(d)).length,
      UWS_BUILDS.length,
      'every uWebSockets.js dependency is one the loader tries',
    );
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

  it('runs the build through bin/probex-dist, the command npm run start:dist runs, with --config /etc/probex/probex.yaml', () => {
    const entry = execForm(only(ops('ENTRYPOINT'), 'ENTRYPOINT').args, 'ENTRYPOINT');
    assert.deepEqual(entry, [`/app/${LAUNCHER}`, '--config', CONFIG_PATH]);
    assert.equal(JSON.parse(read('package.json')).scripts['start:dist'], `exec ${LAUNCHER}`);
    assert.ok(
      ops('COPY').some((c) => /^bin\/probex-dist\s+\.\/bin\/$/.test(c.args)),
      'the launcher is copied to /app/bin/',
    );
    assert.ok((statSync(join(ROOT, LAUNCHER)).mode & 0o111) !== 0, `${LAUNCHER} is executable`);
    assert.match(startDist().entry, /^dist\//, 'the launcher runs the build');
    assert.ok(
      ops('COPY').some((c) => c.args === '--from=build /app/dist ./dist'),
      'the build is in the image, beside bin/',
    );
    assert.equal(ops('CMD').length, 0, 'extra arguments (e.g. --check-config) come from docker run');
  });

  it('bakes a valid default config at /etc/probex/probex.yaml', () => {
    assert.ok(ops('COPY').some((c) => c.args.split(/\s+/).at(-1) === CONFIG_PATH && c.args.includes(IMAGE_CONFIG)));
    const cfg = loadConfig({
      yaml: read(IMAGE_CONFIG),
      file: IMAGE_CONFIG,
      env: { PROBEX_HOST: '0.0.0.0', METRICS_TOKENS: 'a-scrape-token' },
    }).config;
    assert.equal(cfg.listen.port, DEFAULT_PORT);
    for (const t of cfg.targets) if (t.kind === 'http') assert.equal(new URL(t.url).port, String(DEFAULT_PORT));
  });

  it('refuses to start without a token, and its default config and comments say what to set', () => {
    // As the image runs it: PROBEX_HOST=0.0.0.0 and nothing else.
    assert.throws(
      () => loadConfig({ yaml: read(IMAGE_CONFIG), file: IMAGE_CONFIG, env: { PROBEX_HOST: '0.0.0.0' } }).config,
      (err: Error) =>
        /0\.0\.0\.0, not a loopback address, with no token: .*METRICS_TOKENS.*auth\.open: true/.test(err.message),
    );
    const open = `${read(IMAGE_CONFIG)}auth:\n  open: true\n`;
    assert.equal(
      loadConfig({ yaml: open, file: IMAGE_CONFIG, env: { PROBEX_HOST: '0.0.0.0' } }).config.auth.open,
      true,
    );
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
