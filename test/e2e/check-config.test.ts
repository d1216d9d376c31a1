/**
 * What the real probex process says about a config before it serves: `--check-config` and start-up.
 * Every problem at once, no file content in any message, no open listener beyond loopback without
 * `auth.open: true`, warnings for a permissive file holding tokens and for an empty file, and inputs that
 * could never work (a token a header cannot carry, a duration past Node's timers, a FIFO or a device as a
 * file) refused at once.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseExposition } from '../../support/exposition.ts';
import { runProbex, spawnProbex, startProbex, waitFor, writeConfig } from '../../support/probex-process.ts';

/** SECRET stands for a real token: no part of it may reach stdout or stderr (LEAK is its first 8 characters). */
const SECRET = 'Zq9xW3kP-secret';
const LEAK = SECRET.slice(0, 8);
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('--check-config on a YAML error in a line holding a token prints file:line:column and the reason, never the line', async () => {
  const file = writeConfig(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      'auth:',
      '  tokens:',
      `    - { token: "${SECRET}", permissions: [metrics]`,
      '  oops',
    ].join('\n'),
  );
  const r = await runProbex(['--check-config', '--config', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(!r.stdout.includes(LEAK) && !r.stderr.includes(LEAK), `the token leaked: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\d+ \|/, 'no source excerpt');
  assert.match(r.stderr, new RegExp(`${escapeRe(file)}:5:3: not valid YAML: deficient indentation`));
});

test('--check-config prints every problem at once: schema, cross-field, token and listener rules', async () => {
  const file = writeConfig(`
listen: { host: 0.0.0.0, port: 0 }
threads: 0
publishInterval: soon
targets:
  - { name: a, kind: nope }
  - { name: a, kind: tcp, address: "127.0.0.1:70000" }
  - { name: b, kind: synthetic, interval: 100ms, timeout: 1s }
  - { name: c, kind: http, url: "not a url ${SECRET}" }
`);
  const r = await runProbex(['--check-config', '--config', file]);
  assert.equal(r.code, 2, r.stderr);
  for (const want of [
    /threads: /, // schema
    /publishInterval: must be a duration/, // schema
    /targets\[0\]\.kind: kind must be one of/, // schema
    /targets\[3\]\.url: /, // schema
    /targets\[1\]\.name: duplicate target name, the same as targets\[0\]\.name/, // cross-field
    /targets\[1\]\.address: port must be 1-65535/, // cross-field
    /targets\[2\]\.timeout: must not exceed interval/, // cross-field
    /0\.0\.0\.0, not a loopback address/, // listener rule
  ])
    assert.match(r.stderr, want);
  assert.ok(!r.stderr.includes(LEAK), 'a URL value is not echoed');
});

test('METRICS_TOKENS follows the token rule of config and token-file tokens, naming the source and position only', async () => {
  const file = writeConfig('listen: { host: 127.0.0.1, port: 0 }\n');
  const r = await runProbex(['--check-config', '--config', file], { METRICS_TOKENS: 'a-good-token-1,Qx7Kp2z' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /METRICS_TOKENS\[1\]: tokens must be at least 8 characters/);
  assert.ok(!r.stderr.includes('Qx7Kp2z') && !r.stderr.includes('a-good-token-1'), r.stderr);
});

const OPEN_ON_ALL = 'listen: { host: 0.0.0.0, port: 0 }\ntargets: []\n';

const HOW_TO_CLOSE = ['auth.tokens', 'auth.tokenFile', 'PROBEX_TOKEN_FILE', 'METRICS_TOKENS', 'auth.open: true'];

test('a non-loopback listener without a token exits 2 before listening, saying how to set one', async () => {
  // startProbex resolves once probex listens, and rejects with the exit code and stderr if it exits first.
  const refused = await startProbex(OPEN_ON_ALL).then(
    async (p) => {
      await p.stop();
      assert.fail('probex listened on 0.0.0.0 with no token');
    },
    (err: Error) => err.message,
  );
  assert.match(refused, /^probex exited with 2 before listening/);
  for (const how of HOW_TO_CLOSE) assert.ok(refused.includes(how), `the message names ${how}: ${refused}`);

  const check = await runProbex(['--check-config', '--config', writeConfig(OPEN_ON_ALL)]);
  assert.equal(check.code, 2, check.stderr);
  for (const how of HOW_TO_CLOSE) assert.ok(check.stderr.includes(how), `the message names ${how}: ${check.stderr}`);
  const v6 = await runProbex(['--check-config', '--config', writeConfig('listen: { host: "::", port: 0 }\n')]);
  assert.equal(v6.code, 2, v6.stderr);
  for (const host of ['127.0.0.2', '::1', 'localhost']) {
    const r = await runProbex(['--check-config', '--config', writeConfig(`listen: { host: "${host}", port: 0 }\n`)]);
    assert.equal(r.code, 0, `${host} is loopback: ${r.stderr}`);
  }
});

test('a non-loopback listener starts with a token, or open with auth.open: true', async () => {
  const withToken = await startProbex(OPEN_ON_ALL, { METRICS_TOKENS: 'env-token-12345' });
  try {
    assert.equal((await fetch(`${withToken.url}/metrics`)).status, 401);
  } finally {
    await withToken.stop();
  }
  const open = await startProbex('listen: { host: 0.0.0.0, port: 0 }\nauth: { open: true }\n');
  try {
    assert.equal((await fetch(`${open.url}/healthz`)).status, 200);
    await waitFor('a published snapshot', async () =>
      (await fetch(`${open.url}/readyz`)).status === 200 ? true : undefined,
    );
    assert.equal((await fetch(`${open.url}/metrics`)).status, 200, 'open without a token');
    assert.ok(
      open.logs.some((l) => l.level === 40 && /auth\.open: true/.test(String(l.msg))),
      'says it is open on purpose',
    );
  } finally {
    await open.stop();
  }
});

test('auth.open: true together with a token is a contradiction', async () => {
  const r = await runProbex(['--check-config', '--config', writeConfig('auth: { open: true }\n')], {
    METRICS_TOKENS: 'env-token-12345',
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /auth\.open: .*cannot be combined with tokens/);
});

test('a config or token file holding tokens and readable by group or others gets a chmod 600 warning', async () => {
  const file = writeConfig(`auth:\n  tokens:\n    - { token: ${SECRET} }\n`);
  const tokenFile = join(dirname(file), 'tokens');
  writeFileSync(tokenFile, 'file-token-12345\n');
  writeFileSync(file, `auth:\n  tokens:\n    - { token: ${SECRET} }\n  tokenFile: ${tokenFile}\n`);
  chmodSync(file, 0o644);
  chmodSync(tokenFile, 0o640);
  const loose = await runProbex(['--check-config', '--config', file]);
  assert.equal(loose.code, 0, loose.stderr);
  assert.match(
    loose.stderr,
    new RegExp(`${escapeRe(file)} holds tokens and is readable by group and others \\(mode 0644\\); run chmod 600 `),
  );
  assert.match(
    loose.stderr,
    new RegExp(`${escapeRe(tokenFile)} holds tokens and is readable by group \\(mode 0640\\); run chmod 600 `),
  );
  assert.ok(!loose.stderr.includes(LEAK));
  chmodSync(file, 0o600);
  chmodSync(tokenFile, 0o400);
  const tight = await runProbex(['--check-config', '--config', file]);
  assert.equal(tight.code, 0, tight.stderr);
  assert.doesNotMatch(tight.stderr, /chmod/);
});

test('an empty or comment-only config file runs the defaults with no targets, and says so', async () => {
  for (const yaml of ['', '# nothing here yet\n\n   # still nothing\n']) {
    const r = await runProbex(['--check-config', '--config', writeConfig(yaml)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid, 0 targets/);
    assert.match(r.stderr, /empty .*no targets/);
  }
  // Port 0 from the env: the file sets nothing, and the default port may be taken.
  const probex = await startProbex('# filled in later\n', { PROBEX_PORT: '0' });
  try {
    assert.ok(
      probex.logs.some((l) => l.level === 40 && /empty .*no targets/.test(String(l.msg))),
      'warns at start',
    );
    const samples = await waitFor('a published snapshot', async () => {
      const res = await fetch(`${probex.url}/metrics`);
      return res.status === 200 ? parseExposition(await res.text()) : undefined;
    });
    assert.equal(samples.filter((s) => s.name === 'probex_probes_total').length, 0, 'no targets');
    assert.equal(probex.logs.find((l) => l.msg === 'probex listening')?.targets, 0);
  } finally {
    await probex.stop();
  }
});

test('--check-config refuses what can never work: a non-ASCII token from any source, a duration past the timers, no host in a URL', async () => {
  const tokens = writeConfig('cl\u00e9-secr\u00e8te-file metrics\n');
  const file = writeConfig(`
auth:
  tokens: [{ token: "cl\u00e9-secr\u00e8te-config" }]
  tokenFile: ${tokens}
targets:
  - { name: slow, kind: synthetic, interval: 0, timeout: 600h }
  - { name: db, kind: postgres, url: "postgres://u:pw@db:70000/app" }
`);
  const started = Date.now();
  const r = await runProbex(['--check-config', '--config', file], { METRICS_TOKENS: 'cl\u00e9-secr\u00e8te-env' });
  assert.equal(r.code, 2, r.stderr);
  for (const want of [
    /auth\.tokens\[0\]\.token: tokens must be visible ASCII/,
    /METRICS_TOKENS\[0\]: tokens must be visible ASCII/,
    new RegExp(`${escapeRe(tokens)}:1: tokens must be visible ASCII`),
    /targets\[0\]\.timeout: must be at most 576h \(24 days\)/,
    /targets\[1\]\.url: port must be 1-65535/,
  ])
    assert.match(r.stderr, want);
  assert.ok(!r.stderr.includes('secr'), 'no token is quoted');
  assert.ok(Date.now() - started < 20_000);
});

test('--check-config on a FIFO, /dev/zero or a token file that is /dev/zero answers at once, reading nothing', async () => {
  const dir = dirname(writeConfig(''));
  const fifo = join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const withDevZeroTokens = writeConfig('auth: { tokenFile: /dev/zero }\n');
  for (const [args, want] of [
    [['--config', fifo], /fifo\.yaml: cannot read: a FIFO, not a regular file/],
    [['--config', '/dev/zero'], /\/dev\/zero: cannot read: a character device, not a regular file/],
    [['--config', '/dev/urandom'], /\/dev\/urandom: cannot read: a character device, not a regular file/],
    [
      ['--config', withDevZeroTokens],
      /auth\.tokenFile: cannot read \/dev\/zero: a character device, not a regular file/,
    ],
  ] as const) {
    const run = spawnProbex(['--check-config', ...args]);
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 20_000);
    const r = await run.exited;
    clearTimeout(timer);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.code} ${r.stderr}`);
    assert.match(r.stderr, want);
  }
});
