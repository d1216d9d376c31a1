/**
 * The web config (`--web.config.file`) end to end: the real probex process, certificates made by openssl
 * and bcrypt hashes by htpasswd at test time, and curl as the client. TLS 1.2 and 1.3 as min_version
 * says, client certificates on both listeners (uWS's own TLS and Node's tls in front of it), basic auth
 * right, wrong and missing, the security headers, the rate limit, a certificate renewed on disk and a
 * broken one, a flood of half-open handshakes, and no secret in any log line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { runProbex, startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { certDir, htpasswdHash, requireTools, type CertDir, type Pem } from '../../support/certs.ts';

const execFileP = promisify(execFile);
const PASSWORD = 'tls-e2e-Pa55word';
const CONFIG = `listen: { host: 127.0.0.1, port: 0 }
publishInterval: 200ms
targets:
  - { name: s, kind: synthetic, interval: 100ms, distribution: { type: constant, valueMs: 1 } }
`;

interface Curl {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
  /** exit is curl's exit code: 0, or why the connection failed (35 handshake, 56 receive, ...). */
  readonly exit: number;
}

/** curl runs curl against probex with `args` (certificates, credentials, TLS versions) and collects the answer. */
async function curl(p: ProbexProcess, path: string, args: string[]): Promise<Curl> {
  const url = `https://127.0.0.1:${p.port}${path}`;
  try {
    const { stdout } = await execFileP('curl', ['-sS', '-D', '-', '--max-time', '10', ...args, url]);
    const split = stdout.indexOf('\r\n\r\n');
    const headers = stdout.slice(0, split);
    return {
      status: Number(headers.split(' ')[1]),
      headers: headers.toLowerCase(),
      body: stdout.slice(split + 4),
      exit: 0,
    };
  } catch (err) {
    return { status: 0, headers: '', body: '', exit: (err as { code: number }).code };
  }
}

const started: ProbexProcess[] = [];
let certs: CertDir;
let ca: Pem;
let server: Pem;
let client: Pem;
let stranger: Pem;
let hash: string;
let ready = false;

before(() => {
  try {
    certs = certDir();
    ca = certs.ca('ca');
    server = certs.leaf('server', ca, 'IP:127.0.0.1,DNS:localhost');
    client = certs.leaf('client', ca, 'DNS:scraper.example,URI:spiffe://example.org/prometheus');
    const otherCa = certs.ca('other-ca');
    stranger = certs.leaf('stranger', otherCa, 'DNS:scraper.example');
    hash = htpasswdHash(PASSWORD);
    ready = true;
  } catch {
    // requireTools in each test says what is missing.
  }
});
after(async () => {
  for (const p of started) {
    await p.stop();
    if (p.configPath !== undefined) rmSync(dirname(p.configPath), { recursive: true, force: true });
  }
  certs?.remove();
});

/** start runs probex with the web config `web` (YAML, file names relative to the certificates' directory). */
async function start(web: string, options: { clientCert?: boolean } = {}): Promise<ProbexProcess> {
  const file = join(certs.dir, `web-${started.length}.yml`);
  writeFileSync(file, web);
  const p = await startProbex(CONFIG, {}, ['--web.config.file', file]);
  started.push(p);
  // Ready once the first snapshot is published (until then /metrics answers 503).
  const args = [...CA(), ...(options.clientCert ? AS_CLIENT() : [])];
  await waitFor('probex ready', async () => ((await curl(p, '/readyz', args)).status === 200 ? true : undefined));
  return p;
}

/** handshake runs openssl s_client against probex and returns what it printed (protocol, cipher, certificate). */
async function handshake(p: ProbexProcess, args = ''): Promise<string> {
  const { stdout } = await execFileP('sh', [
    '-c',
    `echo | openssl s_client -connect 127.0.0.1:${p.port} -CAfile ${ca.cert} ${args} 2>/dev/null; true`,
  ]);
  return stdout;
}

const CA = () => ['--cacert', ca.cert];
const AS_CLIENT = () => ['--cert', client.cert, '--key', client.key];
const tlsFiles = () => `  cert_file: ${server.cert}\n  key_file: ${server.key}\n`;

