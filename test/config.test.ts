import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  autoThreads,
  DEFAULT_LATENCY_BUCKETS_SECONDS,
  DEFAULT_PORT,
  loadConfig,
  loadConfigFile,
  readTokenFile,
  TARGETS_PER_AUTO_THREAD,
} from '../src/config.ts';
import { isLoopback, reloadProblems } from '../src/access.ts';
import { ConfigError } from '../src/errors.ts';
import { NATIVE_DEFAULTS } from '../src/metrics/native-histogram.ts';

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
  assert.deepEqual(
    config.targets.map((t) => `${t.name}:${t.kind}`),
    ['storage-local:storage', 'redis:redis', 'mysql:mysql', 'postgres:postgres', 'probex-self:http'],
  );
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
  ['invalid-duplicate-name.yaml', /^targets\[1\]\.name: duplicate target name, the same as targets\[0\]\.name/],
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
  ['invalid-yaml-syntax.yaml', /^config:2:3: not valid YAML: missed comma between flow collection entries$/],
  ['invalid-not-mapping.yaml', /^config: must be a YAML mapping/],
  ['invalid-postgres-url.yaml', /^targets\[0\]\.url: /],
  ['invalid-redis-command.yaml', /^targets\[0\]\.command: /],
  ['invalid-directus-prefix.yaml', /^directus\.namePrefix: must be empty or start a valid metric name/],
  ['invalid-native-schema.yaml', /^nativeHistograms\.schema: must be an integer from -4 to 8, got 9$/],
];
for (const [file, path] of invalid) {
  test(`${file} is rejected with the failing path`, () => {
    const err = configError(() => loadConfig({ yaml: fixture(file) }));
    assert.ok(
      err.issues.some((i) => path.test(i)),
      `no issue matched ${path}: ${JSON.stringify(err.issues)}`,
    );
  });
}

test('backgroundNice defaults to 0 and takes 0-19 whole steps', () => {
  assert.equal(loadConfig().backgroundNice, 0);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 10' }).backgroundNice, 10);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 19' }).backgroundNice, 19);
  for (const bad of ['-1', '20', '2.5', 'high']) {
    const err = configError(() => loadConfig({ yaml: `backgroundNice: ${bad}` }));
    assert.ok(
      err.issues.every((i) => i.startsWith('backgroundNice: ')) && err.issues.length === 1,
      JSON.stringify(err.issues),
    );
  }
});

test('every problem is reported at once, not only the first', () => {
  const err = configError(() =>
    loadConfig({ yaml: 'listen: { port: -1 }\nthreads: 0\ntargets:\n  - { name: a, kind: nope }\n' }),
  );
  assert.ok(err.issues.length >= 3, JSON.stringify(err.issues));
});

test('a token value never appears in an error message', () => {
  const err = configError(() =>
    loadConfig({ yaml: 'auth:\n  tokens:\n    - { token: s3cr3t-value-here, permissions: [nope] }\n' }),
  );
  assert.doesNotMatch(err.message, /s3cr3t/);
});

test('env overrides listen address, tokens, log level, agent id and profile', () => {
  const config = loadConfig({
    yaml: 'listen: { host: 0.0.0.0, port: 1234 }\n',
    env: {
      PROBEX_HOST: '127.0.0.2',
      PROBEX_PORT: '4321',
      METRICS_TOKENS: ' tok-one-123 ,tok-two-456,',
      PROBEX_LOG_LEVEL: 'warn',
      PROBEX_AGENT_ID: 'agent-7',
      PROBEX_PROFILE: 'directus',
    },
  });
  assert.deepEqual(config.listen, { host: '127.0.0.2', port: 4321 });
  assert.deepEqual(
    config.auth.tokens.map((t) => [t.token, t.permissions]),
    [
      ['tok-one-123', ['metrics']],
      ['tok-two-456', ['metrics']],
    ],
  );
  assert.equal(config.log.level, 'warn');
  assert.equal(config.agentId, 'agent-7');
  assert.equal(config.profile, 'directus');
});

