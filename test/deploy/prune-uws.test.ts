/**
 * deploy/prune-uws.mjs, the image's step that keeps one uWebSockets.js build and one native binary, run for
 * real on this machine's Node and glibc: against a copy of the app (the compiled dist/ and hard links to the
 * installed uWebSockets.js packages, so the repository's own node_modules is never touched), as the
 * Dockerfile's deps stage runs it. On the host it keeps whichever build loads here, in the trixie CI leg
 * the current one: either way what stays is what probex serves from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { describeUws, loadNativeUws, UWS_BUILDS } from '../../src/http/uws.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'probex-prune-uws-'));
after(() => rmSync(app, { recursive: true, force: true }));

/** run runs a command to completion and fails the test with its output when it exits non-zero. */
function run(command: string, args: readonly string[], cwd: string): string {
  const res = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(res.status, 0, `${command} ${args.join(' ')}: ${res.error?.message ?? ''}${res.stdout}${res.stderr}`);
  return res.stdout;
}

/** nativeFiles lists the .node files under dir, relative to it. */
const nativeFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.node'))
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));

let output: string;
before(() => {
  // The deps stage's inputs: dist/ from the build stage, node_modules from npm ci, the script.
  run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')],
    ROOT,
  );
  mkdirSync(join(app, 'node_modules'));
  for (const { specifier } of UWS_BUILDS) {
    run('cp', ['-al', join(ROOT, 'node_modules', specifier), join(app, 'node_modules', specifier)], ROOT);
  }
  mkdirSync(join(app, 'deploy'));
  cpSync(join(ROOT, 'deploy/prune-uws.mjs'), join(app, 'deploy/prune-uws.mjs'));
  output = run(process.execPath, ['deploy/prune-uws.mjs'], app);
});

test('keeps one build and, of it, only the binary for this platform and Node ABI', () => {
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const left = UWS_BUILDS.flatMap(({ specifier }) => {
    const dir = join(app, 'node_modules', specifier);
    try {
      return nativeFiles(dir).map((f) => ({ specifier, file: f }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  });
  assert.equal(left.length, 1, `${JSON.stringify(left)}\n${output}`);
  assert.equal(left[0]!.file.split('/').at(-1), binary);
  const kept = UWS_BUILDS.filter(({ specifier }) => readdirSync(join(app, 'node_modules')).includes(specifier));
  assert.deepEqual(
    kept.map((b) => b.specifier),
    [left[0]!.specifier],
    'the other build is removed whole',
  );
});

test('what stays is what probex serves from here, and it still loads from the pruned copy', () => {
  const pruned = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const m = await import('./dist/src/http/uws.js'); console.log(m.describeUws(m.loadNativeUws()))",
    ],
    app,
  ).trim();
  assert.equal(pruned, describeUws(loadNativeUws()));
  assert.ok(output.includes(`(${pruned})`), output);
});