describe('TLS by uWebSockets.js with basic auth', () => {
  let p: ProbexProcess;
  before(async () => {
    if (!ready) return;
    p = await start(
      `tls_server_config:\n${tlsFiles()}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  prometheus: ${hash}\n`,
    );
  });

  test('serves TLS 1.2 and 1.3 by uWS itself, and refuses TLS 1.1', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    assert.equal(p.logs.find((l) => l.msg === 'probex listening')?.tls, 'uws-tls');
    for (const version of [['--tlsv1.2', '--tls-max', '1.2'], ['--tlsv1.3']]) {
      const r = await curl(p, '/healthz', [...CA(), ...version]);
      assert.equal(r.status, 200, version.join(' '));
    }
    assert.match(await handshake(p, '-tls1_2'), /New, TLSv1\.2,/);
    assert.match(await handshake(p, '-tls1_3'), /New, TLSv1\.3,/);
    const old = await curl(p, '/healthz', [...CA(), '--tlsv1.1', '--tls-max', '1.1']);
    assert.equal(old.status, 0);
    assert.ok(old.exit !== 0);
  });

  test('basic auth: right 200, wrong and missing 401 with WWW-Authenticate: Basic; health is open', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const right = await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`]);
    assert.equal(right.status, 200);
    assert.match(right.body, /^probex_probe_up\{target="s",kind="synthetic"\} [01]$/m);
    // Cached now: the next one is as fast as a token (it does not prove speed; it must still be right).
    assert.equal((await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`])).status, 200);
    for (const args of [['-u', 'prometheus:wrong-password'], ['-u', `nobody:${PASSWORD}`], []]) {
      const r = await curl(p, '/metrics', [...CA(), ...args]);
      assert.equal(r.status, 401, args.join(' '));
      assert.match(r.headers, /^www-authenticate: basic realm="probex"/m);
      assert.doesNotMatch(r.body, /probex_probe_up/);
    }
    const health = await curl(p, '/healthz', CA());
    assert.equal(health.status, 200);
    assert.equal((await curl(p, '/readyz', CA())).status, 200);
    // The security headers go on every answer, a 401 too.
    assert.match(health.headers, /^x-frame-options: deny$/m);
    assert.match(health.headers, /^x-content-type-options: nosniff$/m);
    const refused = await curl(p, '/metrics', CA());
    assert.match(refused.headers, /^x-frame-options: deny$/m);
    // The JSON API takes the same credentials.
    const api = await curl(p, '/system/v1/metrics/v0/containers', [...CA(), '-u', `prometheus:${PASSWORD}`]);
    assert.equal(api.status, 200);
  });

  test('the bcrypt check of a new credential counts once; repeats are answered from the cache', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const checks = async (): Promise<number> => {
      const r = await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`]);
      return sampleValue(parseExposition(r.body), 'probex_basic_auth_bcrypt_checks_total');
    };
    // Every check so far has answered; wait until the published count stops moving (the stats reach the
    // snapshot one or two publish intervals later).
    let last = -1;
    const first = await waitFor('the bcrypt count to settle', async () => {
      const now = await checks();
      await new Promise((r) => setTimeout(r, 500));
      const settled = now >= 1 && now === last ? now : undefined;
      last = now;
      return settled;
    });
    for (let i = 0; i < 5; i++) await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`]);
    await new Promise((r) => setTimeout(r, 600)); // two publish intervals
    assert.equal(await checks(), first, 'no new bcrypt check for a credential already seen');
  });
});