test('a bad env override is reported with its config path', () => {
  const err = configError(() => loadConfig({ env: { PROBEX_PORT: 'eighty' } }));
  assert.ok(
    err.issues.some((i) => i.startsWith('listen.port:')),
    JSON.stringify(err.issues),
  );
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
  assert.match(err.issues[1]!, /:2: permission 1 is not one of metrics, api, /);
  assert.doesNotMatch(err.message, /valid-token-1|root/);
});

/** SECRET stands for a token or a password: no part of it may reach a message (LEAK: its first 8 characters). */
const SECRET = 'Zq9xW3kP-secret';
const LEAK = SECRET.slice(0, 8);

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** tempFile writes text into a fresh temp dir (removed after the tests) with the given mode and returns its path. */
function tempFile(name: string, text: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'probex-config-'));
  tempDirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

test("a YAML error gives file:line:column and js-yaml's reason, never the text of the file", () => {
  const cases: Array<[yaml: string, issue: string]> = [
    [
      `auth:\n  tokens:\n    - { token: "${SECRET}", permissions: [metrics]\n  oops\n`,
      'f.yaml:4:3: not valid YAML: deficient indentation',
    ],
    [`auth:\n  tokens:\n    - token: "${SECRET}\n`, 'f.yaml:4:1: not valid YAML: deficient indentation'],
    [`auth: { tokens: [{ token: *${SECRET} }] }\n`, 'f.yaml:1:28: not valid YAML: unidentified alias "…"'],
    [`auth: { tokens: [{ token: !${SECRET} x }] }\n`, 'f.yaml:1:27: not valid YAML: unknown scalar tag !<…>'],
    [`a: !${SECRET}!x 1\n`, 'f.yaml:1:22: not valid YAML: undeclared tag handle "…"'],
    [`a: 1\na: "${SECRET}"\n`, 'f.yaml:2:1: not valid YAML: duplicated mapping key'],
  ];
  for (const [yaml, issue] of cases) {
    const err = configError(() => loadConfig({ yaml, file: 'f.yaml' }));
    assert.deepEqual(err.issues, [issue]);
    assert.ok(!err.message.includes(LEAK) && err.cause === undefined, err.message);
  }
});

test('no schema message echoes an input value: each gives the key path and the expectation', () => {
  const err = configError(() =>
    loadConfig({
      yaml: `
listen: { host: 7, port: "${SECRET}" }
publishInterval: "${SECRET}"
profile: "${SECRET}"
agentId: "!${SECRET}"
log: { level: "${SECRET}" }
auth:
  tokens:
    - { token: "${SECRET} x", permissions: ["${SECRET}"] }
  tokenFile: 5
targets:
  - { name: "${SECRET} !", kind: "${SECRET}" }
  - { name: m, kind: mysql, url: "${SECRET}" }
  - { name: h, kind: http, url: "http://u:${SECRET}@host/", bodyMatch: "(${SECRET}", expectStatus: ["${SECRET}"] }
  - { name: t, kind: tcp, address: "${SECRET}" }
  - { name: s, kind: storage, path: /tmp, location: "${SECRET}!" }
  - { name: y, kind: synthetic, distribution: { type: "${SECRET}" }, interval: "${SECRET}" }
  - { name: "${SECRET}", kind: synthetic }
  - { name: "${SECRET}", kind: synthetic }
`,
    }),
  );
  assert.ok(err.issues.length >= 16, JSON.stringify(err.issues));
  assert.ok(
    err.issues.some((i) => /^targets\[7\]\.name: duplicate target name, the same as targets\[6\]\.name$/.test(i)),
    JSON.stringify(err.issues),
  );
  for (const issue of err.issues) assert.ok(!issue.includes(LEAK), issue);
});

