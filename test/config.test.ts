import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  autoThreads,
  DEFAULT_LATENCY_BUCKETS_SECONDS,
  DEFAULT_PORT,
  TARGETS_PER_AUTO_THREAD,
} from '../src/config/defaults.ts';
import { loadConfig, MAX_CONFIG_BYTES } from '../src/config/load.ts';
import { MAX_TOKEN_FILE_BYTES, readTokenFile } from '../src/config/tokens.ts';
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
  const config = loadConfig().config;
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
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') }).config;
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
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') }).config;
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
  ['invalid-storage-file-prefix.yaml', /^targets\[0\]\.filePrefix: must not contain \/ or \\$/],
  ['invalid-directus-prefix.yaml', /^directus\.namePrefix: must be empty or start a valid metric name/],
  ['invalid-native-schema.yaml', /^nativeHistograms\.schema: must be an integer from -4 to 8, got 9$/],
];
for (const [file, path] of invalid) {
  test(`${file} is rejected with the failing path`, () => {
    const err = configError(() => loadConfig({ yaml: fixture(file) }).config);
    assert.ok(
      err.issues.some((i) => path.test(i)),
      `no issue matched ${path}: ${JSON.stringify(err.issues)}`,
    );
  });
}

test('backgroundNice defaults to 0 and takes 0-19 whole steps', () => {
  assert.equal(loadConfig().config.backgroundNice, 0);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 10' }).config.backgroundNice, 10);
  assert.equal(loadConfig({ yaml: 'backgroundNice: 19' }).config.backgroundNice, 19);
  for (const bad of ['-1', '20', '2.5', 'high']) {
    const err = configError(() => loadConfig({ yaml: `backgroundNice: ${bad}` }).config);
    assert.ok(
      err.issues.every((i) => i.startsWith('backgroundNice: ')) && err.issues.length === 1,
      JSON.stringify(err.issues),
    );
  }
});

test('every problem is reported at once, not only the first', () => {
  const err = configError(
    () => loadConfig({ yaml: 'listen: { port: -1 }\nthreads: 0\ntargets:\n  - { name: a, kind: nope }\n' }).config,
  );
  assert.ok(err.issues.length >= 3, JSON.stringify(err.issues));
});

test('a token value never appears in an error message', () => {
  const err = configError(
    () => loadConfig({ yaml: 'auth:\n  tokens:\n    - { token: s3cr3t-value-here, permissions: [nope] }\n' }).config,
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
  }).config;
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
  const err = configError(() => loadConfig({ env: { PROBEX_PORT: 'eighty' } }).config);
  assert.ok(
    err.issues.some((i) => i.startsWith('listen.port:')),
    JSON.stringify(err.issues),
  );
});

test('a missing config file is a ConfigError naming the file', () => {
  const err = configError(() => loadConfig({ path: '/nonexistent/probex.yaml', env: {} }));
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
    const err = configError(() => loadConfig({ yaml, file: 'f.yaml' }).config);
    assert.deepEqual(err.issues, [issue]);
    assert.ok(!err.message.includes(LEAK) && err.cause === undefined, err.message);
  }
});

test('no schema message echoes an input value: each gives the key path and the expectation', () => {
  const err = configError(
    () =>
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
      }).config,
  );
  assert.ok(err.issues.length >= 16, JSON.stringify(err.issues));
  assert.ok(
    err.issues.some((i) => /^targets\[7\]\.name: duplicate target name, the same as targets\[6\]\.name$/.test(i)),
    JSON.stringify(err.issues),
  );
  for (const issue of err.issues) assert.ok(!issue.includes(LEAK), issue);
});

