/**
 * deploy/grafana/probex.json on its own: valid JSON of the shape Grafana imports, templated by target and
 * instance, every panel on the data source variable, and every expression valid PromQL (promtool checks
 * them as recording rules) that names only families probex or its recording rules produce. The
 * Prometheus e2e test runs each expression against live data.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dump } from 'js-yaml';
import { PROBE_METRICS } from '../../src/metrics/names.ts';
import { loadDashboard, panelQueries, panels, variableSelectors } from '../helpers/grafana.ts';

const execFileP = promisify(execFile);
const HAS_PROMTOOL = spawnSync('promtool', ['--version']).error === undefined;
const RULES = readFileSync(fileURLToPath(new URL('../../deploy/prometheus/rules.yml', import.meta.url)), 'utf8');
const FIXTURE = readFileSync(fileURLToPath(new URL('../fixtures/probex-text.prom', import.meta.url)), 'utf8');

test('the dashboard is templated by data source, instance and target, with All as .*', () => {
  const d = loadDashboard();
  assert.equal(d.uid, 'probex');
  assert.equal(typeof d.schemaVersion, 'number');
  const vars = d.templating.list;
  assert.deepEqual(
    vars.map((v) => v.name),
    ['datasource', 'instance', 'target'],
  );
  assert.equal(vars[0]!.type, 'datasource');
  assert.equal(vars[0]!.query, 'prometheus');
  for (const v of vars.slice(1)) {
    assert.equal(v.includeAll, true, v.name);
    assert.equal(v.multi, true, v.name);
    assert.equal(v.allValue, '.*', v.name);
  }
  assert.deepEqual(
    variableSelectors(d).map((v) => v.label),
    ['instance', 'target'],
  );
});

test('every panel uses the data source variable; ids are unique and panels do not overlap', () => {
  const d = loadDashboard();
  const all = panels(d);
  assert.equal(new Set(all.map((p) => p.id)).size, all.length, 'unique panel ids');
  for (const p of all.filter((q) => q.type !== 'row')) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    for (const t of p.targets) assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}`);
  }
  const cells = new Set<string>();
  for (const p of all) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && x + w <= 24, `${p.title} fits 24 columns`);
    for (let i = x; i < x + w; i++)
      for (let j = y; j < y + h; j++) {
        assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel at ${i},${j}`);
        cells.add(`${i},${j}`);
      }
  }
});

test('the dashboard shows up, probe rate, error ratio by reason, p50/p90/p99 from the recording rules and a bucket heatmap', () => {
  const queries = panelQueries(loadDashboard());
  const has = (re: RegExp, type?: string): boolean =>
    queries.some((q) => re.test(q.expr) && (type === undefined || q.type === type));
  assert.ok(has(/probex_probe_up/));
  assert.ok(has(/rate\(probex_probes_total/));
  assert.ok(has(/by \(target, reason\)[\s\S]*probex_probe_errors_total[\s\S]*\/[\s\S]*probex_probes_total/));
  for (const q of ['p50', 'p90', 'p99']) assert.ok(has(new RegExp(`probex:probe_duration_seconds:${q}\\b`)), q);
  assert.ok(has(/probex_probe_duration_seconds_bucket/, 'heatmap'));
  const heatmap = panels(loadDashboard()).find((p) => p.type === 'heatmap')!;
  assert.equal(heatmap.targets[0]!.format, 'heatmap');
  assert.equal(heatmap.repeat, 'target');
});

test('every metric a query names is one probex exposes or a shipped recording rule records', () => {
  const exposed = new Set(
    [...FIXTURE.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => `${name}${s}`) : [name!],
    ),
  );
  // A TLS target's certificate families: the golden has no TLS target, so they are named here.
  for (const family of [PROBE_METRICS.certNotAfter, PROBE_METRICS.certNotBefore]) exposed.add(family.name);
  const recorded = new Set([...RULES.matchAll(/- record: (\S+)/g)].map(([, name]) => name!));
  const d = loadDashboard();
  const exprs = [...panelQueries(d).map((q) => q.expr), ...variableSelectors(d).map((v) => v.selector)];
  for (const expr of exprs) {
    const names = [...expr.replace(/"[^"]*"/g, '""').matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|$)/g)].map(
      ([, n]) => n!,
    );
    assert.ok(names.length > 0, expr);
    for (const name of names) assert.ok(exposed.has(name) || recorded.has(name), `${name} in ${expr}`);
  }
});

test('promtool accepts every expression as PromQL', async (t) => {
  if (!HAS_PROMTOOL) {
    if (process.env.CI === 'true')
      assert.fail('promtool is not installed; CI=true, so this fails (apt-get install prometheus)');
    t.skip('promtool not installed: apt-get install prometheus');
    return;
  }
  const queries = panelQueries(loadDashboard());
  const dir = mkdtempSync(join(tmpdir(), 'probex-grafana-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'queries.yml');
  writeFileSync(
    file,
    dump({
      groups: [
        { name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query:${i}`, expr: q.promql })) },
      ],
    }),
  );
  const { stdout } = await execFileP('promtool', ['check', 'rules', file]);
  assert.match(stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
});