test('every problem at once: schema issues, checks across fields and the open-listener rule in one list', () => {
  const err = configError(() =>
    loadConfig({
      yaml: `
listen: { host: 0.0.0.0, port: 0 }
threads: 0
publishInterval: soon
targets:
  - { name: a, kind: nope }
  - { name: a, kind: tcp, address: "127.0.0.1:70000" }
  - { name: b, kind: synthetic, interval: 100ms, timeout: 1s }
  - { name: c, kind: synthetic, interval: 1s, concurrency: 0 }
  - { name: d, kind: synthetic, interval: 50ms, timeout: 60ms }
`,
    }),
  );
  const expected = [
    /^threads: /,
    /^publishInterval: must be a duration/,
    /^targets\[0\]\.kind: kind must be one of/,
    /^targets\[3\]\.concurrency: /,
    /^targets\[1\]\.name: duplicate target name, the same as targets\[0\]\.name/,
    /^targets\[1\]\.address: port must be 1-65535/,
    /^targets\[2\]\.timeout: must not exceed interval/,
    /^targets\[4\]\.timeout: must not exceed interval/,
    /^auth: probex would listen on 0\.0\.0\.0, not a loopback address, with no token: /,
  ];
  for (const re of expected)
    assert.ok(
      err.issues.some((i) => re.test(i)),
      `${re} in ${JSON.stringify(err.issues, null, 1)}`,
    );
  assert.equal(err.issues.length, expected.length, JSON.stringify(err.issues, null, 1));
});

test('every problem at once: the token sources too, each naming its source and position', () => {
  const tokenFile = tempFile(
    'tokens',
    `good-file-token-1\n${SECRET.slice(0, 5)}\n${SECRET} nope\n${SECRET} metrics extra\n`,
  );
  const err = configError(() =>
    loadConfig({
      yaml: `
threads: 0
auth:
  tokens: [{ token: "${SECRET.slice(0, 6)}" }]
  tokenFile: ${tokenFile}
targets:
  - { name: b, kind: synthetic, interval: 100ms, timeout: 1s }
`,
      env: { METRICS_TOKENS: `fine-env-token-1,,${SECRET.slice(0, 7)}` },
    }),
  );
  assert.deepEqual(err.issues.map((i) => i.replace(tokenFile, 'TOKENS')).sort(), [
    'METRICS_TOKENS[2]: tokens must be at least 8 characters',
    'TOKENS:2: tokens must be at least 8 characters',
    'TOKENS:3: permission 1 is not one of metrics, api, superuser, dcos:adminrouter:ops:system-metrics, dcos:adminrouter:system:agent, dcos:superuser',
    'TOKENS:4: expected a token and its permissions, found 3 fields',
    'auth.tokens[0].token: tokens must be at least 8 characters',
    'targets[0].timeout: must not exceed interval (1000ms > 100ms)',
    'threads: Too small: expected number to be >=1',
  ]);
  assert.ok(!err.message.includes(SECRET.slice(0, 5)) && !err.message.includes('nope'), err.message);
});

test('one token rule for auth.tokens, the token file and METRICS_TOKENS', () => {
  const bad: Array<[token: string, problem: string]> = [
    ['abc', 'tokens must be at least 8 characters'],
    ['x'.repeat(1025), 'tokens must be at most 1024 characters'],
    ['has\u0007bell-char', 'tokens must not contain whitespace or control characters'],
  ];
  for (const [token, problem] of bad) {
    const fromConfig = configError(() =>
      loadConfig({ yaml: `auth: { tokens: [{ token: ${JSON.stringify(token)} }] }\n` }),
    );
    assert.deepEqual(fromConfig.issues, [`auth.tokens[0].token: ${problem}`]);
    const fromEnv = configError(() => loadConfig({ env: { METRICS_TOKENS: `good-env-token,${token}` } }));
    assert.deepEqual(fromEnv.issues, [`METRICS_TOKENS[1]: ${problem}`]);
    const file = tempFile('tokens', `${token}\n`);
    assert.deepEqual(configError(() => readTokenFile(file)).issues, [`${file}:1: ${problem}`]);
  }
  // Whitespace inside a token: the token file splits on it, so config and env refuse it too.
  const spaced = configError(() => loadConfig({ yaml: 'auth: { tokens: [{ token: "two words here" }] }\n' }));
  assert.deepEqual(spaced.issues, ['auth.tokens[0].token: tokens must not contain whitespace or control characters']);
  assert.deepEqual(configError(() => loadConfig({ env: { METRICS_TOKENS: 'two words here' } })).issues, [
    'METRICS_TOKENS[0]: tokens must not contain whitespace or control characters',
  ]);
  assert.equal(loadConfig({ env: { METRICS_TOKENS: ` ${'y'.repeat(1024)} , exactly8` } }).auth.tokens.length, 2);
});