describe('client certificates', () => {
  test("RequireAndVerifyClientCert (Node's tls in front of uWS): no, or a stranger's, certificate is refused", async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const p = await start(
      `tls_server_config:\n${tlsFiles()}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${ca.cert}\n`,
      { clientCert: true },
    );
    assert.equal(p.logs.find((l) => l.msg === 'probex listening')?.tls, 'node-tls');
    const ok = await curl(p, '/metrics', [...CA(), ...AS_CLIENT()]);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^probex_probe_up\{/m);
    const none = await curl(p, '/metrics', CA());
    assert.equal(none.status, 0, 'no certificate: no answer');
    const strange = await curl(p, '/metrics', [...CA(), '--cert', stranger.cert, '--key', stranger.key]);
    assert.equal(strange.status, 0, 'a certificate of another CA: no answer');
    // TLS 1.2 too, where the refusal is in the handshake itself.
    assert.equal((await curl(p, '/metrics', [...CA(), '--tls-max', '1.2'])).status, 0);
    assert.equal((await curl(p, '/metrics', [...CA(), '--tls-max', '1.2', ...AS_CLIENT()])).status, 200);
  });

  test('client_allowed_sans: only a certificate with a listed SAN gets through', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const web = (san: string) =>
      `tls_server_config:\n${tlsFiles()}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${ca.cert}\n  client_allowed_sans: ["${san}"]\n`;
    const allowed = await start(web('spiffe://example.org/prometheus'), { clientCert: true });
    assert.equal((await curl(allowed, '/metrics', [...CA(), ...AS_CLIENT()])).status, 200);
    const file = join(certs.dir, 'web-other-san.yml');
    writeFileSync(file, web('someone.else.example'));
    const other = await startProbex(CONFIG, {}, ['--web.config.file', file]);
    started.push(other);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await curl(other, '/readyz', [...CA(), ...AS_CLIENT()])).status, 0);
  });

  test('VerifyClientCertIfGiven (uWS itself): no certificate is served, a verified one too, a stranger not', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const p = await start(
      `tls_server_config:\n${tlsFiles()}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${ca.cert}\n`,
    );
    assert.equal(p.logs.find((l) => l.msg === 'probex listening')?.tls, 'uws-tls');
    assert.equal((await curl(p, '/healthz', CA())).status, 200);
    assert.equal((await curl(p, '/healthz', [...CA(), ...AS_CLIENT()])).status, 200);
    assert.equal((await curl(p, '/healthz', [...CA(), '--cert', stranger.cert, '--key', stranger.key])).status, 0);
  });
});

test('min_version TLS13 (Node tls): TLS 1.3 is served, TLS 1.2 refused', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(`tls_server_config:\n${tlsFiles()}  min_version: TLS13\n`);
  assert.equal(p.logs.find((l) => l.msg === 'probex listening')?.tls, 'node-tls');
  assert.equal((await curl(p, '/healthz', [...CA(), '--tlsv1.3'])).status, 200);
  assert.equal((await curl(p, '/healthz', [...CA(), '--tls-max', '1.2'])).status, 0);
});

test('min_version TLS10 (Node tls at OpenSSL security level 0): TLS 1.0 and 1.1 clients are served', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(`tls_server_config:\n${tlsFiles()}  min_version: TLS10\n`);
  assert.match(await handshake(p, "-tls1 -cipher 'DEFAULT@SECLEVEL=0'"), /Protocol *: TLSv1\n/);
  assert.match(await handshake(p, "-tls1_1 -cipher 'DEFAULT@SECLEVEL=0'"), /Protocol *: TLSv1\.1/);
  assert.match(await handshake(p, '-tls1_3'), /New, TLSv1\.3,/);
});

test('max_version TLS12 with cipher_suites: TLS 1.2 with that suite only', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(
    `tls_server_config:\n${tlsFiles()}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [CurveP256]\n`,
  );
  assert.equal((await curl(p, '/healthz', CA())).status, 200);
  const shake = await handshake(p);
  assert.match(shake, /Protocol *: TLSv1\.2/);
  assert.match(shake, /Cipher *: ECDHE-ECDSA-AES128-GCM-SHA256/);
  const other = await curl(p, '/healthz', [...CA(), '--ciphers', 'ECDHE-ECDSA-AES256-GCM-SHA384']);
  assert.equal(other.status, 0, 'a suite not listed is refused');
});