test('every problem at once: schema issues, checks across fields and the open-listener rule in one list', () => {
  const err = configError(
    () =>
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
      }).config,
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
  const err = configError(
    () =>
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
      }).config,
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
    // A client sends é as two UTF-8 bytes, which reach the check as two characters: it could never match.
    [
      'cl\u00e9-secr\u00e8te',
      'tokens must be visible ASCII characters, ! to ~ (an HTTP header carries nothing else intact)',
    ],
    [
      '\u{1F511}-emoji-key',
      'tokens must be visible ASCII characters, ! to ~ (an HTTP header carries nothing else intact)',
    ],
  ];
  for (const [token, problem] of bad) {
    const fromConfig = configError(
      () => loadConfig({ yaml: `auth: { tokens: [{ token: ${JSON.stringify(token)} }] }\n` }).config,
    );
    assert.deepEqual(fromConfig.issues, [`auth.tokens[0].token: ${problem}`]);
    const fromEnv = configError(() => loadConfig({ env: { METRICS_TOKENS: `good-env-token,${token}` } }).config);
    assert.deepEqual(fromEnv.issues, [`METRICS_TOKENS[1]: ${problem}`]);
    const file = tempFile('tokens', `${token}\n`);
    assert.deepEqual(configError(() => readTokenFile(file)).issues, [`${file}:1: ${problem}`]);
  }
  // Whitespace inside a token: the token file splits on it, so config and env refuse it too.
  const spaced = configError(() => loadConfig({ yaml: 'auth: { tokens: [{ token: "two words here" }] }\n' }).config);
  assert.deepEqual(spaced.issues, ['auth.tokens[0].token: tokens must not contain whitespace or control characters']);
  assert.deepEqual(configError(() => loadConfig({ env: { METRICS_TOKENS: 'two words here' } }).config).issues, [
    'METRICS_TOKENS[0]: tokens must not contain whitespace or control characters',
  ]);
  assert.equal(loadConfig({ env: { METRICS_TOKENS: ` ${'y'.repeat(1024)} , exactly8` } }).config.auth.tokens.length, 2);
});

test('an empty or comment-only config file is {}: defaults, no targets, and a warning', () => {
  for (const text of ['', '\n\n', '# nothing yet\n  # still nothing\n', '---\n']) {
    const path = tempFile('probex.yaml', text);
    const { config, warnings } = loadConfig({ path, env: {} });
    assert.equal(config.targets.length, 0, JSON.stringify(text));
    assert.equal(config.listen.port, DEFAULT_PORT);
    assert.deepEqual(warnings, [
      `${path} is empty (no settings, only comments or blank lines): probex runs with the defaults and no targets`,
    ]);
  }
  assert.equal(
    loadConfig({ path: undefined, env: {} }).config.targets.length,
    5,
    'no file at all runs the embedded default',
  );
  const two = configError(() => loadConfig({ yaml: 'threads: 1\n---\nthreads: 2\n' }).config);
  assert.deepEqual(two.issues, ['config: not valid YAML: 2 documents, probex reads one']);
});

test('a config file holding tokens warns when others may read it, naming the file and its mode', () => {
  const yaml = `auth: { tokens: [{ token: ${SECRET} }] }\n`;
  const warning = (path: string) => loadConfig({ path, env: {} }).warnings.filter((w) => w.includes('holds tokens'));
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
  assert.deepEqual(loadConfig({ path: config, env: {} }).warnings, [
    `${file} holds tokens and is readable by others (mode 0604); run chmod 600 ${file}`,
  ]);
  chmodSync(file, 0o600);
  assert.deepEqual(loadConfig({ path: config, env: {} }).warnings, []);
  writeFileSync(file, '# rotated\n');
  const empty = loadConfig({ path: config, env: {} });
  assert.deepEqual(empty.warnings, [`${file} holds no tokens`]);
  assert.deepEqual(empty.fileTokens, []);
});

