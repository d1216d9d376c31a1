import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_LATENCY_BUCKETS_SECONDS, DEFAULT_PORT, loadConfig, loadConfigFile, readTokenFile } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/config/${name}`, import.meta.url), 'utf8');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'EXPORTER_CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('the embedded default probes local storage, redis, mysql, postgres and probex itself', () => {
  const config = loadConfig();
  assert.deepEqual(config.targets.map((t) => `${t.name}:${t.kind}`),
    ['storage-local:storage', 'redis:redis', 'mysql:mysql', 'postgres:postgres', 'probex-self:http']);
  assert.equal(config.listen.host, '127.0.0.1');
  assert.equal(config.listen.port, DEFAULT_PORT);
  const self = config.targets[4]!;
  assert.equal(self.kind === 'http' && self.url, `http://127.0.0.1:${DEFAULT_PORT}/healthz`);
  assert.deepEqual(config.targets[0]!.buckets, DEFAULT_LATENCY_BUCKETS_SECONDS);
  assert.equal(config.auth.tokens.length, 0);
});

test('a valid file with every kind loads with durations in ms and defaults filled', () => {
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') });
  assert.equal(config.publishIntervalMs, 500);
  const [db, cache, , web, port, fake] = config.targets;
  assert.equal(db!.timeoutMs, 250);
  assert.equal(cache!.intervalMs, 2000);
  assert.equal(cache!.timeoutMs, 1000, 'timeout defaults to min(interval, 1s)');
  assert.deepEqual(web?.kind === 'http' && web.expectStatus, [200, 204]);
  assert.deepEqual(port?.kind === 'tcp' && [port.host, port.port], ['127.0.0.1', 22]);
  assert.deepEqual(port!.labels, { team: 'infra' });
  assert.equal(fake!.timeoutMs, 100);
  assert.deepEqual(fake!.buckets, [0.001, 0.005, 0.01]);
});

test('config is deeply frozen', () => {
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') });
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.targets) && Object.isFrozen(config.targets[0]!.labels));
});

const invalid: Array<[file: string, path: RegExp]> = [
  ['invalid-timeout-over-interval.yaml', /^targets\[0\]\.timeout: must not exceed interval/],
  ['invalid-duplicate-name.yaml', /^targets\[1\]\.name: duplicate target name "a"/],
  ['invalid-unknown-kind.yaml', /^targets\[0\]\.kind: kind must be one of mysql, redis/],
  ['invalid-duration.yaml', /^targets\[0\]\.interval: must be a duration/],
  ['invalid-buckets-order.yaml', /^targets\[0\]\.buckets: buckets must be strictly ascending/],
  ['invalid-reserved-label.yaml', /^targets\[0\]\.labels\.le: this label name is set by probex/],
  ['invalid-target-name.yaml', /^targets\[0\]\.name: must be 1-128 characters/],
  ['invalid-port.yaml', /^listen\.port: /],
  ['invalid-token-short.yaml', /^auth\.tokens\[0\]\.token: tokens must be at least 8 characters/],
  ['invalid-permission.yaml', /^auth\.tokens\[0\]\.permissions\[0\]: /],
  ['invalid-tcp-address.yaml', /^targets\[0\]\.address: must be host:port/],
  ['invalid-unknown-key.yaml', /^targets\[0\]: .*colour/],
  ['invalid-yaml-syntax.yaml', /^config: not valid YAML/],
  ['invalid-not-mapping.yaml', /^config: must be a YAML mapping/],
  ['invalid-postgres-url.yaml', /^targets\[0\]\.url: /],
  ['invalid-redis-command.yaml', /^targets\[0\]\.command: /],
  ['invalid-directus-prefix.yaml', /^directus\.namePrefix: must be empty or start a valid metric name/],
];
for (const [file, path] of invalid) {
  test(`${file} is rejected with the failing path`, () => {
    const err = configError(() => loadConfig({ yaml: fixture(file) }));
    assert.ok(err.issues.some((i) => path.test(i)), `no issue matched ${path}: ${JSON.stringify(err.issues)}`);
  });
}

test('backgroundNice defaults to 0 and takes 0-19 whole steps', () => {
  assert.equal(loadConfig().backgroundNice, 0);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 10' }).backgroundNice, 10);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 19' }).backgroundNice, 19);
  for (const bad of ['-1', '20', '2.5', 'high']) {
    const err = configError(() => loadConfig({ yaml: `backgroundNice: ${bad}` }));
    assert.ok(err.issues.every((i) => i.startsWith('backgroundNice: ')) && err.issues.length === 1, JSON.stringify(err.issues));
  }
});