for (const listener of ['uws-tls', 'node-tls'] as const) {
  test(`${listener}: a renewed certificate is served within 15 s by the same process; a broken one is refused and counted`, async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const live = { cert: join(certs.dir, `live-${listener}.crt`), key: join(certs.dir, `live-${listener}.key`) };
    copyFileSync(server.cert, live.cert);
    copyFileSync(server.key, live.key);
    const extra = listener === 'node-tls' ? '  min_version: TLS13\n' : '';
    const p = await start(`tls_server_config:\n  cert_file: ${live.cert}\n  key_file: ${live.key}\n${extra}`);
    assert.equal(p.logs.find((l) => l.msg === 'probex listening')?.tls, listener);
    const served = async (): Promise<string> => {
      const { stdout } = await execFileP('sh', [
        '-c',
        `echo | openssl s_client -connect 127.0.0.1:${p.port} -CAfile ${ca.cert} 2>/dev/null | openssl x509 -noout -serial`,
      ]);
      return stdout
        .trim()
        .replace(/^serial=/, '')
        .toUpperCase();
    };
    const stats = async (): Promise<{ reloads: number; failures: number }> => {
      const samples = parseExposition((await curl(p, '/metrics', CA())).body);
      return {
        reloads: sampleValue(samples, 'probex_tls_certificate_reloads_total'),
        failures: sampleValue(samples, 'probex_tls_certificate_reload_failures_total'),
      };
    };
    assert.equal(await served(), certs.serial(server.cert));
    // A keep-alive connection opened before the renewal keeps working through it.
    const renewed = certs.leaf(`renewed-${listener}`, ca, 'IP:127.0.0.1,DNS:localhost');
    const t0 = Date.now();
    copyFileSync(renewed.cert, live.cert);
    copyFileSync(renewed.key, live.key);
    await waitFor(
      'the renewed certificate',
      async () => ((await served()) === certs.serial(renewed.cert) ? true : undefined),
      15_000,
    );
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal((await curl(p, '/healthz', CA())).status, 200);
    await waitFor('a reload counted', async () => ((await stats()).reloads === 1 ? true : undefined));
    const pid = p.child.pid;

    // A new certificate with the old key: refused, logged, counted; the renewed pair stays in service.
    const next = certs.leaf(`mismatched-${listener}`, ca, 'IP:127.0.0.1,DNS:localhost');
    copyFileSync(next.cert, live.cert);
    await waitFor('the refusal counted', async () => ((await stats()).failures === 1 ? true : undefined), 15_000);
    assert.equal(await served(), certs.serial(renewed.cert));
    assert.equal((await curl(p, '/healthz', CA())).status, 200);
    const refusal = p.logs.find((l) => l.msg === 'new TLS material refused; the old one is served');
    assert.match(String(refusal?.reason), /key: does not match the certificate/);
    // Completing the pair serves it.
    copyFileSync(next.key, live.key);
    await waitFor(
      'the completed pair',
      async () => ((await served()) === certs.serial(next.cert) ? true : undefined),
      15_000,
    );
    assert.equal(p.child.pid, pid);
    assert.equal(p.child.exitCode, null);
  });
}

