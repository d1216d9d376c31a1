/**
 * deploy/prometheus: the scrape config names probex's port and path, the rules record and alert on
 * probex's series, and promtool accepts the config and the rules and passes their unit tests (when it is
 * installed; required under CI=true).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { load as parse } from 'js-yaml';
import { DEFAULT_PORT } from '../../src/config/defaults.ts';
import { execFileP, ROOT, type Obj, read, only, PROMETHEUS, RULES } from '../helpers/manifests.ts';

const RULES_TEST = 'deploy/prometheus/rules.test.yml';

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

const PROMTOOL = whichPromtool();

describe('deploy/prometheus', () => {
  const prom = parse(read(PROMETHEUS)) as Obj;
  const rules = parse(read(RULES)) as Obj;
  const allRules = (rules.groups as Obj[]).flatMap((g) => g.rules as Obj[]);

  it(`scrapes probex at 127.0.0.1:${DEFAULT_PORT}/metrics every 1s over https with basic auth from files`, () => {
    assert.equal(prom.global.scrape_interval, '1s');
    const job = only(
      (prom.scrape_configs as Obj[]).filter((j) => j.job_name === 'probex'),
      'job probex',
    );
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    const targets = (job.static_configs as Obj[]).flatMap((s) => s.targets as string[]);
    assert.deepEqual(targets, [`127.0.0.1:${DEFAULT_PORT}`]);
    assert.equal(job.scheme, 'https');
    assert.equal(typeof job.tls_config?.ca_file, 'string');
    assert.equal(job.basic_auth?.username, 'prometheus');
    assert.equal(typeof job.basic_auth?.password_file, 'string');
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

  /** withTempFiles points every credentials, password and CA file of a Prometheus config at a temp file in dir. */
  function withTempFiles(text: string, dir: string): string {
    writeFileSync(join(dir, 'secret'), 'a-test-secret-0123456789\n');
    return text.replaceAll(/(credentials_file|password_file|ca_file):\s*\S+/g, `$1: ${join(dir, 'secret')}`);
  }

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

  // promtool checks that the files a job names exist: check a copy whose files are temp files.
  function checkableCopy(uncommentSd: boolean): { dir: string; file: string } {
    const dir = mkdtempSync(join(tmpdir(), 'probex-prom-'));
    let text = withTempFiles(read(PROMETHEUS), dir);
    if (uncommentSd) {
      text = uncommentBlock(text, 'kubernetes_sd example');
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
      writeFileSync(join(dir, 'rules.yml'), read(RULES));
      const text = uncommentBlock(withTempFiles(read(PROMETHEUS), dir), 'native example');
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
