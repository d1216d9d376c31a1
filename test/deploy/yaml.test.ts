/** Every YAML file under deploy/ parses, and the Kubernetes documents name their kind and themselves. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, docs, SIDECAR, PODMONITOR, PROMETHEUS, RULES, IMAGE_CONFIG } from '../helpers/manifests.ts';

const DEPLOY = join(ROOT, 'deploy');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

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