test('every problem is reported at once, not only the first', () => {
  const err = configError(() => loadConfig({ yaml: 'listen: { port: -1 }\nthreads: 0\ntargets:\n  - { name: a, kind: nope }\n' }));
  assert.ok(err.issues.length >= 3, JSON.stringify(err.issues));
});

test('a token value never appears in an error message', () => {
  const err = configError(() => loadConfig({ yaml: 'auth:\n  tokens:\n    - { token: s3cr3t-value-here, permissions: [nope] }\n' }));
  assert.doesNotMatch(err.message, /s3cr3t/);
});

test('env overrides listen address, tokens, log level, agent id and profile', () => {
  const config = loadConfig({ yaml: 'listen: { host: 0.0.0.0, port: 1234 }\n',
    env: { PROBEX_HOST: '127.0.0.2', PROBEX_PORT: '4321', METRICS_TOKENS: ' tok-one-123 ,tok-two-456,', PROBEX_LOG_LEVEL: 'warn',
      PROBEX_AGENT_ID: 'agent-7', PROBEX_PROFILE: 'directus' } });
  assert.deepEqual(config.listen, { host: '127.0.0.2', port: 4321 });
  assert.deepEqual(config.auth.tokens.map((t) => [t.token, t.permissions]), [['tok-one-123', ['metrics']], ['tok-two-456', ['metrics']]]);
  assert.equal(config.log.level, 'warn');
  assert.equal(config.agentId, 'agent-7');
  assert.equal(config.profile, 'directus');
});

test('a bad env override is reported with its config path', () => {
  const err = configError(() => loadConfig({ env: { PROBEX_PORT: 'eighty' } }));
  assert.ok(err.issues.some((i) => i.startsWith('listen.port:')), JSON.stringify(err.issues));
});

test('a missing config file is a ConfigError naming the file', () => {
  const err = configError(() => loadConfigFile('/nonexistent/probex.yaml', {}));
  assert.match(err.message, /\/nonexistent\/probex\.yaml: cannot read: ENOENT/);
});

test('a token file gives one token per line with optional permissions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-tokens-'));
  const file = join(dir, 'tokens');
  writeFileSync(file, '# scrapers\nscrape-token-1\napi-token-22 api,metrics\n\n');
  assert.deepEqual(readTokenFile(file), [
    { token: 'scrape-token-1', permissions: ['metrics'] },
    { token: 'api-token-22', permissions: ['api', 'metrics'] },
  ]);
  writeFileSync(file, 'tiny\nvalid-token-1 root\n');
  const err = configError(() => readTokenFile(file));
  assert.equal(err.issues.length, 2);
  assert.match(err.issues[0]!, /:1: tokens must be at least 8 characters/);
  assert.match(err.issues[1]!, /:2: unknown permission "root"/);
  assert.doesNotMatch(err.message, /valid-token-1/);
});

test('postgres, sqlite and redis setdel targets load with their defaults', () => {
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') });
  const byName = new Map(config.targets.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('pg'), { name: 'pg', kind: 'postgres', intervalMs: 1000, timeoutMs: 1000, concurrency: 1,
    labels: {}, buckets: DEFAULT_LATENCY_BUCKETS_SECONDS, url: 'postgres://postgres@127.0.0.1:5432/test', query: 'SELECT 1',
    tls: { rejectUnauthorized: true }, directusClient: 'postgres' });
  const lite = byName.get('lite');
  assert.deepEqual(lite?.kind === 'sqlite' && [lite.path, lite.query], ['/var/lib/app/app.db', 'SELECT count(*) FROM jobs']);
  const setdel = byName.get('cache-setdel');
  assert.deepEqual(setdel?.kind === 'redis' && [setdel.command, setdel.directusServices], ['setdel', ['cache']]);
  const ping = byName.get('cache');
  assert.deepEqual(ping?.kind === 'redis' && [ping.command, ping.directusServices], [undefined, undefined], 'PING and both services by default');
});

test('the directus name prefix defaults to directus_ and METRICS_NAME_PREFIX overrides it', () => {
  assert.equal(loadConfig().directus.namePrefix, 'directus_');
  assert.equal(loadConfig({ yaml: 'directus: { namePrefix: app_ }' }).directus.namePrefix, 'app_');
  assert.equal(loadConfig({ yaml: 'directus: { namePrefix: app_ }', env: { METRICS_NAME_PREFIX: 'cms_' } }).directus.namePrefix, 'cms_');
  assert.equal(loadConfig({ env: { METRICS_NAME_PREFIX: '' } }).directus.namePrefix, '');
  const err = configError(() => loadConfig({ env: { METRICS_NAME_PREFIX: 'bad-prefix' } }));
  assert.ok(err.issues.some((i) => i.startsWith('directus.namePrefix: ')), JSON.stringify(err.issues));
});