for (const listener of ['uws-tls', 'node-tls'] as const) {
  test(`${listener}: thousands of half-open handshakes leave /metrics answering`, async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const extra = listener === 'node-tls' ? '  min_version: TLS13\n' : '';
    const p = await start(`tls_server_config:\n${tlsFiles()}${extra}basic_auth_users:\n  prometheus: ${hash}\n`);
    const auth = ['-u', `prometheus:${PASSWORD}`];
    assert.equal((await curl(p, '/metrics', [...CA(), ...auth])).status, 200);
    // Each opens TCP, sends the first bytes of a ClientHello record and stops there.
    const sockets: Socket[] = [];
    const HALF_OPEN = 3000;
    try {
      await Promise.all(
        Array.from(
          { length: HALF_OPEN },
          () =>
            new Promise<void>((resolve) => {
              const s = connect(p.port, '127.0.0.1', () => {
                s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
                resolve();
              });
              s.on('error', () => resolve());
              sockets.push(s);
            }),
        ),
      );
      const open = sockets.filter((s) => !s.destroyed).length;
      assert.ok(open > HALF_OPEN * 0.9, `${open} half-open connections held`);
      const r = await curl(p, '/metrics', [...CA(), ...auth]);
      assert.equal(r.status, 200);
      assert.match(r.body, /^probex_probe_up\{/m);
      assert.equal((await curl(p, '/healthz', CA())).status, 200);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
}

test('rate_limit: a burst, then 429 until a token comes back; health checks are not limited', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(`tls_server_config:\n${tlsFiles()}rate_limit:\n  interval: 1m\n  burst: 2\n`);
  assert.equal((await curl(p, '/metrics', CA())).status, 200);
  assert.equal((await curl(p, '/metrics', CA())).status, 200);
  const limited = await curl(p, '/metrics', CA());
  assert.equal(limited.status, 429);
  assert.match(limited.headers, /^retry-after: 1$/m);
  for (let i = 0; i < 5; i++) assert.equal((await curl(p, '/healthz', CA())).status, 200);
});

test('no key, password or hash reaches the log or stderr, whatever fails', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const live = { cert: join(certs.dir, 'secrets.crt'), key: join(certs.dir, 'secrets.key') };
  copyFileSync(server.cert, live.cert);
  copyFileSync(server.key, live.key);
  const p = await start(
    `tls_server_config:\n  cert_file: ${live.cert}\n  key_file: ${live.key}\nbasic_auth_users:\n  prometheus: ${hash}\n`,
  );
  await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`]);
  await curl(p, '/metrics', [...CA(), '-u', 'prometheus:not-the-password']);
  // A broken key on rotation, and garbage where the certificate was.
  writeFileSync(live.key, readFileSync(live.key, 'utf8').replace(/[A-Za-z]/, '#'));
  await new Promise((r) => setTimeout(r, 3000));
  writeFileSync(live.cert, 'not a certificate\n');
  await waitFor(
    'two refusals logged',
    async () =>
      p.logs.filter((l) => l.msg === 'new TLS material refused; the old one is served').length >= 2 ? true : undefined,
    15_000,
  );
  const { stdout, stderr } = p.output();
  const keyBody = readFileSync(server.key, 'utf8').split('\n')[1]!;
  for (const secret of [PASSWORD, hash, hash.slice(7), keyBody, 'not-the-password'])
    assert.ok(!`${stdout}${stderr}`.includes(secret), 'a secret reached the output');

  // A web config that does not load says why without quoting it.
  const bad = join(certs.dir, 'bad-web.yml');
  writeFileSync(bad, `basic_auth_users:\n  prometheus: "${PASSWORD}"\n`);
  const r = await runProbex(['--check-config', '--web.config.file', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /basic_auth_users\.prometheus: must be a bcrypt hash/);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD));
});

describe('--check-config with a web config', () => {
  const check = async (web: string, env: NodeJS.ProcessEnv = {}) => {
    const file = join(certs.dir, `check-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(file, web);
    return runProbex(['--check-config', `--web.config.file=${file}`], env);
  };

  test('unknown fields and values exporter-toolkit does not know exit 2 naming them', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const unknown = await check(`tls_server_config:\n${tlsFiles()}  client_auth: RequireAndVerifyClientCert\n`);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /tls_server_config: Unrecognized key: "client_auth"/);
    const top = await check(`tls_config:\n${tlsFiles()}`);
    assert.equal(top.code, 2);
    assert.match(top.stderr, /Unrecognized key: "tls_config"/);
    const cipher = await check(`tls_server_config:\n${tlsFiles()}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`);
    assert.equal(cipher.code, 2);
    assert.match(cipher.stderr, /tls_server_config\.cipher_suites\.0: unknown cipher suite/);
    const header = await check(`http_server_config:\n  headers:\n    Server: probex\n`);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /http_server_config\.headers\.Server: can not be configured/);
    const missing = await check(
      `tls_server_config:\n  cert_file: ${join(certs.dir, 'nope.crt')}\n  key_file: ${server.key}\n`,
    );
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cert_file: cannot read .*nope\.crt: ENOENT/);
  });

  test('a listener beyond loopback is not open when basic auth or required client certificates guard it', async (t) => {
    if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
    const env = { PROBEX_HOST: '0.0.0.0' };
    const open = await check(`tls_server_config:\n${tlsFiles()}`, env);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /not a loopback address, with no token/);
    assert.equal(
      (await check(`tls_server_config:\n${tlsFiles()}basic_auth_users:\n  prometheus: ${hash}\n`, env)).code,
      0,
    );
    const mtls = await check(
      `tls_server_config:\n${tlsFiles()}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${ca.cert}\n`,
      env,
    );
    assert.equal(mtls.code, 0, mtls.stderr);
    assert.match(mtls.stdout, /TLS by Node's tls in front of uWebSockets\.js/);
  });
});