test('an empty or comment-only config file is {}: defaults, no targets, and a warning', () => {
  for (const text of ['', '\n\n', '# nothing yet\n  # still nothing\n', '---\n']) {
    const path = tempFile('probex.yaml', text);
    const { config, warnings } = loadConfigFile(path, {});
    assert.equal(config.targets.length, 0, JSON.stringify(text));
    assert.equal(config.listen.port, DEFAULT_PORT);
    assert.deepEqual(warnings, [
      `${path} is empty (no settings, only comments or blank lines): probex runs with the defaults and no targets`,
    ]);
  }
  assert.equal(loadConfigFile(undefined, {}).config.targets.length, 5, 'no file at all runs the embedded default');
  const two = configError(() => loadConfig({ yaml: 'threads: 1\n---\nthreads: 2\n' }));
  assert.deepEqual(two.issues, ['config: not valid YAML: 2 documents, probex reads one']);
});

test('a config file holding tokens warns when others may read it, naming the file and its mode', () => {
  const yaml = `auth: { tokens: [{ token: ${SECRET} }] }\n`;
  const warning = (path: string) => loadConfigFile(path, {}).warnings.filter((w) => w.includes('holds tokens'));
  const loose = tempFile('probex.yaml', yaml, 0o644);
  assert.deepEqual(warning(loose), [
    `${loose} holds tokens and is readable by group and others (mode 0644); run chmod 600 ${loose}`,
  ]);
  const group = tempFile('probex.yaml', yaml, 0o640);
  assert.deepEqual(warning(group), [
    `${group} holds tokens and is readable by group (mode 0640); run chmod 600 ${group}`,
  ]);
  for (const mode of [0o600, 0o400]) assert.deepEqual(warning(tempFile('probex.yaml', yaml, mode)), []);
  // No tokens in it (only a token file, or none): its mode is nobody's secret.
  assert.deepEqual(warning(tempFile('probex.yaml', 'threads: 1\n', 0o644)), []);
  assert.ok(!JSON.stringify(warning(loose)).includes(LEAK));
});

test('a token file warns when others may read it, and when it holds no tokens', () => {
  const file = tempFile('tokens', `${SECRET}\n`, 0o604);
  const config = tempFile('probex.yaml', `auth: { tokenFile: ${file} }\n`);
  assert.deepEqual(loadConfigFile(config, {}).warnings, [
    `${file} holds tokens and is readable by others (mode 0604); run chmod 600 ${file}`,
  ]);
  chmodSync(file, 0o600);
  assert.deepEqual(loadConfigFile(config, {}).warnings, []);
  writeFileSync(file, '# rotated\n');
  const empty = loadConfigFile(config, {});
  assert.deepEqual(empty.warnings, [`${file} holds no tokens`]);
  assert.deepEqual(empty.fileTokens, []);
});

test('a group-readable file another user owns is how that user grants probex access: only others count', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown a file to another user');
  const yaml = `auth: { tokens: [{ token: ${SECRET} }] }\n`;
  const secretVolume = tempFile('probex.yaml', yaml, 0o440);
  chownSync(secretVolume, 65534, 0);
  assert.deepEqual(loadConfigFile(secretVolume, {}).warnings, []);
  chmodSync(secretVolume, 0o444);
  assert.deepEqual(loadConfigFile(secretVolume, {}).warnings, [
    `${secretVolume} holds tokens and is readable by others (mode 0444); run chmod o-r ${secretVolume}`,
  ]);
});

test('loopback is 127.0.0.0/8, ::1 and localhost; everything else is not', () => {
  for (const host of [
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    'localhost',
    'LOCALHOST',
  ]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (const host of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '::ffff:10.0.0.1',
    'myhost',
    'localhost.example.com',
    '',
  ]) {
    assert.equal(isLoopback(host), false, host);
  }
});

