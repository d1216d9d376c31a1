/**
 * Runs `promtool check metrics` (Prometheus's own parser and linter) over the rendered goldens. Exit 0 is
 * clean, 3 means lint problems, 1 means the text did not parse. Every complaint left is listed below with
 * the reason it is accepted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { GOLDEN_CASES, type GoldenCase } from '../../support/exposition.ts';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function promtoolMissing(): boolean {
  const probe = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' });
  return probe.error !== undefined;
}

/**
 * expectedComplaints lists the lint lines a golden is allowed to produce:
 * - directus text keeps Directus's own names: its counters have no `_total` (prom-client renders them
 *   so and Directus dashboards query them so) and its histograms end in `_ms`.
 * - promtool parses only text 0.0.4; read that way, an OpenMetrics counter family `x` with its sample
 *   `x_total` looks like a HELP-less untyped family `x_total`, and the `x_created` line of a counter or
 *   histogram like another one, `x_created`. Every other line parses and lints clean.
 */
function expectedComplaints(golden: GoldenCase, text: string): string[] {
  const families = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!);
  const complaints: string[] = [];
  for (const [name, type] of families) {
    if (golden.format === 'text' && golden.profile === 'directus' && name.startsWith('directus_')) {
      if (type === 'counter') complaints.push(`${name} counter metrics should have "_total" suffix`);
      if (name.endsWith('_ms')) complaints.push(`${name} metric names should not contain abbreviated units`);
    }
    if (golden.format === 'openmetrics' && type === 'counter') complaints.push(`${name}_total no help text`);
    if (golden.format === 'openmetrics' && new RegExp(`^${name}_created[{ ]`, 'm').test(text)) {
      complaints.push(`${name}_created no help text`);
    }
  }
  return complaints.sort();
}

const missing = promtoolMissing();

for (const golden of GOLDEN_CASES) {
  test(`promtool check metrics accepts ${golden.file} with only the justified lint complaints`, (t) => {
    if (missing) {
      if (process.env.CI === 'true')
        assert.fail(`${PROMTOOL} is not installed; CI must install it (apt-get install prometheus)`);
      t.skip(`${PROMTOOL} is not installed; apt-get install prometheus to run this test`);
      return;
    }
    const text = golden.render();
    const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(run.error, undefined);
    const complaints = `${run.stdout}${run.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .sort();
    const expected = expectedComplaints(golden, text);
    assert.deepEqual(complaints, expected);
    assert.equal(
      run.status,
      expected.length === 0 ? 0 : 3,
      'exit 0 when clean, 3 for lint only (1 would be a parse error)',
    );
  });
}