test('a group-readable file another user owns is how that user grants probex access: only others count', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown a file to another user');
  const yaml = `auth: { tokens: [{ token: ${SECRET} }] }\n`;
  const secretVolume = tempFile('probex.yaml', yaml, 0o440);
  chownSync(secretVolume, 65534, 0);
  assert.deepEqual(loadConfig({ path: secretVolume, env: {} }).warnings, []);
  chmodSync(secretVolume, 0o444);
  assert.deepEqual(loadConfig({ path: secretVolume, env: {} }).warnings, [
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
  const refused = configError(() => loadConfig({ yaml: all }).config);
  assert.deepEqual(refused.issues, [
    'auth: probex would listen on 0.0.0.0, not a loopback address, with no token: set a token' +
      ' (auth.tokens, auth.tokenFile or PROBEX_TOKEN_FILE, or METRICS_TOKENS), basic_auth_users or client_auth_type' +
      ' RequireAndVerifyClientCert in the web config (--web.config.file), or set auth.open: true to serve every route' +
      ' to anyone who can reach it',
  ]);
  assert.deepEqual(
    loadConfig({ yaml: all, listenerGuard: 'basic_auth_users' }).config.listen.host,
    '0.0.0.0',
    'guarded',
  );
  assert.ok(
    configError(() => loadConfig({ env: { PROBEX_HOST: '::' } }).config).issues[0]!.startsWith(
      'auth: probex would listen on ::,',
    ),
  );
  assert.equal(loadConfig({ yaml: all, env: { METRICS_TOKENS: 'env-token-123' } }).config.auth.tokens.length, 1);
  assert.equal(loadConfig({ yaml: `${all}auth: { tokens: [{ token: ${SECRET} }] }\n` }).config.auth.open, false);
  const file = tempFile('tokens', `${SECRET}\n`);
  assert.equal(loadConfig({ yaml: all, env: { PROBEX_TOKEN_FILE: file } }).config.auth.tokenFile, file);
  assert.equal(loadConfig({ yaml: `${all}auth: { open: true }\n` }).config.auth.open, true);
  assert.equal(
    loadConfig({ yaml: 'listen: { host: 127.0.0.5 }\n' }).config.auth.tokens.length,
    0,
    'loopback may stay open',
  );
  const both = configError(
    () => loadConfig({ yaml: 'auth: { open: true }\n', env: { PROBEX_TOKEN_FILE: file } }).config,
  );
  assert.match(both.issues[0]!, /^auth\.open: true opens every route, so it cannot be combined with tokens/);
  // An unreadable token file is its own problem, not also "no token".
  const missing = configError(
    () => loadConfig({ yaml: all, env: { PROBEX_TOKEN_FILE: '/nonexistent/tokens' } }).config,
  );
  assert.deepEqual(missing.issues, ['auth.tokenFile: cannot read /nonexistent/tokens: ENOENT']);
});

test('reloadProblems: a reload never drops every token without auth.open, nor empties a token file', () => {
  const loaded = (yaml: string, env: NodeJS.ProcessEnv = {}, basicUsers = 0) => {
    const { config, fileTokens } = loadConfig({ path: tempFile('probex.yaml', yaml), env });
    return { auth: config.auth, fileTokens, basicUsers };
  };
  const unguarded = { basicUsers: 0, clientCertificates: false };
  const withTokens = { host: '127.0.0.1', tokens: 2, fileTokens: 1, ...unguarded };
  const open = { host: '127.0.0.1', tokens: 0, fileTokens: 0, ...unguarded };
  const none = loaded('threads: 1\n');
  assert.match(
    reloadProblems(withTokens, none).join('\n'),
    /^auth: the new config has no token or basic-auth user and the running one has/,
  );
  assert.deepEqual(reloadProblems(withTokens, loaded('threads: 1\n', {}, 1)), [], 'basic-auth users instead');
  assert.match(
    reloadProblems({ ...open, basicUsers: 2 }, none).join('\n'),
    /^auth: the new config has no token or basic-auth user and the running one has/,
    'dropping the basic-auth users opens access too',
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
  const wide = { host: '0.0.0.0', tokens: 0, fileTokens: 0, ...unguarded };
  const loopbackOpen = loaded('listen: { host: 127.0.0.1 }\n');
  assert.match(
    reloadProblems(wide, loopbackOpen).join('\n'),
    /^auth: probex listens on 0\.0\.0\.0, not a loopback address .* set auth\.open: true/,
  );
  assert.deepEqual(reloadProblems(wide, loaded('auth: { open: true }\n')), []);
  assert.deepEqual(reloadProblems(wide, loaded('threads: 1\n', { METRICS_TOKENS: 'env-token-123' })), []);
  assert.deepEqual(reloadProblems(wide, loaded('threads: 1\n', {}, 1)), [], 'basic-auth users guard it');
  assert.deepEqual(
    reloadProblems({ ...wide, clientCertificates: true }, loopbackOpen),
    [],
    'required client certificates guard it',
  );
});

test('postgres, sqlite and redis setdel targets load with their defaults', () => {
  const config = loadConfig({ yaml: fixture('valid-all-kinds.yaml') }).config;
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
    tls: { insecureSkipVerify: false },
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
  assert.equal(loadConfig().config.directus.namePrefix, 'directus_');
  assert.equal(loadConfig({ yaml: 'directus: { namePrefix: app_ }' }).config.directus.namePrefix, 'app_');
  assert.equal(
    loadConfig({ yaml: 'directus: { namePrefix: app_ }', env: { METRICS_NAME_PREFIX: 'cms_' } }).config.directus
      .namePrefix,
    'cms_',
  );
  assert.equal(loadConfig({ env: { METRICS_NAME_PREFIX: '' } }).config.directus.namePrefix, '');
  const err = configError(() => loadConfig({ env: { METRICS_NAME_PREFIX: 'bad-prefix' } }).config);
  assert.ok(
    err.issues.some((i) => i.startsWith('directus.namePrefix: ')),
    JSON.stringify(err.issues),
  );
});

test('nativeHistograms defaults to schema 3 and takes each option the native histogram accepts', () => {
  assert.deepEqual(loadConfig({ yaml: 'targets: []' }).config.nativeHistograms, NATIVE_DEFAULTS);
  const set = loadConfig({
    yaml: 'nativeHistograms: { schema: -2, zeroThreshold: 0.0001, maxBuckets: 40 }\ntargets: []',
  }).config;
  assert.deepEqual(set.nativeHistograms, { schema: -2, zeroThreshold: 0.0001, maxBuckets: 40 });
  const err = configError(
    () => loadConfig({ yaml: 'nativeHistograms: { zeroThreshold: -1, maxBuckets: 1.5 }\ntargets: []' }).config,
  );
  assert.ok(
    err.issues.some((i) => i.startsWith('nativeHistograms.zeroThreshold: must be a finite number >= 0')),
    JSON.stringify(err.issues),
  );
});

test('hdr.significantDigits is 3 unless set to 2; nothing else is taken', () => {
  assert.deepEqual(loadConfig({ yaml: 'targets: []' }).config.hdr, { significantDigits: 3 });
  assert.deepEqual(loadConfig({ yaml: 'hdr: { significantDigits: 2 }\ntargets: []' }).config.hdr, {
    significantDigits: 2,
  });
  for (const bad of ['4', '1', '2.5', '"3"']) {
    const err = configError(() => loadConfig({ yaml: `hdr: { significantDigits: ${bad} }\ntargets: []` }).config);
    assert.deepEqual(err.issues, ['hdr.significantDigits: must be 2 or 3'], bad);
  }
});

test('threads: auto is the default: one probe worker per TARGETS_PER_AUTO_THREAD targets, at most one per core', () => {
  assert.equal(autoThreads(0, 2), 1);
  assert.equal(autoThreads(2, 8), 1);
  assert.equal(autoThreads(TARGETS_PER_AUTO_THREAD, 8), 1);
  assert.equal(autoThreads(TARGETS_PER_AUTO_THREAD + 1, 8), 2);
  assert.equal(autoThreads(1_000, 2), 2);
  assert.equal(autoThreads(10_000, 4), 4);
  assert.equal(autoThreads(100_000, 128), 64);
  assert.equal(loadConfig({ yaml: 'targets: []\n' }).config.threads, 1);
  assert.equal(loadConfig({ yaml: 'threads: auto\ntargets: []\n' }).config.threads, 1);
  assert.equal(loadConfig({ yaml: 'threads: 3\ntargets: []\n' }).config.threads, 3);
  const targets = Array.from(
    { length: TARGETS_PER_AUTO_THREAD + 1 },
    (_, i) => `  - { name: s${i}, kind: synthetic }`,
  ).join('\n');
  assert.equal(loadConfig({ yaml: `targets:\n${targets}\n` }).config.threads, autoThreads(TARGETS_PER_AUTO_THREAD + 1));
});

test('threads that is neither auto nor a number says what it may be', () => {
  assert.deepEqual(configError(() => loadConfig({ yaml: 'threads: two\n' }).config).issues, [
    'threads: must be auto or an integer from 1 to 64',
  ]);
});

test("every duration is capped below what Node's timers hold, and the message says the cap", () => {
  const cap = 'must be at most 576h (24 days)';
  const err = configError(
    () =>
      loadConfig({
        yaml: `publishInterval: 597h
targets:
  - { name: a, kind: synthetic, interval: 597h }
  - { name: b, kind: synthetic, interval: 0, timeout: 600h }
  - { name: c, kind: synthetic, interval: 2147483648 }
`,
      }).config,
  );
  assert.deepEqual(err.issues, [
    `publishInterval: ${cap}`,
    `targets[0].interval: ${cap}`,
    `targets[1].timeout: ${cap}`,
    `targets[2].interval: ${cap}`,
  ]);
  const longest = loadConfig({
    yaml: 'targets:\n  - { name: a, kind: synthetic, interval: 576h, timeout: 576h }\n',
  }).config;
  assert.deepEqual([longest.targets[0]!.intervalMs, longest.targets[0]!.timeoutMs], [2_073_600_000, 2_073_600_000]);
  assert.ok(2_073_600_000 < 2 ** 31 - 1);
});

test('target URLs: each problem is named (a port out of range, no host), and libpq’s unix socket form is a postgres URL', () => {
  const url = (kind: string, u: string, extra = ''): string =>
    `targets:\n  - { name: t, kind: ${kind}, url: ${JSON.stringify(u)}${extra} }\n`;
  const issues = (yaml: string): readonly string[] => configError(() => loadConfig({ yaml }).config).issues;
  assert.deepEqual(issues(url('postgres', 'postgres://u:pw@db:70000/app')), ['targets[0].url: port must be 1-65535']);
  assert.deepEqual(issues(url('mysql', 'mysql://u:pw@db:0/app')), ['targets[0].url: port must be 1-65535']);
  assert.deepEqual(issues(url('redis', 'redis://db:65536')), ['targets[0].url: port must be 1-65535']);
  assert.deepEqual(issues(url('http', 'http://db:99999/')), ['targets[0].url: port must be 1-65535']);
  assert.deepEqual(issues(url('http', 'http://db:80x/')), ['targets[0].url: port must be a number from 1 to 65535']);
  assert.deepEqual(issues(url('postgres', 'mysql://db/app')), [
    'targets[0].url: must be a postgres:// or postgresql:// URL',
  ]);
  assert.deepEqual(issues(url('mysql', 'mysql://u:pw@/app')), ['targets[0].url: must name a host']);
  assert.match(issues(url('postgres', 'postgresql://u:pw@/app'))[0]!, /must name a host, or a unix socket directory/);
  assert.match(issues(url('postgres', 'postgresql://u:pw@/app?host=relative'))[0]!, /unix socket directory/);
  assert.deepEqual(issues(url('postgres', 'postgresql://u:pw@:5433/app?host=/run/postgresql')), [
    'targets[0].url: with a unix socket directory in ?host=, the port goes in ?port=',
  ]);
  for (const socket of [
    'postgresql://u:pw@/app?host=/run/postgresql',
    'postgres:///app?host=%2Frun%2Fpostgresql&port=5433',
    'postgresql://u@/app?host=/var/run/postgresql&sslmode=disable',
  ]) {
    const [t] = loadConfig({ yaml: url('postgres', socket) }).config.targets;
    assert.equal(t?.kind === 'postgres' && t.url, socket, 'the URL is kept as written');
  }
  // pg reads ?sslrootcert= (and sslcert, sslkey) whole on every connect: a device there is refused here.
  const ca = tempFile('ca.pem', '-----BEGIN CERTIFICATE-----\n');
  assert.equal(loadConfig({ yaml: url('postgres', `postgres://u@db/app?sslrootcert=${ca}`) }).config.targets.length, 1);
  assert.deepEqual(issues(url('postgres', 'postgres://u@db/app?sslmode=verify-full&sslrootcert=/dev/zero')), [
    'targets[0].url: cannot read the file of ?sslrootcert=: a character device, not a regular file',
  ]);
  assert.deepEqual(issues(url('postgres', 'postgres://u@db/app?sslkey=/nonexistent/key.pem')), [
    'targets[0].url: cannot read the file of ?sslkey=: ENOENT',
  ]);
  // No message quotes the URL, which may hold a password.
  for (const i of issues(url('postgres', 'postgres://u:hunter2-secret@db:70000/app'))) {
    assert.ok(!i.includes('hunter2'), i);
  }
});

test('http targets do not follow redirects unless followRedirects says so, and then within limits', () => {
  const follow = (extra: string): unknown => {
    const t = loadConfig({ yaml: `targets:\n  - { name: h, kind: http, url: "http://a/"${extra} }\n` }).config
      .targets[0]!;
    assert.equal(t.kind, 'http');
    return t.kind === 'http' ? t.followRedirects : 'not http';
  };
  assert.equal(follow(''), undefined);
  assert.equal(follow(', followRedirects: false'), undefined);
  assert.deepEqual(follow(', followRedirects: true'), { maxHops: 5, crossOrigin: false });
  assert.deepEqual(follow(', followRedirects: { maxHops: 2, crossOrigin: true }'), { maxHops: 2, crossOrigin: true });
  assert.deepEqual(follow(', followRedirects: { crossOrigin: true }'), { maxHops: 5, crossOrigin: true });
  const bad = configError(
    () =>
      loadConfig({
        yaml: 'targets:\n  - { name: h, kind: http, url: "http://a/", followRedirects: { maxHops: 21 } }\n',
      }).config,
  );
  assert.match(bad.issues[0]!, /^targets\[0\]\.followRedirects/);
});

test('a config or token file that is not a regular file is refused at once, and so is one over the size cap', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-config-'));
  tempDirs.push(dir);
  const fifo = join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
  const bigTokens = join(dir, 'big-tokens');
  writeFileSync(bigTokens, `${'t'.repeat(100)}\n`.repeat(Math.ceil(MAX_TOKEN_FILE_BYTES / 101) + 1));
  const cases: Array<[string, RegExp]> = [
    [fifo, /fifo\.yaml: cannot read: a FIFO, not a regular file$/],
    ['/dev/zero', /^\/dev\/zero: cannot read: a character device, not a regular file$/],
    ['/dev/urandom', /^\/dev\/urandom: cannot read: a character device, not a regular file$/],
    [dir, /: cannot read: a directory, not a regular file$/],
    [big, /big\.yaml: cannot read: larger than 16 MiB, the most probex reads$/],
  ];
  for (const [path, re] of cases) {
    const started = Date.now();
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.equal(err.issues.length, 1, err.message);
    assert.match(err.issues[0]!, re);
    assert.ok(Date.now() - started < 1000, `${path}: refused at once`);
  }
  for (const [path, re] of [
    [fifo, /^auth\.tokenFile: cannot read \S+fifo\.yaml: a FIFO, not a regular file$/],
    ['/dev/zero', /^auth\.tokenFile: cannot read \/dev\/zero: a character device, not a regular file$/],
    [bigTokens, /^auth\.tokenFile: cannot read \S+big-tokens: larger than 1 MiB, the most probex reads$/],
  ] as const) {
    assert.match(configError(() => readTokenFile(path)).issues[0]!, re);
    const viaConfig = configError(() => loadConfig({ yaml: `auth: { tokenFile: ${JSON.stringify(path)} }\n` }).config);
    assert.match(viaConfig.issues[0]!, re);
  }
  // /dev/null is the empty file it stands for.
  assert.deepEqual(loadConfig({ path: '/dev/null', env: {} }).config.targets, []);
  assert.deepEqual(readTokenFile('/dev/null'), []);
  // A regular file whose size the kernel does not report (procfs) is still read, up to the cap.
  if (existsSync('/proc/self/stat')) {
    t.diagnostic('procfs: /proc/self/stat reads as a (small, invalid) config');
    assert.match(
      configError(() => loadConfig({ path: '/proc/self/stat', env: {} })).issues[0]!,
      /must be a YAML mapping|not valid YAML/,
    );
  }
});

test('a tls block names files that must be regular, readable PEM that OpenSSL accepts, and fits its kind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-tls-config-'));
  tempDirs.push(dir);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-days',
      '1',
      '-subj',
      '/CN=ca',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'ca.pem'),
    ]),
    {
      stdio: 'pipe',
    },
  );
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  const ca = join(dir, 'ca.pem');
  const key = join(dir, 'key.pem');
  const ok = loadConfig({
    yaml: `targets:
  - { name: web, kind: http, url: "https://127.0.0.1:8443/", tls: { caFile: "${ca}", serverName: api.internal } }
  - { name: plain-https, kind: http, url: "https://127.0.0.1:8443/" }
  - { name: port, kind: tcp, address: "127.0.0.1:8443", tls: { caFile: "${ca}", certFile: "${ca}", keyFile: "${key}", minVersion: TLSv1.3 } }
  - { name: cache, kind: redis, url: "rediss://127.0.0.1:6380", tls: { insecureSkipVerify: true } }
  - { name: db, kind: mysql, url: "mysql://root@127.0.0.1:3306/test", tls: true }
  - { name: pg, kind: postgres, url: "postgres://postgres@127.0.0.1:5432/test", tls: { rejectUnauthorized: false } }
`,
  }).config;
  const byName = new Map(ok.targets.map((t) => [t.name, t]));
  const tlsOf = (name: string): unknown => (byName.get(name) as { tls?: unknown } | undefined)?.tls;
  assert.deepEqual(tlsOf('web'), { caFile: ca, serverName: 'api.internal', insecureSkipVerify: false });
  assert.deepEqual(tlsOf('plain-https'), { insecureSkipVerify: false }, 'an https URL speaks TLS with the defaults');
  assert.deepEqual(tlsOf('port'), {
    caFile: ca,
    certFile: ca,
    keyFile: key,
    insecureSkipVerify: false,
    minVersion: 'TLSv1.3',
  });
  assert.deepEqual(tlsOf('cache'), { insecureSkipVerify: true });
  assert.deepEqual(tlsOf('db'), { insecureSkipVerify: false });
  assert.deepEqual(tlsOf('pg'), { insecureSkipVerify: true }, 'the older rejectUnauthorized form still reads');

  const err = configError(
    () =>
      loadConfig({
        yaml: `targets:
  - { name: a, kind: http, url: "http://127.0.0.1/", tls: { caFile: "${ca}" } }
  - { name: b, kind: tcp, address: "127.0.0.1:1", tls: { caFile: "${join(dir, 'missing.pem')}" } }
  - { name: c, kind: tcp, address: "127.0.0.1:1", tls: { caFile: "${dir}" } }
  - { name: d, kind: tcp, address: "127.0.0.1:1", tls: { caFile: "${join(dir, 'garbage.pem')}" } }
  - { name: e, kind: tcp, address: "127.0.0.1:1", tls: { certFile: "${ca}" } }
  - { name: f, kind: tcp, address: "127.0.0.1:1", tls: { serverName: "10.0.0.1:443", minVersion: TLSv1.1 } }
  - { name: g, kind: mysql, url: "mysql://root@127.0.0.1/test", tls: { serverName: db.internal } }
  - { name: h, kind: redis, url: "rediss://127.0.0.1:6380", tls: false }
  - { name: i, kind: tcp, address: "127.0.0.1:1", tls: { caFile: /dev/zero } }
`,
      }).config,
  );
  const issues = err.issues.join('\n');
  for (const expected of [
    /^targets\[0\]\.tls: applies to https:\/\/ URLs only$/m,
    /^targets\[1\]\.tls\.caFile: cannot read .*missing\.pem: ENOENT$/m,
    /^targets\[2\]\.tls\.caFile: cannot read .*: a directory, not a regular file$/m,
    /^targets\[3\]\.tls\.caFile: holds no PEM certificate$/m,
    /^targets\[4\]\.tls\.keyFile: certFile and keyFile go together/m,
    /^targets\[5\]\.tls\.serverName: must be a DNS name/m,
    /^targets\[5\]\.tls\.minVersion: /m,
    /^targets\[6\]\.tls\.serverName: not supported for mysql/m,
    /^targets\[7\]\.tls: a rediss:\/\/ URL always speaks TLS/m,
    /^targets\[8\]\.tls\.caFile: cannot read \/dev\/zero: a character device, not a regular file$/m,
  ])
    assert.match(issues, expected);
  assert.ok(!issues.includes('not a certificate'), 'no file content is quoted');
});
