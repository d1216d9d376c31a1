/**
 * What the image installs (`npm ci --omit=dev`): no TypeScript loader or compiler. tsx brings esbuild (a
 * native binary of ~10 MB) and is only for running the sources in development; production runs dist/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('production dependencies hold no TypeScript loader or compiler', () => {
  const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ls.status, 0, ls.stderr);
  const names = ls.stdout.split('\n').map((path) => path.slice(path.lastIndexOf('node_modules/') + 13));
  assert.ok(names.includes('pino'), 'the listing names production packages');
  for (const dev of ['tsx', 'esbuild', 'typescript', '@esbuild/linux-x64'])
    assert.equal(names.includes(dev), false, `${dev} is a production dependency`);
});