test('a non-loopback listener needs a token or auth.open: true; open cannot be combined with tokens', () => {
  const all = 'listen: { host: 0.0.0.0 }\n';
  const refused = configError(() => loadConfig({ yaml: all }));
  assert.deepEqual(refused.issues, [
    'auth: probex would listen on 0.0.0.0, not a loopback address, with no token: set a token' +
      ' (auth.tokens, auth.tokenFile or PROBEX_TOKEN_FILE, or METRICS_TOKENS), or set auth.open: true to serve every route' +
      ' to anyone who can reach it',
  ]);
  assert.ok(
    configError(() => loadConfig({ env: { PROBEX_HOST: '::' } })).issues[0]!.startsWith(
      'auth: probex would listen on ::,',
    ),
  );
  assert.equal(loadConfig({ yaml: all, env: { METRICS_TOKENS: 'env-token-123' } }).auth.tokens.length, 1);
  assert.equal(loadConfig({ yaml: `${all}auth: { tokens: [{ token: ${SECRET} }] }\n` }).auth.open, false);
  const file = tempFile('tokens', `${SECRET}\n`);
  assert.equal(loadConfig({ yaml: all, env: { PROBEX_TOKEN_FILE: file } }).auth.tokenFile, file);
  assert.equal(loadConfig({ yaml: `${all}auth: { open: true }\n` }).auth.open, true);
  assert.equal(loadConfig({ yaml: 'listen: { host: 127.0.0.5 }\n' }).auth.tokens.length, 0, 'loopback may stay open');
  const both = configError(() => loadConfig({ yaml: 'auth: { open: true }\n', env: { PROBEX_TOKEN_FILE: file } }));
  assert.match(both.issues[0]!, /^auth\.open: true opens every route, so it cannot be combined with tokens/);
  // An unreadable token file is its own problem, not also "no token".
  const missing = configError(() => loadConfig({ yaml: all, env: { PROBEX_TOKEN_FILE: '/nonexistent/tokens' } }));
  assert.deepEqual(missing.issues, ['auth.tokenFile: cannot read /nonexistent/tokens: ENOENT']);
});

test('reloadProblems: a reload never drops every token without auth.open, nor empties a token file', () => {
  const loaded = (yaml: string, env: NodeJS.ProcessEnv = {}) => loadConfigFile(tempFile('probex.yaml', yaml), env);
  const withTokens = { host: '127.0.0.1', tokens: 2, fileTokens: 1 };
  const open = { host: '127.0.0.1', tokens: 0, fileTokens: 0 };
  const none = loaded('threads: 1\n');
  assert.match(
    reloadProblems(withTokens, none).join('\n'),
    /^auth: the new config has no token and the running one has/,
  );
  assert.deepEqual(reloadProblems(open, none), [], 'open stays open');
  assert.deepEqual(reloadProblems(withTokens, loaded('auth: { open: true }\n')), [], 'said so');
  assert.deepEqual(
    reloadProblems(withTokens, loaded(`auth: { tokens: [{ token: ${SECRET} }] }\n`)),
    [],
    'still a token',
  );
  const file = tempFile('tokens', '');
  const emptied = loaded(`auth: { tokens: [{ token: ${SECRET} }], tokenFile: ${file} }\n`);
  assert.deepEqual(reloadProblems(withTokens, emptied), [
    `auth.tokenFile: ${file} holds no tokens now, and the running config has 1 from its token file: the running tokens stay`,
  ]);
  assert.deepEqual(
    reloadProblems({ ...withTokens, fileTokens: 0 }, emptied),
    [],
    'a token file that never held tokens',
  );
  // The listen address is the running one: a new listen.host does not move it.
  const wide = { host: '0.0.0.0', tokens: 0, fileTokens: 0 };
  const loopbackOpen = loaded('listen: { host: 127.0.0.1 }\n');
  assert.match(
    reloadProblems(wide, loopbackOpen).join('\n'),
    /^auth: probex listens on 0\.0\.0\.0, not a loopback address .* set auth\.open: true/,
  );
  assert.deepEqual(reloadProblems(wide, loaded('auth: { open: true }\n')), []);
  assert.deepEqual(reloadProblems(wide, loaded('threads: 1\n', { METRICS_TOKENS: 'env-token-123' })), []);
});

