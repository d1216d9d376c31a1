/**
 * A config load on its one-shot thread has a deadline: a load that misses it fails (with an issue that
 * says so) instead of holding every later reload, and no new load starts while its thread still lives.
 * Real threads, a real config file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigOffThread } from '../src/process/reload.ts';

test('a load that misses its deadline fails, and the next one runs once that thread has ended', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'probex.yaml');
  writeFileSync(path, 'targets:\n  - { name: s, kind: synthetic }\n');

  // 1 ms: the thread cannot even have started its loader.
  const late = await loadConfigOffThread({ path }, 0, 1);
  assert.deepEqual(late, { ok: false, issues: ['the config load did not finish within 0.001s; it was stopped'] });

  const refusals = new Set<string>();
  for (let attempt = 0; attempt < 200; attempt++) {
    const next = await loadConfigOffThread({ path }, 0);
    if (next.ok) {
      assert.deepEqual(
        next.config.targets.map((target) => target.name),
        ['s'],
      );
      // Whatever came before the success was the refusal to start beside the stopped thread.
      assert.ok(
        [...refusals].every((r) => r.startsWith('an earlier config load missed its deadline')),
        [...refusals].join('\n'),
      );
      return;
    }
    for (const issue of next.issues) refusals.add(issue);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no load succeeded after the late one: ${[...refusals].join('; ')}`);
});