test('SIGHUP re-reads the web config: new users apply at once; dropping every user without a token is refused', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const file = join(certs.dir, 'web-reload.yml');
  const web = (users: string) => `tls_server_config:\n${tlsFiles()}basic_auth_users:\n${users}`;
  writeFileSync(file, web(`  prometheus: ${hash}\n`));
  const p = await startProbex(CONFIG, {}, ['--web.config.file', file]);
  started.push(p);
  const as = (user: string, password: string) => curl(p, '/metrics', [...CA(), '-u', `${user}:${password}`]);
  await waitFor('ready', async () => ((await as('prometheus', PASSWORD)).status === 200 ? true : undefined));
  const reloaded = (n: number) =>
    waitFor(`reload ${n}`, async () =>
      p.logs.filter((l) => /config reload/.test(String(l.msg))).length >= n ? true : undefined,
    );

  const other = 'another-Pa55word';
  writeFileSync(file, web(`  grafana: ${htpasswdHash(other)}\n`));
  p.child.kill('SIGHUP');
  await reloaded(1);
  assert.equal((await as('grafana', other)).status, 200);
  assert.equal((await as('prometheus', PASSWORD)).status, 401, 'a user removed is refused, cached or not');

  writeFileSync(file, `tls_server_config:\n${tlsFiles()}`);
  p.child.kill('SIGHUP');
  await reloaded(2);
  assert.match(
    JSON.stringify(p.logs.findLast((l) => /config reload failed/.test(String(l.msg)))),
    /no token or basic-auth user and the running one has/,
  );
  assert.equal((await curl(p, '/metrics', CA())).status, 401, 'still guarded');
  assert.equal((await as('grafana', other)).status, 200);
});

test('a client that leaves while its new credential is checked leaves no trace; HEAD and the JSON API wait too', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(`tls_server_config:\n${tlsFiles()}basic_auth_users:\n  prometheus: ${hash}\n`);
  // Many connections send a new (wrong) credential and close at once, before bcrypt answers.
  const { connect: tlsConnect } = await import('node:tls');
  await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = tlsConnect({ port: p.port, host: '127.0.0.1', ca: readFileSync(ca.cert) }, () => {
            const auth = Buffer.from(`prometheus:gone-${i}`).toString('base64');
            s.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth}\r\n\r\n`, () => s.destroy());
          });
          s.on('close', () => resolve());
          s.on('error', () => resolve());
        }),
    ),
  );
  const head = await curl(p, '/metrics', [...CA(), '-I', '-u', `prometheus:${PASSWORD}`]);
  assert.equal(head.status, 200);
  assert.match(head.headers, /^content-length: [1-9]\d*$/m);
  const api = await curl(p, '/system/v1/metrics/v0/node', [...CA(), '-u', 'prometheus:wrong-again']);
  assert.equal(api.status, 401);
  assert.match(api.headers, /^content-type: application\/json/m);
  assert.equal((await curl(p, '/metrics', [...CA(), '-u', `prometheus:${PASSWORD}`])).status, 200);
  assert.equal(p.child.exitCode, null);
  assert.ok(!p.logs.some((l) => (l.level as number) >= 50), 'nothing went wrong');
});

test('RequireAnyClientCert (Node tls): any certificate, even self-signed, passes; none does not', async (t) => {
  if (!requireTools(t, 'openssl', 'htpasswd', 'curl')) return;
  const p = await start(`tls_server_config:\n${tlsFiles()}  client_auth_type: RequireAnyClientCert\n`, {
    clientCert: true,
  });
  const selfSigned = certs.ca('self-signed-client');
  assert.equal((await curl(p, '/healthz', [...CA(), '--cert', selfSigned.cert, '--key', selfSigned.key])).status, 200);
  assert.equal((await curl(p, '/healthz', CA())).status, 0);
});