test('postgres, sqlite and redis setdel targets load with their defaults', () => {
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') });
  const byName = new Map(config.targets.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('pg'), {
    name: 'pg',
    kind: 'postgres',
    intervalMs: 1000,
    timeoutMs: 1000,
    concurrency: 1,
    labels: {},
    buckets: DEFAULT_LATENCY_BUCKETS_SECONDS,
    url: 'postgres://postgres@127.0.0.1:5432/test',
    query: 'SELECT 1',
    tls: { rejectUnauthorized: true },
    directusClient: 'postgres',
  });
  const lite = byName.get('lite');
  assert.deepEqual(lite?.kind === 'sqlite' && [lite.path, lite.query], [
    '/var/lib/app/app.db',
    'SELECT count(*) FROM jobs',
  ]);
  const setdel = byName.get('cache-setdel');
  assert.deepEqual(setdel?.kind === 'redis' && [setdel.command, setdel.directusServices], ['setdel', ['cache']]);
  const ping = byName.get('cache');
  assert.deepEqual(
    ping?.kind === 'redis' && [ping.command, ping.directusServices],
    [undefined, undefined],
    'PING and both services by default',
  );
});

test('the directus name prefix defaults to directus_ and METRICS_NAME_PREFIX overrides it', () => {
  assert.equal(loadConfig().directus.namePrefix, 'directus_');
  assert.equal(loadConfig({ yaml: 'directus: { namePrefix: app_ }' }).directus.namePrefix, 'app_');
  assert.equal(
    loadConfig({ yaml: 'directus: { namePrefix: app_ }', env: { METRICS_NAME_PREFIX: 'cms_' } }).directus.namePrefix,
    'cms_',
  );
  assert.equal(loadConfig({ env: { METRICS_NAME_PREFIX: '' } }).directus.namePrefix, '');
  const err = configError(() => loadConfig({ env: { METRICS_NAME_PREFIX: 'bad-prefix' } }));
  assert.ok(
    err.issues.some((i) => i.startsWith('directus.namePrefix: ')),
    JSON.stringify(err.issues),
  );
});

test('nativeHistograms defaults to schema 3 and takes each option the native histogram accepts', () => {
  assert.deepEqual(loadConfig({ yaml: 'targets: []' }).nativeHistograms, NATIVE_DEFAULTS);
  const set = loadConfig({
    yaml: 'nativeHistograms: { schema: -2, zeroThreshold: 0.0001, maxBuckets: 40 }\ntargets: []',
  });
  assert.deepEqual(set.nativeHistograms, { schema: -2, zeroThreshold: 0.0001, maxBuckets: 40 });
  const err = configError(() =>
    loadConfig({ yaml: 'nativeHistograms: { zeroThreshold: -1, maxBuckets: 1.5 }\ntargets: []' }),
  );
  assert.ok(
    err.issues.some((i) => i.startsWith('nativeHistograms.zeroThreshold: must be a finite number >= 0')),
    JSON.stringify(err.issues),
  );
});

test('threads: auto is the default: one probe worker per TARGETS_PER_AUTO_THREAD targets, at most one per core', () => {
  assert.equal(autoThreads(0, 2), 1);
  assert.equal(autoThreads(2, 8), 1);
  assert.equal(autoThreads(TARGETS_PER_AUTO_THREAD, 8), 1);
  assert.equal(autoThreads(TARGETS_PER_AUTO_THREAD + 1, 8), 2);
  assert.equal(autoThreads(1_000, 2), 2);
  assert.equal(autoThreads(10_000, 4), 4);
  assert.equal(autoThreads(100_000, 128), 64);
  assert.equal(loadConfig({ yaml: 'targets: []\n' }).threads, 1);
  assert.equal(loadConfig({ yaml: 'threads: auto\ntargets: []\n' }).threads, 1);
  assert.equal(loadConfig({ yaml: 'threads: 3\ntargets: []\n' }).threads, 3);
  const targets = Array.from(
    { length: TARGETS_PER_AUTO_THREAD + 1 },
    (_, i) => `  - { name: s${i}, kind: synthetic }`,
  ).join('\n');
  assert.equal(loadConfig({ yaml: `targets:\n${targets}\n` }).threads, autoThreads(TARGETS_PER_AUTO_THREAD + 1));
});

test('threads that is neither auto nor a number says what it may be', () => {
  assert.deepEqual(configError(() => loadConfig({ yaml: 'threads: two\n' })).issues, [
    'threads: must be auto or an integer from 1 to 64',
  ]);
});
